import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { bakeParameters } from '../../researcher/model-export.ts';
import { logisticRegressionPlan, mlpPlan } from '../../researcher/plans/index.ts';

describe('model export', () => {
  for (const plan of [logisticRegressionPlan({ features: 3 }), mlpPlan({ features: 3, hidden: 4 })]) {
    it(`bakes trained parameters into the ${plan.kind} inference graph`, async () => {
      const params = Float32Array.from({ length: plan.parameterCount }, (_, i) => ((i % 7) - 3) / 5);
      const x = Float32Array.of(0.5, -1, 2, 1, 0, -0.5);
      const withInput = await ort.InferenceSession.create(plan.inferenceGraph);
      const ref = await withInput.run({ params: new ort.Tensor('float32', params, [plan.parameterCount]), x: new ort.Tensor('float32', x, [2, 3]) });
      const baked = await ort.InferenceSession.create(bakeParameters(plan.inferenceGraph, params));
      expect(baked.inputNames).toEqual(['x']);
      const out = await baked.run({ x: new ort.Tensor('float32', x, [2, 3]) });
      const name = baked.outputNames[0]!;
      expect(Array.from(out[name]!.data as Float32Array)).toEqual(Array.from(ref[name]!.data as Float32Array));
      expect(() => bakeParameters(plan.inferenceGraph, params, 'nope')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    });
  }
});
