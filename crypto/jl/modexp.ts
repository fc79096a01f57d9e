/**
 * Modular exponentiation for Joye-Libert, where exponentiation modulo N^2 dominates the cost.
 *
 * Two routes give identical results:
 * - {@link OpenSslModPow}: OpenSSL's constant-time Montgomery ladder reached through
 *   node:crypto's finite-field Diffie-Hellman: the modulus is installed as the DH "prime",
 *   the exponent as the DH private key, the base as the peer public key, and
 *   `computeSecret` returns base^exp mod m. OpenSSL never checks that the "prime" is prime
 *   on this path, but it refuses peer keys outside (1, m-1); those bases (0, 1, m-1) and
 *   exponents 0/1 are answered by the BigInt route, so every input is handled.
 * - {@link modPowBigInt}: a plain BigInt left-to-right sliding-window exponentiation, the
 *   reference the test suite cross-checks OpenSSL against.
 */
import { createDiffieHellman, type DiffieHellman } from 'node:crypto';
import { InvalidArgumentError } from '../../common/errors.ts';
import { bigIntToBytesBE, bytesToBigIntBE } from '../random.ts';
import { modInverse } from '../shamir.ts';

/** Bit length of a non-negative bigint (0 for 0). */
export function bitLength(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

/** Byte length needed for a positive bigint. */
export function byteLength(v: bigint): number {
  return Math.ceil(bitLength(v) / 8);
}

/** base^exp mod m with BigInt only (reference route; not constant time). exp ≥ 0, m ≥ 2. */
export function modPowBigInt(base: bigint, exp: bigint, m: bigint): bigint {
  if (m < 2n) throw new InvalidArgumentError('modulus', 'must be at least 2');
  if (exp < 0n) throw new InvalidArgumentError('exp', 'must be non-negative');
  let b = base % m;
  if (b < 0n) b += m;
  if (exp === 0n) return 1n % m;
  // 4-bit fixed window: table of b^0..b^15.
  const table: bigint[] = [1n, b];
  for (let i = 2; i < 16; i++) table.push((table[i - 1]! * b) % m);
  const hex = exp.toString(16);
  let r = 1n;
  for (let i = 0; i < hex.length; i++) {
    if (i > 0) {
      r = (r * r) % m;
      r = (r * r) % m;
      r = (r * r) % m;
      r = (r * r) % m;
    }
    const d = parseInt(hex[i]!, 16);
    if (d !== 0) r = (r * table[d]!) % m;
  }
  return r;
}

/**
 * Exponentiation modulo a fixed odd modulus through OpenSSL. One instance keeps one OpenSSL
 * DH context; changing the exponent is cheap, so callers that raise many bases to the same
 * exponent (the JL key) should keep the exponent fixed. Not shareable across threads: each
 * worker builds its own.
 */
export class OpenSslModPow {
  /** The modulus m. */
  readonly modulus: bigint;
  readonly #bytes: number;
  readonly #dh: DiffieHellman;
  #exp: bigint | undefined;

  constructor(modulus: bigint) {
    if (typeof modulus !== 'bigint' || modulus < 7n || (modulus & 1n) === 0n) {
      throw new InvalidArgumentError('modulus', 'must be an odd bigint ≥ 7');
    }
    this.modulus = modulus;
    this.#bytes = byteLength(modulus);
    // The generator is irrelevant: we never call generateKeys.
    this.#dh = createDiffieHellman(Buffer.from(bigIntToBytesBE(modulus, this.#bytes)), Buffer.from([2]));
  }

  /** base^exp mod m for exp ≥ 0 (any base; reduced mod m first). */
  pow(base: bigint, exp: bigint): bigint {
    if (typeof exp !== 'bigint' || exp < 0n) throw new InvalidArgumentError('exp', 'must be a non-negative bigint');
    const m = this.modulus;
    let b = base % m;
    if (b < 0n) b += m;
    // Inputs OpenSSL refuses (peer key outside (1, m-1)) or that need no work.
    if (exp <= 1n || b <= 1n || b === m - 1n) return modPowBigInt(b, exp, m);
    if (this.#exp !== exp) {
      this.#dh.setPrivateKey(Buffer.from(bigIntToBytesBE(exp, byteLength(exp))));
      this.#exp = exp;
    }
    const out = this.#dh.computeSecret(Buffer.from(bigIntToBytesBE(b, this.#bytes)));
    return bytesToBigIntBE(out);
  }
}

/** Cache of OpenSSL contexts per modulus (building one costs a few milliseconds). */
const contexts = new Map<bigint, OpenSslModPow>();

/** base^exp mod m through OpenSSL (negative exponents through a modular inverse). */
export function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let ctx = contexts.get(m);
  if (ctx === undefined) {
    if (contexts.size > 16) contexts.clear();
    ctx = new OpenSslModPow(m);
    contexts.set(m, ctx);
  }
  if (exp < 0n) return ctx.pow(modInverse(base, m), -exp);
  return ctx.pow(base, exp);
}

/**
 * Inverts every element of `values` modulo m with Montgomery's trick (one extended-Euclid
 * inversion and 3(k-1) multiplications). Throws if any element is not invertible.
 */
export function batchInverse(values: readonly bigint[], m: bigint): bigint[] {
  const k = values.length;
  if (k === 0) return [];
  const prefix = new Array<bigint>(k);
  let acc = 1n;
  for (let i = 0; i < k; i++) {
    acc = (acc * values[i]!) % m;
    prefix[i] = acc;
  }
  let inv = modInverse(acc, m);
  const out = new Array<bigint>(k);
  for (let i = k - 1; i > 0; i--) {
    out[i] = (inv * prefix[i - 1]!) % m;
    inv = (inv * values[i]!) % m;
  }
  out[0] = inv;
  return out;
}
