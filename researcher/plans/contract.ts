/**
 * The plan contract: what a training plan is, how it is serialized and hashed, and how a graph
 * brought by a researcher is checked before any node is asked to approve it. See docs/plans.md.
 */
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertInt, assertString, ID_PATTERN } from '../../common/validate.ts';
import { decodePlanBundle, encodePlanBundle, planHash, type PlanBundle } from '../../proto/plan.ts';
import { PlanError } from './errors.ts';
import { onnxSafetyFindings } from './onnx.ts';
import { createOrtSession, f32Tensor, ort, type SessionTuning } from './runtime.ts';

/** Contract identifier written into plan metadata. */
export const PLAN_CONTRACT_VERSION = 'fedsec-plan/1';

/** Largest accepted ONNX graph (bytes). */
export const MAX_GRAPH_BYTES = 16 * 1024 * 1024;
/** Largest accepted parameter vector (elements). */
export const MAX_PARAMETERS = 1 << 24;

/** Tensor names of the contract. */
export const PLAN_IO = {
  /** Step and inference input: flat parameter vector, float32 [P]. */
  params: 'params',
  /** Step and inference input: feature batch, float32 [B, F]. */
  x: 'x',
  /** Step input: labels in {0, 1}, float32 [B]. */
  y: 'y',
  /** Step input: learning rate, float32 scalar []. */
  lr: 'lr',
  /** Step output: per-sample gradients, float32 [B, P]. */
  perSampleGrads: 'per_sample_grads',
  /** Step output: mean loss over the batch, float32 scalar. */
  loss: 'loss',
  /** Step output: `params - lr · mean(per_sample_grads)`, float32 [P]. */
  newParams: 'new_params',
  /** Inference output: probability of class 1, float32 [B]. */
  prob: 'prob',
} as const;

/** Which graph of a plan. */
export type PlanGraphRole = 'step' | 'inference';

/** Required input and output names per role. */
export const PLAN_GRAPH_IO: Readonly<Record<PlanGraphRole, { readonly inputs: readonly string[]; readonly outputs: readonly string[] }>> = {
  step: { inputs: [PLAN_IO.params, PLAN_IO.x, PLAN_IO.y, PLAN_IO.lr], outputs: [PLAN_IO.perSampleGrads, PLAN_IO.loss, PLAN_IO.newParams] },
  inference: { inputs: [PLAN_IO.params, PLAN_IO.x], outputs: [PLAN_IO.prob] },
};

/** A training plan: graphs, starting point and description. */
export interface TrainingPlan {
  /** Name shown to data managers (ID_PATTERN). */
  readonly name: string;
  /** Model family: `logreg`, `mlp` or `custom`. */
  readonly kind: string;
  /** Number of input features F. */
  readonly features: number;
  /** Length P of the flat parameter vector. */
  readonly parameterCount: number;
  /** Starting parameters, length P. */
  readonly initialParameters: Float32Array;
  /** ONNX step graph (contract inputs params, x, y, lr; outputs per_sample_grads, loss, new_params). */
  readonly stepGraph: Uint8Array;
  /** ONNX inference graph (inputs params, x; output prob). */
  readonly inferenceGraph: Uint8Array;
  /** Non-secret description (strings and finite numbers) covered by the plan hash; includes `features`. */
  readonly metadata: Readonly<Record<string, string | number>>;
}

/** Bundle section names. */
export const PLAN_SECTIONS = { step: 'step.onnx', inference: 'infer.onnx', init: 'init.f32le' } as const;

function f32le(v: Float32Array): Uint8Array {
  const out = new Uint8Array(v.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < v.length; i++) dv.setFloat32(4 * i, v[i]!, true);
  return out;
}

function checkPlanShape(p: TrainingPlan): void {
  assertString('plan.name', p.name, 128, ID_PATTERN);
  assertString('plan.kind', p.kind, 32, /^[a-z][a-z0-9-]*$/);
  assertInt('plan.features', p.features, 1, 1 << 20);
  assertInt('plan.parameterCount', p.parameterCount, 1, MAX_PARAMETERS);
  if (!(p.initialParameters instanceof Float32Array) || p.initialParameters.length !== p.parameterCount) {
    throw new InvalidArgumentError('plan.initialParameters', `expected a Float32Array of ${p.parameterCount} elements`);
  }
  for (let i = 0; i < p.initialParameters.length; i++) {
    if (!Number.isFinite(p.initialParameters[i]!)) throw new InvalidArgumentError('plan.initialParameters', `element ${i} is not finite`, { index: i });
  }
  for (const [f, g] of [['plan.stepGraph', p.stepGraph], ['plan.inferenceGraph', p.inferenceGraph]] as const) {
    if (!(g instanceof Uint8Array) || g.length === 0) throw new InvalidArgumentError(f, 'expected non-empty ONNX bytes');
    if (g.length > MAX_GRAPH_BYTES) throw new PlanError('ERR_PLAN_TOO_LARGE', `${f} is ${g.length} bytes, above ${MAX_GRAPH_BYTES}`, { limit: MAX_GRAPH_BYTES, actual: g.length });
  }
}

/**
 * The plan as a {@link PlanBundle} (proto/plan.ts): sections `step.onnx`, `infer.onnx` and
 * `init.f32le` (initial parameters, float32 little-endian); metadata always carries `features`.
 */
export function planToBundle(plan: TrainingPlan): PlanBundle {
  checkPlanShape(plan);
  const declared = plan.metadata['features'];
  if (declared !== undefined && declared !== plan.features) {
    throw new PlanError('ERR_PLAN_BUNDLE', `metadata.features (${String(declared)}) differs from plan.features (${plan.features})`);
  }
  return {
    name: plan.name,
    kind: plan.kind,
    numParams: plan.parameterCount,
    meta: { ...plan.metadata, features: plan.features },
    sections: {
      [PLAN_SECTIONS.step]: plan.stepGraph,
      [PLAN_SECTIONS.inference]: plan.inferenceGraph,
      [PLAN_SECTIONS.init]: f32le(plan.initialParameters),
    },
  };
}

/** Canonical encoding of a plan: the bundle bytes the researcher submits and nodes store. */
export function encodePlan(plan: TrainingPlan): Uint8Array {
  return encodePlanBundle(planToBundle(plan));
}

/**
 * The plan hash nodes approve: lower-case hex SHA-256 of {@link encodePlan}'s canonical bytes,
 * so it covers both graphs, the initial parameters and all metadata. Equals `planHash` of the
 * submitted bundle in proto/plan.ts.
 */
export function hashPlan(plan: TrainingPlan): string {
  return planHash(encodePlan(plan));
}

/** Rebuilds a plan from a decoded bundle (structure only; run {@link validatePlan} before training). */
export function planFromBundle(b: PlanBundle): TrainingPlan {
  const step = b.sections[PLAN_SECTIONS.step];
  const inf = b.sections[PLAN_SECTIONS.inference];
  const init = b.sections[PLAN_SECTIONS.init];
  if (step === undefined || inf === undefined || init === undefined) {
    throw new PlanError('ERR_PLAN_BUNDLE', `bundle must contain sections ${Object.values(PLAN_SECTIONS).join(', ')}`, { sections: Object.keys(b.sections) });
  }
  if (init.length !== 4 * b.numParams) {
    throw new PlanError('ERR_PLAN_BUNDLE', `${PLAN_SECTIONS.init} has ${init.length} bytes, expected ${4 * b.numParams}`);
  }
  const features = b.meta['features'];
  if (typeof features !== 'number' || !Number.isSafeInteger(features) || features < 1 || features > 1 << 20) {
    throw new PlanError('ERR_PLAN_BUNDLE', 'metadata.features must be a positive integer');
  }
  const dv = new DataView(init.buffer, init.byteOffset, init.byteLength);
  const params = new Float32Array(b.numParams);
  for (let i = 0; i < params.length; i++) params[i] = dv.getFloat32(4 * i, true);
  return { name: b.name, kind: b.kind, features, parameterCount: b.numParams, initialParameters: params, stepGraph: step, inferenceGraph: inf, metadata: { ...b.meta } };
}

/** Decodes canonical plan bytes (see {@link encodePlan}). */
export function decodePlan(bytes: Uint8Array): TrainingPlan {
  return planFromBundle(decodePlanBundle(bytes));
}

/**
 * Refuses graphs that onnxruntime must not load on a node: external-data tensors (which would
 * be read from the node's filesystem) and operators outside the standard domains (see
 * `onnxSafetyFindings`). Throws `ERR_PLAN_UNSAFE`, or `ERR_PLAN_GRAPH_INVALID` for bytes that
 * are not protobuf.
 */
export function assertGraphSafe(bytes: Uint8Array, role: PlanGraphRole | string = 'plan'): void {
  let findings: string[];
  try {
    findings = onnxSafetyFindings(bytes);
  } catch {
    throw new PlanError('ERR_PLAN_GRAPH_INVALID', `the ${role} graph is not an ONNX protobuf`);
  }
  if (findings.length > 0) throw new PlanError('ERR_PLAN_UNSAFE', `the ${role} graph is refused: ${findings.slice(0, 5).join('; ')}`, { findings: findings.slice(0, 50) });
}

/** What validation learned about a graph. */
export interface PlanGraphInfo {
  readonly role: PlanGraphRole;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly features: number;
  readonly parameterCount: number;
}

/** Options of {@link validatePlanGraph}. */
export interface ValidatePlanGraphOptions extends SessionTuning {
  /** Which contract to check (default `step`). */
  readonly role?: PlanGraphRole;
  /** Expected F; required unless the graph declares a fixed second dimension of `x`. */
  readonly features?: number;
  /** Expected P; required unless the graph declares a fixed dimension of `params`. */
  readonly parameterCount?: number;
}

function shapeOf(meta: readonly ort.InferenceSession.ValueMetadata[], name: string): { type: string; shape: readonly (number | string)[] } | undefined {
  const m = meta.find((v) => v.name === name);
  if (m === undefined || !m.isTensor) return undefined;
  return { type: m.type, shape: m.shape };
}

function contractError(message: string, details?: Record<string, unknown>): PlanError {
  return new PlanError('ERR_PLAN_CONTRACT', message, details);
}

/**
 * Checks ONNX bytes against the plan contract: size limit, static safety ({@link assertGraphSafe}),
 * then, loaded in onnxruntime, loadability, exact input names, presence of the output names, float32 element types,
 * ranks and fixed dimensions, then probe runs on batches of one and three zero rows that must
 * produce finite outputs of exactly the contract shapes. Throws {@link PlanError} (`ERR_PLAN_TOO_LARGE`,
 * `ERR_PLAN_UNSAFE`, `ERR_PLAN_GRAPH_INVALID`, `ERR_PLAN_CONTRACT`).
 */
export async function validatePlanGraph(bytes: Uint8Array, options: ValidatePlanGraphOptions = {}): Promise<PlanGraphInfo> {
  const role = options.role ?? 'step';
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw new PlanError('ERR_PLAN_GRAPH_INVALID', 'graph must be non-empty ONNX bytes');
  if (bytes.length > MAX_GRAPH_BYTES) throw new PlanError('ERR_PLAN_TOO_LARGE', `graph is ${bytes.length} bytes, above ${MAX_GRAPH_BYTES}`, { limit: MAX_GRAPH_BYTES, actual: bytes.length });
  if (options.features !== undefined) assertInt('features', options.features, 1, 1 << 20);
  if (options.parameterCount !== undefined) assertInt('parameterCount', options.parameterCount, 1, MAX_PARAMETERS);
  assertGraphSafe(bytes, role);
  let session: ort.InferenceSession;
  try {
    session = await createOrtSession(bytes, options);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new PlanError('ERR_PLAN_GRAPH_INVALID', `onnxruntime cannot load the ${role} graph: ${msg.slice(0, 300)}`);
  }
  try {
    const want = PLAN_GRAPH_IO[role];
    const inputs = [...session.inputNames];
    const outputs = [...session.outputNames];
    const missingIn = want.inputs.filter((n) => !inputs.includes(n));
    const extraIn = inputs.filter((n) => !want.inputs.includes(n));
    const missingOut = want.outputs.filter((n) => !outputs.includes(n));
    if (missingIn.length > 0 || extraIn.length > 0) {
      throw contractError(`${role} graph inputs must be exactly [${want.inputs.join(', ')}]; missing [${missingIn.join(', ')}], unexpected [${extraIn.join(', ')}]`, { missing: missingIn, unexpected: extraIn });
    }
    if (missingOut.length > 0) throw contractError(`${role} graph lacks outputs [${missingOut.join(', ')}]`, { missing: missingOut });

    const ranks: Record<string, number> = { params: 1, x: 2, y: 1, lr: 0, per_sample_grads: 2, loss: 0, new_params: 1, prob: 1 };
    const dims: { F?: number; P?: number } = {};
    const note = (key: 'F' | 'P', v: number | string | undefined, where: string): void => {
      if (typeof v !== 'number' || v < 0) return;
      if (dims[key] !== undefined && dims[key] !== v) throw contractError(`${where} declares ${key}=${v}, elsewhere ${dims[key]}`);
      dims[key] = v;
    };
    for (const [list, names] of [[session.inputMetadata, want.inputs], [session.outputMetadata, want.outputs]] as const) {
      for (const n of names) {
        const s = shapeOf(list, n);
        if (s === undefined) throw contractError(`${n} must be a tensor`);
        if (s.type !== 'float32') throw contractError(`${n} must be float32, is ${s.type}`, { tensor: n, type: s.type });
        // An empty shape in the metadata means "unknown"; a declared shape must have the contract rank.
        if (s.shape.length !== 0 && s.shape.length !== ranks[n]) throw contractError(`${n} must have rank ${ranks[n]}, has ${s.shape.length}`, { tensor: n });
        if (n === 'params' || n === 'new_params') note('P', s.shape[0], n);
        if (n === 'per_sample_grads') note('P', s.shape[1], n);
        if (n === 'x') note('F', s.shape[1], n);
      }
    }
    if (options.features !== undefined) note('F', options.features, 'options.features');
    if (options.parameterCount !== undefined) note('P', options.parameterCount, 'options.parameterCount');
    const F = dims.F;
    const P = dims.P;
    if (F === undefined || P === undefined) throw contractError('cannot tell F and P: declare fixed dimensions for x and params or pass them in the options');

    // Probes: batches of 1 and 3 rows (so a hard-coded batch size fails) must give finite
    // outputs of the contract shapes.
    for (const B of [1, 3]) {
      const feeds: Record<string, ort.Tensor> = { params: f32Tensor(new Float32Array(P), [P]), x: f32Tensor(new Float32Array(B * F), [B, F]) };
      if (role === 'step') {
        feeds['y'] = f32Tensor(Float32Array.from({ length: B }, (_, i) => i % 2), [B]);
        feeds['lr'] = f32Tensor(Float32Array.of(0.1), []);
      }
      let out: ort.InferenceSession.OnnxValueMapType;
      try {
        out = await session.run(feeds, [...want.outputs]);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        throw contractError(`probe run of the ${role} graph with ${B} row(s) failed: ${msg.slice(0, 300)}`, { batch: B });
      }
      const expectDims: Record<string, readonly number[]> = { per_sample_grads: [B, P], loss: [], new_params: [P], prob: [B] };
      for (const n of want.outputs) {
        const t = out[n] as ort.Tensor | undefined;
        if (t === undefined || t.type !== 'float32') throw contractError(`probe: ${n} is not a float32 tensor`);
        const dims = expectDims[n]!;
        // A one-element [1] loss is tolerated as a scalar; everything else must match exactly.
        const ok = t.dims.length === dims.length && t.dims.every((d, i) => d === dims[i]);
        if (!ok && !(n === 'loss' && t.size === 1)) {
          throw contractError(`probe with ${B} row(s): ${n} has shape [${t.dims.join(', ')}], expected [${dims.join(', ')}]`, { tensor: n, batch: B, actual: [...t.dims], expected: [...dims] });
        }
        const d = t.data as Float32Array;
        for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) throw contractError(`probe: ${n} is not finite`, { tensor: n });
      }
    }
    return { role, inputs, outputs, features: F, parameterCount: P };
  } finally {
    await session.release();
  }
}

/**
 * Validates a whole plan: structure (names, sizes, finite initial parameters) and both graphs
 * against the contract with the plan's F and P. Throws {@link PlanError} or InvalidArgumentError.
 */
export async function validatePlan(plan: TrainingPlan, tuning: SessionTuning = {}): Promise<void> {
  checkPlanShape(plan);
  await validatePlanGraph(plan.stepGraph, { ...tuning, role: 'step', features: plan.features, parameterCount: plan.parameterCount });
  await validatePlanGraph(plan.inferenceGraph, { ...tuning, role: 'inference', features: plan.features, parameterCount: plan.parameterCount });
}

/** Options of {@link customPlan}. */
export interface CustomPlanInput {
  readonly name: string;
  readonly features: number;
  readonly initialParameters: Float32Array;
  readonly stepGraph: Uint8Array;
  readonly inferenceGraph: Uint8Array;
  readonly metadata?: Readonly<Record<string, string | number>>;
}

/**
 * A plan from graphs made elsewhere (PyTorch export, hand-written ONNX, ...): validated against
 * the contract before it is returned, with kind `custom` and P = initialParameters.length.
 */
export async function customPlan(input: CustomPlanInput, tuning: SessionTuning = {}): Promise<TrainingPlan> {
  const plan: TrainingPlan = {
    name: input.name,
    kind: 'custom',
    features: input.features,
    parameterCount: input.initialParameters?.length ?? 0,
    initialParameters: input.initialParameters,
    stepGraph: input.stepGraph,
    inferenceGraph: input.inferenceGraph,
    metadata: { contract: PLAN_CONTRACT_VERSION, ...(input.metadata ?? {}), features: input.features },
  };
  await validatePlan(plan, tuning);
  return plan;
}

/**
 * The column names a plan expects, in order, from its `featureNames` metadata (a JSON array of
 * strings), or undefined when the plan does not say. Throws `ERR_PLAN_BUNDLE` if the entry is
 * malformed or its length differs from `features`.
 */
export function planFeatureNames(plan: TrainingPlan): string[] | undefined {
  const v = plan.metadata['featureNames'];
  if (v === undefined) return undefined;
  let names: unknown;
  try {
    names = typeof v === 'string' ? JSON.parse(v) : undefined;
  } catch {
    names = undefined;
  }
  if (!Array.isArray(names) || names.length !== plan.features || names.some((n) => typeof n !== 'string')) {
    throw new PlanError('ERR_PLAN_BUNDLE', `metadata.featureNames must be a JSON array of ${plan.features} strings`);
  }
  return names as string[];
}
