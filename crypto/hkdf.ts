/**
 * HKDF-SHA256 (RFC 5869) over @noble/hashes, plus {@link deriveKey}: fedsec's single way to
 * derive a subkey, with the purpose encoded as a canonical tuple so that keys for different
 * federations, rounds, stages, pairs or purposes can never coincide.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { assertBytes, assertBytesRange, assertInt } from '../common/validate.ts';
import { encodeTuple, utf8, type TupleItem } from './bytes.ts';

/** Salt for every fedsec derivation (protocol version separation). */
export const FEDSEC_KDF_SALT = utf8('fedsec/kdf/v1');

/** RFC 5869 HKDF with SHA-256: extract-then-expand `length` bytes (at most 255*32). */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array | undefined, info: Uint8Array, length: number): Uint8Array {
  assertBytes('ikm', ikm);
  if (salt !== undefined) assertBytes('salt', salt);
  assertBytes('info', info);
  assertInt('length', length, 1, 255 * 32);
  return hkdf(sha256, ikm, salt, info, length);
}

/**
 * Derives a `length`-byte key from `secret` for the purpose described by `label`, e.g.
 * `['secagg/share-key', federation, round, fromId, toId]`.
 */
export function deriveKey(secret: Uint8Array, label: readonly TupleItem[], length = 32): Uint8Array {
  assertBytesRange('secret', secret, 16, 1 << 16);
  return hkdfSha256(secret, FEDSEC_KDF_SALT, encodeTuple(label), length);
}

/** SHA-256 of `data`. */
export function sha256Digest(data: Uint8Array): Uint8Array {
  return sha256(data);
}
