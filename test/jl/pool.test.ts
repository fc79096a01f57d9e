import { describe, expect, it } from 'vitest';
import { computePads, JlWorkerPool } from '../../crypto/jl/pool.ts';
import { JlScheme } from '../../crypto/jl/scheme.ts';
import { combineRecovery } from '../../crypto/jl/recovery.ts';
import { fixtureModulus } from './helpers.ts';

const modulus = fixtureModulus(1024);
const tag = { federation: 'fed', experiment: 'e', round: 1, attempt: 0 };

describe('worker-thread pad precomputation', () => {
  it('matches the in-thread computation, plain and inverted', async () => {
    const scheme = new JlScheme(modulus);
    const exp = (1n << 2047n) + 987654321n;
    const pool = new JlWorkerPool(2);
    try {
      const a = await pool.pads({ modulus, exponent: exp, tag, start: 3, count: 7 });
      expect(a).toEqual(scheme.pads(exp, tag, 3, 7));
      const inv = await pool.pads({ modulus, exponent: exp, tag, start: 3, count: 7, invert: true });
      inv.forEach((v, i) => expect((v * a[i]!) % scheme.n2).toBe(1n));
      expect(await pool.pads({ modulus, exponent: exp, tag, start: 0, count: 0 })).toEqual([]);
    } finally {
      await pool.close();
    }
    expect(await computePads({ modulus, exponent: 5n, tag, start: 0, count: 2 })).toEqual(scheme.pads(5n, tag, 0, 2));
  });

  it('splits the dropout-recovery combination across workers with the in-thread result', async () => {
    const scheme = new JlScheme(modulus);
    const base = scheme.pads(77n, tag, 0, 5);
    const elements = [11n, 12n, 13n].map((e) => scheme.pads(e, tag, 0, 5));
    const lambdas = [3600n, -4800n, 1800n];
    const pool = new JlWorkerPool(2);
    try {
      const got = await pool.combine(modulus, base, elements, lambdas, 14400n);
      expect(got).toEqual(combineRecovery(scheme, base, elements, lambdas, 14400n));
      // base^d2 · Π el^λ = H^(77·14400 + 11·3600 - 12·4800 + 13·1800).
      expect(got[2]).toBe(scheme.pads(77n * 14400n + 11n * 3600n - 12n * 4800n + 13n * 1800n, tag, 2, 1)[0]);
    } finally {
      await pool.close();
    }
  });
});
