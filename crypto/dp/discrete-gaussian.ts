/**
 * Discrete Gaussian samplers over Z with pmf proportional to exp(-x^2 / (2 sigma^2)).
 *
 * - {@link sampleDiscreteGaussianExact}: the exact reference sampler of Canonne, Kamath, Steinke
 *   ("The Discrete Gaussian for Differential Privacy", 2020, Algorithms 1-3) with sigma^2 an exact
 *   rational and all arithmetic in bigints: its output distribution is exactly the discrete
 *   Gaussian given a uniform random source. Slow (a few microseconds to milliseconds per sample).
 * - {@link DiscreteGaussianTable}: the fast vector sampler. A cumulative distribution table over
 *   [-K, K] whose entries are 96-bit fixed-point numbers computed in double-double arithmetic
 *   (~106-bit precision); a sample draws 96 uniform bits from the CSPRNG and binary-searches the
 *   table. Statistical distance to the exact discrete Gaussian, per sample:
 *     tail mass beyond K (chosen <= 2^-64) + (2K+1) rounding errors of <= 2^-96
 *     + double-double evaluation error (<= 2^-90 in total)  <=  2^-62 for every sigma <= 2^20,
 *   i.e. <= 2^-62 * n over a vector of n samples. {@link DiscreteGaussianTable.distanceBound}
 *   reports the computed bound.
 * Randomness comes only from a {@link RandomSource} (CSPRNG); no floating point touches the output.
 */
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertInt, assertNumber } from '../../common/validate.ts';
import { randomBigIntBelow, systemRandom, type RandomSource } from '../random.ts';

// ---------------------------------------------------------------------------------------------
// Exact sampler (bigint rationals)

/** A positive rational number num/den with bigint parts. */
export interface Rational {
  readonly num: bigint;
  readonly den: bigint;
}

/** The exact rational value of a finite double (every double is m * 2^e). */
export function rationalFromNumber(x: number, field = 'value'): Rational {
  assertNumber(field, x, 0, Number.MAX_VALUE, { minOpen: true });
  let den = 1n;
  let v = x;
  while (!Number.isInteger(v)) {
    v *= 2;
    den *= 2n;
  }
  return { num: BigInt(v), den };
}

function bernoulliRational(num: bigint, den: bigint, rng: RandomSource): boolean {
  return randomBigIntBelow(den, rng) < num;
}

/** Bernoulli(exp(-gamma)) for rational gamma = num/den >= 0 (CKS Algorithm 1). */
export function bernoulliExpNeg(num: bigint, den: bigint, rng: RandomSource = systemRandom): boolean {
  if (num < 0n || den <= 0n) throw new InvalidArgumentError('gamma', 'must be a non-negative rational');
  let n = num;
  while (n > den) {
    if (!bernoulliExpNegAtMostOne(den, den, rng)) return false;
    n -= den;
  }
  return bernoulliExpNegAtMostOne(n, den, rng);
}

function bernoulliExpNegAtMostOne(num: bigint, den: bigint, rng: RandomSource): boolean {
  // gamma in [0, 1]: K = 1; while Bernoulli(gamma / K) { K++ }; return K odd.
  let k = 1n;
  while (bernoulliRational(num, den * k, rng)) k++;
  return k % 2n === 1n;
}

/** Discrete Laplace with integer scale t >= 1 (CKS Algorithm 2). */
function discreteLaplace(t: bigint, rng: RandomSource): bigint {
  for (;;) {
    const u = randomBigIntBelow(t, rng);
    if (!bernoulliExpNeg(u, t, rng)) continue;
    let v = 0n;
    while (bernoulliExpNeg(1n, 1n, rng)) v++;
    const x = u + t * v;
    const negative = (rng.fill(new Uint8Array(1))[0]! & 1) === 1;
    if (negative && x === 0n) continue;
    return negative ? -x : x;
  }
}

function isqrtFloor(n: bigint): bigint {
  if (n < 2n) return n;
  let x = BigInt(Math.floor(Math.sqrt(Number(n))));
  while (x * x > n) x--;
  while ((x + 1n) * (x + 1n) <= n) x++;
  return x;
}

/**
 * One exact sample of the discrete Gaussian with variance parameter sigma^2 (a rational or a
 * number taken at its exact binary value) - CKS Algorithm 3. Returns a bigint.
 */
export function sampleDiscreteGaussianExact(sigma2: number | Rational, rng: RandomSource = systemRandom): bigint {
  const s2 = typeof sigma2 === 'number' ? rationalFromNumber(sigma2, 'sigma2') : sigma2;
  if (typeof s2.num !== 'bigint' || typeof s2.den !== 'bigint' || s2.num <= 0n || s2.den <= 0n) throw new InvalidArgumentError('sigma2', 'must be a positive rational');
  // t = floor(sigma) + 1
  const t = isqrtFloor(s2.num / s2.den) + 1n;
  for (;;) {
    const y = discreteLaplace(t, rng);
    const ay = y < 0n ? -y : y;
    // gamma = (|y| - sigma^2/t)^2 / (2 sigma^2) = (|y| t den - num)^2 / (2 num t^2 den)
    const a = ay * t * s2.den - s2.num;
    const gNum = a * a;
    const gDen = 2n * s2.num * t * t * s2.den;
    if (bernoulliExpNeg(gNum, gDen, rng)) return y;
  }
}

// ---------------------------------------------------------------------------------------------
// Double-double arithmetic (hi + lo, ~106 bits)

type DD = [number, number];
const SPLIT = 134217729; // 2^27 + 1

function twoSum(a: number, b: number): DD {
  const s = a + b;
  const bb = s - a;
  return [s, a - (s - bb) + (b - bb)];
}
function quickTwoSum(a: number, b: number): DD {
  const s = a + b;
  return [s, b - (s - a)];
}
function twoProd(a: number, b: number): DD {
  const p = a * b;
  const ca = SPLIT * a;
  const ah = ca - (ca - a);
  const al = a - ah;
  const cb = SPLIT * b;
  const bh = cb - (cb - b);
  const bl = b - bh;
  return [p, ah * bh - p + ah * bl + al * bh + al * bl];
}
function ddAdd(a: DD, b: DD): DD {
  const [s, e] = twoSum(a[0], b[0]);
  const [t, f] = twoSum(a[1], b[1]);
  let [hi, lo] = quickTwoSum(s, e + t);
  [hi, lo] = quickTwoSum(hi, lo + f);
  return [hi, lo];
}
function ddMul(a: DD, b: DD): DD {
  const [p, e] = twoProd(a[0], b[0]);
  return quickTwoSum(p, e + (a[0] * b[1] + a[1] * b[0]));
}
function ddDiv(a: DD, b: DD): DD {
  const q1 = a[0] / b[0];
  let r = ddAdd(a, ddMul([-q1, 0], b));
  const q2 = r[0] / b[0];
  r = ddAdd(r, ddMul([-q2, 0], b));
  const q3 = r[0] / b[0];
  const [h, l] = quickTwoSum(q1, q2);
  return ddAdd([h, l], [q3, 0]);
}
const LN2_DD: DD = [0.6931471805599453, 2.3190468138462996e-17];
const INV_FACT: DD[] = (() => {
  const out: DD[] = [[1, 0]];
  let f: DD = [1, 0];
  for (let k = 1; k <= 14; k++) {
    f = ddDiv(f, [k, 0]);
    out.push(f);
  }
  return out;
})();

/** exp(a) in double-double for a <= 0 (relative error ~1e-30). */
function ddExp(a: DD): DD {
  if (a[0] < -745) return [0, 0];
  const n = Math.round(a[0] / LN2_DD[0]);
  let r = ddAdd(a, ddMul([-n, 0], LN2_DD));
  r = [r[0] / 1024, r[1] / 1024];
  // x = expm1(r) by Taylor, then (1+x)^(2^10) - 1 by repeated x <- 2x + x^2.
  let x: DD = [0, 0];
  let p: DD = [1, 0];
  for (let k = 1; k <= 14; k++) {
    p = ddMul(p, r);
    x = ddAdd(x, ddMul(p, INV_FACT[k]!));
  }
  for (let i = 0; i < 10; i++) x = ddAdd([2 * x[0], 2 * x[1]], ddMul(x, x));
  const e = ddAdd([1, 0], x);
  const scale = 2 ** n;
  return [e[0] * scale, e[1] * scale];
}

// ---------------------------------------------------------------------------------------------
// Fast table sampler

const TWO32 = 4294967296;

/** Largest sigma the table sampler accepts (table of about 2 * 9.6 * sigma entries). */
export const TABLE_MAX_SIGMA = 2 ** 20;

/**
 * A cumulative-distribution-table sampler for the discrete Gaussian with parameter `sigma`
 * (standard deviation ~ sigma for sigma >= 1). Build once per sigma (cached by
 * {@link discreteGaussianTable}), then draw vectors with {@link sample}.
 */
export class DiscreteGaussianTable {
  /** The sigma the table was built for. */
  readonly sigma: number;
  /** Support is [-tailCut, tailCut]. */
  readonly tailCut: number;
  /** Upper bound on the statistical distance of one sample to the exact discrete Gaussian. */
  readonly distanceBound: number;
  /** 96-bit cumulative upper bounds, most significant word first. */
  private readonly c0: Uint32Array;
  private readonly c1: Uint32Array;
  private readonly c2: Uint32Array;
  /** guide[b] = first index whose top word is >= b * 2^16 (b in 0..2^16): narrows the search. */
  private readonly guide: Uint32Array;

  constructor(sigma: number) {
    assertNumber('sigma', sigma, 2 ** -10, TABLE_MAX_SIGMA);
    this.sigma = sigma;
    const s2 = twoProd(sigma, sigma);
    const twoS2: DD = [2 * s2[0], 2 * s2[1]];
    // One-sided weights w(x) = exp(-x^2/(2 sigma^2)) until the remaining tail is negligible.
    // Recurrence w(x+1) = w(x) * e^{-1/(2 sigma^2)} * (e^{-1/sigma^2})^x in double-double (error
    // ~2^-105 per step), re-anchored by a direct exp every 256 steps.
    const w: DD[] = [];
    let z: DD = [0, 0];
    const half = ddExp(ddDiv([-1, 0], twoS2));
    const step = ddMul(half, half);
    let ratio: DD = half; // e^{-(2x+1)/(2 sigma^2)} for the current x
    let wx: DD = [1, 0];
    for (let x = 0; ; x++) {
      if (x > 0) {
        wx = x % 256 === 0 ? ddExp(ddDiv([-(x * x), 0], twoS2)) : ddMul(wx, ratio);
        ratio = ddMul(ratio, step);
      }
      w.push(wx);
      z = ddAdd(z, x === 0 ? wx : [2 * wx[0], 2 * wx[1]]);
      // Tail beyond x: sum_{y>x} w(y) <= w(x+1) / (1 - exp(-(2x+3)/(2 sigma^2))); two-sided relative to Z.
      if (x > sigma) {
        const r = Math.exp(-(2 * x + 3) / (2 * sigma * sigma));
        const next = Math.exp(-((x + 1) * (x + 1)) / (2 * sigma * sigma));
        const tail = (2 * next) / (1 - r) / z[0];
        if (tail < 2 ** -64) break;
      } else if (x > 0 && wx[0] === 0) break;
    }
    const k = w.length - 1;
    this.tailCut = k;
    const n = 2 * k + 1;
    this.c0 = new Uint32Array(n);
    this.c1 = new Uint32Array(n);
    this.c2 = new Uint32Array(n);
    let acc: DD = [0, 0];
    const invZ = ddDiv([1, 0], z);
    for (let i = 0; i < n; i++) {
      const x = i - k;
      acc = ddAdd(acc, w[Math.abs(x)]!);
      if (i === n - 1) {
        this.c0[i] = this.c1[i] = this.c2[i] = 0xffffffff;
        continue;
      }
      // floor(F * 2^96) as three 32-bit words, F = acc / Z in [0, 1].
      let f = ddMul(acc, invZ);
      const words = [0, 0, 0];
      for (let j = 0; j < 3; j++) {
        f = [f[0] * TWO32, f[1] * TWO32];
        let fl = Math.floor(f[0]);
        if (fl === f[0]) fl += Math.floor(f[1]);
        words[j] = fl;
        f = ddAdd(f, [-fl, 0]);
      }
      if (words[0]! >= TWO32) words[0] = words[1] = words[2] = TWO32 - 1;
      this.c0[i] = words[0]!;
      this.c1[i] = Math.min(words[1]!, TWO32 - 1);
      this.c2[i] = Math.min(words[2]!, TWO32 - 1);
    }
    this.guide = new Uint32Array(65537);
    let gi = 0;
    for (let b = 0; b <= 65536; b++) {
      const start = b * 65536;
      while (gi < n - 1 && this.c0[gi]! < start) gi++;
      this.guide[b] = gi;
    }
    // Tail (<= 2^-64) + rounding of n entries (<= n * 2^-96 each side) + dd error (<= n * 2^-100).
    this.distanceBound = 2 ** -64 + n * 2 ** -95 + n * 2 ** -100;
  }

  /**
   * Fills `out` (default a new Int32Array of length n) with independent samples, drawing 96 bits
   * per sample from `rng`.
   */
  sample(n: number, rng: RandomSource = systemRandom, out?: Int32Array): Int32Array {
    assertInt('n', n, 0, 2 ** 31 - 1);
    const res = out ?? new Int32Array(n);
    if (res.length < n) throw new InvalidArgumentError('out', `length ${res.length} < ${n}`);
    const { c0, c1, c2, tailCut, guide } = this;
    const CHUNK = 1 << 16;
    const bytes = new Uint8Array(CHUNK * 12);
    const words = new Uint32Array(bytes.buffer);
    for (let off = 0; off < n; off += CHUNK) {
      const m = Math.min(CHUNK, n - off);
      rng.fill(bytes.subarray(0, m * 12));
      for (let j = 0; j < m; j++) {
        const u0 = words[3 * j]!;
        const u1 = words[3 * j + 1]!;
        const u2 = words[3 * j + 2]!;
        // Smallest i with u < C_i (lexicographic on (c0, c1, c2)); it lies in [guide[b], guide[b+1]]
        // for b = top 16 bits of u0 (entries before guide[b] are < u, entry guide[b+1] is > u).
        const b = u0 >>> 16;
        let lo = guide[b]!;
        let hi = guide[b + 1]!;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          const a = c0[mid]!;
          const less = u0 < a || (u0 === a && (u1 < c1[mid]! || (u1 === c1[mid]! && u2 < c2[mid]!)));
          if (less) hi = mid;
          else lo = mid + 1;
        }
        res[off + j] = lo - tailCut;
      }
    }
    return res;
  }

  /** Probability the table assigns to x (differences of the 96-bit cumulative entries), as a double. */
  tableProbability(x: number): number {
    const i = x + this.tailCut;
    if (!Number.isInteger(x) || i < 0 || i >= this.c0.length) return 0;
    const val = (j: number): number => (j < 0 ? 0 : this.c0[j]! * 2 ** -32 + this.c1[j]! * 2 ** -64 + this.c2[j]! * 2 ** -96);
    const hi = i === this.c0.length - 1 ? 1 : val(i);
    // Subtract word-wise to keep precision for tiny probabilities.
    if (i === 0) return hi;
    const d0 = (i === this.c0.length - 1 ? TWO32 : this.c0[i]!) - this.c0[i - 1]!;
    const d1 = (i === this.c0.length - 1 ? 0 : this.c1[i]!) - this.c1[i - 1]!;
    const d2 = (i === this.c0.length - 1 ? 0 : this.c2[i]!) - this.c2[i - 1]!;
    return d0 * 2 ** -32 + d1 * 2 ** -64 + d2 * 2 ** -96;
  }

  /** Exact pmf value (double precision) of the discrete Gaussian with this sigma at x. */
  pmf(x: number): number {
    return discreteGaussianPmf(this.sigma, x);
  }
}

const tableCache = new Map<number, DiscreteGaussianTable>();

/** Cached {@link DiscreteGaussianTable} for `sigma` (keeps the 8 most recently built). */
export function discreteGaussianTable(sigma: number): DiscreteGaussianTable {
  let t = tableCache.get(sigma);
  if (t) {
    tableCache.delete(sigma);
    tableCache.set(sigma, t);
    return t;
  }
  t = new DiscreteGaussianTable(sigma);
  if (tableCache.size >= 8) tableCache.delete(tableCache.keys().next().value!);
  tableCache.set(sigma, t);
  return t;
}

/**
 * `n` independent discrete Gaussian samples with parameter `sigma` as an Int32Array: the table
 * sampler for sigma <= {@link TABLE_MAX_SIGMA}, the exact sampler above that.
 */
export function sampleDiscreteGaussianVector(sigma: number, n: number, rng: RandomSource = systemRandom): Int32Array {
  assertNumber('sigma', sigma, 0, 2 ** 30, { minOpen: true });
  assertInt('n', n, 0, 2 ** 31 - 1);
  if (sigma <= TABLE_MAX_SIGMA && sigma >= 2 ** -10) return discreteGaussianTable(sigma).sample(n, rng);
  const out = new Int32Array(n);
  const s2 = rationalFromNumber(sigma * sigma, 'sigma');
  for (let i = 0; i < n; i++) out[i] = Number(sampleDiscreteGaussianExact(s2, rng));
  return out;
}

/** Normalising constant sum_x exp(-x^2/(2 sigma^2)) (double precision). */
export function discreteGaussianNormalizer(sigma: number): number {
  assertNumber('sigma', sigma, 0, 1e9, { minOpen: true });
  const k = Math.ceil(sigma * 40) + 1;
  let z = 1;
  for (let x = k; x >= 1; x--) z += 2 * Math.exp(-(x * x) / (2 * sigma * sigma));
  return z;
}

/** pmf of the discrete Gaussian at integer x (double precision). */
export function discreteGaussianPmf(sigma: number, x: number): number {
  return Math.exp(-(x * x) / (2 * sigma * sigma)) / discreteGaussianNormalizer(sigma);
}

/** Variance of the discrete Gaussian with parameter sigma (slightly below sigma^2 for small sigma). */
export function discreteGaussianVariance(sigma: number): number {
  assertNumber('sigma', sigma, 0, 1e9, { minOpen: true });
  const k = Math.ceil(sigma * 40) + 1;
  let z = 1;
  let v = 0;
  for (let x = k; x >= 1; x--) {
    const w = Math.exp(-(x * x) / (2 * sigma * sigma));
    z += 2 * w;
    v += 2 * w * x * x;
  }
  return v / z;
}

/**
 * Exact delta(epsilon) of the discrete Gaussian mechanism with variance parameter sigma^2 and
 * integer L2 = L1 sensitivity `sensitivity` in one dimension (Canonne, Kamath, Steinke 2020,
 * Thm 7): delta = P[X > eps sigma^2/s - s/2] - e^eps P[X > eps sigma^2/s + s/2], X ~ N_Z(0, sigma^2).
 * Used to compare the discrete and continuous privacy curves (the discrete one can be larger).
 */
export function discreteGaussianDelta(sigma: number, sensitivity: number, epsilon: number): number {
  assertNumber('sigma', sigma, 0, 1e5, { minOpen: true });
  assertInt('sensitivity', sensitivity, 1, 2 ** 31);
  assertNumber('epsilon', epsilon, 0, 1e6);
  const s2 = sigma * sigma;
  const z = discreteGaussianNormalizer(sigma);
  // sum_{x >= m} exp(-x^2/(2 sigma^2)) for m >= 0, from the smallest terms up (terms beyond
  // m + 40 sigma are below e^-800 of the first).
  const upperSum = (m: number): number => {
    let acc = 0;
    for (let x = m + Math.ceil(40 * sigma) + 10; x >= m; x--) acc += Math.exp(-(x * x) / (2 * s2));
    return acc;
  };
  // P[X > t] for X ~ N_Z(0, sigma^2); for t < 0 via 1 - P[X >= -floor(t)] (symmetry).
  const tail = (t: number): number => {
    const from = Math.floor(t) + 1;
    return from >= 0 ? upperSum(from) / z : 1 - upperSum(-from + 1) / z;
  };
  const a = (epsilon * s2) / sensitivity;
  const d = tail(a - sensitivity / 2) - Math.exp(epsilon) * tail(a + sensitivity / 2);
  return Math.max(0, d);
}
