import { describe, expect, it } from 'vitest';
import { makeConfig, makeFederation, plainSum, runRound } from './harness.ts';

describe('masking engine: happy path', () => {
  it('all-to-all, 5 nodes, no dropouts: the sum is exact', () => {
    const fed = makeFederation(5);
    const cfg = makeConfig(fed, { vectorLength: 16, bits: 32 });
    const r = runRound(fed, cfg);
    expect(r.error).toBeUndefined();
    expect(r.result!.survivors).toEqual(fed.ids);
    expect(r.result!.dropped).toEqual([]);
    expect([...r.result!.sum]).toEqual([...plainSum([...r.inputs.values()], 16, 32)]);
  });
});
