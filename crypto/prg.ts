/**
 * Keyed pseudorandom generator for masks: a 32-byte seed is expanded with AES-256-CTR
 * (NIST SP 800-38A) through node:crypto. The AES key is derived from the seed with HKDF under
 * a domain label (federation, round, pair, purpose), so one seed never yields the same stream
 * for two purposes, and the counter block starts at zero (each derived key is used once).
 *
 * Words are read little-endian (the mask of parameter i is word i), independent of platform.
 */
import { createCipheriv } from 'node:crypto';
import { endianness } from 'node:os';
import { assertBytes, assertInt } from '../common/validate.ts';
import { deriveKey } from './hkdf.ts';
import type { TupleItem } from './bytes.ts';

const LITTLE_ENDIAN = endianness() === 'LE';

/** Raw AES-256-CTR keystream of `length` bytes for `key` and 16-byte initial counter block `iv`. */
export function aesCtrKeystream(key: Uint8Array, iv: Uint8Array, length: number): Uint8Array {
  assertBytes('key', key, 32);
  assertBytes('iv', iv, 16);
  assertInt('length', length, 0, 2 ** 31 - 1);
  const c = createCipheriv('aes-256-ctr', key, iv);
  const out = c.update(Buffer.alloc(length));
  c.final();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Expands `seed` into `count` mask words in Z_(2^bits) (bits 1..32), domain-separated by `domain`.
 * The result is uniform given a uniform seed (2^bits divides 2^32, so truncation is unbiased).
 */
export function expandMask(seed: Uint8Array, domain: readonly TupleItem[], count: number, bits = 32): Uint32Array {
  assertBytes('seed', seed, 32);
  assertInt('count', count, 0, 2 ** 29);
  assertInt('bits', bits, 1, 32);
  const key = deriveKey(seed, ['fedsec/prg/aes-256-ctr', ...domain]);
  const stream = aesCtrKeystream(key, new Uint8Array(16), count * 4);
  const words = new Uint32Array(stream.buffer, stream.byteOffset, count);
  if (!LITTLE_ENDIAN) {
    const dv = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
    for (let i = 0; i < count; i++) words[i] = dv.getUint32(i * 4, true);
  }
  if (bits < 32) {
    const m = (2 ** bits - 1) >>> 0;
    for (let i = 0; i < count; i++) words[i] = (words[i]! & m) >>> 0;
  }
  return words;
}
