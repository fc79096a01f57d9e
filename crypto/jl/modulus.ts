/**
 * The public Joye-Libert modulus N = pq and its one-time generation ceremony.
 *
 * Whoever knows p and q can decrypt any single node's ciphertext, so the ceremony
 * ({@link generateModulus}) keeps the factors away from every JavaScript value it could leak
 * through: node:crypto's prime generator returns them in ArrayBuffers, N is multiplied out
 * limb by limb in typed arrays, and every buffer that held a factor (or a partial product) is
 * zeroed before the function returns. The factors never become BigInts or strings (those
 * are immutable and could not be wiped), and nothing returns, logs or writes them.
 *
 * Every party loads the modulus with {@link parseModulus}, which checks the size, the shape
 * and the fingerprint that the ceremony published out of band.
 */
import { generatePrimeSync } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertInt } from '../../common/validate.ts';
import { encodeTuple, fromHex, toHex, equalBytes } from '../bytes.ts';
import { bigIntToBytesBE, bytesToBigIntBE } from '../random.ts';
import { JlError } from './errors.ts';
import { bitLength } from './modexp.ts';

/** Smallest modulus size accepted in production. */
export const MIN_MODULUS_BITS = 2048;
/** Smallest modulus size accepted with `insecureAllowSmall` (benchmarks against Fed-BioMed, tests). */
export const MIN_INSECURE_MODULUS_BITS = 1024;
/** Largest modulus size (OpenSSL's DH route caps the modulus N^2 at 10000 bits). */
export const MAX_MODULUS_BITS = 4096;
/** Format tag of the modulus file. */
export const MODULUS_FORMAT = 'fedsec-jl-modulus/v1';

/** A public JL modulus: N, its size and its fingerprint. Never holds the factors. */
export interface JlModulus {
  readonly bits: number;
  readonly n: bigint;
  /** SHA-256 over the canonical encoding of (format, bits, N): what parties compare out of band. */
  readonly fingerprint: Uint8Array;
}

/** The JSON file written by the ceremony. */
export interface JlModulusFile {
  readonly format: typeof MODULUS_FORMAT;
  readonly bits: number;
  /** N, big-endian hex. */
  readonly n: string;
  /** Fingerprint, hex. */
  readonly fingerprint: string;
}

/** Fingerprint of N at the given size. */
export function modulusFingerprint(n: bigint, bits: number): Uint8Array {
  return sha256(encodeTuple([MODULUS_FORMAT, bits, bigIntToBytesBE(n, Math.ceil(bits / 8))]));
}

/** Multiplies two big-endian byte strings of even length in 16-bit limbs (exact in doubles) without BigInt; zeroes its scratch. Used by the ceremony so the factors never become BigInts. */
export function multiplyBigEndian(a: Uint8Array, b: Uint8Array): Uint8Array {
  const la = a.length >> 1;
  const lb = b.length >> 1;
  const A = new Float64Array(la);
  const B = new Float64Array(lb);
  for (let i = 0; i < la; i++) A[i] = a[a.length - 1 - 2 * i]! + 256 * a[a.length - 2 - 2 * i]!;
  for (let i = 0; i < lb; i++) B[i] = b[b.length - 1 - 2 * i]! + 256 * b[b.length - 2 - 2 * i]!;
  const R = new Float64Array(la + lb + 1);
  for (let i = 0; i < la; i++) {
    let carry = 0;
    for (let j = 0; j < lb; j++) {
      const t = R[i + j]! + A[i]! * B[j]! + carry;
      carry = Math.floor(t / 65536);
      R[i + j] = t - carry * 65536;
    }
    let k = i + lb;
    while (carry > 0) {
      const t = R[k]! + carry;
      carry = Math.floor(t / 65536);
      R[k] = t - carry * 65536;
      k++;
    }
  }
  const out = new Uint8Array(2 * (la + lb));
  for (let i = 0; i < la + lb; i++) {
    out[out.length - 1 - 2 * i] = R[i]! % 256;
    out[out.length - 2 - 2 * i] = Math.floor(R[i]! / 256);
  }
  A.fill(0);
  B.fill(0);
  R.fill(0);
  return out;
}

/**
 * The ceremony: generates N = pq of exactly `bits` bits (p, q random primes of bits/2 bits
 * each from OpenSSL, with |p - q| > 2^(bits/2 - 96) so Fermat factoring is hopeless), and
 * returns only N and its fingerprint. The factors are wiped before returning.
 */
export function generateModulus(bits: number, opts: { insecureAllowSmall?: boolean } = {}): JlModulus {
  assertInt('bits', bits, opts.insecureAllowSmall === true ? MIN_INSECURE_MODULUS_BITS : MIN_MODULUS_BITS, MAX_MODULUS_BITS);
  if (bits % 32 !== 0) throw new InvalidArgumentError('bits', 'must be a multiple of 32');
  const half = bits / 2;
  for (;;) {
    const p = new Uint8Array(generatePrimeSync(half));
    const q = new Uint8Array(generatePrimeSync(half));
    try {
      if (p.length !== half / 8 || q.length !== half / 8) continue;
      // Top 96 bits must differ (|p - q| large) — compared without leaving the buffers.
      let differ = false;
      for (let i = 0; i < 12; i++) if (p[i] !== q[i]) differ = true;
      if (!differ) continue;
      const nBytes = multiplyBigEndian(p, q);
      try {
        if ((nBytes[0]! & 0x80) === 0) continue; // N must have exactly `bits` bits.
        const n = bytesToBigIntBE(nBytes);
        return { bits, n, fingerprint: modulusFingerprint(n, bits) };
      } finally {
        nBytes.fill(0);
      }
    } finally {
      p.fill(0);
      q.fill(0);
    }
  }
}

const SMALL_PRIMES: readonly bigint[] = (() => {
  const out: bigint[] = [];
  const lim = 20000;
  const sieve = new Uint8Array(lim);
  for (let i = 2; i < lim; i++) {
    if (sieve[i]) continue;
    out.push(BigInt(i));
    for (let j = i * i; j < lim; j += i) sieve[j] = 1;
  }
  return out;
})();

function isqrt(v: bigint): bigint {
  if (v < 2n) return v;
  let x = 1n << BigInt(Math.ceil(bitLength(v) / 2));
  for (;;) {
    const y = (x + v / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/**
 * Validates N: size in [2048, 4096] bits (1024 allowed only with `insecureAllowSmall`),
 * exactly `bits` bits, odd, not a perfect square, no prime factor below 20000.
 */
export function checkModulus(n: bigint, bits: number, opts: { insecureAllowSmall?: boolean } = {}): void {
  const min = opts.insecureAllowSmall === true ? MIN_INSECURE_MODULUS_BITS : MIN_MODULUS_BITS;
  if (!Number.isSafeInteger(bits) || bits < min) {
    throw new JlError('ERR_JL_INSECURE_MODULUS', `modulus of ${bits} bits is below the ${min}-bit minimum`, { bits, min });
  }
  if (bits > MAX_MODULUS_BITS) throw new JlError('ERR_JL_MODULUS', `modulus of ${bits} bits exceeds ${MAX_MODULUS_BITS}`);
  if (typeof n !== 'bigint' || bitLength(n) !== bits) throw new JlError('ERR_JL_MODULUS', `N does not have exactly ${bits} bits`);
  if ((n & 1n) === 0n) throw new JlError('ERR_JL_MODULUS', 'N is even');
  for (const p of SMALL_PRIMES) if (n % p === 0n) throw new JlError('ERR_JL_MODULUS', 'N has a small prime factor');
  const r = isqrt(n);
  if (r * r === n) throw new JlError('ERR_JL_MODULUS', 'N is a perfect square');
}

/** Serializes a modulus to its JSON file form. */
export function modulusToJson(m: JlModulus): JlModulusFile {
  return { format: MODULUS_FORMAT, bits: m.bits, n: toHex(bigIntToBytesBE(m.n, Math.ceil(m.bits / 8))), fingerprint: toHex(m.fingerprint) };
}

/**
 * Parses and validates a modulus file (object or JSON text). When `expectedFingerprint` (hex
 * or bytes) is given, the file must carry exactly that fingerprint: this is the check every
 * party performs against the value published by the ceremony.
 */
export function parseModulus(
  input: unknown,
  opts: { expectedFingerprint?: string | Uint8Array; insecureAllowSmall?: boolean } = {},
): JlModulus {
  let obj: unknown = input;
  if (typeof input === 'string') {
    try {
      obj = JSON.parse(input);
    } catch {
      throw new JlError('ERR_JL_MODULUS', 'modulus file is not JSON');
    }
  }
  if (typeof obj !== 'object' || obj === null) throw new JlError('ERR_JL_MODULUS', 'modulus file is not an object');
  const o = obj as Record<string, unknown>;
  if (o['format'] !== MODULUS_FORMAT) throw new JlError('ERR_JL_MODULUS', `unknown modulus format, expected ${MODULUS_FORMAT}`);
  const bits = o['bits'];
  if (typeof bits !== 'number' || !Number.isSafeInteger(bits)) throw new JlError('ERR_JL_MODULUS', 'bits must be an integer');
  if (typeof o['n'] !== 'string' || o['n'].length !== 2 * Math.ceil(bits / 8)) throw new JlError('ERR_JL_MODULUS', 'n must be hex of the declared size');
  if (typeof o['fingerprint'] !== 'string') throw new JlError('ERR_JL_MODULUS', 'fingerprint missing');
  const n = bytesToBigIntBE(fromHex(o['n']));
  checkModulus(n, bits, opts);
  const fingerprint = modulusFingerprint(n, bits);
  if (!equalBytes(fingerprint, fromHex(o['fingerprint']))) throw new JlError('ERR_JL_FINGERPRINT', 'modulus fingerprint does not match N');
  if (opts.expectedFingerprint !== undefined) {
    const exp = typeof opts.expectedFingerprint === 'string' ? fromHex(opts.expectedFingerprint) : opts.expectedFingerprint;
    if (!equalBytes(fingerprint, exp)) throw new JlError('ERR_JL_FINGERPRINT', 'modulus fingerprint differs from the published one');
  }
  return { bits, n, fingerprint };
}
