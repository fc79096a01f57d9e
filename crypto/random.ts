/**
 * CSPRNG access. All randomness in fedsec flows through a {@link RandomSource}; the default is
 * node:crypto's `randomFillSync` (the OS CSPRNG). {@link seededRandomSource} gives a
 * deterministic ChaCha20 keystream (RFC 8439) for reproducible tests and known-answer
 * vectors: it is a CSPRNG given a secret seed, but never use a fixed seed outside tests.
 */
import { randomFillSync } from 'node:crypto';
import { chacha20 } from '@noble/ciphers/chacha.js';
import { InvalidArgumentError } from '../common/errors.ts';
import { assertBytes, assertInt } from '../common/validate.ts';

/** A source of cryptographically secure random bytes. */
export interface RandomSource {
  /** Fills `out` with random bytes and returns it. */
  fill(out: Uint8Array): Uint8Array;
}

/** The operating system's CSPRNG through node:crypto. */
export const systemRandom: RandomSource = {
  fill(out: Uint8Array): Uint8Array {
    // randomFillSync caps a single call at 2^31-1 bytes; loop for larger buffers.
    const MAX = 1 << 30;
    for (let off = 0; off < out.length; off += MAX) {
      randomFillSync(out.subarray(off, Math.min(out.length, off + MAX)));
    }
    return out;
  },
};

/**
 * Deterministic ChaCha20 stream keyed by a 32-byte seed (nonce 0, counter advancing).
 * For tests and reproducible vectors only.
 */
export function seededRandomSource(seed: Uint8Array): RandomSource {
  assertBytes('seed', seed, 32);
  const key = Uint8Array.from(seed);
  const nonce = new Uint8Array(12);
  let counter = 0;
  let buf = new Uint8Array(0);
  let pos = 0;
  return {
    fill(out: Uint8Array): Uint8Array {
      let off = 0;
      while (off < out.length) {
        if (pos >= buf.length) {
          const blocks = Math.max(16, Math.ceil((out.length - off) / 64));
          buf = chacha20(key, nonce, new Uint8Array(blocks * 64), undefined, counter);
          counter += blocks;
          pos = 0;
        }
        const n = Math.min(out.length - off, buf.length - pos);
        out.set(buf.subarray(pos, pos + n), off);
        pos += n;
        off += n;
      }
      return out;
    },
  };
}

/** `n` random bytes. */
export function randomBytes(n: number, rng: RandomSource = systemRandom): Uint8Array {
  assertInt('n', n, 0, 2 ** 31);
  return rng.fill(new Uint8Array(n));
}

/** A uniform random bigint in [0, bound), by rejection sampling (no modulo bias). */
export function randomBigIntBelow(bound: bigint, rng: RandomSource = systemRandom): bigint {
  if (typeof bound !== 'bigint' || bound <= 0n) throw new InvalidArgumentError('bound', 'must be a positive bigint');
  const bits = bound.toString(2).length;
  const bytes = Math.ceil(bits / 8);
  const excess = BigInt(bytes * 8 - bits);
  for (;;) {
    const v = bytesToBigIntBE(rng.fill(new Uint8Array(bytes))) >> excess;
    if (v < bound) return v;
  }
}

/** A uniform random bigint of exactly `bits` random bits, i.e. in [0, 2^bits). */
export function randomBigIntBits(bits: number, rng: RandomSource = systemRandom): bigint {
  assertInt('bits', bits, 1, 1 << 20);
  const bytes = Math.ceil(bits / 8);
  return bytesToBigIntBE(rng.fill(new Uint8Array(bytes))) >> BigInt(bytes * 8 - bits);
}

/** A uniform random integer in [0, bound) for bound ≤ 2^32, by rejection. */
export function randomIntBelow(bound: number, rng: RandomSource = systemRandom): number {
  assertInt('bound', bound, 1, 2 ** 32);
  const limit = 2 ** 32 - (2 ** 32 % bound);
  const b = new Uint8Array(4);
  for (;;) {
    rng.fill(b);
    const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    if (v < limit) return v % bound;
  }
}

/** Big-endian bytes to bigint. */
export function bytesToBigIntBE(b: Uint8Array): bigint {
  if (b.length === 0) return 0n;
  return BigInt('0x' + Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex'));
}

/** Bigint to big-endian bytes of exactly `length` bytes (throws if it does not fit). */
export function bigIntToBytesBE(v: bigint, length: number): Uint8Array {
  if (v < 0n) throw new InvalidArgumentError('value', 'must be non-negative');
  const hex = v.toString(16);
  if (hex.length > length * 2) throw new InvalidArgumentError('value', `does not fit in ${length} bytes`);
  return new Uint8Array(Buffer.from(hex.padStart(length * 2, '0'), 'hex'));
}
