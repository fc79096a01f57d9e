/**
 * Special functions for DP accounting, in double precision with attention to cancellation:
 * log-domain sums, erfc / log-erfc with full relative accuracy in the tails, normal tails,
 * and adaptive Gauss–Legendre quadrature. Pure, no I/O.
 */

const SQRT_PI = Math.sqrt(Math.PI);
const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);
/** log(sqrt(2*pi)). */
export const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** log(exp(a) + exp(b)) without overflow. */
export function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/** log(sum(exp(xs))) without overflow. */
export function logSumExp(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i]! > m) m = xs[i]!;
  if (m === -Infinity || m === Infinity) return m;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.exp(xs[i]! - m);
  return m + Math.log(s);
}

/** log(1 + exp(l)) accurately for all l. */
export function log1pExp(l: number): number {
  if (l < -37) return Math.exp(l);
  if (l > 36) return l + Math.exp(-l);
  return Math.log1p(Math.exp(l));
}

/** log(expm1(c)) for c > 0, accurate for tiny and huge c. */
export function logExpm1(c: number): number {
  if (c > 30) return c + Math.log1p(-Math.exp(-c));
  return Math.log(Math.expm1(c));
}

/** log(1 - exp(-c)) for c > 0. */
export function log1mExpNeg(c: number): number {
  return c < Math.LN2 ? Math.log(-Math.expm1(-c)) : Math.log1p(-Math.exp(-c));
}

/** erfc(x) for x >= 0 via the continued fraction, returned as log(erfc(x)) + x^2 + log(sqrt(pi)). */
function erfcScaledCf(x: number): number {
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), modified Lentz.
  const tiny = 1e-300;
  let f = x;
  if (f === 0) f = tiny;
  let c = f;
  let d = 0;
  for (let n = 1; n < 5000; n++) {
    const a = n / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    c = x + a / c;
    if (c === 0) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-17) break;
  }
  return -Math.log(f);
}

/** erf(x) for |x| < 2 by the positive series erf(x) = 2/sqrt(pi) e^{-x^2} sum 2^n x^{2n+1}/(2n+1)!!. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < 1e-18 * sum) break;
  }
  return ((2 / SQRT_PI) * Math.exp(-x2)) * sum;
}

/** log(erfc(x)), accurate (relative ~1e-15) for all real x including deep tails. */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return Math.log(2 - Math.exp(logErfc(-x)));
  if (x < 1.5) return Math.log1p(-erfSeries(x));
  if (x === Infinity) return -Infinity;
  return -x * x - LOG_SQRT_PI + erfcScaledCf(x);
}

/** erfc(x) with full relative accuracy in the upper tail. */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 1.5) return 1 - erfSeries(x);
  return Math.exp(logErfc(x));
}

/** log P(N(0,1) > x). */
export function logNormalSf(x: number): number {
  return logErfc(x / Math.SQRT2) - Math.LN2;
}

/** P(N(0,1) > x), accurate in the upper tail. */
export function normalSf(x: number): number {
  return x > -1 ? Math.exp(logNormalSf(x)) : 1 - Math.exp(logNormalSf(-x));
}

/** P(N(0,1) <= x), accurate in the lower tail. */
export function normalCdf(x: number): number {
  return normalSf(-x);
}

/**
 * P(a < N(0,1) <= b) for a < b, computed on the side of zero where both tails are small so
 * that the difference keeps its relative accuracy.
 */
export function normalIntervalMass(a: number, b: number): number {
  if (!(b > a)) return 0;
  if (a >= 0) return normalSf(a) - normalSf(b);
  if (b <= 0) return normalSf(-b) - normalSf(-a);
  return 1 - normalSf(b) - normalSf(-a);
}

// ---- Gauss–Legendre nodes (computed once by Newton iteration on P_n) ----
const GL_N = 16;
const GL_X = new Float64Array(GL_N);
const GL_W = new Float64Array(GL_N);
(function initGaussLegendre() {
  const n = GL_N;
  for (let i = 0; i < n; i++) {
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1;
      let p1 = x;
      for (let k = 2; k <= n; k++) {
        const p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = (n * (x * p1 - p0)) / (x * x - 1);
      const dx = p1 / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-17) break;
    }
    GL_X[i] = x;
    GL_W[i] = 2 / ((1 - x * x) * dp * dp);
  }
})();

function glRule(f: (x: number) => number, a: number, b: number): number {
  const m = 0.5 * (a + b);
  const h = 0.5 * (b - a);
  let s = 0;
  for (let i = 0; i < GL_N; i++) s += GL_W[i]! * f(m + h * GL_X[i]!);
  return s * h;
}

/**
 * Globally adaptive Gauss–Legendre quadrature of a smooth `f` over consecutive pieces
 * [cuts[0], cuts[1]], [cuts[1], cuts[2]], ...: repeatedly bisects the piece with the largest error
 * estimate (16-point rule on the piece vs on its halves) until the summed estimate is below
 * `relTol` times the total, or `maxPieces` pieces are in use.
 */
export function integrateAdaptive(f: (x: number) => number, cuts: readonly number[], relTol = 1e-14, maxPieces = 600): number {
  const lo: number[] = [];
  const hi: number[] = [];
  const val: number[] = [];
  const err: number[] = [];
  const push = (a: number, b: number): void => {
    const m = 0.5 * (a + b);
    const whole = glRule(f, a, b);
    const halves = glRule(f, a, m) + glRule(f, m, b);
    lo.push(a);
    hi.push(b);
    val.push(halves);
    err.push(Number.isNaN(halves - whole) ? 0 : Math.abs(halves - whole));
  };
  for (let i = 0; i + 1 < cuts.length; i++) if (cuts[i + 1]! > cuts[i]!) push(cuts[i]!, cuts[i + 1]!);
  for (;;) {
    let total = 0;
    let errSum = 0;
    let worst = 0;
    for (let i = 0; i < val.length; i++) {
      total += val[i]!;
      errSum += err[i]!;
      if (err[i]! > err[worst]!) worst = i;
    }
    if (val.length === 0) return 0;
    if (errSum <= relTol * Math.abs(total) || val.length >= maxPieces) return total;
    const a = lo[worst]!;
    const b = hi[worst]!;
    const m = 0.5 * (a + b);
    // Replace the worst piece by its two halves.
    const last = val.length - 1;
    lo[worst] = lo[last]!;
    hi[worst] = hi[last]!;
    val[worst] = val[last]!;
    err[worst] = err[last]!;
    lo.pop();
    hi.pop();
    val.pop();
    err.pop();
    push(a, m);
    push(m, b);
  }
}

/** Bisection for the root of a monotone predicate: smallest x in [lo, hi] (to `tol`) with pred(x) true. */
export function bisect(pred: (x: number) => boolean, lo: number, hi: number, tol: number, maxIter = 200): number {
  for (let i = 0; i < maxIter && hi - lo > tol; i++) {
    const mid = 0.5 * (lo + hi);
    if (pred(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
