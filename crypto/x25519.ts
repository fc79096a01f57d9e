/**
 * X25519 key agreement (RFC 7748) over @noble/curves. Secret keys are 32 random bytes from
 * the CSPRNG (clamped inside the scalar multiplication); shared secrets that come out all
 * zero (a low-order peer key, RFC 7748 §6.1) are refused.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { AuthenticationError } from '../common/errors.ts';
import { assertBytes } from '../common/validate.ts';
import { systemRandom, type RandomSource } from './random.ts';

/** An X25519 key pair (raw 32-byte keys). */
export interface X25519KeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** Generates an X25519 key pair from the CSPRNG. */
export function generateX25519KeyPair(rng: RandomSource = systemRandom): X25519KeyPair {
  const secretKey = rng.fill(new Uint8Array(32));
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

/** The public key of a 32-byte X25519 secret key. */
export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  assertBytes('secretKey', secretKey, 32);
  return x25519.getPublicKey(secretKey);
}

/**
 * The raw X25519 shared secret. Throws `ERR_LOW_ORDER_POINT` if the result is all zero.
 * Feed the result to {@link deriveKey}, never use it directly as a key.
 */
export function x25519SharedSecret(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
  assertBytes('secretKey', secretKey, 32);
  assertBytes('peerPublicKey', peerPublicKey, 32);
  let s: Uint8Array;
  try {
    s = x25519.getSharedSecret(secretKey, peerPublicKey);
  } catch (e) {
    throw new AuthenticationError('peer X25519 public key yields the all-zero shared secret (low-order point)', 'ERR_LOW_ORDER_POINT');
  }
  let acc = 0;
  for (const b of s) acc |= b;
  if (acc === 0) throw new AuthenticationError('peer X25519 public key yields the all-zero shared secret (low-order point)', 'ERR_LOW_ORDER_POINT');
  return s;
}
