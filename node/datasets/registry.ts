/**
 * The node's dataset registry: validated CSV copies under one directory, described by
 * `registry.json`. Files are written atomically (temporary file, fsync, rename) with mode 0600
 * in a 0700 directory, since they hold patient-level data. Each dataset records the SHA-256 of
 * its stored copy and a split seed, so every load re-verifies the bytes and reproduces the same
 * held-out test split.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { assertNumber, assertString, ID_PATTERN } from '../../common/validate.ts';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { sha256Digest } from '../../crypto/hkdf.ts';
import { randomBytes, seededRandomSource, systemRandom, type RandomSource } from '../../crypto/random.ts';
import { writeFileDurable } from '../../proto/durable.ts';
import { MAX_CSV_BYTES } from './csv.ts';
import { DatasetError } from './errors.ts';
import { classCounts, parseTabular, type TabularDataset } from './schema.ts';
import { trainTestSplit } from './split.ts';

/** What the registry remembers about a dataset (no cell values). */
export interface DatasetRecord {
  readonly tag: string;
  readonly file: string;
  /** Hex SHA-256 of the stored CSV copy. */
  readonly sha256: string;
  readonly target: string;
  /** Target value read as class 1. */
  readonly positive: string;
  /** Target value read as class 0. */
  readonly negative: string;
  readonly exclude?: readonly string[];
  readonly featureNames: readonly string[];
  readonly rows: number;
  readonly features: number;
  /** `[class 0, class 1]` row counts. */
  readonly classCounts: readonly [number, number];
  /** Fraction of rows held out for evaluation. */
  readonly testFraction: number;
  /** Hex seed of the deterministic train/test split. */
  readonly splitSeed: string;
  readonly description?: string;
  readonly addedAt: string;
}

/** Options of {@link DatasetRegistry.add}. */
export interface AddDatasetOptions {
  /** Registry tag (ID_PATTERN), e.g. `breast-cancer`. */
  readonly tag: string;
  /** Target column. */
  readonly target: string;
  /** Target value for class 1 (see TargetMapping for the default). */
  readonly positive?: string;
  /** Target value for class 0 (default: the only other value). */
  readonly negative?: string;
  /** Columns to ignore. */
  readonly exclude?: readonly string[];
  /** Held-out fraction (default 0.2). */
  readonly testFraction?: number;
  readonly description?: string;
  /** Source of the split seed (default the system CSPRNG). */
  readonly rng?: RandomSource;
}

/** A loaded dataset: all rows and the recorded train/test split. */
export interface LoadedDataset {
  readonly record: DatasetRecord;
  readonly all: TabularDataset;
  readonly train: TabularDataset;
  readonly test: TabularDataset;
}

const INDEX = 'registry.json';

/** File-backed registry of tabular datasets, keyed by tag. */
export class DatasetRegistry {
  readonly dir: string;

  /** Opens (creating if needed, mode 0700) the registry in `dir`. */
  constructor(dir: string) {
    assertString('dir', dir, 4096);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.dir = dir;
  }

  /** Validates the CSV at `path` and registers a copy. See {@link addCsvText}. */
  add(path: string, opts: AddDatasetOptions): DatasetRecord {
    assertString('path', path, 4096);
    if (!existsSync(path)) throw new DatasetError('ERR_DATASET_CSV', `no such file: ${path}`);
    const size = statSync(path).size;
    if (size > MAX_CSV_BYTES) throw new DatasetError('ERR_DATASET_TOO_LARGE', `file is ${size} bytes, above ${MAX_CSV_BYTES}`, { limit: MAX_CSV_BYTES });
    return this.addCsvText(readFileSync(path, 'utf8'), opts);
  }

  /**
   * Validates CSV text (schema errors name row and column) and registers it under `opts.tag`.
   * Throws `ERR_DATASET_EXISTS` for a known tag, `ERR_DATASET_CSV` / `ERR_DATASET_SCHEMA` for bad data.
   */
  addCsvText(text: string, opts: AddDatasetOptions): DatasetRecord {
    assertString('tag', opts.tag, 128, ID_PATTERN);
    const testFraction = opts.testFraction ?? 0.2;
    assertNumber('testFraction', testFraction, 0, 0.9, { minOpen: true });
    if (opts.description !== undefined) assertString('description', opts.description, 1024);
    const idx = this.#index();
    if (idx[opts.tag] !== undefined) throw new DatasetError('ERR_DATASET_EXISTS', `a dataset tagged '${opts.tag}' is already registered`, { tag: opts.tag });
    const ds = parseTabular(text, opts);
    const splitSeed = toHex(randomBytes(32, opts.rng ?? systemRandom));
    // Fail now, not at training time, if the split is impossible.
    trainTestSplit(ds, { testFraction, rng: seededRandomSource(fromHex(splitSeed)) });
    const bytes = new Uint8Array(Buffer.from(text, 'utf8'));
    const file = `${opts.tag}.csv`;
    writeFileDurable(join(this.dir, file), bytes, 0o600);
    const rec: DatasetRecord = {
      tag: opts.tag, file, sha256: toHex(sha256Digest(bytes)), target: opts.target,
      positive: ds.labels.positive, negative: ds.labels.negative,
      ...(opts.exclude === undefined || opts.exclude.length === 0 ? {} : { exclude: [...opts.exclude] }),
      featureNames: ds.featureNames, rows: ds.rows, features: ds.features, classCounts: classCounts(ds),
      testFraction, splitSeed,
      ...(opts.description === undefined ? {} : { description: opts.description }),
      addedAt: new Date().toISOString(),
    };
    this.#writeIndex({ ...this.#index(), [opts.tag]: rec });
    return rec;
  }

  /** All records, sorted by tag. */
  list(): DatasetRecord[] {
    return Object.values(this.#index()).sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
  }

  /** True if `tag` is registered. */
  has(tag: string): boolean {
    return this.#index()[tag] !== undefined;
  }

  /** The record of `tag` (throws `ERR_DATASET_UNKNOWN`). */
  get(tag: string): DatasetRecord {
    assertString('tag', tag, 128, ID_PATTERN);
    const rec = this.#index()[tag];
    if (rec === undefined) throw new DatasetError('ERR_DATASET_UNKNOWN', `no dataset tagged '${tag}'`, { tag });
    return rec;
  }

  /**
   * Reads the stored copy, checks its SHA-256 (`ERR_DATASET_ALTERED` if it changed), parses it
   * and reproduces the recorded train/test split.
   */
  load(tag: string): LoadedDataset {
    const record = this.get(tag);
    const path = join(this.dir, record.file);
    if (!existsSync(path)) throw new DatasetError('ERR_DATASET_ALTERED', `stored copy of '${tag}' is missing`, { tag });
    const bytes = new Uint8Array(readFileSync(path));
    if (toHex(sha256Digest(bytes)) !== record.sha256) throw new DatasetError('ERR_DATASET_ALTERED', `stored copy of '${tag}' no longer matches its recorded SHA-256`, { tag });
    const all = parseTabular(Buffer.from(bytes).toString('utf8'), {
      target: record.target,
      positive: record.positive, negative: record.negative,
      ...(record.exclude === undefined ? {} : { exclude: record.exclude }),
    });
    const { train, test } = trainTestSplit(all, { testFraction: record.testFraction, rng: seededRandomSource(fromHex(record.splitSeed)) });
    return { record, all, train, test };
  }

  /** Unregisters `tag` and deletes its stored copy. Returns the removed record. */
  remove(tag: string): DatasetRecord {
    const rec = this.get(tag);
    const idx = { ...this.#index() };
    delete idx[tag];
    this.#writeIndex(idx);
    rmSync(join(this.dir, rec.file), { force: true });
    return rec;
  }

  #index(): Record<string, DatasetRecord> {
    const f = join(this.dir, INDEX);
    if (!existsSync(f)) return {};
    try {
      const v = JSON.parse(readFileSync(f, 'utf8')) as unknown;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      return v as Record<string, DatasetRecord>;
    } catch {
      throw new DatasetError('ERR_DATASET_ALTERED', `${INDEX} is not valid JSON`);
    }
  }

  #writeIndex(idx: Record<string, DatasetRecord>): void {
    writeFileDurable(join(this.dir, INDEX), JSON.stringify(idx, null, 1) + '\n', 0o600);
  }
}
