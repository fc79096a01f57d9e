/**
 * Ed25519 signatures (RFC 8032) over @noble/curves, verified strictly (RFC 8032 / FIPS 186-5
 * encodings; ZIP-215 relaxed encodings are rejected).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { AuthenticationError } from '../common/errors.ts';
import { assertBytes } from '../common/validate.ts';
import { systemRandom, type RandomSource } from './random.ts';

/** An Ed25519 key pair: 32-byte seed (secret) and 32-byte public key. */
export interface SigningKeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** Generates an Ed25519 key pair from the CSPRNG. */
export function generateSigningKeyPair(rng: RandomSource = systemRandom): SigningKeyPair {
  const secretKey = rng.fill(new Uint8Array(32));
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

/** The public key of an Ed25519 secret key (seed). */
export function signingPublicKey(secretKey: Uint8Array): Uint8Array {
  assertBytes('secretKey', secretKey, 32);
  return ed25519.getPublicKey(secretKey);
}

/** Signs `message` (pure Ed25519, deterministic). */
export function sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  assertBytes('secretKey', secretKey, 32);
  assertBytes('message', message);
  return ed25519.sign(message, secretKey);
}

/** True iff `signature` is a valid strict Ed25519 signature of `message` under `publicKey`. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  if (!(message instanceof Uint8Array)) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** Like {@link verify} but throws `ERR_BAD_SIGNATURE` (with `what` in the message) on failure. */
export function verifyOrThrow(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, what = 'signature'): void {
  if (!verify(publicKey, message, signature)) throw new AuthenticationError(`${what} does not verify`, 'ERR_BAD_SIGNATURE');
}
