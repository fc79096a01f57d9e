// Known answers from RFC 8439 ("ChaCha20 and Poly1305 for IETF Protocols"), §2.8.2 AEAD test vector.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex, utf8 } from '../../crypto/bytes.ts';
import { aeadOpen, aeadSeal, open, seal } from '../../crypto/aead.ts';
import { isFedsecError } from '../../common/errors.ts';

const key = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
const nonce = fromHex('070000004041424344454647');
const aad = fromHex('50515253c0c1c2c3c4c5c6c7');
const pt = utf8("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
const ct =
  'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116';
const tag = '1ae10b594f09e26a7e902ecbd0600691';

function expectAuthFailure(f: () => unknown): void {
  try {
    f();
    expect.unreachable();
  } catch (e) {
    expect(isFedsecError(e, 'ERR_AEAD_AUTH')).toBe(true);
  }
}

describe('RFC 8439 ChaCha20-Poly1305', () => {
  it('§2.8.2 seal matches ciphertext and tag', () => {
    expect(toHex(aeadSeal(key, nonce, pt, aad))).toBe(ct + tag);
  });
  it('§2.8.2 open recovers the plaintext', () => {
    expect(toHex(aeadOpen(key, nonce, fromHex(ct + tag), aad))).toBe(toHex(pt));
  });
  it('rejects a tampered ciphertext, tag, aad, nonce or key', () => {
    const sealed = fromHex(ct + tag);
    const c1 = Uint8Array.from(sealed); c1[0]! ^= 1;
    expectAuthFailure(() => aeadOpen(key, nonce, c1, aad));
    const c2 = Uint8Array.from(sealed); c2[c2.length - 1]! ^= 0x80;
    expectAuthFailure(() => aeadOpen(key, nonce, c2, aad));
    expectAuthFailure(() => aeadOpen(key, nonce, sealed, fromHex('50515253c0c1c2c3c4c5c6c8')));
    expectAuthFailure(() => aeadOpen(key, fromHex('070000004041424344454648'), sealed, aad));
    const k2 = Uint8Array.from(key); k2[31]! ^= 1;
    expectAuthFailure(() => aeadOpen(k2, nonce, sealed, aad));
    expectAuthFailure(() => aeadOpen(key, nonce, sealed.subarray(0, sealed.length - 1), aad));
  });
  it('rejects truncated boxes with a typed error naming the field', () => {
    expect(() => open(key, new Uint8Array(10))).toThrowError(/box/);
  });
  it('property: open(seal(m)) = m with random nonces', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 40 }), (m, a) => {
      return toHex(open(key, seal(key, m, a), a)) === toHex(m);
    }), { numRuns: 50 });
  });
});
