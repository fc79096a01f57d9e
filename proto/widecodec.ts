/**
 * Wide fixed-point encoding for secure sums that need more dynamic range than one 32-bit ring
 * word gives (federated preprocessing: sums of squares next to sums of small values). A real
 * value v becomes the integer z = round(v · 2^exp) with |z| < 2^58, split into three signed-safe
 * limbs of 20 bits (z = l2·2^40 + l1·2^20 + l0, l0, l1 ∈ [0, 2^20)), each summed separately in
 * Z_(2^32). Limb sums cannot wrap for up to 1024 parties, and the total is recombined exactly
 * with bigints. Cost: three words per value.
 */
import { InvalidArgumentError } from '../common/errors.ts';
import { assertInt, assertNumber } from '../common/validate.ts';

/** Largest number of parties whose limb sums cannot wrap. */
export const WIDE_MAX_PARTIES = 1024;
/** Largest |z| per party. */
const ZMAX = 2 ** 58;

/** Fixed-point exponent so that values up to `bound` in magnitude fit (scale 2^exp). */
export function wideExponent(bound: number): number {
  assertNumber('bound', bound, 0, 2 ** 57, { minOpen: true });
  return Math.floor(Math.log2(ZMAX / 2 / bound));
}

/** Encodes `values` into 3·n ring words (limb-major: all l0, then all l1, then all l2). */
export function wideEncode(values: ArrayLike<number>, exp: number): Uint32Array {
  assertInt('exp', exp, -60, 60);
  const n = values.length;
  const out = new Uint32Array(3 * n);
  const scale = 2n ** BigInt(Math.abs(exp));
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new InvalidArgumentError('values', `element ${i} is not finite`, { index: i });
    // Exact scaling by a power of two, then rounding to the nearest integer.
    const scaled = exp >= 0 ? v * Number(scale) : v / Number(scale);
    const z = BigInt(Math.round(scaled));
    if (z >= BigInt(ZMAX) || z <= -BigInt(ZMAX)) throw new InvalidArgumentError('values', `element ${i} exceeds the encoding range at exponent ${exp}`, { index: i });
    const l0 = ((z % 1048576n) + 1048576n) % 1048576n;
    const r1 = (z - l0) / 1048576n;
    const l1 = ((r1 % 1048576n) + 1048576n) % 1048576n;
    const l2 = (r1 - l1) / 1048576n;
    out[i] = Number(l0);
    out[n + i] = Number(l1);
    out[2 * n + i] = Number(BigInt.asUintN(32, l2));
  }
  return out;
}

/** Decodes the limb-wise ring sum of up to {@link WIDE_MAX_PARTIES} encodings. */
export function wideDecodeSum(sum: Uint32Array, exp: number): Float64Array {
  if (sum.length % 3 !== 0) throw new InvalidArgumentError('sum', 'length is not a multiple of 3');
  const n = sum.length / 3;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s0 = BigInt(sum[i]!);
    const s1 = BigInt(sum[n + i]!);
    const s2 = BigInt.asIntN(32, BigInt(sum[2 * n + i]!));
    const z = s2 * 1099511627776n + s1 * 1048576n + s0;
    out[i] = Number(z) * 2 ** -exp;
  }
  return out;
}
