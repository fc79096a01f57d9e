/**
 * Tabular datasets for binary classification: numeric feature columns and a target column
 * mapped to {0, 1}. Validation collects every problem (up to {@link MAX_REPORTED_ISSUES}) with
 * its row and column before refusing, so a data manager can fix a file in one pass.
 */
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertString } from '../../common/validate.ts';
import { parseCsv } from './csv.ts';
import { DatasetError, type DatasetIssue } from './errors.ts';

/** How many issues an `ERR_DATASET_SCHEMA` error lists at most. */
export const MAX_REPORTED_ISSUES = 50;

/** Cell texts treated as missing values. */
export const MISSING_MARKERS: readonly string[] = ['', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', '?'];

/** A validated in-memory table. Rows are samples; `x` is row-major [rows, features]. */
export interface TabularDataset {
  readonly featureNames: readonly string[];
  readonly target: string;
  readonly rows: number;
  readonly features: number;
  /** Row-major feature matrix, `rows × features`. */
  readonly x: Float64Array;
  /** Labels in {0, 1}. */
  readonly y: Float64Array;
  /** The target texts mapped to 1 and 0 (`"1"`/`"0"` for numeric targets). */
  readonly labels: { readonly positive: string; readonly negative: string };
}

/**
 * How to read the target column. With `positive` (and optionally `negative`) the mapping is
 * explicit; `negative` defaults to the only other value present. With neither, a column of 0/1
 * is read as is, and a column with exactly two other distinct values is mapped in sorted order
 * (the later one is class 1, e.g. `B` → 0, `M` → 1); the mapping used is returned in
 * {@link TabularDataset.labels} so callers can record and show it.
 */
export interface TargetMapping {
  /** Target text meaning class 1 (e.g. `M`). */
  readonly positive?: string;
  /** Target text meaning class 0 (e.g. `B`). */
  readonly negative?: string;
}

/** Options of {@link parseTabular}. */
export interface ParseTabularOptions extends TargetMapping {
  /** Name of the target column. */
  readonly target: string;
  /** Columns to ignore (identifiers, free text). */
  readonly exclude?: readonly string[];
}

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses and validates CSV text: a unique header, the target column present, every other
 * (non-excluded) column numeric and finite in every row, every target value mapped.
 * Throws `ERR_DATASET_CSV` for malformed CSV and `ERR_DATASET_SCHEMA` with
 * `details.issues: DatasetIssue[]` for cell problems; messages name row and column, never values.
 */
export function parseTabular(text: string, opts: ParseTabularOptions): TabularDataset {
  assertString('target', opts.target, 256);
  if (opts.positive === undefined && opts.negative !== undefined) throw new InvalidArgumentError('positive', 'required with negative');
  if (opts.positive !== undefined && opts.positive === opts.negative) throw new InvalidArgumentError('negative', 'must differ from positive');
  const table = parseCsv(text);
  const header = table.header.map((h) => h.trim());
  const seen = new Set<string>();
  for (const [j, h] of header.entries()) {
    if (h === '') throw new DatasetError('ERR_DATASET_CSV', `header: column ${j + 1} has no name`, { columnIndex: j + 1 });
    if (seen.has(h)) throw new DatasetError('ERR_DATASET_CSV', `header: duplicate column '${h}'`, { column: h });
    seen.add(h);
  }
  const tIdx = header.indexOf(opts.target);
  if (tIdx < 0) throw new DatasetError('ERR_DATASET_SCHEMA', `target column '${opts.target}' is not in the header`, { column: opts.target, issues: [] });
  const exclude = new Set(opts.exclude ?? []);
  for (const e of exclude) if (!seen.has(e)) throw new InvalidArgumentError('exclude', `column '${e}' is not in the header`);
  const featIdx = header.map((_, j) => j).filter((j) => j !== tIdx && !exclude.has(header[j]!));
  if (featIdx.length === 0) throw new DatasetError('ERR_DATASET_SCHEMA', 'no feature columns', { issues: [] });
  const rows = table.records.length;
  if (rows === 0) throw new DatasetError('ERR_DATASET_SCHEMA', 'the file has a header but no data rows', { issues: [] });

  const labels = resolveMapping(table.records.map((r) => r.cells[tIdx]?.trim() ?? ''), opts);
  const F = featIdx.length;
  const x = new Float64Array(rows * F);
  const y = new Float64Array(rows);
  const issues: DatasetIssue[] = [];
  let total = 0;
  const report = (row: number, line: number, j: number, problem: DatasetIssue['problem']): void => {
    total++;
    if (issues.length < MAX_REPORTED_ISSUES) issues.push({ row, line, column: header[j] ?? '', columnIndex: j + 1, problem });
  };
  for (let r = 0; r < rows; r++) {
    const rec = table.records[r]!;
    if (rec.cells.length !== header.length) {
      report(r + 1, rec.line, Math.min(rec.cells.length, header.length), 'cell-count');
      continue;
    }
    for (let k = 0; k < F; k++) {
      const j = featIdx[k]!;
      const cell = rec.cells[j]!.trim();
      if (MISSING_MARKERS.includes(cell)) { report(r + 1, rec.line, j, 'missing'); continue; }
      if (!NUMBER_RE.test(cell)) { report(r + 1, rec.line, j, 'non-numeric'); continue; }
      const v = Number(cell);
      if (!Number.isFinite(v)) { report(r + 1, rec.line, j, 'non-finite'); continue; }
      x[r * F + k] = v;
    }
    const t = rec.cells[tIdx]!.trim();
    if (MISSING_MARKERS.includes(t)) { report(r + 1, rec.line, tIdx, 'missing'); continue; }
    if (t === labels.positive || (labels.positive === '1' && t === '1.0')) y[r] = 1;
    else if (t === labels.negative || (labels.negative === '0' && t === '0.0')) y[r] = 0;
    else report(r + 1, rec.line, tIdx, 'unmapped-target');
  }
  if (total > 0) {
    const first = issues[0]!;
    const where = `row ${first.row} (line ${first.line}), column '${first.column}' (#${first.columnIndex}): ${first.problem}`;
    const hint = first.problem === 'unmapped-target' ? ` (target mapping: '${labels.positive}' → 1, '${labels.negative}' → 0; a binary target needs exactly two values)` : '';
    throw new DatasetError('ERR_DATASET_SCHEMA', `${total} invalid cell(s); first at ${where}${hint}`, { issues, total });
  }
  return { featureNames: featIdx.map((j) => header[j]!), target: opts.target, rows, features: F, x, y, labels };
}

/** Picks the target mapping (see {@link TargetMapping}); unmapped values are reported per row later. */
function resolveMapping(values: readonly string[], m: TargetMapping): { positive: string; negative: string } {
  const distinct = [...new Set(values.filter((v) => !MISSING_MARKERS.includes(v)))].sort();
  if (m.positive !== undefined) {
    if (m.negative !== undefined) return { positive: m.positive, negative: m.negative };
    const others = distinct.filter((v) => v !== m.positive);
    // With several other values, keep the first and let the per-row check report the rest.
    return { positive: m.positive, negative: others.length === 1 ? others[0]! : others[0] ?? '\u0000' };
  }
  const numeric = distinct.every((v) => v === '0' || v === '1' || v === '0.0' || v === '1.0');
  if (numeric || distinct.length !== 2) return { positive: '1', negative: '0' };
  return { positive: distinct[1]!, negative: distinct[0]! };
}

/** Rows `idx` of `ds` as a new dataset (copies). */
export function selectRows(ds: TabularDataset, idx: ArrayLike<number>): TabularDataset {
  const F = ds.features;
  const x = new Float64Array(idx.length * F);
  const y = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i]!;
    if (!Number.isInteger(r) || r < 0 || r >= ds.rows) throw new InvalidArgumentError('idx', `row ${r} out of range`);
    x.set(ds.x.subarray(r * F, r * F + F), i * F);
    y[i] = ds.y[r]!;
  }
  return { featureNames: ds.featureNames, target: ds.target, rows: idx.length, features: F, x, y, labels: ds.labels };
}

/** Concatenates datasets with the same features. */
export function concatDatasets(parts: readonly TabularDataset[]): TabularDataset {
  if (parts.length === 0) throw new InvalidArgumentError('parts', 'need at least one dataset');
  const F = parts[0]!.features;
  for (const p of parts) if (p.features !== F) throw new InvalidArgumentError('parts', 'datasets have different feature counts');
  const rows = parts.reduce((a, p) => a + p.rows, 0);
  const x = new Float64Array(rows * F);
  const y = new Float64Array(rows);
  let off = 0;
  for (const p of parts) {
    x.set(p.x, off * F);
    y.set(p.y, off);
    off += p.rows;
  }
  return { featureNames: parts[0]!.featureNames, target: parts[0]!.target, rows, features: F, x, y, labels: parts[0]!.labels };
}

/** Number of rows per class: `[negatives, positives]`. */
export function classCounts(ds: TabularDataset): [number, number] {
  let pos = 0;
  for (let i = 0; i < ds.rows; i++) pos += ds.y[i]!;
  return [ds.rows - pos, pos];
}

/** Quotes a CSV field when needed (RFC 4180). */
function csvField(s: string): string {
  return /[",\r\n]/.test(s) || s === '' ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Writes a dataset back as CSV (features, then the target column with its original labels),
 * e.g. to hand each demo node its shard. Numbers use JavaScript's shortest round-trip form, so
 * {@link parseTabular} with the same target reads back identical values.
 */
export function datasetToCsv(ds: TabularDataset): string {
  const F = ds.features;
  const lines = [[...ds.featureNames, ds.target].map(csvField).join(',')];
  for (let r = 0; r < ds.rows; r++) {
    const cells: string[] = [];
    for (let j = 0; j < F; j++) cells.push(String(ds.x[r * F + j]!));
    cells.push(csvField(ds.y[r] === 1 ? ds.labels.positive : ds.labels.negative));
    lines.push(cells.join(','));
  }
  return lines.join('\n') + '\n';
}

/**
 * The dataset with exactly the columns `names`, in that order (e.g. a plan's expected feature
 * order). Throws `ERR_DATASET_SCHEMA` naming the columns the dataset lacks.
 */
export function alignFeatures(ds: TabularDataset, names: readonly string[]): TabularDataset {
  const idx = names.map((n) => ds.featureNames.indexOf(n));
  const missing = names.filter((_, k) => idx[k]! < 0);
  if (missing.length > 0) throw new DatasetError('ERR_DATASET_SCHEMA', `dataset lacks column(s) ${missing.map((m) => `'${m}'`).join(', ')}`, { missing, issues: [] });
  const F = ds.features;
  const G = names.length;
  const x = new Float64Array(ds.rows * G);
  for (let r = 0; r < ds.rows; r++) for (let k = 0; k < G; k++) x[r * G + k] = ds.x[r * F + idx[k]!]!;
  return { ...ds, featureNames: [...names], features: G, x };
}
