/**
 * Deterministic shuffles and splits driven by a {@link RandomSource}: a held-out test split
 * (stratified by class) and a label-skewed partition across sites for non-IID demos.
 */
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertInt, assertNumber } from '../../common/validate.ts';
import { randomIntBelow, type RandomSource } from '../../crypto/random.ts';
import { DatasetError } from './errors.ts';
import { selectRows, type TabularDataset } from './schema.ts';

/** Fisher–Yates shuffle of `a` in place with unbiased indices from `rng`. Returns `a`. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(a: T, rng: RandomSource): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = randomIntBelow(i + 1, rng);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

/** A uniformly random permutation of 0..n-1. */
export function permutation(n: number, rng: RandomSource): Uint32Array {
  assertInt('n', n, 0, 2 ** 31);
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return shuffleInPlace(p, rng);
}

function indicesOfClass(ds: TabularDataset, c: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < ds.rows; i++) if (ds.y[i] === c) out.push(i);
  return out;
}

/**
 * Splits into train and test sets, stratified by class: each class contributes
 * `round(testFraction · classSize)` rows to the test set. Deterministic given `rng`'s stream.
 */
export function trainTestSplit(ds: TabularDataset, opts: { testFraction: number; rng: RandomSource }): { train: TabularDataset; test: TabularDataset } {
  assertNumber('testFraction', opts.testFraction, 0, 1, { minOpen: true, maxOpen: true });
  const train: number[] = [];
  const test: number[] = [];
  for (const c of [0, 1]) {
    const idx = indicesOfClass(ds, c);
    shuffleInPlace(idx, opts.rng);
    const k = Math.round(opts.testFraction * idx.length);
    test.push(...idx.slice(0, k));
    train.push(...idx.slice(k));
  }
  if (train.length === 0 || test.length === 0) throw new DatasetError('ERR_DATASET_SPLIT', `cannot split ${ds.rows} rows with testFraction ${opts.testFraction}`);
  // Interleave the classes again so batches drawn in order are mixed.
  return { train: selectRows(ds, shuffleInPlace(train, opts.rng)), test: selectRows(ds, shuffleInPlace(test, opts.rng)) };
}

/** Options of {@link labelSkewSplit}. */
export interface LabelSkewOptions {
  /** Number of sites (≥ 2). */
  readonly parts: number;
  /** 0 = each class spread evenly, 1 = maximal skew (site k gets class-1 share ∝ parts−k, class-0 share ∝ k+1). Default 0.8. */
  readonly skew?: number;
  readonly rng: RandomSource;
}

/**
 * Partitions rows across sites non-identically by label: class 1 concentrates on the first
 * sites and class 0 on the last ones, blended with an even split by `skew`. Every site gets
 * at least one row of each class when the class has at least `parts` rows. Deterministic given `rng`.
 */
export function labelSkewSplit(ds: TabularDataset, opts: LabelSkewOptions): TabularDataset[] {
  const P = opts.parts;
  assertInt('parts', P, 2, 1024);
  const skew = opts.skew ?? 0.8;
  assertNumber('skew', skew, 0, 1);
  if (ds.rows < 2 * P) throw new InvalidArgumentError('parts', `${ds.rows} rows cannot be spread over ${P} sites`);
  const sites: number[][] = Array.from({ length: P }, () => []);
  for (const c of [0, 1]) {
    const idx = indicesOfClass(ds, c);
    shuffleInPlace(idx, opts.rng);
    const raw = Array.from({ length: P }, (_, k) => (c === 1 ? P - k : k + 1));
    const rawSum = raw.reduce((a, b) => a + b, 0);
    const share = raw.map((w) => (1 - skew) / P + (skew * w) / rawSum);
    // Largest-remainder rounding of the class over the sites, at least one row each when possible.
    const exact = share.map((s) => s * idx.length);
    const counts = exact.map((e) => Math.floor(e));
    let left = idx.length - counts.reduce((a, b) => a + b, 0);
    const order = exact.map((e, k) => [e - Math.floor(e), k] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    for (const [, k] of order) { if (left === 0) break; counts[k]!++; left--; }
    if (idx.length >= P) {
      for (let k = 0; k < P; k++) {
        if (counts[k] === 0) {
          const donor = counts.indexOf(Math.max(...counts));
          counts[donor]!--;
          counts[k] = 1;
        }
      }
    }
    let off = 0;
    for (let k = 0; k < P; k++) {
      sites[k]!.push(...idx.slice(off, off + counts[k]!));
      off += counts[k]!;
    }
  }
  return sites.map((s) => selectRows(ds, shuffleInPlace(s, opts.rng)));
}
