/**
 * Durable state of the aggregator: experiments, round attempts and content-addressed blobs
 * (plans, global models, aggregates).
 *
 * Metadata lives in an embedded SQLite database (sql.js, WebAssembly). After every state change
 * the whole database is exported and written atomically (temporary file, fsync, rename, fsync of
 * the directory), so killing the process at any instant loses no completed round. Blobs are
 * files named by their SHA-256, written durably before the row that references them.
 *
 * A round is identified by (experiment, round); each try is an *attempt* with its own tag
 * `<experiment>/r<round>/a<attempt>`. On open, attempts still marked `running` (the aggregator
 * died mid-round) are marked `aborted`; the round can then be retried under a new attempt.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Database, SqlJsStatic, SqlValue } from 'sql.js';
import { assertInt, assertString, ID_PATTERN } from '../common/validate.ts';
import { toHex } from '../crypto/bytes.ts';
import { sha256Digest } from '../crypto/hkdf.ts';
import { writeFileDurable } from '../proto/durable.ts';
import { AggregatorError } from './errors.ts';

/** Status of a round attempt. */
export type RoundStatus = 'running' | 'completed' | 'aborted';

/** A stored experiment. */
export interface ExperimentRecord {
  readonly id: string;
  /** Researcher id (from the client certificate) that created it. */
  readonly owner: string;
  readonly created: string;
  /** The experiment configuration as submitted (validated JSON). */
  readonly config: Readonly<Record<string, unknown>>;
}

/** A stored round attempt. */
export interface RoundRecord {
  readonly experiment: string;
  readonly round: number;
  readonly attempt: number;
  /** `<experiment>/r<round>/a<attempt>`: names this attempt in every message. */
  readonly tag: string;
  /** Federation-wide attempt number, never reused: the protocol round number of the secure-aggregation engines. */
  readonly seq: number;
  readonly status: RoundStatus;
  readonly kind: string;
  /** Nodes invited. */
  readonly participants: readonly string[];
  /** Nodes whose contribution is in the released sum (completed attempts). */
  readonly contributors: readonly string[];
  /** SHA-256 of the released aggregate blob (completed attempts). */
  readonly result?: string;
  /** Round metrics (loss, accuracy, epsilon per dataset, node audit heads...). */
  readonly metrics: Readonly<Record<string, unknown>>;
  readonly reason?: string;
  readonly started: string;
  readonly finished?: string;
}

/** Largest blob the store accepts (bytes). */
export const MAX_BLOB_BYTES = 512 * 1024 * 1024;

const HASH_RE = /^[0-9a-f]{64}$/;
const require = createRequire(import.meta.url);
let sqlPromise: Promise<SqlJsStatic> | undefined;

function loadSql(): Promise<SqlJsStatic> {
  if (sqlPromise === undefined) {
    const init = require('sql.js') as (cfg?: { locateFile?: (f: string) => string }) => Promise<SqlJsStatic>;
    const wasmDir = join(require.resolve('sql.js'), '..');
    sqlPromise = init({ locateFile: (f: string) => join(wasmDir, f) });
  }
  return sqlPromise;
}

/** Builds the tag of an attempt. */
export function roundTag(experiment: string, round: number, attempt: number): string {
  return `${experiment}/r${round}/a${attempt}`;
}

/** The aggregator's durable store under a directory. */
export class AggregatorStore {
  readonly dir: string;
  readonly #db: Database;
  readonly #dbPath: string;
  /** Attempts found running at open and aborted by recovery. */
  readonly recovered: readonly RoundRecord[];

  private constructor(dir: string, db: Database) {
    this.dir = dir;
    this.#db = db;
    this.#dbPath = join(dir, 'aggregator.sqlite');
    this.#db.run(`CREATE TABLE IF NOT EXISTS experiments (id TEXT PRIMARY KEY, owner TEXT NOT NULL, created TEXT NOT NULL, config TEXT NOT NULL)`);
    this.#db.run(`CREATE TABLE IF NOT EXISTS rounds (
      experiment TEXT NOT NULL, round INTEGER NOT NULL, attempt INTEGER NOT NULL, tag TEXT NOT NULL UNIQUE, seq INTEGER NOT NULL UNIQUE,
      status TEXT NOT NULL, kind TEXT NOT NULL, participants TEXT NOT NULL, contributors TEXT NOT NULL,
      result TEXT, metrics TEXT NOT NULL, reason TEXT, started TEXT NOT NULL, finished TEXT,
      PRIMARY KEY (experiment, round, attempt))`);
    this.#db.run(`CREATE TABLE IF NOT EXISTS offered_plans (hash TEXT PRIMARY KEY)`);
    this.#db.run(`CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, bytes INTEGER NOT NULL, owner TEXT NOT NULL, created TEXT NOT NULL)`);
    // Every member that uploaded a blob's bytes (blobs.owner is only the first uploader).
    this.#db.run(`CREATE TABLE IF NOT EXISTS blob_owners (hash TEXT NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (hash, owner))`);
    const running = this.#rounds(`SELECT * FROM rounds WHERE status = 'running'`, []);
    const now = new Date().toISOString();
    for (const r of running) {
      this.#db.run(`UPDATE rounds SET status = 'aborted', reason = ?, finished = ? WHERE tag = ?`, ['aggregator restarted during the round', now, r.tag]);
    }
    this.recovered = running.map((r) => ({ ...r, status: 'aborted' as const, reason: 'aggregator restarted during the round', finished: now }));
    this.#persist();
  }

  /** Opens (or creates) the store in `dir`, aborting attempts left running by a crash. */
  static async open(dir: string): Promise<AggregatorStore> {
    assertString('dir', dir, 4096);
    mkdirSync(join(dir, 'blobs'), { recursive: true, mode: 0o700 });
    const SQL = await loadSql();
    const f = join(dir, 'aggregator.sqlite');
    let db: Database;
    try {
      db = existsSync(f) ? new SQL.Database(new Uint8Array(readFileSync(f))) : new SQL.Database();
    } catch (e) {
      throw new AggregatorError('ERR_AGG_STORE', `cannot open ${f}: ${(e as Error).message}`);
    }
    return new AggregatorStore(dir, db);
  }

  /** Records a new experiment (ERR_AGG_EXPERIMENT_EXISTS if the id is taken). */
  createExperiment(id: string, owner: string, config: Record<string, unknown>): ExperimentRecord {
    assertString('experiment', id, 128, ID_PATTERN);
    if (this.getExperiment(id) !== undefined) throw new AggregatorError('ERR_AGG_EXPERIMENT_EXISTS', `experiment ${id} already exists`, { experiment: id });
    const rec: ExperimentRecord = { id, owner, created: new Date().toISOString(), config };
    this.#db.run(`INSERT INTO experiments VALUES (?, ?, ?, ?)`, [id, owner, rec.created, JSON.stringify(config)]);
    this.#persist();
    return rec;
  }

  /** The experiment with this id, or undefined. */
  getExperiment(id: string): ExperimentRecord | undefined {
    const rows = this.#query(`SELECT * FROM experiments WHERE id = ?`, [id]);
    const r = rows[0];
    return r === undefined ? undefined : { id: r['id'] as string, owner: r['owner'] as string, created: r['created'] as string, config: JSON.parse(r['config'] as string) as Record<string, unknown> };
  }

  /** Starts a new attempt of (experiment, round). Refuses a round already completed or running. */
  beginRound(experiment: string, round: number, kind: string, participants: readonly string[]): RoundRecord {
    if (this.getExperiment(experiment) === undefined) throw new AggregatorError('ERR_AGG_EXPERIMENT_UNKNOWN', `no experiment ${experiment}`, { experiment });
    assertInt('round', round, 0, 1_000_000);
    const prior = this.listRounds(experiment).filter((r) => r.round === round);
    if (prior.some((r) => r.status === 'completed')) throw new AggregatorError('ERR_AGG_ROUND_DONE', `round ${round} of ${experiment} is already completed`, { experiment, round });
    if (prior.some((r) => r.status === 'running')) throw new AggregatorError('ERR_AGG_ROUND_BUSY', `round ${round} of ${experiment} is already running`, { experiment, round });
    const attempt = prior.reduce((m, r) => Math.max(m, r.attempt), 0) + 1;
    const seq = ((this.#query(`SELECT MAX(seq) AS m FROM rounds`, [])[0]?.['m'] as number | null) ?? 0) + 1;
    const rec: RoundRecord = {
      experiment, round, attempt, tag: roundTag(experiment, round, attempt), seq, status: 'running', kind,
      participants: [...participants], contributors: [], metrics: {}, started: new Date().toISOString(),
    };
    this.#db.run(`INSERT INTO rounds (experiment, round, attempt, tag, seq, status, kind, participants, contributors, metrics, started) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, '[]', '{}', ?)`,
      [experiment, round, attempt, rec.tag, seq, kind, JSON.stringify(participants), rec.started]);
    this.#persist();
    return rec;
  }

  /** Marks an attempt completed with its released aggregate (a blob already stored). */
  completeRound(tag: string, result: { resultHash: string; contributors: readonly string[]; metrics: Record<string, unknown> }): RoundRecord {
    const r = this.#requireRunning(tag);
    if (!this.hasBlob(result.resultHash)) throw new AggregatorError('ERR_AGG_BLOB_UNKNOWN', 'result blob must be stored before the round completes');
    const finished = new Date().toISOString();
    this.#db.run(`UPDATE rounds SET status = 'completed', result = ?, contributors = ?, metrics = ?, finished = ? WHERE tag = ?`,
      [result.resultHash, JSON.stringify(result.contributors), JSON.stringify(result.metrics), finished, tag]);
    this.#persist();
    return { ...r, status: 'completed', result: result.resultHash, contributors: [...result.contributors], metrics: result.metrics, finished };
  }

  /** Marks a running attempt aborted with a reason (no-op if it is no longer running). */
  abortRound(tag: string, reason: string, metrics: Record<string, unknown> = {}): void {
    const r = this.getRound(tag);
    if (r === undefined || r.status !== 'running') return;
    this.#db.run(`UPDATE rounds SET status = 'aborted', reason = ?, metrics = ?, finished = ? WHERE tag = ?`, [reason.slice(0, 2000), JSON.stringify(metrics), new Date().toISOString(), tag]);
    this.#persist();
  }

  /** The attempt with this tag, or undefined. */
  getRound(tag: string): RoundRecord | undefined {
    return this.#rounds(`SELECT * FROM rounds WHERE tag = ?`, [tag])[0];
  }

  /** Every attempt of an experiment, by round then attempt. */
  listRounds(experiment: string): RoundRecord[] {
    return this.#rounds(`SELECT * FROM rounds WHERE experiment = ? ORDER BY round, attempt`, [experiment]);
  }

  /** Stores bytes under their SHA-256 (idempotent) and returns the hash. */
  putBlob(bytes: Uint8Array, owner: string): string {
    if (bytes.length > MAX_BLOB_BYTES) throw new AggregatorError('ERR_AGG_BLOB_TOO_LARGE', `blob of ${bytes.length} bytes exceeds ${MAX_BLOB_BYTES}`);
    const hash = toHex(sha256Digest(bytes));
    if (this.hasBlob(hash)) {
      // Uploading the same bytes again makes the uploader an owner too (it holds the bytes).
      if (!this.#owns(hash, owner)) {
        this.#db.run(`INSERT OR IGNORE INTO blob_owners VALUES (?, ?)`, [hash, owner]);
        this.#persist();
      }
      return hash;
    }
    writeFileDurable(this.#blobPath(hash), bytes, 0o600);
    this.#db.run(`INSERT INTO blobs VALUES (?, ?, ?, ?)`, [hash, bytes.length, owner, new Date().toISOString()]);
    this.#db.run(`INSERT OR IGNORE INTO blob_owners VALUES (?, ?)`, [hash, owner]);
    this.#persist();
    return hash;
  }

  /** Marks a plan blob as offered to nodes (they may download it). */
  offerPlan(hash: string): void {
    if (!this.hasBlob(hash)) throw new AggregatorError('ERR_AGG_BLOB_UNKNOWN', `no blob ${hash.slice(0, 16)}`);
    this.#db.run(`INSERT OR IGNORE INTO offered_plans VALUES (?)`, [hash]);
    this.#persist();
  }

  /** True if the plan was offered to nodes by some experiment. */
  planOffered(hash: string): boolean {
    return HASH_RE.test(hash) && this.#query(`SELECT hash FROM offered_plans WHERE hash = ?`, [hash]).length === 1;
  }

  /** Whether `researcher` may read a blob: one it uploaded, or the result of a round of its own experiments. */
  researcherMayRead(hash: string, researcher: string): boolean {
    if (!HASH_RE.test(hash)) return false;
    if (this.#owns(hash, researcher)) return true;
    return this.#query(`SELECT r.tag FROM rounds r JOIN experiments e ON e.id = r.experiment WHERE r.result = ? AND e.owner = ?`, [hash, researcher]).length > 0;
  }

  /** True if the blob is stored. */
  hasBlob(hash: string): boolean {
    return HASH_RE.test(hash) && this.#query(`SELECT hash FROM blobs WHERE hash = ?`, [hash]).length === 1;
  }

  /** Size of a stored blob. */
  blobSize(hash: string): number {
    if (!this.hasBlob(hash)) throw new AggregatorError('ERR_AGG_BLOB_UNKNOWN', `no blob ${hash.slice(0, 16)}`);
    return statSync(this.#blobPath(hash)).size;
  }

  /** Reads a blob and re-checks its hash. */
  getBlob(hash: string): Uint8Array {
    if (!this.hasBlob(hash)) throw new AggregatorError('ERR_AGG_BLOB_UNKNOWN', `no blob ${hash.slice(0, 16)}`);
    const b = new Uint8Array(readFileSync(this.#blobPath(hash)));
    if (toHex(sha256Digest(b)) !== hash) throw new AggregatorError('ERR_AGG_STORE', `blob ${hash.slice(0, 16)} is corrupted on disk`);
    return b;
  }

  /** Closes the database (state is already on disk). */
  close(): void {
    this.#db.close();
  }

  /** True if `owner` uploaded the blob's bytes (first or later upload). */
  #owns(hash: string, owner: string): boolean {
    if (this.#query(`SELECT hash FROM blobs WHERE hash = ? AND owner = ?`, [hash, owner]).length > 0) return true;
    return this.#query(`SELECT hash FROM blob_owners WHERE hash = ? AND owner = ?`, [hash, owner]).length > 0;
  }

  #blobPath(hash: string): string {
    return join(this.dir, 'blobs', `${hash}.bin`);
  }

  #requireRunning(tag: string): RoundRecord {
    const r = this.getRound(tag);
    if (r === undefined) throw new AggregatorError('ERR_AGG_ROUND_UNKNOWN', `no round attempt ${tag}`);
    if (r.status !== 'running') throw new AggregatorError('ERR_AGG_ROUND_DONE', `round attempt ${tag} is ${r.status}`);
    return r;
  }

  #persist(): void {
    try {
      writeFileDurable(this.#dbPath, this.#db.export(), 0o600);
    } catch (e) {
      throw new AggregatorError('ERR_AGG_STORE', `cannot persist ${this.#dbPath}: ${(e as Error).message}`);
    }
  }

  #query(sql: string, params: SqlValue[]): Record<string, SqlValue>[] {
    const st = this.#db.prepare(sql);
    try {
      st.bind(params);
      const out: Record<string, SqlValue>[] = [];
      while (st.step()) out.push(st.getAsObject());
      return out;
    } finally {
      st.free();
    }
  }

  #rounds(sql: string, params: SqlValue[]): RoundRecord[] {
    return this.#query(sql, params).map((r) => ({
      experiment: r['experiment'] as string, round: r['round'] as number, attempt: r['attempt'] as number, tag: r['tag'] as string, seq: r['seq'] as number,
      status: r['status'] as RoundStatus, kind: r['kind'] as string,
      participants: JSON.parse(r['participants'] as string) as string[], contributors: JSON.parse(r['contributors'] as string) as string[],
      ...(r['result'] == null ? {} : { result: r['result'] as string }),
      metrics: JSON.parse(r['metrics'] as string) as Record<string, unknown>,
      ...(r['reason'] == null ? {} : { reason: r['reason'] as string }),
      started: r['started'] as string, ...(r['finished'] == null ? {} : { finished: r['finished'] as string }),
    }));
  }
}
