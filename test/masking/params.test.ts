import { describe, expect, it } from 'vitest';
import { chooseMaskingParameters, hypergeometricTailLog2 } from '../../crypto/masking/params.ts';
import { MaskingRound } from '../../crypto/masking/config.ts';
import { makeConfig, makeFederation } from './harness.ts';
import { isFedsecError } from '../../common/errors.ts';

function binom(n: number, k: number): bigint {
  let r = 1n;
  for (let i = 0; i < k; i++) r = (r * BigInt(n - i)) / BigInt(i + 1);
  return r;
}

describe('SecAgg+ parameter choice', () => {
  it('the hypergeometric tail matches exact counting', () => {
    for (const [N, K, k, c] of [[20, 5, 6, 2], [50, 10, 12, 5], [30, 0, 4, 1], [12, 12, 5, 5], [40, 8, 10, 0]] as const) {
      let num = 0n;
      for (let x = c; x <= Math.min(k, K); x++) num += binom(K, x) * binom(N - K, k - x);
      const exact = Number(num) / Number(binom(N, k));
      const got = 2 ** hypergeometricTailLog2(N, K, k, c);
      expect(Math.abs(got - exact)).toBeLessThanOrEqual(1e-12 + exact * 1e-9);
    }
  });

  it('meets the failure targets and gives parameters the engine accepts', () => {
    for (const [n, g, d] of [[30, 0.1, 0.1], [200, 0.05, 0.05], [5000, 0.05, 0.05], [10000, 0.01, 0.1]] as const) {
      const p = chooseMaskingParameters({ participants: n, corruptFraction: g, dropoutFraction: d });
      expect(p.securityFailureLog2).toBeLessThanOrEqual(-40);
      expect(p.correctnessFailureLog2).toBeLessThanOrEqual(-20);
      expect(p.neighbours % 2 === 0 || p.complete).toBe(true);
      expect(2 * p.threshold).toBeGreaterThan(p.neighbours + 1);
      expect(p.threshold).toBeLessThanOrEqual(p.neighbours + 1);
    }
    const p = chooseMaskingParameters({ participants: 30, corruptFraction: 0.1, dropoutFraction: 0.1 });
    const fed = makeFederation(30, 2);
    expect(new MaskingRound(makeConfig(fed, { neighbours: p.neighbours, threshold: p.threshold }), fed.roster).neighbours).toBe(p.neighbours);
  });

  it('small federations get the complete graph with a worst-case threshold; more corruption never shrinks k', () => {
    const p = chooseMaskingParameters({ participants: 10, corruptFraction: 0.1, dropoutFraction: 0.2 });
    expect(p).toMatchObject({ complete: true, neighbours: 9, threshold: 6 });
    let last = 0;
    for (const g of [0, 0.01, 0.02, 0.05, 0.1]) {
      const q = chooseMaskingParameters({ participants: 2000, corruptFraction: g, dropoutFraction: 0.05 });
      expect(q.neighbours).toBeGreaterThanOrEqual(last);
      last = q.neighbours;
    }
  });

  it('impossible or malformed goals throw a typed error naming the field', () => {
    const field = (f: () => unknown): string | undefined => {
      try { f(); } catch (e) { return isFedsecError(e) ? String(e.details?.['field']) : 'untyped'; }
      return undefined;
    };
    expect(field(() => chooseMaskingParameters({ participants: 10, corruptFraction: 0.3, dropoutFraction: 0.3 }))).toBe('goals');
    expect(field(() => chooseMaskingParameters({ participants: 10, corruptFraction: Number.NaN, dropoutFraction: 0.1 }))).toBe('corruptFraction');
    expect(field(() => chooseMaskingParameters({ participants: 1, corruptFraction: 0, dropoutFraction: 0 }))).toBe('participants');
    expect(field(() => chooseMaskingParameters({ participants: 10, corruptFraction: 0, dropoutFraction: 0.5 }))).toBe('dropoutFraction');
  });
});
