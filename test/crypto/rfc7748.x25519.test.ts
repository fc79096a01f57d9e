// Known answers from RFC 7748 ("Elliptic Curves for Security"), §5.2 and §6.1.
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { x25519PublicKey, x25519SharedSecret, generateX25519KeyPair } from '../../crypto/x25519.ts';
import { isFedsecError } from '../../common/errors.ts';

describe('RFC 7748 X25519', () => {
  it('§5.2 scalar multiplication vector 1', () => {
    const k = fromHex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
    const u = fromHex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c');
    expect(toHex(x25519SharedSecret(k, u))).toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
  });
  it('§6.1 Diffie-Hellman', () => {
    const a = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const b = fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    expect(toHex(x25519PublicKey(a))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(toHex(x25519PublicKey(b))).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const k = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(toHex(x25519SharedSecret(a, x25519PublicKey(b)))).toBe(k);
    expect(toHex(x25519SharedSecret(b, x25519PublicKey(a)))).toBe(k);
  });
  it('refuses low-order peer keys (all-zero shared secret)', () => {
    const { secretKey } = generateX25519KeyPair();
    for (const low of [new Uint8Array(32), Uint8Array.of(1, ...new Array<number>(31).fill(0))]) {
      try {
        x25519SharedSecret(secretKey, low);
        expect.unreachable();
      } catch (e) {
        expect(isFedsecError(e, 'ERR_LOW_ORDER_POINT')).toBe(true);
      }
    }
  });
  it('rejects wrong key lengths with a typed error naming the field', () => {
    expect(() => x25519SharedSecret(new Uint8Array(31), new Uint8Array(32))).toThrowError(/secretKey/);
  });
});
