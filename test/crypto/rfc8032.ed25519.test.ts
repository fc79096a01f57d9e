// Known answers from RFC 8032 ("Edwards-Curve Digital Signature Algorithm"), §7.1 TEST 1-3.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { sign, signingPublicKey, verify, verifyOrThrow, generateSigningKeyPair } from '../../crypto/ed25519.ts';
import { isFedsecError } from '../../common/errors.ts';

const vectors = [
  {
    sk: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pk: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    sk: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pk: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    msg: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    sk: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pk: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    msg: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

describe('RFC 8032 Ed25519', () => {
  for (const [i, v] of vectors.entries()) {
    it(`TEST ${i + 1}: public key, signature, verification`, () => {
      const sk = fromHex(v.sk);
      expect(toHex(signingPublicKey(sk))).toBe(v.pk);
      expect(toHex(sign(sk, fromHex(v.msg)))).toBe(v.sig);
      expect(verify(fromHex(v.pk), fromHex(v.msg), fromHex(v.sig))).toBe(true);
    });
  }
  it('rejects a flipped bit in message, signature or key', () => {
    const v = vectors[2]!;
    const sig = fromHex(v.sig);
    sig[5]! ^= 1;
    expect(verify(fromHex(v.pk), fromHex(v.msg), sig)).toBe(false);
    expect(verify(fromHex(v.pk), fromHex('af83'), fromHex(v.sig))).toBe(false);
    expect(verify(fromHex(vectors[0]!.pk), fromHex(v.msg), fromHex(v.sig))).toBe(false);
    try {
      verifyOrThrow(fromHex(v.pk), fromHex('af83'), fromHex(v.sig), 'round key');
      expect.unreachable();
    } catch (e) {
      expect(isFedsecError(e, 'ERR_BAD_SIGNATURE')).toBe(true);
    }
  });
  it('rejects a non-canonical S (S + L), which ZIP-215 would also reject, and malformed lengths', () => {
    const v = vectors[1]!;
    const sig = fromHex(v.sig);
    // Add the group order L to S (little-endian) to make it non-canonical.
    const L = (1n << 252n) + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
    s += L;
    for (let i = 32; i < 64; i++) { sig[i] = Number(s & 0xffn); s >>= 8n; }
    expect(verify(fromHex(v.pk), fromHex(v.msg), sig)).toBe(false);
    expect(verify(fromHex(v.pk), fromHex(v.msg), new Uint8Array(63))).toBe(false);
  });
  it('property: sign/verify round-trips for random keys and messages', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (msg) => {
      const kp = generateSigningKeyPair();
      return verify(kp.publicKey, msg, sign(kp.secretKey, msg));
    }), { numRuns: 30 });
  });
});
