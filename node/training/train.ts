/**
 * Local training and evaluation of a plan on a node's data with onnxruntime-node.
 *
 * Without DP, each step runs the plan's step graph and takes `new_params` (plain SGD on the
 * batch-mean gradient). With a DP hook (DP-SGD), each step fetches `per_sample_grads`, hands the
 * rows × P matrix to the hook — which clips every row, sums, adds noise and returns the noisy
 * mean gradient — and applies `params ← params − lr · hook(...)` in float64. Batches are either
 * shuffled fixed-size batches (each epoch a permutation) or Poisson samples with rate q (each
 * record joins each step independently with probability q), the sampling DP-SGD accounting assumes.
 */
import { assertInt, assertNumber } from '../../common/validate.ts';
import type { RandomSource } from '../../crypto/random.ts';
import type { TabularDataset } from '../datasets/index.ts';
import { permutation } from '../datasets/index.ts';
import { PLAN_IO, planFeatureNames, type TrainingPlan } from '../../researcher/plans/index.ts';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { TrainingError } from './errors.ts';
import { defaultSessionCache, type PlanSessionCache } from './sessions.ts';

/** Hyper-parameters of local training. */
export interface LocalTrainingArgs {
  /** SGD learning rate (> 0). */
  readonly learningRate: number;
  /** Passes over the local data (for Poisson sampling: ⌈1/q⌉ steps each). */
  readonly epochs: number;
  /** Rows per batch (fixed-size batching; with Poisson sampling only the graph's chunking). */
  readonly batchSize: number;
  /** Poisson sampling rate q in (0, 1]: set it for record-level DP-SGD accounting. */
  readonly samplingRate?: number;
}

/**
 * A rows × cols row-major matrix of per-sample gradients (rows may be 0 with Poisson sampling).
 * The hook may modify `data` in place (e.g. clip rows) but must not keep it after returning.
 */
export interface PerSampleGradients {
  readonly data: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

/** What a DP hook knows about the step it is asked to privatize. */
export interface DpStepContext {
  /** 0-based step index within this call of {@link trainLocal}. */
  readonly step: number;
  /** Expected batch size: `q · n` with Poisson sampling, else the actual batch size. */
  readonly expectedBatchSize: number;
  /** P. */
  readonly parameterCount: number;
  /** True when the batch was Poisson-sampled. */
  readonly poisson: boolean;
}

/**
 * The DP engine's per-step function: from per-sample gradients to a noisy mean gradient of
 * length P (e.g. clip each row to C, sum, add N(0, σ²C²), divide by the expected batch size).
 */
export type DpStepHook = (grads: PerSampleGradients, ctx: DpStepContext) => Float64Array | Float32Array;

/** Input of {@link trainLocal}. */
export interface TrainLocalInput {
  readonly plan: TrainingPlan;
  /** Training rows (features must equal the plan's F). */
  readonly dataset: TabularDataset;
  /** Starting parameters (default the plan's initial parameters). */
  readonly params?: Float32Array | Float64Array;
  readonly trainingArgs: LocalTrainingArgs;
  /** DP-SGD hook; omit for non-private training. */
  readonly dp?: DpStepHook;
  /** Shuffling and Poisson sampling randomness. */
  readonly rng: RandomSource;
  /** Session cache (default {@link defaultSessionCache}). */
  readonly sessions?: PlanSessionCache;
}

/**
 * Result of {@link trainLocal}. Only `update` is covered by DP (when a hook is given); `loss`,
 * `samples` and `examplesSeen` are computed from the raw data without noise, so a node must not
 * release them beyond what its policy accepts (the row count is the usual FedAvg weight).
 */
export interface TrainLocalResult {
  /** `newParams − params` in float64: what the node contributes to aggregation. */
  readonly update: Float64Array;
  /** Parameters after training. */
  readonly params: Float32Array;
  /** Row-weighted mean training loss over the last epoch (not privatized). */
  readonly loss: number;
  /** Number of local training rows (the FedAvg weight; not privatized). */
  readonly samples: number;
  /** Optimizer steps taken (with Poisson sampling, what the accountant composes over). */
  readonly steps: number;
  /** Total rows processed over all steps (not privatized: reveals Poisson batch sizes). */
  readonly examplesSeen: number;
}

function checkInputs(plan: TrainingPlan, ds: TabularDataset, params: Float32Array | Float64Array): void {
  const names = planFeatureNames(plan);
  if (names !== undefined && (names.length !== ds.featureNames.length || names.some((n, i) => n !== ds.featureNames[i]))) {
    throw new TrainingError('ERR_TRAIN_INPUT', 'dataset columns differ from the plan\'s featureNames (use alignFeatures to reorder)', { expected: names.length, actual: ds.featureNames.length });
  }
  if (ds.features !== plan.features) throw new TrainingError('ERR_TRAIN_INPUT', `dataset has ${ds.features} features, plan expects ${plan.features}`, { expected: plan.features, actual: ds.features });
  if (ds.rows < 1) throw new TrainingError('ERR_TRAIN_INPUT', 'dataset is empty');
  if (params.length !== plan.parameterCount) throw new TrainingError('ERR_TRAIN_INPUT', `parameter vector has ${params.length} elements, plan has ${plan.parameterCount}`, { expected: plan.parameterCount, actual: params.length });
  for (let i = 0; i < params.length; i++) if (!Number.isFinite(params[i]!)) throw new TrainingError('ERR_TRAIN_INPUT', `parameter ${i} is not finite`, { index: i });
}

async function run(session: InferenceSession, feeds: Record<string, Tensor>, fetches: string[]): Promise<InferenceSession.OnnxValueMapType> {
  try {
    return await session.run(feeds, fetches);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new TrainingError('ERR_TRAIN_RUNTIME', `onnxruntime run failed: ${msg.slice(0, 300)}`);
  }
}

/** Copies rows `idx[from..to)` of the float32 matrix into a batch buffer. */
function gather(x32: Float32Array, y32: Float32Array, F: number, idx: ArrayLike<number>, from: number, to: number): { x: Float32Array; y: Float32Array } {
  const n = to - from;
  const x = new Float32Array(n * F);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = idx[from + i]!;
    x.set(x32.subarray(r * F, r * F + F), i * F);
    y[i] = y32[r]!;
  }
  return { x, y };
}

/** Draws a Poisson sample: each of `n` rows independently with probability `q`. */
function poissonSample(n: number, q: number, rng: RandomSource): number[] {
  const bytes = rng.fill(new Uint8Array(4 * n));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const threshold = q * 2 ** 32;
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (dv.getUint32(4 * i, false) < threshold) out.push(i);
  return out;
}

/**
 * Trains `plan` on `dataset` from `params` and returns the parameter delta. See the module
 * comment for the non-private and DP-SGD paths. Throws {@link TrainingError}.
 */
export async function trainLocal(input: TrainLocalInput): Promise<TrainLocalResult> {
  const { plan, dataset: ds, trainingArgs: a, dp, rng } = input;
  const start = input.params ?? plan.initialParameters;
  checkInputs(plan, ds, start);
  assertNumber('trainingArgs.learningRate', a.learningRate, 0, 100, { minOpen: true });
  assertInt('trainingArgs.epochs', a.epochs, 1, 10_000);
  assertInt('trainingArgs.batchSize', a.batchSize, 1, 1 << 20);
  if (a.samplingRate !== undefined) assertNumber('trainingArgs.samplingRate', a.samplingRate, 0, 1, { minOpen: true });
  const P = plan.parameterCount;
  const F = plan.features;
  const n = ds.rows;
  const sessions = await (input.sessions ?? defaultSessionCache).get(plan);

  const x32 = new Float32Array(ds.x);
  const y32 = new Float32Array(ds.y);
  let params32 = new Float32Array(start);
  const master = new Float64Array(start); // DP path keeps float64 parameters
  const lrTensor = new Tensor('float32', Float32Array.of(a.learningRate), []);
  const fetches = dp === undefined ? [PLAN_IO.newParams, PLAN_IO.loss] : [PLAN_IO.perSampleGrads, PLAN_IO.loss];

  let steps = 0;
  let examplesSeen = 0;
  let epochLoss = 0;
  let epochRows = 0;

  /** One optimizer step on the rows `idx`. */
  const step = async (idx: ArrayLike<number>, expectedBatchSize: number, poisson: boolean): Promise<void> => {
    const rows = idx.length;
    let grads: Float32Array = new Float32Array(0);
    if (rows > 0) {
      // Large Poisson batches are run through the graph in chunks of batchSize rows.
      const chunk = dp === undefined ? rows : Math.min(rows, a.batchSize);
      if (dp !== undefined && chunk < rows) grads = new Float32Array(rows * P);
      for (let from = 0; from < rows; from += chunk) {
        const to = Math.min(rows, from + chunk);
        const b = gather(x32, y32, F, idx, from, to);
        const out = await run(sessions.step, {
          [PLAN_IO.params]: new Tensor('float32', params32, [P]),
          [PLAN_IO.x]: new Tensor('float32', b.x, [to - from, F]),
          [PLAN_IO.y]: new Tensor('float32', b.y, [to - from]),
          [PLAN_IO.lr]: lrTensor,
        }, fetches);
        const loss = (out[PLAN_IO.loss] as Tensor).data as Float32Array;
        if (!Number.isFinite(loss[0]!)) throw new TrainingError('ERR_TRAIN_DIVERGED', `loss is not finite at step ${steps}`, { step: steps });
        epochLoss += loss[0]! * (to - from);
        epochRows += to - from;
        if (dp === undefined) {
          params32 = ((out[PLAN_IO.newParams] as Tensor).data as Float32Array).slice();
        } else {
          const g = (out[PLAN_IO.perSampleGrads] as Tensor).data as Float32Array;
          if (g.length !== (to - from) * P) throw new TrainingError('ERR_TRAIN_RUNTIME', `per_sample_grads has ${g.length} elements, expected ${(to - from) * P}`);
          if (chunk < rows) grads.set(g, from * P);
          else grads = g; // onnxruntime-node returns a fresh buffer per run
        }
      }
    }
    if (dp !== undefined) {
      const noisy = dp({ data: grads, rows, cols: P }, { step: steps, expectedBatchSize, parameterCount: P, poisson });
      if (!(noisy instanceof Float64Array || noisy instanceof Float32Array) || noisy.length !== P) {
        throw new TrainingError('ERR_TRAIN_DP_HOOK', `DP hook must return a Float64Array or Float32Array of ${P} elements`, { expected: P });
      }
      for (let i = 0; i < P; i++) {
        const gi = noisy[i]!;
        if (!Number.isFinite(gi)) throw new TrainingError('ERR_TRAIN_DP_HOOK', `DP hook returned a non-finite element ${i}`, { index: i });
        master[i] = master[i]! - a.learningRate * gi;
      }
      params32 = new Float32Array(master);
    }
    for (let i = 0; i < P; i++) if (!Number.isFinite(params32[i]!)) throw new TrainingError('ERR_TRAIN_DIVERGED', `parameters are not finite after step ${steps}`, { step: steps });
    steps++;
    examplesSeen += rows;
  };

  for (let e = 0; e < a.epochs; e++) {
    epochLoss = 0;
    epochRows = 0;
    if (a.samplingRate !== undefined) {
      const q = a.samplingRate;
      const perEpoch = Math.max(1, Math.ceil(1 / q));
      for (let s = 0; s < perEpoch; s++) await step(poissonSample(n, q, rng), q * n, true);
    } else {
      const perm = permutation(n, rng);
      for (let from = 0; from < n; from += a.batchSize) {
        const idx = perm.subarray(from, Math.min(n, from + a.batchSize));
        await step(idx, idx.length, false);
      }
    }
  }

  const update = new Float64Array(P);
  for (let i = 0; i < P; i++) update[i] = params32[i]! - start[i]!;
  return { update, params: params32, loss: epochRows > 0 ? epochLoss / epochRows : Number.NaN, samples: n, steps, examplesSeen };
}

/** Input of {@link evaluate}. */
export interface EvaluateInput {
  readonly plan: TrainingPlan;
  /** Held-out rows. */
  readonly dataset: TabularDataset;
  readonly params: Float32Array | Float64Array;
  /** Decision threshold on `prob` (default 0.5). */
  readonly threshold?: number;
  readonly sessions?: PlanSessionCache;
}

/** Result of {@link evaluate}. */
export interface EvaluateResult {
  /** Fraction of rows classified correctly. */
  readonly accuracy: number;
  /** Mean binary cross-entropy (probabilities clamped to [1e-7, 1 − 1e-7]). */
  readonly loss: number;
  readonly samples: number;
  /** Confusion counts with class 1 as positive. */
  readonly confusion: { readonly tp: number; readonly fp: number; readonly tn: number; readonly fn: number };
  /** Area under the ROC curve (ties count half); null when the rows hold only one class. */
  readonly auc: number | null;
}

/** ROC AUC by the rank-sum (Mann–Whitney) statistic with average ranks for ties. */
function rocAuc(prob: Float64Array, y: ArrayLike<number>): number | null {
  const n = prob.length;
  let pos = 0;
  for (let i = 0; i < n; i++) pos += y[i] === 1 ? 1 : 0;
  const neg = n - pos;
  if (pos === 0 || neg === 0) return null;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => prob[a]! - prob[b]!);
  let rankSumPos = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && prob[order[j + 1]!] === prob[order[i]!]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (y[order[k]!] === 1) rankSumPos += avgRank;
    i = j + 1;
  }
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Runs the inference graph over `dataset` (in chunks of 4096 rows) and scores it. */
export async function evaluate(input: EvaluateInput): Promise<EvaluateResult> {
  const { plan, dataset: ds, params } = input;
  checkInputs(plan, ds, params);
  const threshold = input.threshold ?? 0.5;
  assertNumber('threshold', threshold, 0, 1);
  const sessions = await (input.sessions ?? defaultSessionCache).get(plan);
  const F = plan.features;
  const p32 = new Tensor('float32', new Float32Array(params), [plan.parameterCount]);
  const CH = 4096;
  let tp = 0, fp = 0, tn = 0, fn = 0, lossSum = 0;
  const probs = new Float64Array(ds.rows);
  for (let from = 0; from < ds.rows; from += CH) {
    const to = Math.min(ds.rows, from + CH);
    const x = new Float32Array(ds.x.subarray(from * F, to * F));
    const out = await run(sessions.inference, { [PLAN_IO.params]: p32, [PLAN_IO.x]: new Tensor('float32', x, [to - from, F]) }, [PLAN_IO.prob]);
    const prob = (out[PLAN_IO.prob] as Tensor).data as Float32Array;
    if (prob.length !== to - from) throw new TrainingError('ERR_TRAIN_RUNTIME', `prob has ${prob.length} elements, expected ${to - from}`);
    for (let i = 0; i < prob.length; i++) {
      const p = prob[i]!;
      if (!Number.isFinite(p)) throw new TrainingError('ERR_TRAIN_DIVERGED', 'inference produced a non-finite probability');
      const y = ds.y[from + i]!;
      probs[from + i] = p;
      const pred = p >= threshold ? 1 : 0;
      if (pred === 1 && y === 1) tp++;
      else if (pred === 1) fp++;
      else if (y === 0) tn++;
      else fn++;
      const pc = Math.min(1 - 1e-7, Math.max(1e-7, p));
      lossSum -= y === 1 ? Math.log(pc) : Math.log(1 - pc);
    }
  }
  return { accuracy: (tp + tn) / ds.rows, loss: lossSum / ds.rows, samples: ds.rows, confusion: { tp, fp, tn, fn }, auc: rocAuc(probs, ds.y) };
}

/** `params + scale · delta` as float32 (applying an aggregated update to the global model). */
export function applyUpdate(params: Float32Array | Float64Array, delta: ArrayLike<number>, scale = 1): Float32Array {
  if (delta.length !== params.length) throw new TrainingError('ERR_TRAIN_INPUT', `update has ${delta.length} elements, parameters ${params.length}`);
  assertNumber('scale', scale, -1e9, 1e9);
  const out = new Float32Array(params.length);
  for (let i = 0; i < out.length; i++) {
    const v = params[i]! + scale * delta[i]!;
    if (!Number.isFinite(v)) throw new TrainingError('ERR_TRAIN_DIVERGED', `parameter ${i} is not finite after the update`, { index: i });
    out[i] = v;
  }
  return out;
}
