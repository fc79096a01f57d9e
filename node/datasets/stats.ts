/**
 * Federated preprocessing, local side. Each site computes the vector
 * `[count, Σx_1 … Σx_F, Σx_1² … Σx_F²]` over its training rows; the services add these vectors
 * with secure aggregation, so only the sum over sites is revealed; {@link standardizationFromSums}
 * turns the sum into global means and standard deviations and {@link standardize} applies them.
 */
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertFiniteVector, assertInt } from '../../common/validate.ts';
import { DatasetError } from './errors.ts';
import type { TabularDataset } from './schema.ts';

/** Global feature statistics used to standardize every site alike. */
export interface Standardization {
  readonly count: number;
  readonly mean: Float64Array;
  /** Population standard deviation; features with zero variance get 1 (left unscaled). */
  readonly std: Float64Array;
}

/** Length of the statistics vector for F features: `2F + 1`. */
export function statsVectorLength(features: number): number {
  assertInt('features', features, 1, 1 << 20);
  return 2 * features + 1;
}

/** This site's `[count, sums (F), sums of squares (F)]`, the vector to aggregate securely. */
export function localStatsVector(ds: TabularDataset): Float64Array {
  const F = ds.features;
  const out = new Float64Array(2 * F + 1);
  out[0] = ds.rows;
  for (let r = 0; r < ds.rows; r++) {
    for (let j = 0; j < F; j++) {
      const v = ds.x[r * F + j]!;
      out[1 + j] += v;
      out[1 + F + j] += v * v;
    }
  }
  return out;
}

/** Adds statistics vectors in the clear (for tests and the central baseline; the federation uses secure aggregation). */
export function sumStatsVectors(vectors: readonly Float64Array[]): Float64Array {
  if (vectors.length === 0) throw new InvalidArgumentError('vectors', 'need at least one vector');
  const out = new Float64Array(vectors[0]!.length);
  for (const v of vectors) {
    if (v.length !== out.length) throw new InvalidArgumentError('vectors', 'vectors have different lengths');
    for (let i = 0; i < v.length; i++) out[i] += v[i]!;
  }
  return out;
}

/**
 * Means and standard deviations from an aggregated statistics vector of `features` features.
 * Throws `ERR_DATASET_SPLIT` if the count is not a positive integer; clamps the tiny negative
 * variances rounding can produce to 0.
 */
export function standardizationFromSums(sums: ArrayLike<number>, features: number): Standardization {
  const n = statsVectorLength(features);
  assertFiniteVector('sums', sums);
  if (sums.length !== n) throw new InvalidArgumentError('sums', `expected ${n} elements (2F+1), got ${sums.length}`);
  const count = Math.round(sums[0]!);
  if (count < 1 || Math.abs(sums[0]! - count) > 1e-6) throw new DatasetError('ERR_DATASET_SPLIT', 'aggregated count must be a positive integer');
  const mean = new Float64Array(features);
  const std = new Float64Array(features);
  for (let j = 0; j < features; j++) {
    const m = sums[1 + j]! / count;
    const variance = Math.max(0, sums[1 + features + j]! / count - m * m);
    mean[j] = m;
    const s = Math.sqrt(variance);
    std[j] = s > 1e-12 * Math.max(1, Math.abs(m)) ? s : 1;
  }
  return { count, mean, std };
}

/** `(x − mean) / std` column by column, as a new dataset. */
export function standardize(ds: TabularDataset, st: Standardization): TabularDataset {
  const F = ds.features;
  if (st.mean.length !== F || st.std.length !== F) throw new InvalidArgumentError('standardization', `expected ${F} features, got ${st.mean.length}`);
  const x = new Float64Array(ds.x.length);
  for (let r = 0; r < ds.rows; r++) {
    for (let j = 0; j < F; j++) x[r * F + j] = (ds.x[r * F + j]! - st.mean[j]!) / st.std[j]!;
  }
  return { ...ds, x };
}
