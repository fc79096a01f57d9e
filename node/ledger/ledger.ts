/**
 * The node's durable privacy-budget ledger: one append-only file per node holding, per dataset,
 * the maximum (epsilon, delta) set by the node's admin and every spend ever made.
 *
 * Protocol (write-ahead): {@link PrivacyLedger.spend} composes all past spends on the dataset with
 * the new one using the accountant, refuses with {@link DpBudgetExceededError} if the total would
 * exceed the budget, otherwise appends the spend record, fsyncs the file, and only then returns a
 * receipt. The caller releases the update only after `spend` returned. Hence every released update
 * has a record that reached stable storage; killing the process at any instant can lose only a
 * record whose update was never released.
 *
 * File format: 8-byte magic `FSDPLG01`, then frames `u32be length | payload (UTF-8 JSON) |
 * first 16 bytes of SHA-256(u32be length | payload)`. Payloads carry a contiguous sequence
 * number. Files are created with mode 0600; the directory is fsynced after creation.
 *
 * Torn or corrupted data: on open every frame is verified. A damaged or incomplete final frame
 * raises {@link LedgerTornTailError}; damage before the final frame (or a sequence gap) raises
 * {@link LedgerCorruptError}. Nothing is ever read past a bad frame silently. A torn final frame
 * can only come from a write whose fsync never returned, so its update was never released, and
 * discarding it is safe: the admin opts in with `repairTornTail: true`, which moves the tail
 * bytes to `<file>.torn-<time>` (kept for audit) and truncates the ledger. Because media
 * corruption of an already-acknowledged final record would look the same, repair is never
 * automatic. Corruption before the tail is never repaired by this module.
 *
 * One writer per file, enforced by `<file>.lock` (created exclusively, holding the owner's pid):
 * opening a ledger another live process (or this one) holds fails with `ERR_DP_LEDGER_LOCKED`; a
 * lock left by a crashed owner is taken over. Two processes taking over the same stale lock at the
 * same instant are not excluded.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, fchmodSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { FedsecError, InvalidArgumentError, StateError } from '../../common/errors.ts';
import { ID_PATTERN, assertNumber, assertString } from '../../common/validate.ts';
import {
  DEFAULT_RDP_ORDERS,
  DpBudgetExceededError,
  assertDelta,
  assertEvent,
  composeRdp,
  computeEpsilon,
  epsilonFromRdp,
  type AccountantKind,
  type DpEvent,
} from '../../crypto/dp/index.ts';

const MAGIC = Buffer.from('FSDPLG01', 'latin1');
const SUM_BYTES = 16;
const MAX_FRAME = 1 << 20;
/** Every record's JSON starts with its sequence number. */
const RECORD_PREFIX = Buffer.from('{"seq":', 'latin1');

/** The ledger file holds a damaged or incomplete final frame (see the module comment). */
export class LedgerTornTailError extends FedsecError {
  static readonly code = 'ERR_DP_LEDGER_TORN_TAIL';
  constructor(message: string, details: { path: string; validBytes: number; fileBytes: number; validRecords: number }) {
    super(LedgerTornTailError.code, message, { details });
  }
}

/** The ledger file is corrupted before its final frame, or its sequence numbers have a gap. */
export class LedgerCorruptError extends FedsecError {
  static readonly code = 'ERR_DP_LEDGER_CORRUPT';
  constructor(message: string, details: Record<string, unknown>) {
    super(LedgerCorruptError.code, message, { details });
  }
}

/** A write or fsync failed: the ledger refuses every further operation (its durable state is unknown). */
export class LedgerIoError extends FedsecError {
  static readonly code = 'ERR_DP_LEDGER_IO';
  constructor(message: string, cause: unknown) {
    super(LedgerIoError.code, message, { cause });
  }
}

/** A spend on a dataset that has no budget set. */
export class NoBudgetError extends FedsecError {
  static readonly code = 'ERR_DP_NO_BUDGET';
  constructor(dataset: string) {
    super(NoBudgetError.code, `dataset ${dataset} has no privacy budget; the node admin must set one before any release`, { details: { dataset } });
  }
}

/** A dataset's budget as set by the node admin. */
export interface DatasetBudget {
  readonly maxEpsilon: number;
  readonly delta: number;
}

/** Receipt of a durable spend: returned only after the record's fsync completed. */
export interface SpendReceipt {
  readonly dataset: string;
  readonly releaseId: string;
  readonly seq: number;
  /** Total epsilon of all spends on the dataset including this one (at the budget's delta). */
  readonly totalEpsilon: number;
  readonly remainingEpsilon: number;
}

/** Read-only view of a dataset's state. */
export interface DatasetStatus {
  readonly dataset: string;
  readonly budget: DatasetBudget | undefined;
  readonly spentEpsilon: number;
  readonly remainingEpsilon: number;
  readonly spends: number;
  readonly releaseIds: readonly string[];
}

type Record_ =
  | { readonly seq: number; readonly type: 'budget'; readonly dataset: string; readonly maxEpsilon: number; readonly delta: number; readonly time: string }
  | { readonly seq: number; readonly type: 'spend'; readonly dataset: string; readonly releaseId: string; readonly events: DpEvent[]; readonly totalEpsilon: number; readonly time: string };

interface DatasetState {
  budget: DatasetBudget | undefined;
  /** Events grouped by mechanism parameters (steps summed). */
  grouped: Map<string, DpEvent>;
  rdp: Float64Array;
  spentEpsilon: number;
  releaseIds: string[];
}

/** Options of {@link PrivacyLedger.open}. */
export interface LedgerOptions {
  /** Accountant used to compose spends (default `rdp`). */
  readonly accountant?: AccountantKind;
  /** Admin opt-in: discard a torn final frame (kept aside as `<file>.torn-<time>`). */
  readonly repairTornTail?: boolean;
  /** Clock for record timestamps (default `new Date()`). */
  readonly now?: () => Date;
}

function checksum(lenAndPayload: Uint8Array): Buffer {
  return createHash('sha256').update(lenAndPayload).digest().subarray(0, SUM_BYTES);
}

function frame(payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length, 0);
  const body = Buffer.concat([head, payload]);
  return Buffer.concat([body, checksum(body)]);
}

function eventKey(e: DpEvent): string {
  return e.kind === 'poissonGaussian'
    ? `pg|${e.samplingRate}|${e.noiseMultiplier}|${e.discreteNoise === true ? 'd' : 'c'}`
    : `ddg|${e.l2Sensitivity}|${e.l1Sensitivity ?? ''}|${e.dimension}|${e.localSigma}|${e.parties}|${e.samplingRate ?? 1}`;
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The durable per-node privacy budget ledger (see the module comment for the guarantees). */
export class PrivacyLedger {
  readonly path: string;
  readonly accountant: AccountantKind;
  #fd: number | undefined;
  #seq = 0;
  #failed: LedgerIoError | undefined;
  readonly #datasets = new Map<string, DatasetState>();
  readonly #now: () => Date;

  readonly #lock: string;

  private constructor(path: string, fd: number, accountant: AccountantKind, now: () => Date, lock: string) {
    this.#lock = lock;
    this.path = path;
    this.#fd = fd;
    this.accountant = accountant;
    this.#now = now;
  }

  /**
   * Opens (creating if absent) the ledger file at `path`, verifying every frame. Throws
   * {@link LedgerTornTailError} / {@link LedgerCorruptError} on damage (see the module comment).
   */
  static open(path: string, options: LedgerOptions = {}): PrivacyLedger {
    assertString('path', path, 4096);
    const accountant = options.accountant ?? 'rdp';
    if (accountant !== 'rdp' && accountant !== 'pld') throw new InvalidArgumentError('accountant', "expected 'rdp' or 'pld'");
    const lock = acquireLock(`${path}.lock`);
    const created = !existsSync(path);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o600);
    } catch (e) {
      releaseLock(lock);
      throw new LedgerIoError(`cannot open ledger ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, e);
    }
    try {
      fchmodSync(fd, 0o600);
      if (created || fstatSync(fd).size === 0) {
        writeAll(fd, MAGIC);
        fsyncSync(fd);
        fsyncDir(dirname(path));
      }
      const ledger = new PrivacyLedger(path, fd, accountant, options.now ?? (() => new Date()), lock);
      ledger.#load(options.repairTornTail === true);
      return ledger;
    } catch (e) {
      closeSync(fd);
      releaseLock(lock);
      throw e;
    }
  }

  #load(repair: boolean): void {
    const buf = readFileSync(this.path);
    if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
      if (buf.length < MAGIC.length && MAGIC.subarray(0, buf.length).equals(buf)) {
        this.#tornTail(buf, 0, repair);
        writeAll(this.#fd!, MAGIC);
        fsyncSync(this.#fd!);
        return;
      }
      throw new LedgerCorruptError(`${this.path} is not a fedsec privacy ledger (bad magic)`, { path: this.path });
    }
    let off = MAGIC.length;
    let records = 0;
    while (off < buf.length) {
      const start = off;
      // Damage: a torn tail if no valid frame follows, corruption otherwise (both throw unless repaired).
      const bad = (why: string): void => this.#classifyDamage(buf, start, records, why, repair);
      if (buf.length - off < 4) {
        bad('incomplete length prefix');
        return;
      }
      const len = buf.readUInt32BE(off);
      if (len === 0 || len > MAX_FRAME || off + 4 + len + SUM_BYTES > buf.length) {
        bad(len > MAX_FRAME || len === 0 ? 'implausible frame length' : 'frame runs past the end of the file');
        return;
      }
      const body = buf.subarray(off, off + 4 + len);
      const sum = buf.subarray(off + 4 + len, off + 4 + len + SUM_BYTES);
      if (!checksum(body).equals(sum)) {
        bad('checksum mismatch');
        return;
      }
      let rec: Record_;
      try {
        rec = JSON.parse(body.subarray(4).toString('utf8')) as Record_;
      } catch (e) {
        throw new LedgerCorruptError(`${this.path}: record ${records} has a valid checksum but is not JSON`, { path: this.path, offset: start, cause: String(e) });
      }
      if (rec.seq !== this.#seq + 1) throw new LedgerCorruptError(`${this.path}: sequence gap at record ${records} (expected ${this.#seq + 1}, got ${rec.seq})`, { path: this.path, offset: start });
      this.#apply(rec);
      this.#seq = rec.seq;
      records++;
      off += 4 + len + SUM_BYTES;
    }
  }

  #classifyDamage(buf: Buffer, start: number, records: number, why: string, repair: boolean): void {
    // Damage is "final frame only" if no valid frame can be found after the damaged one.
    // Candidate frames start with a plausible length and the payload prefix every record has
    // (`{"seq":`), so only those few positions are hashed.
    for (let p = start + 1; p + 4 + SUM_BYTES < buf.length; p++) {
      const len = buf.readUInt32BE(p);
      if (len === 0 || len > MAX_FRAME || p + 4 + len + SUM_BYTES > buf.length) continue;
      if (!buf.subarray(p + 4, p + 4 + RECORD_PREFIX.length).equals(RECORD_PREFIX)) continue;
      const body = buf.subarray(p, p + 4 + len);
      if (checksum(body).equals(buf.subarray(p + 4 + len, p + 4 + len + SUM_BYTES))) {
        throw new LedgerCorruptError(`${this.path}: record ${records} at byte ${start} is damaged (${why}) and valid records follow it; refusing to read the ledger`, {
          path: this.path,
          offset: start,
          validRecords: records,
        });
      }
    }
    this.#tornTail(buf, start, repair, why, records);
  }

  #tornTail(buf: Buffer, validBytes: number, repair: boolean, why = 'incomplete header', records = 0): void {
    if (!repair) {
      throw new LedgerTornTailError(
        `${this.path}: torn or damaged final record at byte ${validBytes} (${why}); ${records} valid records precede it. ` +
          'A torn final record was never acknowledged (its fsync did not return), so its update was not released; ' +
          'reopen with repairTornTail to set it aside, after checking the storage is healthy',
        { path: this.path, validBytes, fileBytes: buf.length, validRecords: records },
      );
    }
    const aside = `${this.path}.torn-${this.#now().toISOString().replace(/[:.]/g, '-')}`;
    const fd = openSync(aside, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      writeAll(fd, buf.subarray(validBytes));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    ftruncateSync(this.#fd!, validBytes);
    fsyncSync(this.#fd!);
    fsyncDir(dirname(this.path));
  }

  #state(dataset: string): DatasetState {
    let s = this.#datasets.get(dataset);
    if (!s) {
      s = { budget: undefined, grouped: new Map(), rdp: new Float64Array(DEFAULT_RDP_ORDERS.length), spentEpsilon: 0, releaseIds: [] };
      this.#datasets.set(dataset, s);
    }
    return s;
  }

  #apply(rec: Record_): void {
    const s = this.#state(rec.dataset);
    if (rec.type === 'budget') {
      s.budget = { maxEpsilon: rec.maxEpsilon, delta: rec.delta };
      // delta never changes once spends exist, so the spent epsilon stays valid.
      if (this.accountant === 'rdp' && s.grouped.size > 0) s.spentEpsilon = epsilonFromRdp(DEFAULT_RDP_ORDERS, s.rdp, rec.delta).value;
      return;
    }
    const { grouped, rdp } = this.#compose(s, rec.events);
    s.grouped = grouped;
    s.rdp = rdp;
    s.releaseIds.push(rec.releaseId);
    // The recorded total is what was enforced; recompute too (cheap for RDP) and keep the larger.
    const recomputed = this.accountant === 'rdp' && s.budget ? epsilonFromRdp(DEFAULT_RDP_ORDERS, s.rdp, s.budget.delta).value : 0;
    s.spentEpsilon = Math.max(rec.totalEpsilon, recomputed, s.spentEpsilon);
  }

  #compose(s: DatasetState, events: readonly DpEvent[]): { grouped: Map<string, DpEvent>; rdp: Float64Array } {
    const grouped = new Map(s.grouped);
    for (const e of events) {
      const k = eventKey(e);
      const prev = grouped.get(k);
      grouped.set(k, prev ? ({ ...prev, steps: prev.steps + e.steps } as DpEvent) : e);
    }
    const add = composeRdp(events, DEFAULT_RDP_ORDERS);
    const rdp = new Float64Array(s.rdp.length);
    for (let i = 0; i < rdp.length; i++) rdp[i] = s.rdp[i]! + add[i]!;
    return { grouped, rdp };
  }

  #epsilonOf(s: DatasetState, extra: readonly DpEvent[], delta: number): number {
    if (this.accountant === 'rdp') {
      const rdp = extra.length === 0 ? s.rdp : this.#compose(s, extra).rdp;
      return epsilonFromRdp(DEFAULT_RDP_ORDERS, rdp, delta).value;
    }
    const grouped = extra.length === 0 ? s.grouped : this.#compose(s, extra).grouped;
    const events = [...grouped.values()];
    // PLD covers continuous-noise subsampled Gaussians only; anything else uses RDP (a valid upper bound).
    if (events.every((e) => e.kind === 'poissonGaussian' && e.discreteNoise !== true)) return computeEpsilon(events, delta, { accountant: 'pld' }).epsilon;
    const rdp = extra.length === 0 ? s.rdp : this.#compose(s, extra).rdp;
    return epsilonFromRdp(DEFAULT_RDP_ORDERS, rdp, delta).value;
  }

  #assertUsable(): number {
    if (this.#failed) throw this.#failed;
    if (this.#fd === undefined) throw new StateError('ledger is closed', 'ERR_DP_LEDGER_CLOSED');
    return this.#fd;
  }

  #append(rec: Record_): void {
    const fd = this.#assertUsable();
    const bytes = frame(Buffer.from(JSON.stringify(rec), 'utf8'));
    try {
      writeAll(fd, bytes);
      fsyncSync(fd);
    } catch (e) {
      this.#failed = new LedgerIoError(`write or fsync of ${this.path} failed; the ledger refuses further operations until reopened`, e);
      throw this.#failed;
    }
  }

  /**
   * Sets (or changes) a dataset's maximum (epsilon, delta). Durable before it returns. The delta
   * cannot change once spends exist (epsilons at different deltas do not compare).
   */
  setBudget(dataset: string, budget: DatasetBudget): void {
    this.#assertUsable();
    assertString('dataset', dataset, 128, ID_PATTERN);
    assertNumber('maxEpsilon', budget?.maxEpsilon, 0, 1e6);
    assertDelta(budget.delta);
    const s = this.#state(dataset);
    if (s.budget && s.grouped.size > 0 && s.budget.delta !== budget.delta) {
      throw new InvalidArgumentError('delta', `dataset ${dataset} already has spends at delta ${s.budget.delta}; delta cannot change`);
    }
    const rec: Record_ = { seq: this.#seq + 1, type: 'budget', dataset, maxEpsilon: budget.maxEpsilon, delta: budget.delta, time: this.#now().toISOString() };
    this.#append(rec);
    this.#seq = rec.seq;
    this.#apply(rec);
  }

  /**
   * Composes the dataset's past spends with `events` (one release), refuses with
   * {@link DpBudgetExceededError} (stating the remaining budget) if the total exceeds the budget,
   * else records the spend durably (write + fsync) and returns the receipt. Release the update
   * only after this returned.
   */
  spend(dataset: string, events: DpEvent | readonly DpEvent[], releaseId: string): SpendReceipt {
    this.#assertUsable();
    assertString('dataset', dataset, 128, ID_PATTERN);
    assertString('releaseId', releaseId, 256);
    const list = Array.isArray(events) ? (events as readonly DpEvent[]) : [events as DpEvent];
    if (list.length === 0) throw new InvalidArgumentError('events', 'a spend needs at least one event');
    list.forEach((e, i) => assertEvent(e, `events[${i}]`));
    const s = this.#datasets.get(dataset);
    if (!s || !s.budget) throw new NoBudgetError(dataset);
    const budget = s.budget;
    const total = this.#epsilonOf(s, list, budget.delta);
    if (!(total <= budget.maxEpsilon)) {
      const remaining = Math.max(0, budget.maxEpsilon - s.spentEpsilon);
      throw new DpBudgetExceededError(
        dataset,
        `privacy budget of dataset ${dataset} exceeded: this release would bring epsilon to ${fmt(total)} > max ${fmt(budget.maxEpsilon)} at delta ${budget.delta}; ` +
          `spent ${fmt(s.spentEpsilon)}, remaining ${fmt(remaining)}`,
        { maxEpsilon: budget.maxEpsilon, delta: budget.delta, spentEpsilon: s.spentEpsilon, requestedEpsilon: total, remainingEpsilon: remaining },
      );
    }
    const rec: Record_ = { seq: this.#seq + 1, type: 'spend', dataset, releaseId, events: list.map((e) => ({ ...e })), totalEpsilon: total, time: this.#now().toISOString() };
    this.#append(rec);
    this.#seq = rec.seq;
    this.#apply(rec);
    return { dataset, releaseId, seq: rec.seq, totalEpsilon: total, remainingEpsilon: Math.max(0, budget.maxEpsilon - total) };
  }

  /** The dataset's budget, spent and remaining epsilon, and released ids. */
  status(dataset: string): DatasetStatus {
    assertString('dataset', dataset, 128, ID_PATTERN);
    const s = this.#datasets.get(dataset);
    const budget = s?.budget;
    const spent = s?.spentEpsilon ?? 0;
    return {
      dataset,
      budget,
      spentEpsilon: spent,
      remainingEpsilon: budget ? Math.max(0, budget.maxEpsilon - spent) : 0,
      spends: s?.releaseIds.length ?? 0,
      releaseIds: [...(s?.releaseIds ?? [])],
    };
  }

  /** Names of all datasets with a budget or spends. */
  datasets(): string[] {
    return [...this.#datasets.keys()];
  }

  /** Closes the file. Further operations throw. */
  close(): void {
    if (this.#fd !== undefined) {
      closeSync(this.#fd);
      this.#fd = undefined;
      releaseLock(this.#lock);
    }
  }
}

/** Another live process (or this one) holds the ledger open. */
export class LedgerLockedError extends FedsecError {
  static readonly code = 'ERR_DP_LEDGER_LOCKED';
  constructor(path: string, pid: number) {
    super(
      LedgerLockedError.code,
      `ledger ${path} is held by process ${pid}; one writer per ledger (if that process is not a fedsec node, remove ${path}.lock)`,
      { details: { path, pid } },
    );
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Single-writer lock: `<ledger>.lock` created exclusively (0600) holding the owner's pid. A lock
 * whose pid is no longer alive (the owner crashed) is taken over; a live owner, including this
 * process, makes open fail with {@link LedgerLockedError}.
 */
function acquireLock(lockPath: string): string {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        writeAll(fd, Buffer.from(`${process.pid}\n`, 'latin1'));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return lockPath;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new LedgerIoError(`cannot create ledger lock ${lockPath}: ${code ?? 'error'}`, e);
      let pid = NaN;
      try {
        pid = Number.parseInt(readFileSync(lockPath, 'latin1'), 10);
      } catch {
        continue; // removed meanwhile: retry
      }
      if (Number.isSafeInteger(pid) && pid > 0 && pidAlive(pid)) throw new LedgerLockedError(lockPath.slice(0, -'.lock'.length), pid);
      try {
        unlinkSync(lockPath); // stale: its owner is gone
      } catch {
        // removed meanwhile
      }
    }
  }
  throw new LedgerIoError(`cannot acquire ledger lock ${lockPath}`, undefined);
}

function releaseLock(lockPath: string): void {
  try {
    if (Number.parseInt(readFileSync(lockPath, 'latin1'), 10) === process.pid) unlinkSync(lockPath);
  } catch {
    // already gone
  }
}

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(6) : String(x);
}
