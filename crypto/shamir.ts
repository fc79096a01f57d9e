/**
 * Shamir secret sharing (Shamir 1979, "How to share a secret") over a prime field.
 *
 * The default field is GF(p) with p = 2^256 + 297, the smallest prime above 2^256, so any
 * 32-byte secret is a field element. Callers may pass a larger prime for larger secrets.
 * Share indices are the x-coordinates 1..p-1; index 0 would be the secret itself and is
 * refused, as are duplicate or out-of-range indices.
 */
import { FedsecError, InvalidArgumentError } from '../common/errors.ts';
import { assertBytes, assertInt } from '../common/validate.ts';
import { bigIntToBytesBE, bytesToBigIntBE, randomBigIntBelow, systemRandom, type RandomSource } from './random.ts';

/** 2^256 + 297, prime (checked by the test suite with node:crypto's checkPrime). */
export const SHAMIR_PRIME_256 = (1n << 256n) + 297n;

/** One share: the polynomial evaluated at `index`. */
export interface Share {
  readonly index: number;
  readonly value: bigint;
}

/** Raised for share sets that cannot be combined (duplicates, too few, bad indices). */
export class ShamirError extends FedsecError {
  constructor(code: 'ERR_SHAMIR_DUPLICATE_INDEX' | 'ERR_SHAMIR_BAD_INDEX' | 'ERR_SHAMIR_TOO_FEW_SHARES' | 'ERR_SHAMIR_BAD_VALUE', message: string) {
    super(code, message);
  }
}

/** Largest share index accepted (indices travel as uint32 on the wire). */
export const MAX_SHARE_INDEX = 0xffffffff;

function mod(a: bigint, p: bigint): bigint {
  const r = a % p;
  return r < 0n ? r + p : r;
}

/** Modular inverse by the extended Euclidean algorithm (p prime, a ≠ 0 mod p). */
export function modInverse(a: bigint, p: bigint): bigint {
  let [r0, r1] = [mod(a, p), p];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new InvalidArgumentError('a', 'not invertible modulo p');
  return mod(s0, p);
}

function checkIndices(indices: readonly number[], prime: bigint): void {
  const seen = new Set<number>();
  for (const [k, i] of indices.entries()) {
    if (!Number.isSafeInteger(i) || i < 1 || i > MAX_SHARE_INDEX || BigInt(i) >= prime) {
      throw new ShamirError('ERR_SHAMIR_BAD_INDEX', `share index at position ${k} is ${String(i)}: indices must be integers in [1, ${MAX_SHARE_INDEX}] and below the field prime`);
    }
    if (seen.has(i)) throw new ShamirError('ERR_SHAMIR_DUPLICATE_INDEX', `share index ${i} appears more than once`);
    seen.add(i);
  }
}

/**
 * Splits `secret` (in [0, prime)) into shares at the given indices (or 1..n when a count is
 * given) such that any `threshold` of them reconstruct it and fewer reveal nothing.
 */
export function splitSecret(
  secret: bigint,
  threshold: number,
  indicesOrCount: readonly number[] | number,
  opts: { prime?: bigint; rng?: RandomSource } = {},
): Share[] {
  const prime = opts.prime ?? SHAMIR_PRIME_256;
  const rng = opts.rng ?? systemRandom;
  if (typeof secret !== 'bigint' || secret < 0n || secret >= prime) throw new InvalidArgumentError('secret', 'must be a bigint in [0, prime)');
  const indices = typeof indicesOrCount === 'number' ? Array.from({ length: indicesOrCount }, (_, i) => i + 1) : [...indicesOrCount];
  assertInt('shareCount', indices.length, 1, 1 << 16);
  assertInt('threshold', threshold, 1, indices.length);
  checkIndices(indices, prime);
  const coeffs: bigint[] = [secret];
  for (let k = 1; k < threshold; k++) coeffs.push(randomBigIntBelow(prime, rng));
  return indices.map((index) => {
    const x = BigInt(index);
    let y = 0n;
    for (let k = coeffs.length - 1; k >= 0; k--) y = mod(y * x + coeffs[k]!, prime);
    return { index, value: y };
  });
}

/**
 * Reconstructs the secret from at least `threshold` shares (the first `threshold` are used
 * after validation) by Lagrange interpolation at 0.
 */
export function combineShares(shares: readonly Share[], threshold: number, opts: { prime?: bigint } = {}): bigint {
  const prime = opts.prime ?? SHAMIR_PRIME_256;
  assertInt('threshold', threshold, 1, 1 << 16);
  if (!Array.isArray(shares)) throw new InvalidArgumentError('shares', 'expected an array');
  checkIndices(shares.map((s) => s.index), prime);
  for (const s of shares) {
    if (typeof s.value !== 'bigint' || s.value < 0n || s.value >= prime) throw new ShamirError('ERR_SHAMIR_BAD_VALUE', `share ${s.index} has a value outside the field`);
  }
  if (shares.length < threshold) throw new ShamirError('ERR_SHAMIR_TOO_FEW_SHARES', `need ${threshold} shares, got ${shares.length}`);
  const use = shares.slice(0, threshold);
  let secret = 0n;
  for (let j = 0; j < use.length; j++) {
    const xj = BigInt(use[j]!.index);
    let num = 1n;
    let den = 1n;
    for (let m = 0; m < use.length; m++) {
      if (m === j) continue;
      const xm = BigInt(use[m]!.index);
      num = mod(num * xm, prime);
      den = mod(den * (xm - xj), prime);
    }
    secret = mod(secret + use[j]!.value * num * modInverse(den, prime), prime);
  }
  return secret;
}

/** Splits a 32-byte secret (as a big-endian integer) over the default 256-bit field. */
export function splitBytes32(secret: Uint8Array, threshold: number, indicesOrCount: readonly number[] | number, rng?: RandomSource): Share[] {
  assertBytes('secret', secret, 32);
  return splitSecret(bytesToBigIntBE(secret), threshold, indicesOrCount, rng === undefined ? {} : { rng });
}

/** Reconstructs a 32-byte secret shared with {@link splitBytes32}. */
export function combineBytes32(shares: readonly Share[], threshold: number): Uint8Array {
  const v = combineShares(shares, threshold);
  if (v >= 1n << 256n) throw new ShamirError('ERR_SHAMIR_BAD_VALUE', 'reconstructed value does not fit in 32 bytes (inconsistent shares)');
  return bigIntToBytesBE(v, 32);
}

/** Bytes of one encoded 256-bit-field share: 4-byte index + 33-byte value. */
export const SHARE_BYTES_256 = 37;

/** Encodes a share of the default field as 37 bytes (uint32 BE index, 33-byte BE value). */
export function encodeShare256(s: Share): Uint8Array {
  const out = new Uint8Array(SHARE_BYTES_256);
  new DataView(out.buffer).setUint32(0, s.index, false);
  out.set(bigIntToBytesBE(s.value, 33), 4);
  return out;
}

/** Decodes a 37-byte share; rejects bad indices and values outside the field. */
export function decodeShare256(b: Uint8Array): Share {
  assertBytes('share', b, SHARE_BYTES_256);
  const index = new DataView(b.buffer, b.byteOffset, 4).getUint32(0, false);
  const value = bytesToBigIntBE(b.subarray(4));
  checkIndices([index], SHAMIR_PRIME_256);
  if (value >= SHAMIR_PRIME_256) throw new ShamirError('ERR_SHAMIR_BAD_VALUE', `share ${index} has a value outside the field`);
  return { index, value };
}
