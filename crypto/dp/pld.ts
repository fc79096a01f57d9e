/**
 * Tight accountant: privacy loss distributions (PLD) of the Poisson-subsampled Gaussian
 * mechanism, discretized with "connect the dots" (Doroshenko, Ghazi, Kamath, Kumar, Manurangsi
 * 2022) on a uniform loss grid, composed by FFT (Koskela, Jälkö, Honkela 2020), as in Google's
 * dp_accounting PLD accountant. Pure functions, no I/O.
 *
 * Why it never reports less than the true epsilon:
 * - Connect-the-dots: the true privacy loss on each grid cell (e_i, e_{i+1}] is split between its
 *   two endpoints so that both the P-mass and the Q-mass (E_P[e^{-L}]) of the cell are preserved.
 *   The resulting hockey-stick curve interpolates the true one linearly in e^eps, hence lies above
 *   it (the curve is convex in e^eps); composition preserves the dominance.
 * - Tails: losses beyond the grid (normal tail mass < 1e-23 per step) go to the infinity atom
 *   (or are rounded up to the lowest grid point), which only increases delta.
 * - FFT composition is circular: the composed distribution is centred on its mean in a window
 *   sized so that Chernoff bounds (from the discretized per-step distributions) on the mass beyond
 *   either end are below delta * 2e-9; mass wrapping from below lands on large losses and only adds
 *   delta, and the bound on the mass above the window is added to delta. Negative round-off values
 *   are clamped to zero (adds delta).
 * Add/remove neighbours are handled as two pairs (remove: P = (1-q)N(0,s^2)+qN(1,s^2), Q = N(0,s^2);
 * add: P and Q swapped); epsilon is the maximum over both.
 */
import { assertNumber } from '../../common/validate.ts';
import { DpUnsupportedError } from './errors.ts';
import { assertDelta } from './rdp.ts';
import { logAddExp, logNormalSf, normalSf } from './special.ts';
import type { DpEvent } from './accountant.ts';

/** A discretized privacy loss distribution on the grid {index * interval}, plus an infinity atom. */
export interface DiscretePld {
  /** Loss grid step. */
  readonly interval: number;
  /** Grid index of `pmf[0]`. */
  readonly offset: number;
  /** Probability of loss (offset + j) * interval. */
  readonly pmf: Float64Array;
  /** Probability of infinite loss. */
  readonly infinityMass: number;
}

const TAIL_SIGMAS = 10; // normal tail beyond 10 std: < 7.7e-24
const MAX_STEP_CELLS = 2 ** 21;

/**
 * Both discretized PLDs (remove and add directions) of one Poisson-subsampled Gaussian step.
 * q in (0, 1], sigma > 0, interval > 0.
 */
export function subsampledGaussianPlds(samplingRate: number, noiseMultiplier: number, interval = 1e-4): { remove: DiscretePld; add: DiscretePld } {
  assertNumber('samplingRate', samplingRate, 0, 1, { minOpen: true });
  assertNumber('noiseMultiplier', noiseMultiplier, 0, 1e12, { minOpen: true });
  assertNumber('discretization', interval, 1e-7, 1, { minOpen: false });
  const q = samplingRate;
  const s = noiseMultiplier;
  const s2 = s * s;
  const log1mq = Math.log1p(-q);
  // Remove-direction loss L(x) = log(1 - q + q exp((2x-1)/(2 s^2))), increasing in x.
  const lossAt = (x: number): number => {
    const t = (2 * x - 1) / (2 * s2);
    if (q === 1) return t;
    return t > 0 ? t + Math.log(q) + Math.log1p(((1 - q) / q) * Math.exp(-t)) : Math.log1p(q * Math.expm1(t));
  };
  // Inverse: x with L(x) = e (e > log(1-q)).
  const xAt = (e: number): number => {
    if (q === 1) return s2 * e + 0.5;
    if (e <= log1mq) return -Infinity;
    const t = e > 30 ? e - Math.log(q) + Math.log1p(-(1 - q) * Math.exp(-e)) : Math.log1p(Math.expm1(e) / q);
    return s2 * t + 0.5;
  };
  const xLo = -TAIL_SIGMAS * s;
  const xHi = 1 + TAIL_SIGMAS * s;
  // Coarsen (by powers of 2) so that one step has at most 2^21 grid cells.
  while ((lossAt(xHi) - lossAt(xLo)) / interval > MAX_STEP_CELLS) interval *= 2;
  const iLo = Math.floor(lossAt(xLo) / interval);
  const iHi = Math.ceil(lossAt(xHi) / interval);
  const n = iHi - iLo + 1;
  const rem = new Float64Array(n);
  const add = new Float64Array(n); // add-direction index k corresponds to loss -(iLo + k) * interval
  let remInf = 0;
  let addInf = 0;
  // Mass of x below x(e_{iLo}): remove losses < e_iLo -> round up to e_iLo; add losses > -e_iLo -> infinity.
  const x0 = xAt(iLo * interval);
  if (x0 > -Infinity) {
    const m0 = normalSf(-x0 / s);
    const m1 = normalSf((1 - x0) / s);
    rem[0] = rem[0]! + (1 - q) * m0 + q * m1;
    addInf += m0;
  }
  let xPrev = x0;
  let a0 = tails(x0 / s);
  let a1 = tails((x0 - 1) / s);
  for (let j = 0; j < n - 1; j++) {
    const eA = (iLo + j) * interval;
    const eB = eA + interval;
    const xNext = xAt(eB);
    const b0 = tails(xNext / s);
    const b1 = tails((xNext - 1) / s);
    const lm0 = logMassBetween(a0, b0);
    const lm1 = logMassBetween(a1, b1);
    a0 = b0;
    a1 = b1;
    xPrev = xNext;
    const lMix = q === 1 ? lm1 : logAddExp(log1mq + lm0, Math.log(q) + lm1);
    if (lMix === -Infinity && lm0 === -Infinity) continue;
    const pMix = Math.exp(lMix);
    const m0 = Math.exp(lm0);
    const oneMinusEdelta = -Math.expm1(-interval);
    // Remove pair: P = mixture, Q = N0, losses in (eA, eB]. Preserving P-mass and Q-mass, the share
    // at eB is (1 - E_P[e^{eA - L} | cell]) / (1 - e^{-interval}), with E_P[e^{eA-L}|cell] = Qmass e^{eA} / Pmass.
    if (pMix > 0) {
      let frac = -Math.expm1(lm0 + eA - lMix) / oneMinusEdelta;
      if (!(frac >= 0)) frac = 0;
      if (frac > 1) frac = 1;
      rem[j + 1] = rem[j + 1]! + pMix * frac;
      rem[j] = rem[j]! + pMix * (1 - frac);
    }
    // Add pair: P = N0, Q = mixture, losses in [-eB, -eA); share at -eA is
    // (1 - Qmass e^{-eB} / Pmass) / (1 - e^{-interval}).
    if (m0 > 0) {
      let frac = -Math.expm1(lMix - eB - lm0) / oneMinusEdelta;
      if (!(frac >= 0)) frac = 0;
      if (frac > 1) frac = 1;
      add[j] = add[j]! + m0 * frac;
      add[j + 1] = add[j + 1]! + m0 * (1 - frac);
    }
  }
  // Mass above x(e_iHi): remove losses > e_iHi -> infinity; add losses < -e_iHi -> round up to -e_iHi.
  {
    const m0 = normalSf(xPrev / s);
    const m1 = normalSf((xPrev - 1) / s);
    remInf += (1 - q) * m0 + q * m1;
    add[n - 1] = add[n - 1]! + m0;
  }
  // Add direction stored in decreasing-loss order: reverse into increasing order.
  const addInc = new Float64Array(n);
  for (let k = 0; k < n; k++) addInc[k] = add[n - 1 - k]!;
  return {
    remove: { interval, offset: iLo, pmf: rem, infinityMass: remInf },
    add: { interval, offset: -iHi, pmf: addInc, infinityMass: addInf },
  };
}

/** Log normal tail at z: logLower = log P(N <= z) (z < 0) or logUpper = log P(N > z) (z >= 0). */
interface Tails {
  readonly z: number;
  readonly logLower: number;
  readonly logUpper: number;
}
function tails(z: number): Tails {
  if (z === -Infinity) return { z, logLower: -Infinity, logUpper: 0 };
  return z >= 0 ? { z, logLower: NaN, logUpper: logNormalSf(z) } : { z, logLower: logNormalSf(-z), logUpper: NaN };
}
/** log(1 - e^x) for x <= 0. */
function log1mExp(x: number): number {
  return x > -Math.LN2 ? Math.log(-Math.expm1(x)) : Math.log1p(-Math.exp(x));
}
/** log P(a < N <= b), in the log domain so that far-tail cells never underflow. */
function logMassBetween(a: Tails, b: Tails): number {
  if (!(b.z > a.z)) return -Infinity;
  if (a.z >= 0) return a.logUpper + log1mExp(b.logUpper - a.logUpper);
  if (b.z < 0) return b.logLower + log1mExp(a.logLower - b.logLower);
  return Math.log1p(-Math.exp(b.logUpper) - Math.exp(a.logLower));
}

// ---- FFT (iterative radix-2, in place) ----
function fft(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i]!;
      re[i] = re[j]!;
      re[j] = t;
      t = im[i]!;
      im[i] = im[j]!;
      im[j] = t;
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1;
    const ang = ((inverse ? 2 : -2) * Math.PI) / len;
    const wr = new Float64Array(half);
    const wi = new Float64Array(half);
    for (let k = 0; k < half; k++) {
      wr[k] = Math.cos(ang * k);
      wi[k] = Math.sin(ang * k);
    }
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < half; k++) {
        const a = i + k;
        const b = a + half;
        const xr = re[b]! * wr[k]! - im[b]! * wi[k]!;
        const xi = re[b]! * wi[k]! + im[b]! * wr[k]!;
        re[b] = re[a]! - xr;
        im[b] = im[a]! - xi;
        re[a] = re[a]! + xr;
        im[a] = im[a]! + xi;
      }
    }
  }
  if (inverse) {
    for (let i = 0; i < n; i++) {
      re[i] = re[i]! / n;
      im[i] = im[i]! / n;
    }
  }
}

const MAX_FFT = 1 << 22;

interface Segment {
  readonly pld: DiscretePld;
  readonly steps: number;
}

interface Plan {
  readonly interval: number;
  readonly shift: number;
  readonly finite: number;
  readonly centred: { pmf: Float64Array; start: number; steps: number }[];
  /** Smallest FFT size meeting the tail target (may exceed MAX_FFT). */
  readonly size: number;
  /** log of the Chernoff bound on the mass above the window, as a function of the window size. */
  readonly logUpperTail: (size: number) => number;
}

/**
 * Centres each per-step PLD on its mean and sizes the FFT window: Chernoff bounds on the composed
 * mass outside a window of n points centred on the mean, P(S - shift >= n/2) <=
 * min_{l>0} exp(sum_k T_k log E[e^{l J_k}] - l (n/2 - 1)) and the same with -l for the lower side
 * (J_k the centred per-step index), on a geometric grid of l. The window is the smallest power of
 * two holding the per-step support and 2 * 8 standard deviations whose two tail bounds are below
 * the target. The upper-tail bound is added to delta by the caller; lower-tail mass wraps around
 * onto large losses and can only increase delta.
 */
function plan(segs: readonly Segment[], logTailTarget: number): Plan {
  const interval = segs[0]!.pld.interval;
  let shift = 0;
  let variance = 0;
  let maxLen = 1;
  let finite = 1;
  const centred: { pmf: Float64Array; start: number; steps: number }[] = [];
  for (const { pld, steps } of segs) {
    let tot = 0;
    let mean = 0;
    for (let j = 0; j < pld.pmf.length; j++) {
      tot += pld.pmf[j]!;
      mean += pld.pmf[j]! * j;
    }
    mean /= tot;
    let v = 0;
    for (let j = 0; j < pld.pmf.length; j++) v += pld.pmf[j]! * (j - mean) ** 2;
    v /= tot;
    const c = Math.round(mean);
    shift += steps * (pld.offset + c);
    variance += steps * v;
    maxLen = Math.max(maxLen, 2 * Math.max(c, pld.pmf.length - c) + 1);
    finite *= (1 - pld.infinityMass) ** steps;
    centred.push({ pmf: pld.pmf, start: -c, steps });
  }
  const lams: number[] = [];
  for (let e = -24; e <= 4; e++) lams.push(2 ** e);
  const logMgfUp = new Float64Array(lams.length);
  const logMgfDown = new Float64Array(lams.length);
  for (const c of centred) {
    const lp = new Float64Array(c.pmf.length);
    for (let j = 0; j < lp.length; j++) lp[j] = c.pmf[j]! > 0 ? Math.log(c.pmf[j]!) : -Infinity;
    lams.forEach((lam, li) => {
      for (const [sign, out] of [[1, logMgfUp], [-1, logMgfDown]] as const) {
        let mx = -Infinity;
        for (let j = 0; j < lp.length; j++) mx = Math.max(mx, lp[j]! + sign * lam * (j + c.start));
        let acc = 0;
        for (let j = 0; j < lp.length; j++) acc += Math.exp(lp[j]! + sign * lam * (j + c.start) - mx);
        out[li] = out[li]! + c.steps * (mx + Math.log(acc));
      }
    });
  }
  const logTailAt = (size: number, mgf: Float64Array): number => {
    let best = 0;
    lams.forEach((lam, li) => (best = Math.min(best, mgf[li]! - lam * (size / 2 - 1))));
    return best;
  };
  let n = 1;
  while (n < Math.max(maxLen, 16 * Math.sqrt(variance) + 2)) n <<= 1;
  while (n <= MAX_FFT && (logTailAt(n, logMgfUp) > logTailTarget || logTailAt(n, logMgfDown) > logTailTarget)) n <<= 1;
  return { interval, shift, finite, centred, size: n, logUpperTail: (size) => logTailAt(size, logMgfUp) };
}

interface Composed {
  readonly losses: Float64Array;
  readonly mass: Float64Array;
  readonly infinityMass: number;
}

function single(pld: DiscretePld): Composed {
  const losses = new Float64Array(pld.pmf.length);
  for (let j = 0; j < losses.length; j++) losses[j] = (pld.offset + j) * pld.interval;
  return { losses, mass: pld.pmf, infinityMass: pld.infinityMass };
}

/** z^T for complex z, in polar form. */
function cpow(re: number, im: number, t: number): [number, number] {
  const r = Math.hypot(re, im);
  if (r === 0) return [0, 0];
  const th = Math.atan2(im, re);
  const rT = Math.exp(t * Math.log(r));
  return [rT * Math.cos(t * th), rT * Math.sin(t * th)];
}

/**
 * Composes the remove-direction and add-direction PLDs of the same segments (each `steps` times)
 * with one complex FFT per segment: the two real sequences travel as the real and imaginary parts
 * and are separated in the frequency domain. Returns null if the window would exceed 2^22 points.
 */
function composePair(rem: readonly Segment[], add: readonly Segment[], logTailTarget: number): [Composed, Composed] | null {
  if (rem.length === 1 && rem[0]!.steps === 1) return [single(rem[0]!.pld), single(add[0]!.pld)];
  const pa = plan(rem, logTailTarget);
  const pb = plan(add, logTailTarget);
  const n = Math.max(pa.size, pb.size);
  if (n > MAX_FFT) return null;
  const accAr = new Float64Array(n).fill(1);
  const accAi = new Float64Array(n);
  const accBr = new Float64Array(n).fill(1);
  const accBi = new Float64Array(n);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let s = 0; s < pa.centred.length; s++) {
    const a = pa.centred[s]!;
    const b = pb.centred[s]!;
    re.fill(0);
    im.fill(0);
    for (let j = 0; j < a.pmf.length; j++) {
      const idx = (((j + a.start) % n) + n) % n;
      re[idx] = re[idx]! + a.pmf[j]!;
    }
    for (let j = 0; j < b.pmf.length; j++) {
      const idx = (((j + b.start) % n) + n) % n;
      im[idx] = im[idx]! + b.pmf[j]!;
    }
    fft(re, im, false);
    for (let k = 0; k < n; k++) {
      const m = (n - k) % n;
      const zr = re[k]!;
      const zi = im[k]!;
      const wr = re[m]!;
      const wi = im[m]!;
      // A_k = (Z_k + conj Z_{n-k}) / 2, B_k = (Z_k - conj Z_{n-k}) / (2i).
      const [xr, xi] = cpow((zr + wr) / 2, (zi - wi) / 2, a.steps);
      const [yr, yi] = cpow((zi + wi) / 2, (wr - zr) / 2, b.steps);
      let ar = accAr[k]!;
      let ai = accAi[k]!;
      accAr[k] = ar * xr - ai * xi;
      accAi[k] = ar * xi + ai * xr;
      ar = accBr[k]!;
      ai = accBi[k]!;
      accBr[k] = ar * yr - ai * yi;
      accBi[k] = ar * yi + ai * yr;
    }
  }
  // W = A + iB; its inverse transform has the remove result as real part, the add result as imaginary part.
  for (let k = 0; k < n; k++) {
    const wr = accAr[k]! - accBi[k]!;
    const wi = accAi[k]! + accBr[k]!;
    accAr[k] = wr;
    accAi[k] = wi;
  }
  fft(accAr, accAi, true);
  const unpack = (p: Plan, vals: Float64Array): Composed => {
    const losses = new Float64Array(n);
    const mass = new Float64Array(n);
    // Reorder so losses increase: indices n/2..n-1 are negative offsets.
    for (let k = 0; k < n; k++) {
      const src = (k + n / 2) % n;
      const off = src >= n / 2 ? src - n : src;
      losses[k] = (p.shift + off) * p.interval;
      const v = vals[src]!;
      mass[k] = v > 0 ? v : 0;
    }
    const tail = Math.exp(Math.min(0, p.logUpperTail(n)));
    return { losses, mass, infinityMass: 1 - p.finite + tail };
  };
  return [unpack(pa, accAr), unpack(pb, accAi)];
}

/** Smallest epsilon with delta(eps) <= delta for a composed distribution (grid losses increasing). */
function epsilonFromComposed(losses: Float64Array, mass: Float64Array, infinityMass: number, delta: number): number {
  if (infinityMass >= delta) return Infinity;
  const n = losses.length;
  // Walking down from the top, with n1 = sum_{k>=i} m_k and t2 = sum_{k>=i} m_k e^{l_i - l_k} (scaled so
  // nothing under- or overflows), delta(eps) = n1 - e^{eps - l_i} t2 + inf for eps in [l_{i-1}, l_i).
  let n1 = 0;
  let t2 = 0;
  let lPrev = NaN;
  for (let i = n - 1; i >= 0; i--) {
    const l = losses[i]!;
    const m = mass[i]!;
    if (!(m > 0)) continue;
    t2 = m + (Number.isNaN(lPrev) ? 0 : t2 * Math.exp(l - lPrev));
    n1 += m;
    lPrev = l;
    const lower = i > 0 ? losses[i - 1]! : -Infinity;
    const dLower = lower === -Infinity ? n1 + infinityMass : n1 - Math.exp(lower - l) * t2 + infinityMass;
    if (dLower > delta) return Math.max(0, l + Math.log((n1 + infinityMass - delta) / t2));
  }
  return 0;
}

/**
 * Epsilon at `delta` of a composition of Poisson-subsampled Gaussian events under the PLD
 * accountant with loss discretization `discretization` (default 1e-4; coarsened by powers of 2 if
 * the FFT window would exceed 2^22 points, which keeps the bound valid but less tight).
 */
export function pldEpsilonForEvents(events: readonly DpEvent[], delta: number, discretization = 1e-4): number {
  assertDelta(delta);
  assertNumber('discretization', discretization, 1e-7, 1);
  const nonEmpty = events.filter((e) => e.steps > 0);
  if (nonEmpty.length === 0) return 0;
  for (const e of nonEmpty) {
    if (e.kind !== 'poissonGaussian') throw new DpUnsupportedError(`the PLD accountant supports poissonGaussian events only, got ${e.kind}; use the rdp accountant`, { kind: e.kind });
    if (e.discreteNoise === true) throw new DpUnsupportedError('the PLD accountant models continuous Gaussian noise; account discrete-noise events with the rdp accountant', { kind: e.kind });
  }
  // Unsampled Gaussian steps compose exactly into one Gaussian mechanism with
  // sigma_eff = (sum_k T_k / sigma_k^2)^(-1/2): fold them into a single step.
  let invVar = 0;
  const active: DpEvent[] = [];
  for (const e of nonEmpty) {
    if (e.kind === 'poissonGaussian' && e.samplingRate === 1) invVar += e.steps / (e.noiseMultiplier * e.noiseMultiplier);
    else active.push(e);
  }
  if (invVar > 0) active.push({ kind: 'poissonGaussian', samplingRate: 1, noiseMultiplier: 1 / Math.sqrt(invVar), steps: 1 });
  for (let interval = discretization; interval <= 1; interval *= 2) {
    let rem: Segment[] = [];
    let add: Segment[] = [];
    const build = (iv: number): void => {
      rem = [];
      add = [];
      for (const e of active) {
        if (e.kind !== 'poissonGaussian') continue;
        const p = subsampledGaussianPlds(e.samplingRate, e.noiseMultiplier, iv);
        rem.push({ pld: p.remove, steps: e.steps });
        add.push({ pld: p.add, steps: e.steps });
      }
    };
    build(interval);
    // A step may have coarsened its grid; all segments must share one interval.
    const coarsest = Math.max(...rem.map((r) => r.pld.interval));
    if (coarsest !== interval) {
      interval = coarsest;
      build(interval);
    }
    const logTailTarget = Math.log(delta) - 20; // tails below delta * 2e-9
    const pair = composePair(rem, add, logTailTarget);
    if (pair === null) continue;
    const [cr, ca] = pair;
    return Math.max(epsilonFromComposed(cr.losses, cr.mass, cr.infinityMass, delta), epsilonFromComposed(ca.losses, ca.mass, ca.infinityMass, delta));
  }
  throw new DpUnsupportedError('PLD composition too wide even at discretization 1; use the rdp accountant');
}
