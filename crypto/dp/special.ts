/**
 * Special functions for DP accounting, in double precision with attention to cancellation:
 * log-domain sums, log-erfc with full relative accuracy in the tails, normal tails. Pure, no I/O.
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
  if (x < 0) return Math.LN2 + Math.log1p(-0.5 * Math.exp(logErfc(-x))); // erfc(x) = 2 - erfc(-x)
  if (x < 1.5) return Math.log1p(-erfSeries(x));
  if (x === Infinity) return -Infinity;
  return -x * x - LOG_SQRT_PI + erfcScaledCf(x);
}

/** log P(N(0,1) > x). */
export function logNormalSf(x: number): number {
  if (x < 0) return Math.log1p(-Math.exp(logNormalSf(-x))); // no cancellation against log 2
  return logErfc(x / Math.SQRT2) - Math.LN2;
}

/** P(N(0,1) > x), accurate in the upper tail. */
export function normalSf(x: number): number {
  return x > -1 ? Math.exp(logNormalSf(x)) : 1 - Math.exp(logNormalSf(-x));
}
