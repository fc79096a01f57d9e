import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { batchInverse, modPow, modPowBigInt, OpenSslModPow } from '../../crypto/jl/modexp.ts';
import { fixtureModulus } from './helpers.ts';

const N = fixtureModulus(1024).n;
const N2 = N * N;
const big = (bits: number) => fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n });

function naive(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

describe('modular exponentiation routes', () => {
  it('windowed BigInt route agrees with square-and-multiply', () => {
    fc.assert(fc.property(big(2048), big(300), (b, e) => modPowBigInt(b, e, N2) === naive(b, e, N2)), { numRuns: 30 });
  });

  it('OpenSSL route agrees with BigInt on random bases and exponents (incl. exponents wider than N^2)', () => {
    const ctx = new OpenSslModPow(N2);
    fc.assert(fc.property(big(2100), big(2600), (b, e) => ctx.pow(b, e) === modPowBigInt(b, e, N2)), { numRuns: 25 });
  });

  it('OpenSSL route handles the edge cases OpenSSL refuses (0, 1, N^2-1) and exponents 0, 1', () => {
    const ctx = new OpenSslModPow(N2);
    const e = (1n << 2047n) + 12345n;
    for (const b of [0n, 1n, N2 - 1n, N2, N2 + 1n, 2n, -1n]) {
      for (const x of [0n, 1n, 2n, e, e + 1n]) expect(ctx.pow(b, x)).toBe(modPowBigInt(b, x, N2));
    }
    expect(ctx.pow(N2 - 1n, 3n)).toBe(N2 - 1n);
    expect(ctx.pow(0n, 0n)).toBe(1n);
  });

  it('negative exponents go through the inverse', () => {
    const b = 123456789n;
    const r = modPow(b, -5n, N2);
    expect((r * modPow(b, 5n, N2)) % N2).toBe(1n);
  });

  it('batch inversion inverts every element', () => {
    fc.assert(
      fc.property(fc.array(big(2040).filter((v) => v > 1n && v % N !== 0n), { minLength: 1, maxLength: 8 }), (vs) => {
        const inv = batchInverse(vs, N2);
        return vs.every((v, i) => (v * inv[i]!) % N2 === 1n);
      }),
      { numRuns: 20 },
    );
  });

  it('rejects even or tiny moduli', () => {
    expect(() => new OpenSslModPow(10n)).toThrow();
    expect(() => new OpenSslModPow(5n)).toThrow();
  });
});
