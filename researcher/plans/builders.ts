/**
 * Plan builders: logistic regression and a one-hidden-layer perceptron for binary
 * classification of tabular data. Each emits a step graph with hand-written backpropagation
 * (per-sample gradients as explicit ONNX nodes, so DP-SGD can clip them one by one) and an
 * inference graph, both over a flat float32 parameter vector.
 *
 * Loss: mean binary cross-entropy over the batch, written in the overflow-free form
 * `relu(z) - y·z + log(1 + exp(-|z|))` with `z` the logit. Row `i` of `per_sample_grads` is the
 * gradient of sample `i`'s own loss, so the mean of the rows is the gradient of `loss`, and
 * `new_params = params - lr · mean(rows)`.
 */
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertInt, assertString, ID_PATTERN } from '../../common/validate.ts';
import { systemRandom, type RandomSource } from '../../crypto/random.ts';
import { GraphBuilder } from './graph.ts';
import { encodeOnnxModel, type OnnxValueInfo } from './onnx.ts';
import { PLAN_CONTRACT_VERSION, PLAN_IO, type TrainingPlan } from './contract.ts';

/** Largest feature count a builder accepts. */
export const MAX_FEATURES = 4096;
/** Longest JSON form of `featureNames` a plan's metadata can carry (the bundle's metadata value limit). */
export const MAX_FEATURE_NAMES_CHARS = 1024;
/** Largest hidden width of {@link mlpPlan}. */
export const MAX_HIDDEN = 1024;

/** Options of {@link logisticRegressionPlan}. */
export interface LogisticRegressionOptions {
  /** Number of input features F (parameters: F weights then 1 bias). */
  readonly features: number;
  /** Plan name shown to data managers (default `logreg-<F>`). */
  readonly name?: string;
  /** Expected column names in order (recorded in the metadata; nodes check their data against it). */
  readonly featureNames?: readonly string[];
}

/** Options of {@link mlpPlan}. */
export interface MlpOptions {
  /** Number of input features F. */
  readonly features: number;
  /** Hidden width H. */
  readonly hidden: number;
  /** Hidden activation (default `tanh`). */
  readonly activation?: 'tanh' | 'relu';
  /** Source of the Glorot-uniform initial weights (default the system CSPRNG; pass a seeded source for reproducibility). */
  readonly rng?: RandomSource;
  /** Plan name shown to data managers (default `mlp-<F>x<H>`). */
  readonly name?: string;
  /** Expected column names in order (recorded in the metadata; nodes check their data against it). */
  readonly featureNames?: readonly string[];
}

/** The `featureNames` metadata entry (JSON array of the names), checked against the feature count. */
function featureNamesMetadata(names: readonly string[] | undefined, F: number): { featureNames?: string } {
  if (names === undefined) return {};
  if (!Array.isArray(names) || names.length !== F || names.some((n) => typeof n !== 'string' || n.length === 0)) {
    throw new InvalidArgumentError('featureNames', `expected ${F} non-empty names`);
  }
  const json = JSON.stringify(names);
  if (json.length > MAX_FEATURE_NAMES_CHARS) throw new InvalidArgumentError('featureNames', `names take ${json.length} characters as JSON, above ${MAX_FEATURE_NAMES_CHARS}`);
  return { featureNames: json };
}

function ioSpecs(features: number, parameterCount: number): { step: { inputs: OnnxValueInfo[]; outputs: OnnxValueInfo[] }; infer: { inputs: OnnxValueInfo[]; outputs: OnnxValueInfo[] } } {
  const params: OnnxValueInfo = { name: PLAN_IO.params, elemType: 'float32', shape: [parameterCount] };
  const x: OnnxValueInfo = { name: PLAN_IO.x, elemType: 'float32', shape: ['batch', features] };
  return {
    step: {
      inputs: [params, x, { name: PLAN_IO.y, elemType: 'float32', shape: ['batch'] }, { name: PLAN_IO.lr, elemType: 'float32', shape: [] }],
      outputs: [
        { name: PLAN_IO.perSampleGrads, elemType: 'float32', shape: ['batch', parameterCount] },
        { name: PLAN_IO.loss, elemType: 'float32', shape: [] },
        { name: PLAN_IO.newParams, elemType: 'float32', shape: [parameterCount] },
      ],
    },
    infer: { inputs: [params, x], outputs: [{ name: PLAN_IO.prob, elemType: 'float32', shape: ['batch'] }] },
  };
}

/** Slices params[start:end] (1-D). */
function slice(g: GraphBuilder, start: number, end: number): string {
  return g.op('Slice', [PLAN_IO.params, g.i64([start]), g.i64([end]), g.i64([0])]);
}

/** Appends the loss, mean-gradient and SGD update nodes shared by all builders. */
function lossAndUpdate(g: GraphBuilder, z: string, rows: readonly string[]): void {
  // per-sample BCE: relu(z) - y*z + log(1 + exp(-|z|))
  const softTail = g.op('Log', [g.op('Add', [g.f32([1], []), g.op('Exp', [g.op('Neg', [g.op('Abs', [z])])])])]);
  const perSample = g.op('Add', [g.op('Sub', [g.op('Relu', [z]), g.op('Mul', [PLAN_IO.y, z])]), softTail]);
  g.op('ReduceMean', [perSample], { keepdims: { int: 0 } }, PLAN_IO.loss);
  g.op('Concat', [...rows], { axis: { int: 1 } }, PLAN_IO.perSampleGrads);
  const meanGrad = g.op('ReduceMean', [PLAN_IO.perSampleGrads], { axes: { ints: [0] }, keepdims: { int: 0 } });
  g.op('Sub', [PLAN_IO.params, g.op('Mul', [PLAN_IO.lr, meanGrad])], undefined, PLAN_IO.newParams);
}

/**
 * Logistic regression `p = σ(x·w + b)` with parameters `[w_0 … w_{F-1}, b]` (P = F + 1),
 * initialized to zero (the loss is convex, so no random start is needed).
 */
export function logisticRegressionPlan(opts: LogisticRegressionOptions): TrainingPlan {
  const F = opts.features;
  assertInt('features', F, 1, MAX_FEATURES);
  const name = opts.name ?? `logreg-${F}`;
  assertString('name', name, 128, ID_PATTERN);
  const P = F + 1;
  const io = ioSpecs(F, P);

  const forward = (g: GraphBuilder): string => {
    const w = slice(g, 0, F);
    const b = slice(g, F, F + 1);
    return g.op('Add', [g.op('MatMul', [PLAN_IO.x, w]), b]); // z [B]
  };

  const s = new GraphBuilder();
  const z = forward(s);
  const r = s.op('Sub', [s.op('Sigmoid', [z]), PLAN_IO.y]); // dloss_i/dz_i = p_i - y_i
  const r2 = s.op('Unsqueeze', [r, s.i64([1])]); // [B,1]
  const gw = s.op('Mul', [r2, PLAN_IO.x]); // [B,F]
  lossAndUpdate(s, z, [gw, r2]);

  const inf = new GraphBuilder();
  inf.op('Sigmoid', [forward(inf)], undefined, PLAN_IO.prob);

  const metadata = { contract: PLAN_CONTRACT_VERSION, model: 'logistic-regression', features: F, parameterLayout: 'w[F],b', loss: 'mean-bce', ...featureNamesMetadata(opts.featureNames, F) };
  return {
    name,
    kind: 'logreg',
    features: F,
    parameterCount: P,
    initialParameters: new Float32Array(P),
    stepGraph: encodeOnnxModel(s.build(`${name}-step`, io.step.inputs, io.step.outputs, { metadata: { contract: PLAN_CONTRACT_VERSION, role: 'step' } })),
    inferenceGraph: encodeOnnxModel(inf.build(`${name}-infer`, io.infer.inputs, io.infer.outputs, { metadata: { contract: PLAN_CONTRACT_VERSION, role: 'inference' } })),
    metadata,
  };
}

/** Uniform doubles in [0, 1) from 53 random bits each. */
function uniforms(n: number, rng: RandomSource): Float64Array {
  const bytes = rng.fill(new Uint8Array(8 * n));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const hi = dv.getUint32(8 * i, false) >>> 11; // 21 bits
    const lo = dv.getUint32(8 * i + 4, false); // 32 bits
    out[i] = (hi * 2 ** 32 + lo) / 2 ** 53;
  }
  return out;
}

/**
 * A perceptron with one hidden layer: `h = act(x·W1 + b1)`, `p = σ(h·w2 + b2)`.
 * Parameter layout (P = F·H + 2H + 1): W1 row-major [F,H], b1 [H], w2 [H], b2 [1].
 * W1 and w2 are Glorot-uniform from `rng`, biases zero.
 */
export function mlpPlan(opts: MlpOptions): TrainingPlan {
  const F = opts.features;
  const H = opts.hidden;
  assertInt('features', F, 1, MAX_FEATURES);
  assertInt('hidden', H, 1, MAX_HIDDEN);
  const activation = opts.activation ?? 'tanh';
  if (activation !== 'tanh' && activation !== 'relu') throw new InvalidArgumentError('activation', `expected 'tanh' or 'relu'`);
  const name = opts.name ?? `mlp-${F}x${H}`;
  assertString('name', name, 128, ID_PATTERN);
  const P = F * H + 2 * H + 1;
  const io = ioSpecs(F, P);
  const oW1 = 0;
  const oB1 = F * H;
  const oW2 = oB1 + H;
  const oB2 = oW2 + H;

  const forward = (g: GraphBuilder): { h: string; a1: string; w2: string; z: string } => {
    const W1 = g.op('Reshape', [slice(g, oW1, oB1), g.i64([F, H])]);
    const b1 = slice(g, oB1, oW2);
    const w2 = slice(g, oW2, oB2);
    const b2 = slice(g, oB2, P);
    const a1 = g.op('Add', [g.op('MatMul', [PLAN_IO.x, W1]), b1]); // [B,H]
    const h = g.op(activation === 'tanh' ? 'Tanh' : 'Relu', [a1]);
    const z = g.op('Add', [g.op('MatMul', [h, w2]), b2]); // [B]
    return { h, a1, w2, z };
  };

  const s = new GraphBuilder();
  const { h, a1, w2, z } = forward(s);
  const r = s.op('Unsqueeze', [s.op('Sub', [s.op('Sigmoid', [z]), PLAN_IO.y]), s.i64([1])]); // [B,1]
  const gW2 = s.op('Mul', [r, h]); // [B,H]
  const dh = s.op('Mul', [r, w2]); // [B,H]
  const dAct = activation === 'tanh'
    ? s.op('Sub', [s.f32([1], []), s.op('Mul', [h, h])])
    : s.op('Cast', [s.op('Greater', [a1, s.f32([0], [])])], { to: { int: 1 } });
  const da1 = s.op('Mul', [dh, dAct]); // [B,H] = per-sample gradient of b1
  const outer = s.op('Mul', [s.op('Unsqueeze', [PLAN_IO.x, s.i64([2])]), s.op('Unsqueeze', [da1, s.i64([1])])]); // [B,F,H]
  const gW1 = s.op('Reshape', [outer, s.i64([0, F * H])]); // [B,F*H]
  lossAndUpdate(s, z, [gW1, da1, gW2, r]);

  const inf = new GraphBuilder();
  inf.op('Sigmoid', [forward(inf).z], undefined, PLAN_IO.prob);

  const init = new Float32Array(P);
  const u = uniforms(F * H + H, opts.rng ?? systemRandom);
  const lim1 = Math.sqrt(6 / (F + H));
  for (let i = 0; i < F * H; i++) init[oW1 + i] = (2 * u[i]! - 1) * lim1;
  const lim2 = Math.sqrt(6 / (H + 1));
  for (let i = 0; i < H; i++) init[oW2 + i] = (2 * u[F * H + i]! - 1) * lim2;

  const metadata = { contract: PLAN_CONTRACT_VERSION, model: 'mlp', features: F, hidden: H, activation, parameterLayout: 'W1[F,H],b1[H],w2[H],b2', loss: 'mean-bce', init: 'glorot-uniform', ...featureNamesMetadata(opts.featureNames, F) };
  return {
    name,
    kind: 'mlp',
    features: F,
    parameterCount: P,
    initialParameters: init,
    stepGraph: encodeOnnxModel(s.build(`${name}-step`, io.step.inputs, io.step.outputs, { metadata: { contract: PLAN_CONTRACT_VERSION, role: 'step' } })),
    inferenceGraph: encodeOnnxModel(inf.build(`${name}-infer`, io.infer.inputs, io.infer.outputs, { metadata: { contract: PLAN_CONTRACT_VERSION, role: 'inference' } })),
    metadata,
  };
}
