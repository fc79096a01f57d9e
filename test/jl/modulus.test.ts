import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { checkModulus, modulusToJson, multiplyBigEndian, parseModulus } from '../../crypto/jl/modulus.ts';
import { bigIntToBytesBE, bytesToBigIntBE } from '../../crypto/random.ts';
import { toHex } from '../../crypto/bytes.ts';
import { fixtureModulus } from './helpers.ts';

describe('JL modulus', () => {
  it('the ceremony multiplication (no BigInt) agrees with BigInt', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.uint8Array({ minLength: 64, maxLength: 64 }), (a, b) => {
        const want = bytesToBigIntBE(a) * bytesToBigIntBE(b);
        return bytesToBigIntBE(multiplyBigEndian(a, b)) === want;
      }),
      { numRuns: 50 },
    );
    const ff = new Uint8Array(128).fill(0xff);
    expect(bytesToBigIntBE(multiplyBigEndian(ff, ff))).toBe(((1n << 1024n) - 1n) ** 2n);
  });

  it('refuses moduli below 2048 bits unless explicitly marked insecure', () => {
    const text = readFileSync(new URL('../fixtures/jl/modulus-1024.json', import.meta.url), 'utf8');
    expect(() => parseModulus(text)).toThrow(expect.objectContaining({ code: 'ERR_JL_INSECURE_MODULUS' }));
    expect(parseModulus(text, { insecureAllowSmall: true }).bits).toBe(1024);
    const m = fixtureModulus(2048);
    expect(parseModulus(modulusToJson(m)).n).toBe(m.n);
  });

  it('checks the fingerprint, in the file and against the published value', () => {
    const m = fixtureModulus(2048);
    const file = modulusToJson(m);
    expect(parseModulus(file, { expectedFingerprint: file.fingerprint }).n).toBe(m.n);
    expect(() => parseModulus(file, { expectedFingerprint: '00'.repeat(32) })).toThrow(expect.objectContaining({ code: 'ERR_JL_FINGERPRINT' }));
    // A different N under the old fingerprint.
    const n2 = m.n + 2n;
    expect(() => parseModulus({ ...file, n: toHex(bigIntToBytesBE(n2, 256)) })).toThrow(expect.objectContaining({ code: expect.stringMatching(/ERR_JL_(FINGERPRINT|MODULUS)/) }));
  });

  it('rejects even, small-factor, square or mis-sized values', () => {
    const m = fixtureModulus(2048);
    expect(() => checkModulus(m.n + 1n, 2048)).toThrow(expect.objectContaining({ code: 'ERR_JL_MODULUS' }));
    expect(() => checkModulus(m.n * 3n, 2048)).toThrow(expect.objectContaining({ code: 'ERR_JL_MODULUS' }));
    const p = (1n << 1023n) + 1155n; // odd, square
    expect(() => checkModulus(p * p, p.toString(2).length * 2 - 1)).toThrow();
    expect(() => checkModulus(m.n >> 32n, 2048)).toThrow(expect.objectContaining({ code: 'ERR_JL_MODULUS' }));
  });
});
