// Known answers from RFC 5869 ("HMAC-based Extract-and-Expand Key Derivation Function"), Appendix A.1 and A.3.
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { deriveKey, hkdfSha256 } from '../../crypto/hkdf.ts';

describe('RFC 5869 HKDF-SHA256', () => {
  it('A.1 basic test case', () => {
    const okm = hkdfSha256(fromHex('0b'.repeat(22)), fromHex('000102030405060708090a0b0c'), fromHex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(toHex(okm)).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });
  it('A.3 zero-length salt and info', () => {
    const okm = hkdfSha256(fromHex('0b'.repeat(22)), new Uint8Array(0), new Uint8Array(0), 42);
    expect(toHex(okm)).toBe('8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
  });
  it('deriveKey separates purposes, rounds and tuple boundaries', () => {
    const s = new Uint8Array(32).fill(7);
    const a = toHex(deriveKey(s, ['secagg/share', 'fed', 1]));
    expect(toHex(deriveKey(s, ['secagg/share', 'fed', 2]))).not.toBe(a);
    expect(toHex(deriveKey(s, ['secagg/mask', 'fed', 1]))).not.toBe(a);
    expect(toHex(deriveKey(s, ['ab', 'c']))).not.toBe(toHex(deriveKey(s, ['a', 'bc'])));
    expect(toHex(deriveKey(s, ['secagg/share', 'fed', 1]))).toBe(a);
  });
  it('rejects an over-long output request', () => {
    expect(() => hkdfSha256(new Uint8Array(32), undefined, new Uint8Array(0), 255 * 32 + 1)).toThrowError(/length/);
  });
});
