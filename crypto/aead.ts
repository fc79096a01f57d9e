/**
 * ChaCha20-Poly1305 AEAD (RFC 8439) through node:crypto (OpenSSL). {@link aeadSeal} /
 * {@link aeadOpen} take an explicit 12-byte nonce; {@link seal} / {@link open} draw a random
 * nonce and prefix it, for keys that may encrypt more than one message.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { AuthenticationError } from '../common/errors.ts';
import { assertBytes, assertBytesRange } from '../common/validate.ts';
import { concatBytes } from './bytes.ts';
import { systemRandom, type RandomSource } from './random.ts';

/** Key, nonce and tag sizes in bytes. */
export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

/** Encrypts and authenticates; returns ciphertext || 16-byte tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Uint8Array {
  assertBytes('key', key, AEAD_KEY_BYTES);
  assertBytes('nonce', nonce, AEAD_NONCE_BYTES);
  assertBytes('plaintext', plaintext);
  assertBytes('aad', aad);
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const body = c.update(plaintext);
  c.final();
  return concatBytes(body, c.getAuthTag());
}

/** Verifies and decrypts `ciphertext || tag`; throws `ERR_AEAD_AUTH` on any mismatch. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Uint8Array {
  assertBytes('key', key, AEAD_KEY_BYTES);
  assertBytes('nonce', nonce, AEAD_NONCE_BYTES);
  assertBytesRange('ciphertext', sealed, AEAD_TAG_BYTES, 2 ** 31);
  assertBytes('aad', aad);
  const body = sealed.subarray(0, sealed.length - AEAD_TAG_BYTES);
  const tag = sealed.subarray(sealed.length - AEAD_TAG_BYTES);
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES });
  d.setAAD(aad, { plaintextLength: body.length });
  d.setAuthTag(tag);
  const out = d.update(body);
  try {
    d.final();
  } catch {
    throw new AuthenticationError('AEAD authentication failed: ciphertext, tag, key or associated data do not match', 'ERR_AEAD_AUTH');
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Seals under a fresh random nonce: returns nonce || ciphertext || tag. */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = new Uint8Array(0), rng: RandomSource = systemRandom): Uint8Array {
  const nonce = rng.fill(new Uint8Array(AEAD_NONCE_BYTES));
  return concatBytes(nonce, aeadSeal(key, nonce, plaintext, aad));
}

/** Opens a box made by {@link seal}; throws `ERR_AEAD_AUTH` on any mismatch. */
export function open(key: Uint8Array, box: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Uint8Array {
  assertBytesRange('box', box, AEAD_NONCE_BYTES + AEAD_TAG_BYTES, 2 ** 31);
  return aeadOpen(key, box.subarray(0, AEAD_NONCE_BYTES), box.subarray(AEAD_NONCE_BYTES), aad);
}
