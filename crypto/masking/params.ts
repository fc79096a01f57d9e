/**
 * Choosing the SecAgg+ neighbour count k and Shamir threshold t (Bell et al. 2020, §4–5 style
 * analysis, specialised to this engine's checks). Each member's share holders are itself and
 * its k neighbours, which the random-permutation Harary graph makes a uniformly random k-subset
 * of the other n - 1 members (for an adversary that corrupts members before the round digest,
 * hence the graph, is known). With C corrupt and D unavailable (dropped or corrupt) neighbours:
 *
 * - privacy against a malicious aggregator needs 2t > k + 1 + C in every holder set (two
 *   groups of honest holders cannot both be shown t signatures over disagreeing lists) —
 *   which also gives C < t (corrupt holders alone cannot reconstruct a secret);
 * - correctness needs k - D ≥ t in every holder set (enough holders answer the unmask);
 * - the honest survivors must stay connected (otherwise the aggregator learns partial sums
 *   of components): H(k, n) is k-connected, so this needs k unavailable members that form
 *   two runs of k/2 ring neighbours; we bound it by n² · ρ^k with ρ the unavailable fraction.
 *
 * The union bound over all n holder sets turns per-set tail probabilities into round-level
 * failure probabilities, which must stay below 2^-securityBits and 2^-correctnessBits.
 */
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertInt, assertNumber } from '../../common/validate.ts';

/** Inputs of {@link chooseMaskingParameters}. */
export interface MaskingParameterGoals {
  /** Number of participants n (2..10^6). */
  readonly participants: number;
  /** Largest fraction of participants that may be corrupt and collude with the aggregator, [0, 0.5). */
  readonly corruptFraction: number;
  /** Largest fraction of participants that may drop out during the round, [0, 0.5). */
  readonly dropoutFraction: number;
  /** Target: log2 of 1 / P[privacy failure]. Default 40. */
  readonly securityBits?: number;
  /** Target: log2 of 1 / P[round fails although within the dropout fraction]. Default 20. */
  readonly correctnessBits?: number;
}

/** The chosen parameters and the failure probabilities they achieve (log2, ≤ -target). */
export interface MaskingParameters {
  /** Neighbour count: n - 1 means the complete graph (Bonawitz et al.). */
  readonly neighbours: number;
  readonly threshold: number;
  readonly complete: boolean;
  /** log2 of the bound on P[privacy failure] (-Infinity when it cannot happen). */
  readonly securityFailureLog2: number;
  /** log2 of the bound on P[correctness failure] (-Infinity when it cannot happen). */
  readonly correctnessFailureLog2: number;
}

function logFactorials(n: number): Float64Array {
  const f = new Float64Array(n + 1);
  for (let i = 2; i <= n; i++) f[i] = f[i - 1]! + Math.log(i);
  return f;
}

/** log P[X ≥ c] for X ~ Hypergeometric(population N, successes K, draws k), in natural log. */
function hyperTailLog(lf: Float64Array, N: number, K: number, k: number, c: number): number {
  const lo = Math.max(c, 0, k - (N - K));
  const hi = Math.min(k, K);
  if (lo > hi) return Number.NEGATIVE_INFINITY;
  const lc = (a: number, b: number): number => lf[a]! - lf[b]! - lf[a - b]!;
  const denom = lc(N, k);
  let m = Number.NEGATIVE_INFINITY;
  const terms: number[] = [];
  for (let x = lo; x <= hi; x++) {
    const t = lc(K, x) + lc(N - K, k - x) - denom;
    terms.push(t);
    if (t > m) m = t;
  }
  let s = 0;
  for (const t of terms) s += Math.exp(t - m);
  return m + Math.log(s);
}

const LN2 = Math.log(2);

/** log2 P[X ≥ c] for X ~ Hypergeometric(population, successes, draws). */
export function hypergeometricTailLog2(population: number, successes: number, draws: number, c: number): number {
  assertInt('population', population, 1, 1_000_000);
  assertInt('successes', successes, 0, population);
  assertInt('draws', draws, 0, population);
  assertInt('c', c, 0, population);
  return hyperTailLog(logFactorials(population), population, successes, draws, c) / LN2;
}

/**
 * The smallest even k (or the complete graph) and a threshold t meeting the goals, by the
 * analysis above. For the complete graph the counts are worst-case (no probability): t must
 * satisfy 2t > n + c and n - d ≥ t for c = ⌈γn⌉ corrupt and d = ⌈(γ+δ)n⌉ unavailable members.
 * Throws `ERR_INVALID_ARGUMENT` for bad goals, including goals no parameters can meet.
 */
export function chooseMaskingParameters(goals: MaskingParameterGoals): MaskingParameters {
  assertInt('participants', goals.participants, 2, 1_000_000);
  assertNumber('corruptFraction', goals.corruptFraction, 0, 0.5, { maxOpen: true });
  assertNumber('dropoutFraction', goals.dropoutFraction, 0, 0.5, { maxOpen: true });
  const sigma = goals.securityBits ?? 40;
  const eta = goals.correctnessBits ?? 20;
  assertNumber('securityBits', sigma, 1, 256);
  assertNumber('correctnessBits', eta, 1, 256);
  const n = goals.participants;
  const corrupt = Math.ceil(goals.corruptFraction * n);
  const unavailable = Math.min(n, Math.ceil((goals.corruptFraction + goals.dropoutFraction) * n));
  const lf = logFactorials(n);
  const logN = Math.log(n);
  const rho = unavailable / n;
  for (let k = 2; k < n - 1; k += 2) {
    // Connectivity of the honest survivors.
    const connLog2 = rho === 0 ? Number.NEGATIVE_INFINITY : (2 * logN + k * Math.log(rho)) / LN2;
    if (connLog2 > -sigma) continue;
    // Smallest c* with n · P[C ≥ c* + 1] ≤ 2^-σ: tolerate up to c* corrupt neighbours.
    let cStar = 0;
    while (cStar <= k && (logN + hyperTailLog(lf, n - 1, corrupt, k, cStar + 1)) / LN2 > -sigma) cStar++;
    let dStar = 0;
    while (dStar <= k && (logN + hyperTailLog(lf, n - 1, unavailable, k, dStar + 1)) / LN2 > -eta) dStar++;
    const t = Math.floor((k + 1 + cStar) / 2) + 1;
    if (t > k - dStar || t > k + 1) continue;
    const sec = Math.max(connLog2, (logN + hyperTailLog(lf, n - 1, corrupt, k, 2 * t - k - 1)) / LN2);
    const cor = (logN + hyperTailLog(lf, n - 1, unavailable, k, k - t + 1)) / LN2;
    return { neighbours: k, threshold: t, complete: false, securityFailureLog2: sec, correctnessFailureLog2: cor };
  }
  const t = Math.floor((n + corrupt) / 2) + 1;
  if (t > n - unavailable) {
    throw new InvalidArgumentError('goals', `no threshold works for ${n} participants with ${corrupt} corrupt and ${unavailable} unavailable: need 2t > n + corrupt and t ≤ n - unavailable`);
  }
  return { neighbours: n - 1, threshold: Math.max(t, Math.floor(n / 2) + 1), complete: true, securityFailureLog2: Number.NEGATIVE_INFINITY, correctnessFailureLog2: Number.NEGATIVE_INFINITY };
}
