/** Shared fixtures of the training tests: wdbc split and standardized, and a DP-SGD hook. */
import { readFileSync } from 'node:fs';
import { localStatsVector, parseTabular, standardizationFromSums, standardize, trainTestSplit, type TabularDataset } from '../../node/datasets/index.ts';
import type { DpStepHook } from '../../node/training/index.ts';
import { seededRandomSource, type RandomSource } from '../../crypto/random.ts';

/** A seeded source filled with byte `b`. */
export const seed = (b: number): RandomSource => seededRandomSource(new Uint8Array(32).fill(b));

/** wdbc, stratified 80/20 split, standardized with the training rows' statistics. */
export function wdbcSplit(): { train: TabularDataset; test: TabularDataset } {
  const ds = parseTabular(readFileSync('data/wdbc.csv', 'utf8'), { target: 'diagnosis', positive: 'M', negative: 'B' });
  const { train, test } = trainTestSplit(ds, { testFraction: 0.2, rng: seed(100) });
  const st = standardizationFromSums(localStatsVector(train), train.features);
  return { train: standardize(train, st), test: standardize(test, st) };
}

/** A standard normal draw (Box–Muller over 2×32 random bits). */
function gaussian(rng: RandomSource): number {
  const b = rng.fill(new Uint8Array(8));
  const dv = new DataView(b.buffer);
  const u1 = (dv.getUint32(0) + 1) / 2 ** 32;
  const u2 = dv.getUint32(4) / 2 ** 32;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * The textbook DP-SGD step (Abadi et al. 2016) the DP engine will provide: clip each row to
 * L2 norm `clip`, sum, add N(0, (σ·clip)²) per coordinate, divide by the expected batch size.
 * `seen` records every call for inspection.
 */
export function gaussianDpHook(clip: number, sigma: number, rng: RandomSource, seen: { rows: number; expected: number; poisson: boolean }[] = []): DpStepHook {
  return (g, ctx) => {
    seen.push({ rows: g.rows, expected: ctx.expectedBatchSize, poisson: ctx.poisson });
    const P = g.cols;
    const sum = new Float64Array(P);
    for (let i = 0; i < g.rows; i++) {
      let n2 = 0;
      for (let j = 0; j < P; j++) n2 += g.data[i * P + j]! ** 2;
      const f = Math.min(1, clip / Math.max(Math.sqrt(n2), 1e-12));
      for (let j = 0; j < P; j++) sum[j]! += f * g.data[i * P + j]!;
    }
    for (let j = 0; j < P; j++) sum[j] = (sum[j]! + sigma * clip * gaussian(rng)) / ctx.expectedBatchSize;
    return sum;
  };
}
