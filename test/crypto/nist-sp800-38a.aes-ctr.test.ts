// Known answers from NIST SP 800-38A ("Recommendation for Block Cipher Modes of Operation"),
// Appendix F.5.5 CTR-AES256.Encrypt: the keystream is ciphertext XOR plaintext.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { aesCtrKeystream, expandMask } from '../../crypto/prg.ts';

const key = fromHex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
const iv = fromHex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
const plaintext = fromHex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710');
const ciphertext = fromHex('601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c52b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6');

describe('NIST SP 800-38A AES-256-CTR (mask PRG)', () => {
  it('F.5.5 keystream', () => {
    const ks = aesCtrKeystream(key, iv, 64);
    const enc = ks.map((b, i) => b ^ plaintext[i]!);
    expect(toHex(enc)).toBe(toHex(ciphertext));
  });
  it('expandMask is deterministic, domain-separated and respects bit width', () => {
    const seed = new Uint8Array(32).fill(3);
    const a = expandMask(seed, ['mask', 'fed', 1, 'a', 'b'], 1000, 32);
    expect(toHex(new Uint8Array(a.buffer))).toBe(toHex(new Uint8Array(expandMask(seed, ['mask', 'fed', 1, 'a', 'b'], 1000, 32).buffer)));
    const b = expandMask(seed, ['mask', 'fed', 2, 'a', 'b'], 1000, 32);
    expect(a.some((v, i) => v !== b[i])).toBe(true);
    const c = expandMask(seed, ['mask', 'fed', 1, 'a', 'b'], 1000, 20);
    expect(c.every((v, i) => v < 2 ** 20 && v === (a[i]! & 0xfffff) >>> 0)).toBe(true);
  });
  it('property: a prefix of a longer expansion equals the shorter expansion', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 300 }), (seed, n) => {
      const long = expandMask(seed, ['p'], n + 17);
      const short = expandMask(seed, ['p'], n);
      return short.every((v, i) => v === long[i]);
    }), { numRuns: 30 });
  });
  it('mask words are roughly uniform (mean of 2^16 words within 5 sigma)', () => {
    const w = expandMask(new Uint8Array(32).fill(9), ['uniformity'], 1 << 16, 16);
    let s = 0;
    for (const v of w) s += v;
    const mean = s / w.length;
    const sd = Math.sqrt((2 ** 32 - 1) / 12 / w.length);
    expect(Math.abs(mean - (2 ** 16 - 1) / 2)).toBeLessThan(5 * sd);
  });
});
