import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DROP_STAGES, makeConfig, makeFederation, plainSum, runRound, type DropStage, type Federation } from './harness.ts';

const feds = new Map<number, Federation>();
const fedOf = (n: number): Federation => {
  let f = feds.get(n);
  if (f === undefined) feds.set(n, (f = makeFederation(n)));
  return f;
};

/** Survivors = members that sent their masked input. */
function expectedSurvivors(ids: string[], drops: Map<string, DropStage>): string[] {
  return ids.filter((id) => !['advertise-keys', 'share-keys', 'masked-input'].includes(drops.get(id) ?? 'none'));
}

/** A random round shape: n, neighbour count k (complete or even sparse), threshold, bits. */
const shapeOf = (maxN: number) => fc.integer({ min: 2, max: maxN }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    // Complete graphs up to 16 nodes, sparse (SecAgg+) graphs of degree ≤ 10 up to 30 (the cost of a
    // complete round grows with n², and the suite must stay fast on two shared cores).
    k: n <= 4 ? fc.constant(n - 1)
      : n <= 16 ? fc.oneof(fc.constant(n - 1), fc.integer({ min: 1, max: Math.floor((n - 2) / 2) }).map((h) => 2 * h))
      : fc.integer({ min: 1, max: 5 }).map((h) => 2 * h),
    tFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    bits: fc.constantFrom(8, 20, 32),
    seed: fc.integer({ min: 0, max: 1 << 30 }),
  }));
const shape = shapeOf(30);

const thresholdOf = (k: number, f: number): number => {
  const lo = Math.floor((k + 1) / 2) + 1;
  return Math.min(k + 1, lo + Math.floor(f * (k + 2 - lo)));
};

describe('masking engine: dropouts', () => {
  it('property: up to k+1-t dropouts at any stages still give the exact survivors sum (n 2..30, complete graph up to 16, SecAgg+ graph)', () => {
    fc.assert(fc.property(shape, fc.array(fc.nat(), { maxLength: 30 }), fc.array(fc.constantFrom(...DROP_STAGES), { maxLength: 30 }),
      ({ n, k, tFrac, bits }, picks, stages) => {
        const t = thresholdOf(k, tFrac);
        const fed = fedOf(n);
        const budget = k + 1 - t;
        const drops = new Map<string, DropStage>();
        for (let i = 0; i < picks.length && drops.size < budget; i++) drops.set(fed.ids[picks[i]! % n]!, stages[i % Math.max(1, stages.length)] ?? 'masked-input');
        const cfg = makeConfig(fed, { threshold: t, neighbours: k, bits, vectorLength: 3 });
        const r = runRound(fed, cfg, drops);
        expect(r.error).toBeUndefined();
        const surv = expectedSurvivors(fed.ids, drops);
        expect(r.result!.survivors).toEqual(surv);
        expect([...r.result!.sum]).toEqual([...plainSum(surv.map((id) => r.inputs.get(id)!), 3, bits)]);
      }), { numRuns: 6 });
  });

  it('property: any dropout pattern gives either the exact survivors sum or a typed below-threshold abort (n 2..16)', () => {
    fc.assert(fc.property(shapeOf(16), fc.array(fc.tuple(fc.nat(), fc.constantFrom(...DROP_STAGES)), { maxLength: 30 }), ({ n, k, tFrac, bits }, ds) => {
      const t = thresholdOf(k, tFrac);
      const fed = fedOf(n);
      const drops = new Map<string, DropStage>(ds.map(([p, s]) => [fed.ids[p % n]!, s]));
      const r = runRound(fed, makeConfig(fed, { threshold: t, neighbours: k, bits, vectorLength: 3 }), drops);
      if (r.error !== undefined) {
        expect(r.error).toBe('ERR_SECAGG_BELOW_THRESHOLD');
        expect(drops.size).toBeGreaterThan(k + 1 - t);
      } else {
        const surv = expectedSurvivors(fed.ids, drops);
        expect(r.result!.survivors).toEqual(surv);
        expect([...r.result!.sum]).toEqual([...plainSum(surv.map((id) => r.inputs.get(id)!), 3, bits)]);
      }
    }), { numRuns: 4 });
  });

  it('30 nodes, SecAgg+ graph k=8, t=6: three dropouts at different stages still give the exact sum', () => {
    const fed = fedOf(30);
    const drops = new Map<string, DropStage>([[fed.ids[3]!, 'share-keys'], [fed.ids[17]!, 'masked-input'], [fed.ids[29]!, 'unmask']]);
    const r = runRound(fed, makeConfig(fed, { threshold: 6, neighbours: 8, vectorLength: 4, bits: 24 }), drops);
    const surv = expectedSurvivors(fed.ids, drops);
    expect(r.result!.survivors).toEqual(surv);
    expect(r.result!.dropped).toEqual([fed.ids[17]]);
    expect([...r.result!.sum]).toEqual([...plainSum(surv.map((id) => r.inputs.get(id)!), 4, 24)]);
  });

  it('12 nodes all-to-all, t=7: five members dropping, one at each stage, still give the exact sum', () => {
    const fed = fedOf(12);
    const drops = new Map<string, DropStage>(DROP_STAGES.map((st, i) => [fed.ids[2 * i + 1]!, st]));
    const r = runRound(fed, makeConfig(fed, { threshold: 7, vectorLength: 5, bits: 16 }), drops);
    const surv = expectedSurvivors(fed.ids, drops);
    expect(r.result!.survivors).toEqual(surv);
    expect(r.result!.dropped).toEqual([fed.ids[5]]);
    expect([...r.result!.sum]).toEqual([...plainSum(surv.map((id) => r.inputs.get(id)!), 5, 16)]);
  });

  it.each(['share-keys', 'masked-input', 'unmask'] as const)('10 nodes, t=7: four members dropping at %s abort the round with ERR_SECAGG_BELOW_THRESHOLD', (stage) => {
    const fed = fedOf(10);
    const drops = new Map<string, DropStage>(fed.ids.slice(0, 4).map((id) => [id, stage]));
    const r = runRound(fed, makeConfig(fed, { threshold: 7, vectorLength: 5 }), drops);
    expect(r.error).toBe('ERR_SECAGG_BELOW_THRESHOLD');
    expect(r.result).toBeUndefined();
  });
});
