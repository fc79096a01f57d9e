/**
 * Privacy accounting over heterogeneous DP events: RDP composition with exact per-step curves
 * (`rdp`), the tight privacy-loss-distribution accountant (`pld`), and calibration of the noise
 * multiplier for a target (epsilon, delta). Pure functions, no I/O.
 */
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertInt, assertNumber } from '../../common/validate.ts';
import { DpCalibrationError } from './errors.ts';
import { pldEpsilonForEvents } from './pld.ts';
import {
  DEFAULT_RDP_ORDERS,
  assertDelta,
  assertNoiseMultiplier,
  assertOrders,
  assertSamplingRate,
  deltaFromRdp,
  epsilonFromRdp,
  rdpCurve,
  type RdpConversion,
} from './rdp.ts';

/**
 * `steps` applications of the Poisson-subsampled Gaussian mechanism: each record is included
 * independently with probability `samplingRate` (1 = every record, i.e. the plain Gaussian
 * mechanism on the update), the sum of contributions clipped to L2 norm C gets Gaussian noise of
 * std `noiseMultiplier * C`. Add/remove-one neighbours.
 */
export interface PoissonGaussianEvent {
  readonly kind: 'poissonGaussian';
  readonly samplingRate: number;
  readonly noiseMultiplier: number;
  readonly steps: number;
  /**
   * The noise is lattice discrete Gaussian (what `addGaussianNoise` adds) rather than
   * continuous. Accounted rigorously: the discrete Gaussian's RDP for lattice shifts is at most
   * alpha Δ^2 / (2 sigma^2) (Canonne, Kamath, Steinke 2020), exactly the continuous bound, so q = 1
   * is accounted as usual; for q < 1 the generic Poisson subsampling bound of Zhu & Wang (2019) is
   * applied to that curve (the tight subsampled-Gaussian analysis is proven for continuous noise
   * only). Not supported by the PLD accountant (the discrete hockey-stick curve can exceed the
   * continuous one).
   */
  readonly discreteNoise?: boolean;
}

/**
 * `steps` rounds of the distributed discrete Gaussian mechanism (Kairouz, Liu, Steinke 2021):
 * at least `parties` honest parties each add discrete Gaussian noise with std `localSigma` on the
 * integer grid; the contribution of one party has L2 norm at most `l2Sensitivity` and L1 norm at
 * most `l1Sensitivity` (grid units) in `dimension` coordinates. Accounted with the sum-of-discrete-
 * Gaussians RDP bound (their Prop. 14 / Thm. 1). Every party participates (no subsampling).
 */
export interface DistributedDiscreteGaussianEvent {
  readonly kind: 'distributedDiscreteGaussian';
  readonly l2Sensitivity: number;
  /** Defaults to `l2Sensitivity * sqrt(dimension)`. */
  readonly l1Sensitivity?: number;
  readonly dimension: number;
  readonly localSigma: number;
  readonly parties: number;
  readonly steps: number;
  /**
   * Poisson sampling rate of the contributing unit (default 1). Below 1 the generic Poisson
   * subsampling bound of Zhu & Wang (2019, Thm 6) is applied at integer orders (fractional orders
   * use the next integer order, a valid upper bound since RDP is non-decreasing in the order).
   */
  readonly samplingRate?: number;
}

/** A privacy-relevant event; a list of events composes (adaptively) by summing privacy loss. */
export type DpEvent = PoissonGaussianEvent | DistributedDiscreteGaussianEvent;

/** Which accountant turns events into (epsilon, delta). */
export type AccountantKind = 'rdp' | 'pld';

/** Options of {@link computeEpsilon}. */
export interface AccountingOptions {
  /** `rdp` (default) or `pld`. */
  readonly accountant?: AccountantKind;
  /** RDP orders (default {@link DEFAULT_RDP_ORDERS}). */
  readonly orders?: readonly number[];
  /** RDP conversion (default `improved`). */
  readonly conversion?: RdpConversion;
  /** PLD loss discretization interval (default 1e-4). */
  readonly discretization?: number;
}

/** Epsilon for a composition of events at a given delta. */
export interface EpsilonResult {
  readonly epsilon: number;
  readonly delta: number;
  readonly accountant: AccountantKind;
  /** Optimal RDP order (RDP accountant only). */
  readonly order?: number;
}

/** Validates one event, naming the offending field (`events[i].field`). */
export function assertEvent(e: unknown, field = 'event'): asserts e is DpEvent {
  if (typeof e !== 'object' || e === null) throw new InvalidArgumentError(field, 'expected a DP event object');
  const ev = e as Record<string, unknown>;
  if (ev['kind'] === 'poissonGaussian') {
    assertSamplingRate(ev['samplingRate'], `${field}.samplingRate`);
    assertNoiseMultiplier(ev['noiseMultiplier'], `${field}.noiseMultiplier`);
    assertInt(`${field}.steps`, ev['steps'], 0, 1e12);
    if (ev['discreteNoise'] !== undefined && typeof ev['discreteNoise'] !== 'boolean') throw new InvalidArgumentError(`${field}.discreteNoise`, 'expected a boolean');
  } else if (ev['kind'] === 'distributedDiscreteGaussian') {
    assertNumber(`${field}.l2Sensitivity`, ev['l2Sensitivity'], 0, 1e15, { minOpen: true });
    if (ev['l1Sensitivity'] !== undefined) assertNumber(`${field}.l1Sensitivity`, ev['l1Sensitivity'], 0, 1e18, { minOpen: true });
    assertInt(`${field}.dimension`, ev['dimension'], 1, 2 ** 40);
    assertNumber(`${field}.localSigma`, ev['localSigma'], 0, 1e15, { minOpen: true });
    assertInt(`${field}.parties`, ev['parties'], 1, 1e9);
    assertInt(`${field}.steps`, ev['steps'], 0, 1e12);
    if (ev['samplingRate'] !== undefined) assertSamplingRate(ev['samplingRate'], `${field}.samplingRate`);
  } else {
    throw new InvalidArgumentError(`${field}.kind`, `unknown event kind ${JSON.stringify(String(ev['kind']))}`);
  }
}

function assertEvents(events: unknown): asserts events is readonly DpEvent[] {
  if (!Array.isArray(events)) throw new InvalidArgumentError('events', 'expected an array of DP events');
  events.forEach((e, i) => assertEvent(e, `events[${i}]`));
}

/**
 * tau of the distributed discrete Gaussian bound: 10 * sum_{k=1}^{n-1} exp(-2 pi^2 s^2 k/(k+1))
 * for n parties each adding discrete Gaussian noise with variance parameter s^2 (Kairouz et al. 2021, Thm 1).
 */
export function ddgTau(localSigma: number, parties: number): number {
  assertNumber('localSigma', localSigma, 0, Infinity, { minOpen: true });
  assertInt('parties', parties, 1, 1e9);
  const key = `${localSigma}|${parties}`;
  const hit = tauCache.get(key);
  if (hit !== undefined) return hit;
  const v = computeTau(localSigma, parties);
  if (tauCache.size > 1024) tauCache.clear();
  tauCache.set(key, v);
  return v;
}

const tauCache = new Map<string, number>();

function computeTau(localSigma: number, parties: number): number {
  const c = 2 * Math.PI * Math.PI * localSigma * localSigma;
  let s = 0;
  for (let k = 1; k < parties; k++) {
    const t = Math.exp((-c * k) / (k + 1));
    s += t;
    if (t === 0) break;
  }
  return 10 * s;
}

/**
 * Per-step RDP of the distributed discrete Gaussian at `order`:
 * min(a/2 D2^2 + tau d, a/2 (D2^2 + 2 D1 tau + tau^2 d), a/2 (D2 + sqrt(d) tau)^2) with D2, D1 the
 * sensitivities divided by the central std sqrt(n) * localSigma.
 */
export function rdpDistributedDiscreteGaussian(e: DistributedDiscreteGaussianEvent, order: number): number {
  assertEvent(e);
  const central = Math.sqrt(e.parties) * e.localSigma;
  const l2 = e.l2Sensitivity / central;
  const l1 = (e.l1Sensitivity ?? e.l2Sensitivity * Math.sqrt(e.dimension)) / central;
  const tau = ddgTau(e.localSigma, e.parties);
  const d = e.dimension;
  const a = order;
  return Math.min((a / 2) * l2 * l2 + tau * d, (a / 2) * (l2 * l2 + 2 * l1 * tau + tau * tau * d), (a / 2) * (l2 + Math.sqrt(d) * tau) ** 2);
}

/**
 * Generic upper bound on the RDP at integer order `alpha` >= 2 of a mechanism with RDP curve
 * `rdp` (evaluated at integers 2..alpha) under Poisson subsampling with rate q (Zhu & Wang 2019,
 * Thm 6): (1/(alpha-1)) log[(1-q)^(alpha-1)(alpha q - q + 1) + C(alpha,2) q^2 (1-q)^(alpha-2) e^{rdp(2)}
 * + 3 sum_{l=3}^{alpha} C(alpha,l) (1-q)^(alpha-l) q^l e^{(l-1) rdp(l)}].
 */
export function poissonSubsampledRdpBound(q: number, rdp: (order: number) => number, alpha: number): number {
  assertSamplingRate(q, 'samplingRate');
  assertInt('order', alpha, 2, 1 << 20);
  if (q === 1) return rdp(alpha);
  const lq = Math.log(q);
  const l1q = Math.log1p(-q);
  const terms: number[] = [(alpha - 1) * l1q + Math.log1p((alpha - 1) * q)];
  let logC = Math.log((alpha * (alpha - 1)) / 2);
  terms.push(logC + 2 * lq + (alpha - 2) * l1q + rdp(2));
  for (let l = 3; l <= alpha; l++) {
    logC += Math.log((alpha - l + 1) / l);
    terms.push(Math.log(3) + logC + (alpha - l) * l1q + l * lq + (l - 1) * rdp(l));
  }
  let m = -Infinity;
  for (const t of terms) m = Math.max(m, t);
  if (m === Infinity) return Infinity;
  let acc = 0;
  for (const t of terms) acc += Math.exp(t - m);
  return Math.max(0, (m + Math.log(acc)) / (alpha - 1));
}

/** Per-step RDP of a distributed discrete Gaussian event at any order > 1, including its subsampling. */
function ddgStepRdp(e: DistributedDiscreteGaussianEvent, order: number): number {
  const q = e.samplingRate ?? 1;
  if (q === 1) return rdpDistributedDiscreteGaussian(e, order);
  const a = Math.max(2, Math.ceil(order));
  return poissonSubsampledRdpBound(q, (j) => rdpDistributedDiscreteGaussian(e, j), a);
}

/** Total RDP curve of a composition of events on `orders`. */
export function composeRdp(events: readonly DpEvent[], orders: readonly number[] = DEFAULT_RDP_ORDERS): Float64Array {
  assertEvents(events);
  assertOrders(orders);
  const total = new Float64Array(orders.length);
  for (const e of events) {
    if (e.steps === 0) continue;
    if (e.kind === 'poissonGaussian' && e.discreteNoise === true && e.samplingRate < 1) {
      const s2 = e.noiseMultiplier * e.noiseMultiplier;
      for (let i = 0; i < total.length; i++) {
        const a = Math.max(2, Math.ceil(orders[i]!));
        total[i] = total[i]! + e.steps * poissonSubsampledRdpBound(e.samplingRate, (j) => j / (2 * s2), a);
      }
    } else if (e.kind === 'poissonGaussian') {
      const c = rdpCurve(e.samplingRate, e.noiseMultiplier, e.steps, orders);
      for (let i = 0; i < total.length; i++) total[i] = total[i]! + c[i]!;
    } else {
      for (let i = 0; i < total.length; i++) total[i] = total[i]! + e.steps * ddgStepRdp(e, orders[i]!);
    }
  }
  return total;
}

/**
 * Epsilon of the composition of `events` at `delta` under the chosen accountant. The RDP
 * accountant reports the optimal order. An empty list or all-zero steps gives epsilon 0.
 */
export function computeEpsilon(events: readonly DpEvent[], delta: number, options: AccountingOptions = {}): EpsilonResult {
  assertEvents(events);
  assertDelta(delta);
  const accountant = options.accountant ?? 'rdp';
  if (accountant === 'pld') {
    return { epsilon: pldEpsilonForEvents(events, delta, options.discretization), delta, accountant };
  }
  if (accountant !== 'rdp') throw new InvalidArgumentError('accountant', `expected 'rdp' or 'pld', got ${JSON.stringify(String(accountant))}`);
  const orders = options.orders ?? DEFAULT_RDP_ORDERS;
  const rdp = composeRdp(events, orders);
  const r = epsilonFromRdp(orders, rdp, delta, options.conversion ?? 'improved');
  return { epsilon: r.value, delta, accountant, order: r.order };
}

/** Delta of the composition at `epsilon` (RDP accountant), with the optimal order. */
export function computeDelta(events: readonly DpEvent[], epsilon: number, options: { orders?: readonly number[]; conversion?: RdpConversion } = {}): { delta: number; order: number } {
  assertEvents(events);
  const orders = options.orders ?? DEFAULT_RDP_ORDERS;
  const r = deltaFromRdp(orders, composeRdp(events, orders), epsilon, options.conversion ?? 'improved');
  return { delta: r.value, order: r.order };
}

/** Inputs of {@link calibrateNoiseMultiplier}. */
export interface CalibrationInput {
  readonly targetEpsilon: number;
  readonly delta: number;
  readonly samplingRate: number;
  readonly steps: number;
  readonly accountant?: AccountantKind;
  readonly orders?: readonly number[];
  readonly conversion?: RdpConversion;
  /** Absolute tolerance on sigma (default 1e-6); the returned sigma always meets the target. */
  readonly tolerance?: number;
  /** Calibrate for lattice discrete Gaussian noise (see {@link PoissonGaussianEvent.discreteNoise}; RDP only). */
  readonly discreteNoise?: boolean;
}

/** Result of calibration: the smallest noise multiplier found and the epsilon it achieves. */
export interface CalibrationResult {
  readonly noiseMultiplier: number;
  readonly epsilon: number;
}

/**
 * Smallest noise multiplier sigma such that `steps` Poisson-subsampled Gaussian steps at
 * `samplingRate` satisfy (targetEpsilon, delta) under the chosen accountant. Bracketing root search
 * on sigma (epsilon is non-increasing in sigma; Illinois regula falsi); the returned sigma is the
 * upper end of the final bracket, so it always meets the target and lies within `tolerance` of the
 * exact root. Under PLD the bracket starts from the RDP answer (PLD is tighter).
 */
export function calibrateNoiseMultiplier(input: CalibrationInput): CalibrationResult {
  assertNumber('targetEpsilon', input.targetEpsilon, 0, 1e6, { minOpen: true });
  assertDelta(input.delta);
  assertSamplingRate(input.samplingRate);
  assertInt('steps', input.steps, 1, 1e12);
  const tol = input.tolerance ?? 1e-6;
  assertNumber('tolerance', tol, 1e-12, 1, { minOpen: false });
  const opts: AccountingOptions = {
    accountant: input.accountant ?? 'rdp',
    ...(input.orders ? { orders: input.orders } : {}),
    ...(input.conversion ? { conversion: input.conversion } : {}),
  };
  const eps = (sigma: number): number =>
    computeEpsilon(
      [{ kind: 'poissonGaussian', samplingRate: input.samplingRate, noiseMultiplier: sigma, steps: input.steps, ...(input.discreteNoise ? { discreteNoise: true } : {}) }],
      input.delta,
      opts,
    ).epsilon;
  const target = input.targetEpsilon;
  // Root of eps(sigma) = target inside a bracket [lo, hi] with eps(lo) > target >= eps(hi), by the
  // Illinois variant of regula falsi (bisection when a value is infinite), stepping tol/2 inside an
  // end when the interpolation lands next to it, so the bracket always ends narrower than tol.
  const refine = (lo: number, hi: number, eLo: number, eHi: number): CalibrationResult => {
    let fLo = eLo - target;
    let fHi = eHi - target;
    let last = 0;
    while (hi - lo > tol) {
      const w = hi - lo;
      let x = Number.isFinite(fLo) && Number.isFinite(fHi) && fLo !== fHi ? hi - (fHi * w) / (fHi - fLo) : 0.5 * (lo + hi);
      if (!(x > lo && x < hi)) x = 0.5 * (lo + hi);
      x = Math.min(Math.max(x, lo + Math.min(tol / 2, w / 2)), hi - Math.min(tol / 2, w / 2));
      const e = eps(x);
      if (e <= target) {
        hi = x;
        eHi = e;
        fHi = e - target;
        if (last === 1) fLo /= 2;
        last = 1;
      } else {
        lo = x;
        fLo = e - target;
        if (last === -1) fHi /= 2;
        last = -1;
      }
    }
    return { noiseMultiplier: hi, epsilon: eHi };
  };
  if (opts.accountant === 'pld') {
    // PLD is tighter than RDP, so the RDP answer is an upper end of the bracket: search below it.
    const r = calibrateNoiseMultiplier({ ...input, accountant: 'rdp', tolerance: Math.max(tol, 1e-6) });
    let hiP = r.noiseMultiplier;
    let eHi = eps(hiP);
    let loP = hiP * 0.75;
    let eLo = eps(loP);
    while (eLo <= target) {
      hiP = loP;
      eHi = eLo;
      loP *= 0.75;
      if (loP < 1e-4) return { noiseMultiplier: hiP, epsilon: eHi };
      eLo = eps(loP);
    }
    return refine(loP, hiP, eLo, eHi);
  }
  let hi = 1;
  let eHi = eps(hi);
  while (eHi > target) {
    hi *= 2;
    if (hi > 1e6) throw new DpCalibrationError(`no noise multiplier up to 1e6 reaches epsilon ${target} at delta ${input.delta}`, { targetEpsilon: target });
    eHi = eps(hi);
  }
  let lo = hi / 2;
  let eLo = eps(lo);
  while (eLo <= target) {
    hi = lo;
    eHi = eLo;
    lo /= 2;
    if (lo < 1e-4) return { noiseMultiplier: hi, epsilon: eHi };
    eLo = eps(lo);
  }
  return refine(lo, hi, eLo, eHi);
}
