import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addGaussianNoise,
  assertMechanismAllowed,
  clipAndSumPerSample,
  clipL2,
  computeEpsilon,
  distributedLocalSigma,
  distributedNoise,
  distributedNoiseBound,
  dpSgdStep,
  gridL2Sensitivity,
  l2Norm,
  poissonSample,
  privatizeUpdateLocal,
  roundEvent,
  samplingRateFor,
  discreteGaussianVariance,
  type DpMechanismConfig,
} from '../../crypto/dp/index.ts';
import { seededRandomSource } from '../../crypto/random.ts';
import { loadFixture, rel } from './fixtures.ts';

const rngOf = (n: number) => {
  const s = new Uint8Array(32);
  s[0] = n;
  s[1] = 0x4d;
  return seededRandomSource(s);
};
const vec = fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 64 });

describe('L2 clipping (properties)', () => {
  it('clipped norm <= C for every vector and C', () => {
    fc.assert(
      fc.property(vec, fc.double({ min: 1e-6, max: 1e6, noNaN: true }), (v, c) => {
        expect(l2Norm(clipL2(v, c))).toBeLessThanOrEqual(c);
      }),
      { numRuns: 300 },
    );
  });
  it('identity when the norm is already <= C', () => {
    fc.assert(
      fc.property(vec, (v) => {
        const c = l2Norm(v) * 1.5 + 1e-9;
        expect(Array.from(clipL2(v, c))).toEqual(v);
      }),
      { numRuns: 300 },
    );
  });
  it('clipping keeps the direction', () => {
    fc.assert(
      fc.property(vec, fc.double({ min: 1e-3, max: 10, noNaN: true }), (v, c) => {
        const n = l2Norm(v);
        fc.pre(n > c);
        const out = clipL2(v, c);
        for (let i = 0; i < v.length; i++) expect(out[i]!).toBeCloseTo((v[i]! * c) / n, 6);
      }),
      { numRuns: 200 },
    );
  });
  it('per-sample clip-and-sum has norm <= rows * C', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 8 }), fc.double({ min: 0.01, max: 5, noNaN: true }), (rows, cols, c) => {
        const data = new Float64Array(rows * cols).map((_, i) => Math.sin(i * 7.3) * 100);
        const s = clipAndSumPerSample({ rows, cols, data }, c);
        expect(l2Norm(s)).toBeLessThanOrEqual(rows * c * (1 + 1e-12) + 1e-12);
      }),
    );
  });
  it('rejects NaN / Infinity entries and bad clip norms with typed errors', () => {
    expect(() => clipL2([1, NaN], 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', field: 'vector' }));
    expect(() => clipL2([1, Infinity], 1)).toThrow(expect.objectContaining({ field: 'vector' }));
    for (const c of [0, -1, NaN, Infinity]) expect(() => clipL2([1], c)).toThrow(expect.objectContaining({ field: 'clipNorm' }));
  });
});

describe('noise on the dyadic lattice', () => {
  it('outputs are exact lattice points and the noise has the requested std', () => {
    const d = 20000;
    const v = new Float64Array(d).map((_, i) => Math.cos(i) * 0.3);
    const out = addGaussianNoise(v, 1, 0.5, rngOf(1));
    const g = Math.ceil(Math.log2(2 ** 14 / 0.5));
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < d; i++) {
      expect(Number.isInteger(out[i]! * 2 ** g)).toBe(true);
      const e = out[i]! - Math.round(v[i]! * 2 ** g) / 2 ** g;
      s += e;
      s2 += e * e;
    }
    const std = Math.sqrt(s2 / d);
    const want = 0.5 * (1 + Math.sqrt(d) / 2 ** (g + 1));
    expect(Math.abs(s / d)).toBeLessThan((5 * want) / Math.sqrt(d));
    expect(Math.abs(std - want) / want).toBeLessThan(5 * Math.sqrt(1 / (2 * d)));
  });

  it('dpSgdStep: clip, sum, noise, divide by the expected batch size', () => {
    const rows = 5;
    const cols = 4000;
    const data = new Float64Array(rows * cols).map((_, i) => ((i % cols) === 0 ? 10 : 0)); // each row norm 10 along e0
    const out = dpSgdStep({ rows, cols, data }, { clipNorm: 1, noiseMultiplier: 1.2, expectedBatchSize: 10 }, rngOf(2));
    // coordinate 0: (5 * 1 + noise)/10 ; others: noise/10 with std 0.12
    let s2 = 0;
    for (let j = 1; j < cols; j++) s2 += out[j]! ** 2;
    const std = Math.sqrt(s2 / (cols - 1));
    expect(Math.abs(std - 0.12) / 0.12).toBeLessThan(0.1);
    expect(Math.abs(out[0]! - 0.5)).toBeLessThan(5 * 0.12);
    const noNoise = dpSgdStep({ rows, cols, data }, { clipNorm: 1, noiseMultiplier: 1.2, expectedBatchSize: 10, addNoise: false });
    expect(noNoise[0]).toBeCloseTo(0.5, 12);
    expect(() => dpSgdStep({ rows: 2, cols: 2, data: new Float64Array(3) }, { clipNorm: 1, noiseMultiplier: 1, expectedBatchSize: 1 })).toThrow(
      expect.objectContaining({ field: 'perSampleGrads.data' }),
    );
  });

  it('empty batch still gets noise', () => {
    const out = dpSgdStep({ rows: 0, cols: 100, data: new Float64Array(0) }, { clipNorm: 1, noiseMultiplier: 1, expectedBatchSize: 1 }, rngOf(3));
    expect(out.some((x) => x !== 0)).toBe(true);
  });

  it('sampling rate from batch and dataset size; an empty dataset is a typed error', () => {
    expect(samplingRateFor(64, 6400)).toBe(0.01);
    expect(samplingRateFor(64, 10)).toBe(1);
    expect(() => samplingRateFor(64, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', field: 'datasetSize' }));
    expect(() => samplingRateFor(0, 10)).toThrow(expect.objectContaining({ field: 'expectedBatchSize' }));
    expect(() => dpSgdStep({ rows: 0, cols: 3, data: new Float64Array(0) }, { clipNorm: 1, noiseMultiplier: 1, expectedBatchSize: 0 })).toThrow(
      expect.objectContaining({ field: 'expectedBatchSize' }),
    );
  });

  it('poissonSample includes about q n indices', () => {
    const n = 100000;
    const s = poissonSample(n, 0.01, rngOf(4));
    expect(Math.abs(s.length - 1000)).toBeLessThan(5 * Math.sqrt(1000));
    expect(new Set(s).size).toBe(s.length);
    expect(poissonSample(10, 1, rngOf(5))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('mechanism configurations', () => {
  const local: DpMechanismConfig = { mode: 'local', unit: 'record', clipNorm: 1, noiseMultiplier: 1.1, samplingRate: 0.01, stepsPerRound: 50 };
  const dist: DpMechanismConfig = { mode: 'distributed', unit: 'update', clipNorm: 1, noiseMultiplier: 1, samplingRate: 1, stepsPerRound: 1, minHonestParties: 5, scale: 1024, dimension: 10000 };

  it('record-level local DP-SGD spends stepsPerRound subsampled Gaussian steps per round', () => {
    expect(roundEvent(local, 3)).toEqual({ kind: 'poissonGaussian', samplingRate: 0.01, noiseMultiplier: 1.1, steps: 150, discreteNoise: true });
  });

  it('lattice (discrete) noise is accounted rigorously: equal to the Gaussian at q = 1, generic subsampling bound below 1', () => {
    const d = loadFixture('ddp_reference.json');
    // With one client the google-research code's generic bound is the Zhu-Wang bound on alpha/(2 sigma^2).
    for (const r of d.ddg_vs_continuous.rows.filter((x: { num_clients: number; dim: number }) => x.num_clients === 1 && x.dim === 1)) {
      const e = computeEpsilon([{ kind: 'poissonGaussian', samplingRate: r.q, noiseMultiplier: r.noise_multiplier, steps: r.T, discreteNoise: true }], r.delta, { orders: d.rdp_orders });
      expect(rel(e.epsilon, r.continuous_gaussian_generic_subsampling_bound.eps)).toBeLessThan(1e-9);
      const cont = computeEpsilon([{ kind: 'poissonGaussian', samplingRate: r.q, noiseMultiplier: r.noise_multiplier, steps: r.T }], r.delta, { orders: d.rdp_orders });
      if (r.q === 1) expect(rel(e.epsilon, cont.epsilon)).toBeLessThan(1e-12);
      else expect(e.epsilon).toBeGreaterThan(cont.epsilon);
    }
    expect(() => computeEpsilon([{ kind: 'poissonGaussian', samplingRate: 0.1, noiseMultiplier: 1, steps: 1, discreteNoise: true }], 1e-5, { accountant: 'pld' })).toThrow(
      expect.objectContaining({ code: 'ERR_DP_UNSUPPORTED' }),
    );
  });

  it('update-level local privatization clips and noises', () => {
    const cfg: DpMechanismConfig = { ...local, unit: 'update', samplingRate: 1, stepsPerRound: 1 };
    const out = privatizeUpdateLocal(new Float64Array(1000).fill(1), cfg, rngOf(6));
    expect(out.length).toBe(1000);
    expect(() => privatizeUpdateLocal([1], local)).toThrow(expect.objectContaining({ field: 'mechanism.mode' }));
  });

  it('distributed: per-node sigma, integer noise of the right variance, codec noise bound', () => {
    const sigma = distributedLocalSigma(dist);
    expect(sigma).toBeCloseTo((1 * gridL2Sensitivity(1, 1024, 10000)) / Math.sqrt(5), 9);
    const noise = distributedNoise(dist, rngOf(7));
    expect(noise).toBeInstanceOf(Int32Array);
    expect(noise.length).toBe(10000);
    let s2 = 0;
    for (const x of noise) s2 += x * x;
    const v = discreteGaussianVariance(sigma);
    expect(Math.abs(s2 / noise.length - v) / v).toBeLessThan(5 * Math.sqrt(2 / noise.length));
    const b = distributedNoiseBound(sigma, 10000);
    let mx = 0;
    for (const x of noise) mx = Math.max(mx, Math.abs(x));
    expect(mx).toBeLessThanOrEqual(b.noiseBound);
    expect(b.failureProbability).toBeLessThanOrEqual(2 ** -40);
    const sub = distributedNoiseBound(3, 1e6, 1e-9);
    expect(sub.noiseBound).toBeGreaterThan(3 * 6);
  });

  it('grid sensitivity: rounding term sqrt(d) (update, nearest: sqrt(d)/2)', () => {
    expect(gridL2Sensitivity(1, 100, 400)).toBe(120);
    expect(gridL2Sensitivity(1, 100, 400, 'nearest')).toBe(110);
    expect(gridL2Sensitivity(1, 100, 400, 'nearest', 'record')).toBe(120);
    expect(() => gridL2Sensitivity(1, 100, 0)).toThrow(expect.objectContaining({ field: 'dimension' }));
  });

  it('the sum of nMin honest nodes carries the full noise: epsilon close to the central Gaussian one', () => {
    const ev = roundEvent(dist, 10);
    const e = computeEpsilon([ev], 1e-6).epsilon;
    const central = computeEpsilon([{ kind: 'poissonGaussian', samplingRate: 1, noiseMultiplier: 1, steps: 10 }], 1e-6).epsilon;
    expect(e).toBeGreaterThanOrEqual(central * (1 - 1e-9));
    expect(e).toBeLessThan(central * 1.01);
  });

  it('node policy refusals are typed', () => {
    expect(() => assertMechanismAllowed({ ...local, mode: 'central', stepsPerRound: 1 }, { allowedModes: ['local', 'distributed'] })).toThrow(expect.objectContaining({ code: 'ERR_DP_POLICY' }));
    expect(() => assertMechanismAllowed(local, { allowedModes: ['local'], minNoiseMultiplier: 2 })).toThrow(expect.objectContaining({ code: 'ERR_DP_POLICY' }));
    expect(() => assertMechanismAllowed(dist, { allowedModes: ['distributed'], minHonestParties: 10 })).toThrow(expect.objectContaining({ code: 'ERR_DP_POLICY' }));
    expect(() => assertMechanismAllowed(local, { allowedModes: ['local'] })).not.toThrow();
  });

  it('bad configurations name the field', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...local, samplingRate: 0 }, 'mechanism.samplingRate'],
      [{ ...local, samplingRate: 1.5 }, 'mechanism.samplingRate'],
      [{ ...local, noiseMultiplier: NaN }, 'mechanism.noiseMultiplier'],
      [{ ...local, clipNorm: -1 }, 'mechanism.clipNorm'],
      [{ ...local, mode: 'x' }, 'mechanism.mode'],
      [{ ...local, unit: 'update' }, 'mechanism.samplingRate'],
      [{ ...dist, minHonestParties: 0 }, 'mechanism.minHonestParties'],
      [{ ...dist, scale: Infinity }, 'mechanism.scale'],
      [{ ...local, mode: 'central' }, 'mechanism.stepsPerRound'],
    ];
    for (const [c, field] of cases) expect(() => roundEvent(c as unknown as DpMechanismConfig)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', field }));
  });
});

describe('distributed discrete Gaussian accounting vs google-research/federated', () => {
  it('matches ddgauss_epsilon (incl. the generic subsampling bound at q = 0.01) within 1e-9', () => {
    const d = loadFixture('ddp_reference.json');
    let n = 0;
    for (const r of d.ddg_vs_continuous.rows) {
      const ev = {
        kind: 'distributedDiscreteGaussian' as const,
        l2Sensitivity: r.l2_sensitivity_int,
        l1Sensitivity: r.l1_sensitivity_int,
        dimension: r.dim,
        localSigma: r.local_stddev_int,
        parties: r.num_clients,
        steps: r.T,
        samplingRate: r.q,
      };
      const e = computeEpsilon([ev], r.delta, { orders: d.rdp_orders });
      expect(rel(e.epsilon, r.ddg.eps)).toBeLessThan(1e-9);
      n++;
    }
    expect(n).toBe(405);
  });
});
