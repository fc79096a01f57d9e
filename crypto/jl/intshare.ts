/**
 * Secret sharing over the integers, for secrets that live in the exponent of a group of
 * unknown order (JL keys), where field arithmetic is not available.
 *
 * - {@link additiveShares}: `count` shares summing to the secret; all but one are uniform in
 *   [0, 2^(secretBits+κ)), the last absorbs the difference, so any `count-1` of them are within
 *   2^-κ (statistical distance) of independent of the secret, with κ = {@link STAT_SECURITY_BITS}.
 * - {@link intShamirSplit}: Shamir over Z (Shoup, Eurocrypt 2000; Rabin, Crypto 1998) with
 *   f(0) = Δ·s, Δ = n!, and random coefficients wide enough that any t-1 shares hide s
 *   statistically (2^-κ). Any t shares give Δ²·s with the integer Lagrange coefficients of
 *   {@link intLagrangeAtZero}; the JL researcher applies them in the exponent.
 */
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertInt } from '../../common/validate.ts';
import { randomBigIntBits, systemRandom, type RandomSource } from '../random.ts';
import { JlError } from './errors.ts';
import { bitLength } from './modexp.ts';

/** Statistical hiding parameter κ of every integer sharing (bits). */
export const STAT_SECURITY_BITS = 128;

/** Δ = n!. */
export function factorial(n: number): bigint {
  assertInt('n', n, 0, 1 << 16);
  let r = 1n;
  for (let i = 2; i <= n; i++) r *= BigInt(i);
  return r;
}

/**
 * Splits `secret` (in [0, 2^secretBits)) into `count` additive integer shares. Shares 0..count-2
 * are uniform in [0, 2^(secretBits+κ)); share count-1 is secret minus their sum (negative).
 * The dealer keeps the last share and sends the others.
 */
export function additiveShares(secret: bigint, count: number, secretBits: number, rng: RandomSource = systemRandom): bigint[] {
  assertInt('count', count, 1, 1 << 16);
  assertInt('secretBits', secretBits, 1, 1 << 16);
  if (typeof secret !== 'bigint' || secret < 0n || bitLength(secret) > secretBits) throw new InvalidArgumentError('secret', `must be a bigint in [0, 2^${secretBits})`);
  const out: bigint[] = [];
  let acc = 0n;
  for (let i = 0; i < count - 1; i++) {
    const v = randomBigIntBits(secretBits + STAT_SECURITY_BITS, rng);
    out.push(v);
    acc += v;
  }
  out.push(secret - acc);
  return out;
}

/** Bits of the random coefficients of an integer Shamir polynomial (see module doc). */
export function intShamirCoefficientBits(secretBits: number, threshold: number, n: number): number {
  return secretBits + bitLength(factorial(n)) + (threshold - 1) * Math.ceil(Math.log2(n + 1)) + STAT_SECURITY_BITS + Math.ceil(Math.log2(threshold + 1));
}

/** One integer Shamir share: f(index) with index in 1..n. */
export interface IntShare {
  readonly index: number;
  readonly value: bigint;
}

/**
 * Integer Shamir sharing of `secret` in [0, 2^secretBits) among indices 1..n with threshold t:
 * f(x) = Δ·s + a_1 x + ... + a_(t-1) x^(t-1), a_k uniform in [0, 2^coefficientBits).
 */
export function intShamirSplit(secret: bigint, threshold: number, n: number, secretBits: number, rng: RandomSource = systemRandom): IntShare[] {
  assertInt('n', n, 1, 1 << 12);
  assertInt('threshold', threshold, 1, n);
  if (typeof secret !== 'bigint' || secret < 0n || bitLength(secret) > secretBits) throw new InvalidArgumentError('secret', `must be a bigint in [0, 2^${secretBits})`);
  const coefBits = intShamirCoefficientBits(secretBits, threshold, n);
  const coeffs: bigint[] = [factorial(n) * secret];
  for (let k = 1; k < threshold; k++) coeffs.push(randomBigIntBits(coefBits, rng));
  return Array.from({ length: n }, (_, i) => {
    const x = BigInt(i + 1);
    let y = 0n;
    for (let k = coeffs.length - 1; k >= 0; k--) y = y * x + coeffs[k]!;
    return { index: i + 1, value: y };
  });
}

/**
 * Integer Lagrange coefficients at 0 scaled by Δ = n!: λ'_k = Δ·Π_{m≠k} x_m/(x_m - x_k), exact
 * integers for distinct indices in 1..n. Σ λ'_k f(x_k) = Δ·f(0).
 */
export function intLagrangeAtZero(indices: readonly number[], n: number): bigint[] {
  const seen = new Set<number>();
  for (const x of indices) {
    if (!Number.isSafeInteger(x) || x < 1 || x > n) throw new JlError('ERR_JL_TOO_FEW', `share index ${x} outside [1, ${n}]`);
    if (seen.has(x)) throw new JlError('ERR_JL_TOO_FEW', `share index ${x} repeated`);
    seen.add(x);
  }
  const delta = factorial(n);
  return indices.map((xk, k) => {
    let num = delta;
    let den = 1n;
    indices.forEach((xm, m) => {
      if (m === k) return;
      num *= BigInt(xm);
      den *= BigInt(xm - xk);
    });
    if (num % den !== 0n) throw new JlError('ERR_JL_TOO_FEW', 'integer Lagrange coefficient is not integral');
    return num / den;
  });
}

/** Reconstructs s from t shares of {@link intShamirSplit} (for tests and audits: Σλ'f = Δ²s). */
export function intShamirCombine(shares: readonly IntShare[], threshold: number, n: number): bigint {
  if (shares.length < threshold) throw new JlError('ERR_JL_TOO_FEW', `need ${threshold} shares, got ${shares.length}`);
  const use = shares.slice(0, threshold);
  const lam = intLagrangeAtZero(use.map((s) => s.index), n);
  const d2 = factorial(n) ** 2n;
  const acc = use.reduce((a, s, k) => a + lam[k]! * s.value, 0n);
  if (acc % d2 !== 0n) throw new JlError('ERR_JL_TOO_FEW', 'shares are inconsistent');
  return acc / d2;
}
