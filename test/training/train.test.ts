import { afterAll, describe, expect, it } from 'vitest';
import { alignFeatures, labelSkewSplit, selectRows, type TabularDataset } from '../../node/datasets/index.ts';
import {
  PlanSessionCache, applyUpdate, evaluate, trainCentralBaseline, trainLocal, type DpStepHook,
} from '../../node/training/index.ts';
import { GraphBuilder, encodeOnnxModel, logisticRegressionPlan, mlpPlan, planFeatureNames, type TrainingPlan } from '../../researcher/plans/index.ts';
import { refPerSampleGrads, type RefModel } from '../plans/reference.ts';
import { gaussianDpHook, seed, wdbcSplit } from './helpers.ts';

const sessions = new PlanSessionCache({ intraOpNumThreads: 1 });
afterAll(async () => {
  await sessions.close();
});
const { train, test } = wdbcSplit();
const logreg = logisticRegressionPlan({ features: 30 });

describe('central training on wdbc (same onnxruntime path as the nodes)', () => {
  it('logistic regression reaches ≥ 95% test accuracy', async () => {
    const r = await trainCentralBaseline({ plan: logreg, train, test, trainingArgs: { learningRate: 0.1, epochs: 10, batchSize: 32 }, rng: seed(1), sessions });
    expect(r.steps).toBe(10 * Math.ceil(train.rows / 32));
    expect(r.test.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(r.test.samples).toBe(test.rows);
    const c = r.test.confusion;
    expect(c.tp + c.fp + c.tn + c.fn).toBe(test.rows);
    expect(r.trainLoss).toBeLessThan(0.15);
    expect(r.test.auc).toBeGreaterThan(0.98);
  });

  it('evaluate: AUC matches a pairwise count, null for one class; featureNames in the plan are enforced', async () => {
    const small = selectRows(test, Array.from({ length: 30 }, (_, i) => i));
    const params = Float32Array.from({ length: 31 }, (_, i) => (i % 3) - 1);
    const ev = await evaluate({ plan: logreg, dataset: small, params, sessions });
    // Reference: fraction of (positive, negative) pairs ranked correctly, ties half, from the float64 logits.
    const z = Array.from({ length: 30 }, (_, r) => small.x.subarray(r * 30, r * 30 + 30).reduce((a, v, j) => a + v * params[j]!, params[30]!));
    let good = 0, pairs = 0;
    for (let a = 0; a < 30; a++) for (let b = 0; b < 30; b++) {
      if (small.y[a] !== 1 || small.y[b] !== 0) continue;
      pairs++;
      good += z[a]! > z[b]! ? 1 : z[a] === z[b] ? 0.5 : 0;
    }
    expect(ev.auc).toBeCloseTo(good / pairs, 2);
    const onlyNeg = selectRows(test, Array.from({ length: test.rows }, (_, i) => i).filter((i) => test.y[i] === 0));
    expect((await evaluate({ plan: logreg, dataset: onlyNeg, params, sessions })).auc).toBeNull();

    const named = logisticRegressionPlan({ features: 30, featureNames: train.featureNames });
    expect(planFeatureNames(named)).toEqual(train.featureNames);
    const shuffled = [...train.featureNames].reverse();
    const reordered = alignFeatures(train, shuffled);
    await expect(trainLocal({ plan: named, dataset: reordered, trainingArgs: { learningRate: 0.1, epochs: 1, batchSize: 64 }, rng: seed(1), sessions })).rejects.toMatchObject({ code: 'ERR_TRAIN_INPUT' });
    const aligned = alignFeatures(reordered, train.featureNames);
    expect(Array.from(aligned.x)).toEqual(Array.from(train.x));
    await trainLocal({ plan: named, dataset: aligned, trainingArgs: { learningRate: 0.1, epochs: 1, batchSize: 64 }, rng: seed(1), sessions });
    expect(() => alignFeatures(train, ['radius_mean', 'nope'])).toThrow(expect.objectContaining({ code: 'ERR_DATASET_SCHEMA', details: expect.objectContaining({ missing: ['nope'] }) }));
    expect(() => logisticRegressionPlan({ features: 2, featureNames: ['a'] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('the MLP trains: loss falls well below its start and test accuracy ≥ 93%', async () => {
    const mlp = mlpPlan({ features: 30, hidden: 8, rng: seed(2) });
    const before = await evaluate({ plan: mlp, dataset: train, params: mlp.initialParameters, sessions });
    const r = await trainLocal({ plan: mlp, dataset: train, trainingArgs: { learningRate: 0.1, epochs: 10, batchSize: 32 }, rng: seed(3), sessions });
    const after = await evaluate({ plan: mlp, dataset: train, params: r.params, sessions });
    expect(after.loss).toBeLessThan(before.loss / 4);
    expect((await evaluate({ plan: mlp, dataset: test, params: r.params, sessions })).accuracy).toBeGreaterThanOrEqual(0.93);
  });
});

describe('trainLocal', () => {
  it('one full-batch step equals params − lr · mean per-sample gradient of the float64 reference', async () => {
    const small = selectRows(train, Array.from({ length: 40 }, (_, i) => i));
    const mlp = mlpPlan({ features: 30, hidden: 3, rng: seed(4) });
    const ref: RefModel = { kind: 'mlp', F: 30, H: 3, activation: 'tanh' };
    const lr = 0.5;
    const r = await trainLocal({ plan: mlp, dataset: small, trainingArgs: { learningRate: lr, epochs: 1, batchSize: 40 }, rng: seed(5), sessions });
    expect(r.steps).toBe(1);
    expect(r.samples).toBe(40);
    const g = refPerSampleGrads(ref, mlp.initialParameters, Float32Array.from(small.x), small.y);
    const P = mlp.parameterCount;
    for (let j = 0; j < P; j++) {
      let mean = 0;
      for (let i = 0; i < 40; i++) mean += g[i * P + j]!;
      expect(r.update[j]!).toBeCloseTo((-lr * mean) / 40, 4);
    }
  });

  it('DP path: the hook sees the graph per-sample gradients and its output drives the update', async () => {
    const small = selectRows(train, [0, 1, 2, 3, 4]);
    const seen: { rows: number; cols: number; data: Float32Array }[] = [];
    const constant: DpStepHook = (g) => {
      seen.push({ rows: g.rows, cols: g.cols, data: Float32Array.from(g.data) });
      return new Float64Array(g.cols).fill(0.25);
    };
    const r = await trainLocal({ plan: logreg, dataset: small, trainingArgs: { learningRate: 0.2, epochs: 2, batchSize: 5 }, dp: constant, rng: seed(6), sessions });
    expect(seen).toHaveLength(2);
    expect(seen[0]!.rows).toBe(5);
    expect(seen[0]!.cols).toBe(31);
    // Zero parameters: per-sample gradient rows are (σ(0) − y)·[x, 1]; rows come in shuffled order, so compare as a set of row sums.
    const rowSums = (d: Float32Array) => Array.from({ length: 5 }, (_, i) => d.subarray(i * 31, i * 31 + 31).reduce((a, b) => a + b, 0)).sort();
    const want = Array.from({ length: 5 }, (_, i) => (0.5 - small.y[i]!) * (small.x.subarray(i * 30, i * 30 + 30).reduce((a, b) => a + b, 0) + 1));
    rowSums(seen[0]!.data).forEach((v, i) => expect(v).toBeCloseTo([...want].sort()[i]!, 4));
    for (const u of r.update) expect(u).toBeCloseTo(-2 * 0.2 * 0.25, 6);
  });

  it('Poisson sampling: ⌈1/q⌉ steps per epoch, expected batch q·n, variable (possibly empty) batches', async () => {
    const small = selectRows(train, Array.from({ length: 20 }, (_, i) => i));
    const seen: { rows: number; expected: number; poisson: boolean }[] = [];
    const r = await trainLocal({ plan: logreg, dataset: small, trainingArgs: { learningRate: 0.1, epochs: 3, batchSize: 4, samplingRate: 0.05 }, dp: gaussianDpHook(1, 1, seed(7), seen), rng: seed(8), sessions });
    expect(r.steps).toBe(60);
    expect(seen).toHaveLength(60);
    expect(seen.every((s) => s.poisson && s.expected === 1)).toBe(true);
    expect(seen.some((s) => s.rows === 0)).toBe(true);
    expect(r.examplesSeen).toBe(seen.reduce((a, s) => a + s.rows, 0));
    expect(r.examplesSeen).toBeGreaterThan(30);
    expect(r.examplesSeen).toBeLessThan(95);
  });

  it('Poisson batches larger than batchSize run through the graph in chunks with identical results', async () => {
    const small = selectRows(train, Array.from({ length: 30 }, (_, i) => i));
    const record = (out: Float32Array[]): DpStepHook => (g) => {
      out.push(Float32Array.from(g.data));
      const m = new Float64Array(g.cols);
      for (let i = 0; i < g.rows; i++) for (let j = 0; j < g.cols; j++) m[j]! += g.data[i * g.cols + j]! / 15;
      return m;
    };
    const chunked: Float32Array[] = [];
    const whole: Float32Array[] = [];
    const args = { learningRate: 0.3, epochs: 1, samplingRate: 0.5 };
    const a = await trainLocal({ plan: logreg, dataset: small, trainingArgs: { ...args, batchSize: 4 }, dp: record(chunked), rng: seed(30), sessions });
    const b = await trainLocal({ plan: logreg, dataset: small, trainingArgs: { ...args, batchSize: 1000 }, dp: record(whole), rng: seed(30), sessions });
    expect(chunked.length).toBe(2);
    expect(chunked[0]!.length).toBeGreaterThan(4 * 31);
    expect(chunked.map((d) => Array.from(d))).toEqual(whole.map((d) => Array.from(d)));
    expect(Array.from(a.update)).toEqual(Array.from(b.update));
  });

  it('is reproducible from the RandomSource', async () => {
    const args = { learningRate: 0.1, epochs: 2, batchSize: 16, samplingRate: 0.1 };
    const a = await trainLocal({ plan: logreg, dataset: train, trainingArgs: args, dp: gaussianDpHook(1, 1, seed(9)), rng: seed(10), sessions });
    const b = await trainLocal({ plan: logreg, dataset: train, trainingArgs: args, dp: gaussianDpHook(1, 1, seed(9)), rng: seed(10), sessions });
    const c = await trainLocal({ plan: logreg, dataset: train, trainingArgs: args, dp: gaussianDpHook(1, 1, seed(9)), rng: seed(11), sessions });
    expect(Array.from(a.update)).toEqual(Array.from(b.update));
    expect(Array.from(a.update)).not.toEqual(Array.from(c.update));
  });

  it('refuses mismatched data, parameters and hook outputs with typed errors', async () => {
    const wrong: TabularDataset = { ...train, features: 29, featureNames: train.featureNames.slice(1) };
    const args = { learningRate: 0.1, epochs: 1, batchSize: 8 };
    await expect(trainLocal({ plan: logreg, dataset: wrong, trainingArgs: args, rng: seed(1), sessions })).rejects.toMatchObject({ code: 'ERR_TRAIN_INPUT' });
    await expect(trainLocal({ plan: logreg, dataset: train, params: new Float32Array(5), trainingArgs: args, rng: seed(1), sessions })).rejects.toMatchObject({ code: 'ERR_TRAIN_INPUT' });
    await expect(trainLocal({ plan: logreg, dataset: train, trainingArgs: args, dp: () => new Float64Array(3), rng: seed(1), sessions })).rejects.toMatchObject({ code: 'ERR_TRAIN_DP_HOOK' });
    await expect(trainLocal({ plan: logreg, dataset: train, trainingArgs: args, dp: (g) => new Float64Array(g.cols).fill(Number.NaN), rng: seed(1), sessions })).rejects.toMatchObject({ code: 'ERR_TRAIN_DP_HOOK' });
    await expect(trainLocal({ plan: logreg, dataset: train, trainingArgs: { ...args, learningRate: 0 }, rng: seed(1), sessions })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(trainLocal({ plan: logreg, dataset: train, trainingArgs: { learningRate: 100, epochs: 1, batchSize: 8 }, dp: (g) => new Float64Array(g.cols).fill(1e38), rng: seed(1), sessions })).rejects.toMatchObject({ code: 'ERR_TRAIN_DIVERGED' });
  });
});

describe('federated DP-SGD on label-skewed wdbc shards', () => {
  it('three sites, FedAvg of DP-SGD updates (σ = 1, C = 1, q = 0.1) reaches ≥ 90% test accuracy', async () => {
    const sites = labelSkewSplit(train, { parts: 3, rng: seed(12) });
    const noise = seed(13);
    let params: Float32Array = Float32Array.from(logreg.initialParameters);
    for (let round = 0; round < 8; round++) {
      const ups = [];
      for (const s of sites) {
        ups.push(await trainLocal({ plan: logreg, dataset: s, params, trainingArgs: { learningRate: 0.5, epochs: 1, batchSize: 64, samplingRate: 0.1 }, dp: gaussianDpHook(1, 1, noise), rng: seed(20 + round), sessions }));
      }
      const total = ups.reduce((a, u) => a + u.samples, 0);
      const mean = new Float64Array(logreg.parameterCount);
      for (const u of ups) for (let i = 0; i < mean.length; i++) mean[i]! += (u.update[i]! * u.samples) / total;
      params = applyUpdate(params, mean);
    }
    const ev = await evaluate({ plan: logreg, dataset: test, params, sessions });
    expect(ev.accuracy).toBeGreaterThanOrEqual(0.9);
  });
});

describe('DP-SGD with the MLP', () => {
  it('trains the MLP privately (σ = 1, C = 1, q = 0.05) to ≥ 90% test accuracy', async () => {
    const mlp = mlpPlan({ features: 30, hidden: 8, rng: seed(40) });
    const r = await trainLocal({ plan: mlp, dataset: train, trainingArgs: { learningRate: 0.5, epochs: 5, batchSize: 64, samplingRate: 0.05 }, dp: gaussianDpHook(1, 1, seed(41)), rng: seed(42), sessions });
    expect(r.steps).toBe(100);
    expect((await evaluate({ plan: mlp, dataset: test, params: r.params, sessions })).accuracy).toBeGreaterThanOrEqual(0.9);
  });
});

describe('PlanSessionCache', () => {
  it('loads each plan once per hash, evicts the least recently used and releases on close', async () => {
    const cache = new PlanSessionCache({ maxPlans: 2 });
    const a = logisticRegressionPlan({ features: 3 });
    const aAgain: TrainingPlan = { ...a }; // equal content, different object → same hash
    const b = logisticRegressionPlan({ features: 4 });
    const c = logisticRegressionPlan({ features: 5 });
    const sa = await cache.get(a);
    expect(await cache.get(aAgain)).toBe(sa);
    expect(cache.size).toBe(1);
    await cache.get(b);
    await cache.get(a); // a is now most recent
    await cache.get(c); // evicts b
    expect(cache.size).toBe(2);
    expect(await cache.get(a)).toBe(sa);
    expect(cache.hashOf(b)).not.toBe(cache.hashOf(a));
    await cache.close();
    expect(cache.size).toBe(0);
  });

  it('reports unloadable plans (not protobuf; unknown operator) with typed errors and does not cache failures', async () => {
    const cache = new PlanSessionCache();
    const lr3 = logisticRegressionPlan({ features: 3 });
    await expect(cache.get({ ...lr3, stepGraph: new Uint8Array([8, 1, 2, 3]) })).rejects.toMatchObject({ code: 'ERR_PLAN_GRAPH_INVALID' });
    const g = new GraphBuilder();
    g.op('NoSuchOperator', ['x'], undefined, 'prob');
    const unknownOp = encodeOnnxModel(g.build('bad', [{ name: 'x', elemType: 'float32', shape: [2] }], [{ name: 'prob', elemType: 'float32', shape: [2] }]));
    await expect(cache.get({ ...lr3, inferenceGraph: unknownOp })).rejects.toMatchObject({ code: 'ERR_TRAIN_RUNTIME' });
    await new Promise((r) => setImmediate(r));
    expect(cache.size).toBe(0);
    await cache.close();
  });
});
