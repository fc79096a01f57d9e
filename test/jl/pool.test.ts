import { describe, expect, it } from 'vitest';
import { computePads, JlWorkerPool } from '../../crypto/jl/pool.ts';
import { JlScheme } from '../../crypto/jl/scheme.ts';
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
});
