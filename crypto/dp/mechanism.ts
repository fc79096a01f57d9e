/**
 * Clipping, noise and the DP mechanisms a node runs before an update leaves it.
 *
 * Modes (who adds the noise, and whom it protects against):
 * - `local`: each node adds the full Gaussian noise (std z*C) to its own update. Trusts no one.
 * - `distributed`: each node adds discrete Gaussian noise with std z*C*scale/sqrt(nMin) on the
 *   secure-aggregation integer grid; the securely aggregated sum carries noise of std >= z*C*scale
 *   if at least nMin nodes are honest (Kairouz, Liu, Steinke 2021). Trusts secure aggregation and
 *   that nMin of the participating nodes add their noise.
 * - `central`: the node only clips; the researcher adds noise once to the aggregate. Trusts the
 *   researcher (and whoever sees the unmasked aggregate).
 * Privacy unit: `record` (DP-SGD: Poisson sampling of records at rate q, per-sample clipping;
 * protects each patient) or `update` (the node's whole update is clipped; protects the node's
 * dataset as a whole, one unit per round).
 *
 * Floating point: noise for float vectors is never drawn as floats (Mironov, CCS 2012). The value
 * is snapped to the dyadic grid 2^-g Z, integer discrete Gaussian noise with std scaled by 2^g is
 * added, and the result is scaled back by 2^-g, which is exact in binary floating point: every
 * output is a lattice point whose bits carry nothing but (snapped value + integer noise). The
 * snapping can move a clipped vector by up to sqrt(d) 2^-(g+1) in L2; the noise std is inflated
 * to z * (C + sqrt(d) 2^-(g+1)) so that accounting with z stays valid. g is chosen so that the
 * grid noise std lies in [2^14, 2^15): the inflation factor is then at most 1 + sqrt(d) z / 2^15
 * (0.3% at d = 10^4, 3% at d = 10^6 for z = 1), and the discrete and continuous Gaussian privacy
 * curves coincide to far below double precision (their difference is O(exp(-2 pi^2 sigma^2))).
 */
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertFiniteVector, assertInt, assertNumber } from '../../common/validate.ts';
import { systemRandom, type RandomSource } from '../random.ts';
import type { DpEvent } from './accountant.ts';
import { sampleDiscreteGaussianVector, discreteGaussianTable, TABLE_MAX_SIGMA } from './discrete-gaussian.ts';
import { DpPolicyError } from './errors.ts';
import { assertNoiseMultiplier, assertSamplingRate } from './rdp.ts';

/** Who adds the noise. */
export type DpMode = 'local' | 'distributed' | 'central';
/** What one unit of privacy protects: one record (patient) or a node's whole update. */
export type PrivacyUnit = 'record' | 'update';

/** A DP mechanism configuration, chosen by the researcher and checked by the node. */
export interface DpMechanismConfig {
  readonly mode: DpMode;
  readonly unit: PrivacyUnit;
  /** L2 clipping norm C (per sample for `record`, per update for `update`). */
  readonly clipNorm: number;
  /** Noise multiplier z: the total noise std on a sum is z * C. */
  readonly noiseMultiplier: number;
  /** Poisson sampling rate of records per step (`record`); must be 1 for `update`. */
  readonly samplingRate: number;
  /** DP-SGD steps per round (`record` + `local`); 1 otherwise. */
  readonly stepsPerRound: number;
  /** `distributed` only: the number of honest nodes the noise must not depend on more than. */
  readonly minHonestParties?: number;
  /** `distributed` only: the codec's quantization scale (grid step 1/scale). */
  readonly scale?: number;
  /** `distributed` only: the model dimension (for the rounding sensitivity term). */
  readonly dimension?: number;
  /** `distributed` only: how the codec rounds (default `stochastic`, error < 1 per coordinate). */
  readonly rounding?: 'stochastic' | 'nearest';
}

/** Validates a mechanism configuration; throws InvalidArgumentError naming the field. */
export function assertMechanismConfig(c: unknown, field = 'mechanism'): asserts c is DpMechanismConfig {
  if (typeof c !== 'object' || c === null) throw new InvalidArgumentError(field, 'expected a DP mechanism object');
  const m = c as Record<string, unknown>;
  if (m['mode'] !== 'local' && m['mode'] !== 'distributed' && m['mode'] !== 'central') throw new InvalidArgumentError(`${field}.mode`, "expected 'local', 'distributed' or 'central'");
  if (m['unit'] !== 'record' && m['unit'] !== 'update') throw new InvalidArgumentError(`${field}.unit`, "expected 'record' or 'update'");
  assertNumber(`${field}.clipNorm`, m['clipNorm'], 0, 1e15, { minOpen: true });
  assertNoiseMultiplier(m['noiseMultiplier'], `${field}.noiseMultiplier`);
  assertSamplingRate(m['samplingRate'], `${field}.samplingRate`);
  assertInt(`${field}.stepsPerRound`, m['stepsPerRound'], 1, 1e9);
  if (m['unit'] === 'update' && m['samplingRate'] !== 1) throw new InvalidArgumentError(`${field}.samplingRate`, 'must be 1 for update-level DP (the node does not subsample its own participation)');
  if (m['mode'] !== 'local' && m['stepsPerRound'] !== 1) throw new InvalidArgumentError(`${field}.stepsPerRound`, `must be 1 in ${String(m['mode'])} mode (one noisy release per round)`);
  if (m['mode'] === 'distributed') {
    assertInt(`${field}.minHonestParties`, m['minHonestParties'], 1, 1e6);
    assertNumber(`${field}.scale`, m['scale'], 0, 2 ** 40, { minOpen: true });
    assertInt(`${field}.dimension`, m['dimension'], 1, 2 ** 40);
    if (m['rounding'] !== undefined && m['rounding'] !== 'stochastic' && m['rounding'] !== 'nearest') throw new InvalidArgumentError(`${field}.rounding`, "expected 'stochastic' or 'nearest'");
  }
}

// ---------------------------------------------------------------------------------------------
// Clipping

/** L2 norm of a vector. */
export function l2Norm(v: ArrayLike<number>): number {
  // Scaled to avoid overflow/underflow.
  let scale = 0;
  for (let i = 0; i < v.length; i++) scale = Math.max(scale, Math.abs(v[i]!));
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let s = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]! / scale;
    s += x * x;
  }
  return scale * Math.sqrt(s);
}

/**
 * Clips `v` to L2 norm at most `clipNorm`: returns v * min(1, C/||v||) as a new Float64Array
 * (identity when ||v|| <= C). Throws on non-finite entries.
 */
export function clipL2(v: ArrayLike<number>, clipNorm: number): Float64Array {
  assertFiniteVector('vector', v);
  assertNumber('clipNorm', clipNorm, 0, Number.MAX_VALUE, { minOpen: true });
  const out = Float64Array.from(v);
  const n = l2Norm(out);
  if (n > clipNorm) {
    const f = clipNorm / n;
    for (let i = 0; i < out.length; i++) out[i] = out[i]! * f;
    // Guard against the last ulp: shrink until the norm is <= C.
    let guard = 0;
    while (l2Norm(out) > clipNorm && guard++ < 8) for (let i = 0; i < out.length; i++) out[i] = out[i]! * (1 - 2 ** -52);
  }
  return out;
}

/** Per-sample gradients: `rows` samples of `cols` parameters, row-major. */
export interface GradientMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

function assertMatrix(m: unknown, field = 'perSampleGrads'): asserts m is GradientMatrix {
  if (typeof m !== 'object' || m === null) throw new InvalidArgumentError(field, 'expected {rows, cols, data}');
  const g = m as Record<string, unknown>;
  assertInt(`${field}.rows`, g['rows'], 0, 2 ** 31);
  assertInt(`${field}.cols`, g['cols'], 1, 2 ** 31);
  if (!(g['data'] instanceof Float64Array)) throw new InvalidArgumentError(`${field}.data`, 'expected a Float64Array');
  if (g['data'].length !== (g['rows'] as number) * (g['cols'] as number)) throw new InvalidArgumentError(`${field}.data`, `length ${g['data'].length} != rows * cols`);
  assertFiniteVector(`${field}.data`, g['data']);
}

/** Clips every row of `m` to L2 norm C and returns the sum of the clipped rows. */
export function clipAndSumPerSample(m: GradientMatrix, clipNorm: number): Float64Array {
  assertMatrix(m);
  assertNumber('clipNorm', clipNorm, 0, Number.MAX_VALUE, { minOpen: true });
  const sum = new Float64Array(m.cols);
  for (let r = 0; r < m.rows; r++) {
    const row = clipL2(m.data.subarray(r * m.cols, (r + 1) * m.cols), clipNorm);
    for (let j = 0; j < m.cols; j++) sum[j] = sum[j]! + row[j]!;
  }
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Noise

/** Grid noise std target: std * 2^g in [GRID_STD, 2 GRID_STD). */
const GRID_STD = 2 ** 14;

/** Chooses the grid exponent g with std * 2^g in [2^14, 2^15). */
function gridExponent(std: number): number {
  return Math.ceil(Math.log2(GRID_STD / std));
}

/**
 * Adds Gaussian noise to `v` for a sum whose L2 sensitivity is `sensitivity`, with noise
 * multiplier z (std z * sensitivity, inflated for the grid snapping, see the module comment).
 * Returns a new Float64Array of lattice points k * 2^-g. The noise is integer discrete Gaussian
 * noise from the CSPRNG, never floating-point noise.
 */
export function addGaussianNoise(v: ArrayLike<number>, sensitivity: number, noiseMultiplier: number, rng: RandomSource = systemRandom): Float64Array {
  assertFiniteVector('vector', v);
  assertNumber('sensitivity', sensitivity, 0, 1e15, { minOpen: true });
  assertNoiseMultiplier(noiseMultiplier);
  const base = noiseMultiplier * sensitivity;
  const g = gridExponent(base);
  const unit = 2 ** g;
  const std = noiseMultiplier * (sensitivity + Math.sqrt(v.length) / (2 * unit));
  const gridStd = std * unit;
  if (gridStd > TABLE_MAX_SIGMA) throw new InvalidArgumentError('noiseMultiplier', 'grid noise out of range');
  const noise = sampleDiscreteGaussianVector(gridStd, v.length, rng);
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const k = Math.round(v[i]! * unit);
    if (!Number.isSafeInteger(k)) throw new InvalidArgumentError('vector', `element ${i} too large for the noise grid 2^${-g}`, { index: i });
    out[i] = (k + noise[i]!) / unit; // exact: integer times a power of two
  }
  return out;
}

/**
 * Privatizes a whole update in `local` mode with `update` unit: clip to C, add noise of std z*C.
 * (For `central` mode use {@link clipL2} only; the researcher calls {@link addGaussianNoise} on
 * the aggregate with sensitivity C.)
 */
export function privatizeUpdateLocal(update: ArrayLike<number>, config: DpMechanismConfig, rng: RandomSource = systemRandom): Float64Array {
  assertMechanismConfig(config);
  if (config.mode !== 'local' || config.unit !== 'update') throw new InvalidArgumentError('mechanism.mode', 'privatizeUpdateLocal needs mode local and unit update');
  return addGaussianNoise(clipL2(update, config.clipNorm), config.clipNorm, config.noiseMultiplier, rng);
}

/** Parameters of one DP-SGD step. */
export interface DpSgdParams {
  readonly clipNorm: number;
  readonly noiseMultiplier: number;
  /**
   * The denominator of the average: the expected batch size q * N under Poisson sampling. Using
   * the realized batch size would leak it; use the expected one.
   */
  readonly expectedBatchSize: number;
  /** `local` adds the noise here (default); `central`/`distributed` return the clipped sum without noise. */
  readonly addNoise?: boolean;
}

/**
 * One DP-SGD step over a Poisson-sampled batch: per-sample L2 clip to C, sum, add noise of std
 * z*C (as lattice-exact discrete Gaussian noise), divide by the expected batch size. Returns the
 * noisy average gradient. An empty batch (rows = 0) still gets noise, as it must.
 */
export function dpSgdStep(perSampleGrads: GradientMatrix, params: DpSgdParams, rng: RandomSource = systemRandom): Float64Array {
  assertMatrix(perSampleGrads);
  assertNumber('clipNorm', params.clipNorm, 0, 1e15, { minOpen: true });
  assertNoiseMultiplier(params.noiseMultiplier);
  assertNumber('expectedBatchSize', params.expectedBatchSize, 0, 1e15, { minOpen: true });
  const sum = clipAndSumPerSample(perSampleGrads, params.clipNorm);
  const noisy = params.addNoise === false ? sum : addGaussianNoise(sum, params.clipNorm, params.noiseMultiplier, rng);
  for (let i = 0; i < noisy.length; i++) noisy[i] = noisy[i]! / params.expectedBatchSize;
  return noisy;
}

/**
 * Poisson sampling rate for a target expected batch size on a dataset of `datasetSize` records:
 * q = min(1, expectedBatchSize / datasetSize). An empty dataset is refused (`datasetSize`).
 */
export function samplingRateFor(expectedBatchSize: number, datasetSize: number): number {
  assertInt('datasetSize', datasetSize, 1, 2 ** 40);
  assertNumber('expectedBatchSize', expectedBatchSize, 0, 2 ** 40, { minOpen: true });
  return Math.min(1, expectedBatchSize / datasetSize);
}

/**
 * Poisson sampling: each of `n` indices is included independently with probability q, decided by
 * a 53-bit uniform integer from the CSPRNG (inclusion probability ceil(q 2^53)/2^53).
 */
export function poissonSample(n: number, samplingRate: number, rng: RandomSource = systemRandom): number[] {
  assertInt('n', n, 0, 2 ** 31);
  assertSamplingRate(samplingRate);
  const threshold = samplingRate * 2 ** 53;
  const out: number[] = [];
  const buf = new Uint8Array(8 * 4096);
  const dv = new DataView(buf.buffer);
  for (let off = 0; off < n; off += 4096) {
    const m = Math.min(4096, n - off);
    rng.fill(buf.subarray(0, 8 * m));
    for (let j = 0; j < m; j++) {
      const u = (dv.getUint32(8 * j) & 0x1fffff) * 2 ** 32 + dv.getUint32(8 * j + 4);
      if (u < threshold) out.push(off + j);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Distributed mode

/**
 * L2 sensitivity on the codec grid (quantization round(v * scale)) of a clipped contribution:
 * - `update` unit (the node's whole quantized update is added or removed): ||round(u)|| <=
 *   C*scale + sqrt(d) for stochastic rounding (error < 1 per coordinate), + sqrt(d)/2 for nearest;
 * - `record` unit (one record changes the node's clipped sum by <= C before rounding): the two
 *   roundings differ from the exact difference by < 1 per coordinate for nearest rounding, and for
 *   stochastic rounding when both are written with the same uniform offsets (floor(a + u)), which
 *   suffices because Rényi divergence is jointly quasi-convex over the shared rounding randomness:
 *   C*scale + sqrt(d) in both cases.
 * The codec's per-coordinate clipping is a projection (1-Lipschitz) and does not increase it.
 */
export function gridL2Sensitivity(clipNorm: number, scale: number, dimension: number, rounding: 'stochastic' | 'nearest' = 'stochastic', unit: PrivacyUnit = 'update'): number {
  assertNumber('clipNorm', clipNorm, 0, 1e15, { minOpen: true });
  assertNumber('scale', scale, 0, 2 ** 40, { minOpen: true });
  assertInt('dimension', dimension, 1, 2 ** 40);
  return clipNorm * scale + Math.sqrt(dimension) * (rounding === 'nearest' && unit === 'update' ? 0.5 : 1);
}

/** Per-node discrete Gaussian std on the grid in distributed mode: z * C * scale / sqrt(nMin). */
export function distributedLocalSigma(config: DpMechanismConfig): number {
  assertMechanismConfig(config);
  if (config.mode !== 'distributed') throw new InvalidArgumentError('mechanism.mode', 'expected distributed');
  return (config.noiseMultiplier * gridL2Sensitivity(config.clipNorm, config.scale!, config.dimension!, config.rounding, config.unit)) / Math.sqrt(config.minHonestParties!);
}

/**
 * The integer noise vector a node adds in distributed mode (Int32Array of `dimension` discrete
 * Gaussian samples with std {@link distributedLocalSigma} on the codec grid). The node adds it to
 * its quantized update before masking.
 */
export function distributedNoise(config: DpMechanismConfig, rng: RandomSource = systemRandom): Int32Array {
  const sigma = distributedLocalSigma(config);
  return sampleDiscreteGaussianVector(sigma, config.dimension!, rng);
}

/**
 * A per-coordinate bound B on one node's distributed noise for the codec's `noiseBound`, with the
 * probability that some coordinate of a `dimension`-vector exceeds it. The table sampler never
 * exceeds its tail cut (failure probability 0); otherwise (or if smaller) the sub-Gaussian bound
 * P(|X| >= t) <= 2 exp(-t^2/(2 sigma^2)) of the discrete Gaussian (Canonne, Kamath, Steinke 2020)
 * with a union bound over coordinates gives B with failure probability <= `failureProbability`.
 */
export function distributedNoiseBound(localSigma: number, dimension: number, failureProbability = 2 ** -40): { noiseBound: number; failureProbability: number } {
  assertNumber('localSigma', localSigma, 0, 2 ** 30, { minOpen: true });
  assertInt('dimension', dimension, 1, 2 ** 40);
  assertNumber('failureProbability', failureProbability, 0, 1, { minOpen: true, maxOpen: true });
  const sub = Math.max(0, Math.ceil(localSigma * Math.sqrt(2 * Math.log((2 * dimension) / failureProbability))) - 1);
  if (localSigma <= TABLE_MAX_SIGMA && localSigma >= 2 ** -10) {
    const cut = discreteGaussianTable(localSigma).tailCut;
    if (cut <= sub) return { noiseBound: cut, failureProbability: 0 };
  }
  return { noiseBound: sub, failureProbability };
}

// ---------------------------------------------------------------------------------------------
// Accounting events and node policy

/**
 * The DP event one round of `config` spends at a node (what the ledger records):
 * - local/central: `stepsPerRound` Poisson-subsampled Gaussian steps (q = 1 for update level) with
 *   lattice discrete Gaussian noise (`discreteNoise: true`, accounted rigorously, see the event);
 * - distributed: one distributed-discrete-Gaussian step with nMin honest parties on the grid.
 */
export function roundEvent(config: DpMechanismConfig, rounds = 1): DpEvent {
  assertMechanismConfig(config);
  assertInt('rounds', rounds, 1, 1e9);
  if (config.mode === 'distributed') {
    const l2 = gridL2Sensitivity(config.clipNorm, config.scale!, config.dimension!, config.rounding, config.unit);
    // L1 <= sqrt(d) * C * scale + d * (per-coordinate rounding term) = sqrt(d) * l2.
    const l1 = l2 * Math.sqrt(config.dimension!);
    return {
      kind: 'distributedDiscreteGaussian',
      l2Sensitivity: l2,
      l1Sensitivity: l1,
      dimension: config.dimension!,
      localSigma: distributedLocalSigma(config),
      parties: config.minHonestParties!,
      steps: rounds,
      samplingRate: config.samplingRate,
    };
  }
  // The node adds lattice discrete Gaussian noise (addGaussianNoise): account it as such.
  return { kind: 'poissonGaussian', samplingRate: config.samplingRate, noiseMultiplier: config.noiseMultiplier, steps: config.stepsPerRound * rounds, discreteNoise: true };
}

/** What a node requires of any mechanism before it trains on a dataset. */
export interface NodeDpPolicy {
  /** Modes the node accepts (e.g. only `local` and `distributed` if it does not trust researchers). */
  readonly allowedModes: readonly DpMode[];
  /** Privacy units it accepts (default both). */
  readonly allowedUnits?: readonly PrivacyUnit[];
  /** Smallest noise multiplier accepted. */
  readonly minNoiseMultiplier?: number;
  /** Distributed mode: smallest nMin accepted. */
  readonly minHonestParties?: number;
}

/** Throws {@link DpPolicyError} (`ERR_DP_POLICY`) if `config` does not meet `policy`. */
export function assertMechanismAllowed(config: DpMechanismConfig, policy: NodeDpPolicy): void {
  assertMechanismConfig(config);
  if (!policy.allowedModes.includes(config.mode)) throw new DpPolicyError(`mode ${config.mode} is not allowed by this node (allowed: ${policy.allowedModes.join(', ')})`, { mode: config.mode });
  if (policy.allowedUnits && !policy.allowedUnits.includes(config.unit)) throw new DpPolicyError(`privacy unit ${config.unit} is not allowed by this node`, { unit: config.unit });
  if (policy.minNoiseMultiplier !== undefined && config.noiseMultiplier < policy.minNoiseMultiplier) {
    throw new DpPolicyError(`noise multiplier ${config.noiseMultiplier} is below the node's minimum ${policy.minNoiseMultiplier}`, { noiseMultiplier: config.noiseMultiplier });
  }
  if (config.mode === 'distributed' && policy.minHonestParties !== undefined && config.minHonestParties! < policy.minHonestParties) {
    throw new DpPolicyError(`minHonestParties ${config.minHonestParties} is below the node's minimum ${policy.minHonestParties}`, { minHonestParties: config.minHonestParties });
  }
}
