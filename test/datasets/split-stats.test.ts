import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import {
  classCounts, concatDatasets, datasetToCsv, labelSkewSplit, localStatsVector, parseTabular, permutation, standardizationFromSums, standardize,
  sumStatsVectors, trainTestSplit, type TabularDataset,
} from '../../node/datasets/index.ts';
import { seededRandomSource } from '../../crypto/random.ts';

const seed = (b: number) => seededRandomSource(new Uint8Array(32).fill(b));
const wdbc = parseTabular(readFileSync('data/wdbc.csv', 'utf8'), { target: 'diagnosis', positive: 'M', negative: 'B' });

/** A dataset whose first feature is the row id, to track rows through splits. */
function withIds(n: number, positives: number): TabularDataset {
  const x = new Float64Array(n * 2);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[2 * i] = i;
    x[2 * i + 1] = (i * 7) % 13;
    y[i] = i < positives ? 1 : 0;
  }
  return { featureNames: ['id', 'v'], target: 't', rows: n, features: 2, x, y, labels: { positive: '1', negative: '0' } };
}
const ids = (ds: TabularDataset) => Array.from({ length: ds.rows }, (_, i) => ds.x[i * ds.features]!);

describe('splits', () => {
  it('permutation is a permutation and reproducible from the seed', () => {
    const p = permutation(100, seed(1));
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(permutation(100, seed(1)))).toEqual(Array.from(p));
    expect(Array.from(permutation(100, seed(2)))).not.toEqual(Array.from(p));
  });

  it('trainTestSplit partitions the rows, stratifies by class and is deterministic', () => {
    const ds = withIds(200, 60);
    const a = trainTestSplit(ds, { testFraction: 0.25, rng: seed(3) });
    const b = trainTestSplit(ds, { testFraction: 0.25, rng: seed(3) });
    expect(ids(a.test)).toEqual(ids(b.test));
    expect([...ids(a.train), ...ids(a.test)].sort((p, q) => p - q)).toEqual(ids(ds));
    expect(classCounts(a.test)).toEqual([35, 15]);
    expect(classCounts(a.train)).toEqual([105, 45]);
    // Rows keep their labels.
    for (const part of [a.train, a.test]) for (let i = 0; i < part.rows; i++) expect(part.y[i]).toBe(part.x[2 * i]! < 60 ? 1 : 0);
  });

  it('datasetToCsv writes shards that parse back to identical values and labels', () => {
    const [shard] = labelSkewSplit(wdbc, { parts: 3, rng: seed(9) });
    const back = parseTabular(datasetToCsv(shard!), { target: 'diagnosis', positive: 'M', negative: 'B' });
    expect(back.featureNames).toEqual(wdbc.featureNames);
    expect(Array.from(back.x)).toEqual(Array.from(shard!.x));
    expect(Array.from(back.y)).toEqual(Array.from(shard!.y));
    expect(datasetToCsv(shard!).split('\n')[1]).toMatch(/,[MB]$/);
  });

  it('labelSkewSplit covers every row once, gives each site both classes and skews the label mix', () => {
    const sites = labelSkewSplit(wdbc, { parts: 3, rng: seed(4) });
    expect(sites.reduce((a, s) => a + s.rows, 0)).toBe(wdbc.rows);
    const all = concatDatasets(sites);
    expect(classCounts(all)).toEqual(classCounts(wdbc));
    const frac = sites.map((s) => classCounts(s)[1] / s.rows);
    expect(frac[0]).toBeGreaterThan(frac[1]!);
    expect(frac[1]).toBeGreaterThan(frac[2]!);
    for (const s of sites) for (const c of classCounts(s)) expect(c).toBeGreaterThan(0);
    // skew 0 is an even (IID-like) split.
    const even = labelSkewSplit(wdbc, { parts: 3, skew: 0, rng: seed(4) }).map((s) => classCounts(s)[1]);
    expect(Math.max(...even) - Math.min(...even)).toBeLessThanOrEqual(1);
    const ds = withIds(50, 20);
    const parts = labelSkewSplit(ds, { parts: 4, skew: 1, rng: seed(5) });
    expect(parts.flatMap(ids).sort((p, q) => p - q)).toEqual(ids(ds));
  });
});

describe('federated standardization', () => {
  it('sums of per-site vectors give the pooled mean and population std', () => {
    const sites = labelSkewSplit(wdbc, { parts: 3, rng: seed(6) });
    const agg = sumStatsVectors(sites.map(localStatsVector));
    expect(agg.length).toBe(61);
    const st = standardizationFromSums(agg, 30);
    expect(st.count).toBe(569);
    for (const j of [0, 3, 29]) {
      let m = 0;
      for (let r = 0; r < 569; r++) m += wdbc.x[r * 30 + j]!;
      m /= 569;
      let v = 0;
      for (let r = 0; r < 569; r++) v += (wdbc.x[r * 30 + j]! - m) ** 2;
      expect(st.mean[j]).toBeCloseTo(m, 9);
      expect(st.std[j]! / Math.sqrt(v / 569)).toBeCloseTo(1, 9);
    }
    const z = standardize(concatDatasets(sites), st);
    for (let j = 0; j < 30; j++) {
      let m = 0, s2 = 0;
      for (let r = 0; r < z.rows; r++) { m += z.x[r * 30 + j]!; s2 += z.x[r * 30 + j]! ** 2; }
      expect(Math.abs(m / z.rows)).toBeLessThan(1e-9);
      expect(s2 / z.rows).toBeCloseTo(1, 9);
    }
  });

  it('property: aggregation over any partition equals the pooled statistics; constant columns get std 1', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: 2, maxLength: 2 }), { minLength: 2, maxLength: 30 }),
        fc.integer({ min: 1, max: 29 }),
        (rows, cut) => {
          const n = rows.length;
          const k = Math.min(cut, n - 1);
          const mk = (rs: number[][]): TabularDataset => ({
            featureNames: ['a', 'c'], target: 't', rows: rs.length, features: 2,
            x: Float64Array.from(rs.flatMap((r) => [r[0]!, 5])), y: new Float64Array(rs.length), labels: { positive: '1', negative: '0' },
          });
          const pooled = standardizationFromSums(localStatsVector(mk(rows)), 2);
          const fed = standardizationFromSums(sumStatsVectors([localStatsVector(mk(rows.slice(0, k))), localStatsVector(mk(rows.slice(k)))]), 2);
          expect(fed.mean[0]).toBeCloseTo(pooled.mean[0]!, 6);
          expect(fed.std[0]).toBeCloseTo(pooled.std[0]!, 4);
          expect(fed.std[1]).toBe(1);
          expect(fed.mean[1]).toBeCloseTo(5, 9);
        },
      ),
      { numRuns: 50, seed: 11 },
    );
  });

  it('refuses malformed aggregates', () => {
    expect(() => standardizationFromSums(new Float64Array(5), 2)).toThrow(expect.objectContaining({ code: 'ERR_DATASET_SPLIT' }));
    expect(() => standardizationFromSums(new Float64Array(4), 2)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => standardizationFromSums(Float64Array.of(2.5, 0, 0, 0, 0), 2)).toThrow(expect.objectContaining({ code: 'ERR_DATASET_SPLIT' }));
    expect(() => standardizationFromSums(Float64Array.of(2, Number.NaN, 0, 0, 0), 2)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
