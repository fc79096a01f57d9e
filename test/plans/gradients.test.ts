import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { createOrtSession, logisticRegressionPlan, mlpPlan, type TrainingPlan } from '../../researcher/plans/index.ts';
import { seededRandomSource } from '../../crypto/random.ts';
import { refLogit, refLoss, refParamCount, refPerSampleGrads, type RefModel } from './reference.ts';

const open: InferenceSession[] = [];
const sessions = new Map<TrainingPlan, InferenceSession>();
afterAll(async () => {
  for (const s of open) await s.release();
});

async function runStep(plan: TrainingPlan, p: Float32Array, x: Float32Array, y: Float32Array, lr: number): Promise<{ grads: Float32Array; loss: number; newParams: Float32Array }> {
  let s = sessions.get(plan);
  if (s === undefined) {
    s = await createOrtSession(plan.stepGraph);
    sessions.set(plan, s);
    open.push(s);
  }
  const B = y.length;
  const out = await s.run({
    params: new Tensor('float32', p, [p.length]),
    x: new Tensor('float32', x, [B, plan.features]),
    y: new Tensor('float32', y, [B]),
    lr: new Tensor('float32', Float32Array.of(lr), []),
  });
  expect(out['per_sample_grads']!.dims).toEqual([B, plan.parameterCount]);
  expect(out['loss']!.dims).toEqual([]);
  expect(out['new_params']!.dims).toEqual([plan.parameterCount]);
  return {
    grads: out['per_sample_grads']!.data as Float32Array,
    loss: (out['loss']!.data as Float32Array)[0]!,
    newParams: out['new_params']!.data as Float32Array,
  };
}

function planFor(m: RefModel, seed: number): TrainingPlan {
  return m.kind === 'logreg'
    ? logisticRegressionPlan({ features: m.F })
    : mlpPlan({ features: m.F, hidden: m.H, activation: m.activation, rng: seededRandomSource(new Uint8Array(32).fill(seed)) });
}

const smallFloat = (lim: number) => fc.float({ min: Math.fround(-lim), max: Math.fround(lim), noNaN: true, noDefaultInfinity: true });

const modelArb: fc.Arbitrary<RefModel> = fc.oneof(
  fc.record({ kind: fc.constant('logreg' as const), F: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant('mlp' as const), F: fc.integer({ min: 1, max: 5 }), H: fc.integer({ min: 1, max: 4 }), activation: fc.constantFrom('tanh' as const, 'relu' as const) }),
);

/** Model, batch size and random data for it. */
const caseArb = modelArb.chain((m) =>
  fc.integer({ min: 1, max: 5 }).chain((B) =>
    fc.record({
      m: fc.constant(m),
      params: fc.array(smallFloat(1.5), { minLength: refParamCount(m), maxLength: refParamCount(m) }),
      x: fc.array(smallFloat(3), { minLength: B * m.F, maxLength: B * m.F }),
      y: fc.array(fc.constantFrom(0, 1), { minLength: B, maxLength: B }),
      lr: fc.double({ min: 0.01, max: 1, noNaN: true }),
    }),
  ),
);

describe('step graphs against a float64 TypeScript reference', () => {
  it('per-sample gradients, loss and SGD update match the reference (logreg and MLP, tanh and relu)', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ m, params, x, y, lr }) => {
        const plan = planFor(m, 1);
        const p = Float32Array.from(params);
        const x32 = Float32Array.from(x);
        const y32 = Float32Array.from(y);
        const { grads, loss, newParams } = await runStep(plan, p, x32, y32, lr);
        const want = refPerSampleGrads(m, p, x32, y32);
        for (let i = 0; i < want.length; i++) expect(grads[i]!).toBeCloseTo(want[i]!, 4);
        expect(loss).toBeCloseTo(refLoss(m, p, x32, y32), 4);
        // new_params = params - lr * mean of the per-sample rows
        const B = y.length;
        const P = plan.parameterCount;
        for (let j = 0; j < P; j++) {
          let mean = 0;
          for (let i = 0; i < B; i++) mean += grads[i * P + j]!;
          mean /= B;
          expect(newParams[j]!).toBeCloseTo(p[j]! - Math.fround(lr) * mean, 4);
        }
      }),
      { numRuns: 12, seed: 42 },
    );
  });

  it('inference graphs give σ(logit) of the reference model', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ m, params, x, y }) => {
        const plan = planFor(m, 2);
        const s = await createOrtSession(plan.inferenceGraph);
        open.push(s);
        const B = y.length;
        const out = await s.run({ params: new Tensor('float32', Float32Array.from(params), [params.length]), x: new Tensor('float32', Float32Array.from(x), [B, m.F]) });
        expect(out['prob']!.dims).toEqual([B]);
        const prob = out['prob']!.data as Float32Array;
        const p32 = Float32Array.from(params);
        for (let i = 0; i < B; i++) {
          const z = refLogit(m, p32, Array.from(Float32Array.from(x).subarray(i * m.F, (i + 1) * m.F)));
          expect(prob[i]!).toBeCloseTo(1 / (1 + Math.exp(-z)), 5);
        }
      }),
      { numRuns: 8, seed: 43 },
    );
  });

  it('the reference agrees with central finite differences of its own loss (so it is a valid oracle)', () => {
    fc.assert(
      // ReLU is not differentiable at 0 (fast-check finds such points), so the oracle check uses
      // the smooth models; the ReLU reference is the usual subgradient (1 for a > 0, else 0).
      fc.property(caseArb.filter(({ m }) => m.kind === 'logreg' || m.activation === 'tanh'), ({ m, params, x, y }) => {
        const p = Float64Array.from(params);
        const B = y.length;
        const P = p.length;
        const rows = refPerSampleGrads(m, p, x, y);
        const h = 1e-6;
        for (let j = 0; j < P; j++) {
          const a = Float64Array.from(p); a[j]! += h;
          const b = Float64Array.from(p); b[j]! -= h;
          const fd = (refLoss(m, a, x, y) - refLoss(m, b, x, y)) / (2 * h);
          let mean = 0;
          for (let i = 0; i < B; i++) mean += rows[i * P + j]!;
          mean /= B;
          expect(Math.abs(fd - mean)).toBeLessThan(2e-5);
        }
      }),
      { numRuns: 30, seed: 7 },
    );
  });

  it('the ONNX gradient matches finite differences of the ONNX loss itself (float32, MLP tanh)', async () => {
    const m: RefModel = { kind: 'mlp', F: 3, H: 4, activation: 'tanh' };
    const plan = planFor(m, 3);
    const rng = seededRandomSource(new Uint8Array(32).fill(9));
    const noise = rng.fill(new Uint8Array(64));
    const p = Float32Array.from(plan.initialParameters);
    const B = 4;
    const x = Float32Array.from({ length: B * 3 }, (_, i) => (noise[i]! - 128) / 64);
    const y = Float32Array.from({ length: B }, (_, i) => noise[40 + i]! & 1);
    const base = await runStep(plan, p, x, y, 0.1);
    const h = 1e-2;
    for (let j = 0; j < plan.parameterCount; j++) {
      const a = Float32Array.from(p); a[j]! += h;
      const b = Float32Array.from(p); b[j]! -= h;
      const fd = ((await runStep(plan, a, x, y, 0.1)).loss - (await runStep(plan, b, x, y, 0.1)).loss) / (2 * h);
      let mean = 0;
      for (let i = 0; i < B; i++) mean += base.grads[i * plan.parameterCount + j]!;
      expect(Math.abs(fd - mean / B)).toBeLessThan(2e-3);
    }
  });

  it('rows of per_sample_grads sum to the batch gradient (B × mean gradient) and the loss stays finite for huge logits', async () => {
    const plan = logisticRegressionPlan({ features: 2 });
    const p = Float32Array.of(50, -50, 0);
    const x = Float32Array.of(10, -10, -10, 10, 1, 1);
    const y = Float32Array.of(0, 1, 1);
    const { grads, loss, newParams } = await runStep(plan, p, x, y, 1);
    expect(Number.isFinite(loss)).toBe(true);
    expect(loss).toBeCloseTo((1000 + 1000 + Math.LN2) / 3, 2); // logits 1000, -1000, 0
    const sum = [0, 0, 0];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) sum[j]! += grads[i * 3 + j]!;
    for (let j = 0; j < 3; j++) expect(p[j]! - newParams[j]!).toBeCloseTo(sum[j]! / 3, 4);
    expect(Array.from(grads.subarray(0, 3))).toEqual([10, -10, 1]); // sigmoid(1000) - 0 = 1
  });
});
