import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import {
  GraphBuilder, MAX_GRAPH_BYTES, assertGraphSafe, onnxSafetyFindings, PLAN_SECTIONS, customPlan, decodeOnnxSummary, decodePlan, encodeOnnxModel, encodePlan, hashPlan,
  logisticRegressionPlan, mlpPlan, planFromBundle, planToBundle, validatePlan, validatePlanGraph, type OnnxValueInfo, type TrainingPlan,
} from '../../researcher/plans/index.ts';
import { decodePlanBundle, planHash } from '../../proto/plan.ts';
import { seededRandomSource } from '../../crypto/random.ts';
import { isFedsecError } from '../../common/errors.ts';

const seed = (b: number) => seededRandomSource(new Uint8Array(32).fill(b));

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isFedsecError(e)) return e.code;
    throw e;
  }
  return 'no error';
}

/** A hand-written linear step graph in the contract's shape, with optional omissions. */
function linearStepGraph(F: number, opts: { dropOutput?: string; renameInput?: string; badGradShape?: boolean; fixedBatch?: number } = {}): Uint8Array {
  const P = F + 1;
  const g = new GraphBuilder();
  const w = g.op('Slice', ['params', g.i64([0]), g.i64([F]), g.i64([0])]);
  const b = g.op('Slice', ['params', g.i64([F]), g.i64([P]), g.i64([0])]);
  const xName = opts.renameInput ?? 'x';
  const z = g.op('Add', [g.op('MatMul', [xName, w]), b]);
  const r = g.op('Unsqueeze', [g.op('Sub', [g.op('Sigmoid', [z]), 'y']), g.i64([1])]);
  const gw = g.op('Mul', [r, xName]);
  const rows = g.op('Concat', [gw, r], { axis: { int: 1 } });
  // The faulty variant emits only the weight gradients ([B, F] instead of [B, P]).
  const emitted = opts.fixedBatch === undefined ? rows : g.op('Reshape', [rows, g.i64([opts.fixedBatch, P])]);
  g.op('Identity', [opts.badGradShape ? gw : emitted], undefined, 'per_sample_grads');
  g.op('ReduceMean', [g.op('Mul', [z, z])], { keepdims: { int: 0 } }, 'loss');
  const mean = g.op('ReduceMean', [rows], { axes: { ints: [0] }, keepdims: { int: 0 } });
  g.op('Sub', ['params', g.op('Mul', ['lr', mean])], undefined, 'new_params');
  const inputs: OnnxValueInfo[] = [
    { name: 'params', elemType: 'float32', shape: [P] },
    { name: xName, elemType: 'float32', shape: ['batch', F] },
    { name: 'y', elemType: 'float32', shape: ['batch'] },
    { name: 'lr', elemType: 'float32', shape: [] },
  ];
  const outputs: OnnxValueInfo[] = [
    { name: 'per_sample_grads', elemType: 'float32', shape: ['batch', opts.badGradShape ? 'p' : P] },
    { name: 'loss', elemType: 'float32', shape: [] },
    { name: 'new_params', elemType: 'float32', shape: [P] },
  ].filter((o) => o.name !== opts.dropOutput) as OnnxValueInfo[];
  return encodeOnnxModel(g.build('custom-linear', inputs, outputs));
}

function linearInferenceGraph(F: number): Uint8Array {
  const g = new GraphBuilder();
  const w = g.op('Slice', ['params', g.i64([0]), g.i64([F]), g.i64([0])]);
  const b = g.op('Slice', ['params', g.i64([F]), g.i64([F + 1]), g.i64([0])]);
  g.op('Sigmoid', [g.op('Add', [g.op('MatMul', ['x', w]), b])], undefined, 'prob');
  return encodeOnnxModel(g.build('custom-linear-infer', [{ name: 'params', elemType: 'float32', shape: [F + 1] }, { name: 'x', elemType: 'float32', shape: ['batch', F] }], [{ name: 'prob', elemType: 'float32', shape: ['batch'] }]));
}

describe('ONNX encoder', () => {
  it('is deterministic and round-trips names, opset and operator types', () => {
    const a = logisticRegressionPlan({ features: 4 });
    const b = logisticRegressionPlan({ features: 4 });
    expect(Buffer.from(a.stepGraph).equals(Buffer.from(b.stepGraph))).toBe(true);
    const s = decodeOnnxSummary(a.stepGraph);
    expect(s.irVersion).toBe(8);
    expect(s.opsets).toEqual([{ domain: '', version: 17 }]);
    expect(s.inputs).toEqual(['params', 'x', 'y', 'lr']);
    expect(s.outputs).toEqual(['per_sample_grads', 'loss', 'new_params']);
    expect(s.opTypes).toContain('Sigmoid');
    expect(decodeOnnxSummary(a.inferenceGraph).outputs).toEqual(['prob']);
  });

  it('refuses an initializer whose value count does not match its dims', () => {
    expect(() => encodeOnnxModel({ graphName: 'g', inputs: [], outputs: [], nodes: [], initializers: [{ name: 't', elemType: 'float32', dims: [2, 2], values: [1, 2, 3] }] }))
      .toThrow(/3 values/);
  });
});

describe('plan hash and bundle', () => {
  it('is stable for identical plans and changes with any graph byte, initial parameter or metadata', () => {
    const a = mlpPlan({ features: 5, hidden: 3, rng: seed(1) });
    const h = hashPlan(a);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(hashPlan(mlpPlan({ features: 5, hidden: 3, rng: seed(1) }))).toBe(h);
    expect(hashPlan(mlpPlan({ features: 5, hidden: 3, rng: seed(2) }))).not.toBe(h);
    for (const graph of ['stepGraph', 'inferenceGraph'] as const) {
      for (const at of [0, 17, a[graph].length - 1]) {
        const g = Uint8Array.from(a[graph]);
        g[at]! ^= 0x01;
        expect(hashPlan({ ...a, [graph]: g })).not.toBe(h);
      }
    }
    const p = Float32Array.from(a.initialParameters);
    p[0] = p[0]! + 1e-3;
    expect(hashPlan({ ...a, initialParameters: p })).not.toBe(h);
    expect(hashPlan({ ...a, metadata: { ...a.metadata, note: 'x' } })).not.toBe(h);
    expect(hashPlan({ ...a, name: 'other' })).not.toBe(h);
  });

  it('encodes to a proto/plan.ts bundle whose planHash is the plan hash, and decodes back', () => {
    const a = mlpPlan({ features: 5, hidden: 3, activation: 'relu', rng: seed(3) });
    const bytes = encodePlan(a);
    expect(planHash(bytes)).toBe(hashPlan(a));
    const bundle = decodePlanBundle(bytes);
    expect(Object.keys(bundle.sections).sort()).toEqual(Object.values(PLAN_SECTIONS).sort());
    expect(bundle.meta['features']).toBe(5);
    const back = decodePlan(bytes);
    expect(back.kind).toBe('mlp');
    expect(back.features).toBe(5);
    expect(Array.from(back.initialParameters)).toEqual(Array.from(a.initialParameters));
    expect(back.metadata).toEqual(a.metadata);
    expect(hashPlan(back)).toBe(hashPlan(a));
  });

  it('refuses bundles without the plan sections, with a wrong initial-parameter length or inconsistent features', () => {
    const a = logisticRegressionPlan({ features: 3 });
    const b = planToBundle(a);
    expect(() => planFromBundle({ ...b, sections: { [PLAN_SECTIONS.step]: a.stepGraph } })).toThrow(expect.objectContaining({ code: 'ERR_PLAN_BUNDLE' }));
    expect(() => planFromBundle({ ...b, numParams: 5 })).toThrow(expect.objectContaining({ code: 'ERR_PLAN_BUNDLE' }));
    expect(() => planFromBundle({ ...b, meta: { ...b.meta, features: 0 } })).toThrow(expect.objectContaining({ code: 'ERR_PLAN_BUNDLE' }));
    expect(() => planToBundle({ ...a, features: 4 })).toThrow(expect.objectContaining({ code: 'ERR_PLAN_BUNDLE' }));
    expect(() => decodePlan(new Uint8Array(8))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_MESSAGE' }));
  });
});

describe('validatePlanGraph', () => {
  it('accepts the built plans (both graphs) and reports F and P', async () => {
    const lr = logisticRegressionPlan({ features: 30 });
    await validatePlan(lr);
    await validatePlan(mlpPlan({ features: 7, hidden: 5, rng: seed(4) }));
    const info = await validatePlanGraph(lr.stepGraph);
    expect(info).toMatchObject({ role: 'step', features: 30, parameterCount: 31 });
    expect((await validatePlanGraph(lr.inferenceGraph, { role: 'inference' })).outputs).toEqual(['prob']);
  });

  it('accepts a hand-written graph brought by a researcher (customPlan)', async () => {
    const plan: TrainingPlan = await customPlan({ name: 'my-linear', features: 3, initialParameters: new Float32Array(4), stepGraph: linearStepGraph(3), inferenceGraph: linearInferenceGraph(3), metadata: { author: 'lab' } });
    expect(plan.kind).toBe('custom');
    expect(plan.parameterCount).toBe(4);
  });

  it('rejects a graph missing an output, naming it', async () => {
    const bytes = linearStepGraph(3, { dropOutput: 'new_params' });
    await expect(validatePlanGraph(bytes)).rejects.toMatchObject({ code: 'ERR_PLAN_CONTRACT', details: { missing: ['new_params'] } });
    await expect(validatePlanGraph(linearStepGraph(3, { dropOutput: 'per_sample_grads' }))).rejects.toMatchObject({ code: 'ERR_PLAN_CONTRACT' });
  });

  it('rejects wrong input names, a step graph checked as inference, and wrong per-sample shapes', async () => {
    await expect(validatePlanGraph(linearStepGraph(3, { renameInput: 'features' }))).rejects.toMatchObject({ code: 'ERR_PLAN_CONTRACT', details: { missing: ['x'], unexpected: ['features'] } });
    expect(await code(validatePlanGraph(linearStepGraph(3), { role: 'inference' }))).toBe('ERR_PLAN_CONTRACT');
    // per_sample_grads of [B, F] instead of [B, P]: caught by the probe run.
    expect(await code(validatePlanGraph(linearStepGraph(3, { badGradShape: true })))).toBe('ERR_PLAN_CONTRACT');
    // A batch size baked into the graph (Reshape to [2, P]) fails the 1- and 3-row probes.
    expect(await code(validatePlanGraph(linearStepGraph(3, { fixedBatch: 2 })))).toBe('ERR_PLAN_CONTRACT');
    // The graph declares P = 4; a caller expecting 5 is told.
    expect(await code(validatePlanGraph(linearStepGraph(3), { parameterCount: 5 }))).toBe('ERR_PLAN_CONTRACT');
  });

  it('rejects garbage, empty and oversize bytes with typed errors', async () => {
    expect(await code(validatePlanGraph(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])))).toBe('ERR_PLAN_GRAPH_INVALID');
    expect(await code(validatePlanGraph(new Uint8Array(0)))).toBe('ERR_PLAN_GRAPH_INVALID');
    expect(await code(validatePlanGraph(new Uint8Array(MAX_GRAPH_BYTES + 1)))).toBe('ERR_PLAN_TOO_LARGE');
    // Truncated valid model.
    const lr = logisticRegressionPlan({ features: 3 });
    expect(await code(validatePlanGraph(lr.stepGraph.subarray(0, lr.stepGraph.length - 40)))).toBe('ERR_PLAN_GRAPH_INVALID');
  });

  it('customPlan refuses initial parameters that do not match the graph', async () => {
    expect(await code(customPlan({ name: 'bad', features: 3, initialParameters: new Float32Array(7), stepGraph: linearStepGraph(3), inferenceGraph: linearInferenceGraph(3) }))).toBe('ERR_PLAN_CONTRACT');
  });
});

describe('static graph safety', () => {
  // A second, independent encoding of just the fields needed to plant an external-data tensor.
  const root = protobuf.parse(`
    syntax = "proto2";
    message Entry { optional string key = 1; optional string value = 2; }
    message Tensor { repeated int64 dims = 1; optional int32 data_type = 2; optional string name = 8; repeated Entry external_data = 13; optional int32 data_location = 14; }
    message Attr { optional string name = 1; optional Tensor t = 5; optional Graph g = 6; optional int32 type = 20; }
    message Node { repeated string input = 1; repeated string output = 2; optional string op_type = 4; repeated Attr attribute = 5; optional string domain = 7; }
    message Dim { optional int64 dim_value = 1; }
    message Shape { repeated Dim dim = 1; }
    message TensorType { optional int32 elem_type = 1; optional Shape shape = 2; }
    message Type { optional TensorType tensor_type = 1; }
    message ValueInfo { optional string name = 1; optional Type type = 2; }
    message Graph { repeated Node node = 1; optional string name = 2; repeated Tensor initializer = 5; repeated ValueInfo input = 11; repeated ValueInfo output = 12; }
    message Opset { optional string domain = 1; optional int64 version = 2; }
    message Function { optional string name = 1; repeated string input = 4; repeated string output = 5; repeated Node node = 7; repeated Opset opset_import = 9; optional string domain = 10; }
    message Model { optional int64 ir_version = 1; optional Graph graph = 7; repeated Opset opset_import = 8; repeated Function functions = 25; }
  `, { keepCase: true }).root;
  const Model = root.lookupType('Model');
  const vi = (name: string) => ({ name, type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 4 }] } } } });
  const external = { dims: [4], data_type: 1, name: 'leak', data_location: 1, external_data: [{ key: 'location', value: 'secret-patients.bin' }] };
  const encode = (graph: object) => Model.encode(Model.fromObject({ ir_version: 8, graph, opset_import: [{ domain: '', version: 17 }] })).finish();

  it('refuses initializers stored as external data before onnxruntime loads them', async () => {
    const bytes = encode({ name: 'g', node: [{ input: ['leak'], output: ['prob'], op_type: 'Identity' }], initializer: [external], output: [vi('prob')] });
    expect(onnxSafetyFindings(bytes)).toEqual(["graph: tensor 'leak' uses external data"]);
    await expect(validatePlanGraph(bytes, { role: 'inference' })).rejects.toMatchObject({ code: 'ERR_PLAN_UNSAFE' });
  });

  it('finds external data hidden in a Constant inside an If subgraph', () => {
    const inner = { name: 'then', node: [{ output: ['c'], op_type: 'Constant', attribute: [{ name: 'value', t: external, type: 4 }] }], output: [vi('c')] };
    const bytes = encode({ name: 'g', node: [{ input: ['cond'], output: ['prob'], op_type: 'If', attribute: [{ name: 'then_branch', g: inner, type: 5 }, { name: 'else_branch', g: inner, type: 5 }] }], output: [vi('prob')] });
    expect(onnxSafetyFindings(bytes)).toHaveLength(2);
    expect(() => assertGraphSafe(bytes)).toThrow(expect.objectContaining({ code: 'ERR_PLAN_UNSAFE' }));
  });

  it('a local function does not open its domain to other operators; a call of the function itself is allowed', () => {
    const fn = { name: 'Twice', domain: 'com.microsoft', input: ['a'], output: ['b'], node: [{ input: ['a', 'a'], output: ['b'], op_type: 'Add' }], opset_import: [{ domain: '', version: 17 }] };
    const mk = (op: string) => Model.encode(Model.fromObject({
      ir_version: 8, opset_import: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }], functions: [fn],
      graph: { name: 'g', node: [{ input: ['x'], output: ['prob'], op_type: op, domain: 'com.microsoft' }], output: [vi('prob')] },
    })).finish();
    expect(onnxSafetyFindings(mk('Twice'))).toEqual([]);
    expect(onnxSafetyFindings(mk('FusedMatMul'))[0]).toMatch(/FusedMatMul from domain 'com.microsoft'/);
  });

  it('refuses operators from non-standard domains; the built plans are clean', async () => {
    const g = new GraphBuilder();
    g.op('Identity', ['x'], undefined, 'prob');
    const model = g.build('m', [{ name: 'x', elemType: 'float32', shape: [2] }], [{ name: 'prob', elemType: 'float32', shape: [2] }]);
    const bytes = encodeOnnxModel({ ...model, nodes: [{ ...model.nodes[0]!, domain: 'com.microsoft' }] });
    expect(onnxSafetyFindings(bytes)[0]).toMatch(/domain 'com.microsoft'/);
    await expect(validatePlanGraph(bytes, { role: 'inference' })).rejects.toMatchObject({ code: 'ERR_PLAN_UNSAFE' });
    const plan = mlpPlan({ features: 3, hidden: 2, rng: seed(5) });
    expect(onnxSafetyFindings(plan.stepGraph)).toEqual([]);
    expect(onnxSafetyFindings(plan.inferenceGraph)).toEqual([]);
    // The node-side session cache applies the same check to approved plans.
    const { PlanSessionCache } = await import('../../node/training/index.ts');
    const cache = new PlanSessionCache();
    await expect(cache.get({ ...plan, inferenceGraph: bytes })).rejects.toMatchObject({ code: 'ERR_PLAN_UNSAFE' });
    await cache.close();
  });
});
