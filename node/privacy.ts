/**
 * Differential privacy at the node: the DP-SGD step hooks of the three modes and a durable
 * per-dataset privacy ledger that is charged before any update leaves the node.
 *
 * Record-level DP over each node's rows, accounted with crypto/dp's RDP accountant as
 * Poisson-subsampled Gaussian steps (noise multiplier σ, clipping norm C):
 *
 * Noise comes from crypto/dp (lattice-exact Gaussian, never float sampling) and spends go to
 * node/ledger's write-ahead ledger.
 *
 * - `local`: every node runs DP-SGD with the full noise N(0, σ²C²) per step; private against
 *   everyone, including other nodes and the aggregator, whatever the aggregation scheme.
 * - `distributed`: crypto/dp's distributed discrete Gaussian (Kairouz, Liu, Steinke 2021): each
 *   node adds a discrete Gaussian share on the codec's integer grid so that the secure sum over at
 *   least minParticipants honest nodes carries noise σ·(sensitivity); requires secure
 *   aggregation; each round is exactly one full-batch gradient step (one DDG release, accounted
 *   with crypto/dp's DDG RDP bound).
 * - `central`: nodes send clipped, un-noised sums (one step per round, secure aggregation
 *   required) and the aggregator adds N(0, σ²C²) before releasing the sum; nodes must trust it.
 */
import {
  distributedLocalSigma, distributedNoise, distributedNoiseBound, dpSgdStep, roundEvent, type DpEvent, type DpMechanismConfig,
} from '../crypto/dp/index.ts';
import type { FixedPointCodec } from '../crypto/codec.ts';
import { NodeError } from './errors.ts';
import { systemRandom, type RandomSource } from '../crypto/random.ts';
import type { DpRequest, WorkRequest } from '../proto/work.ts';
import type { PrivacyGuard } from './agent.ts';
import type { PrivacyLedger } from './ledger/index.ts';
import type { DatasetBudget, PolicyDecision } from './policy.ts';
import type { DpStepHook } from './training/index.ts';

/** The noise multiplier a node applies inside DP-SGD: σ in local mode, none otherwise (distributed noise goes on the codec grid, central noise at the aggregator). */
export function nodeNoiseMultiplier(dp: DpRequest): number {
  switch (dp.mode) {
    case 'local': return dp.noiseMultiplier;
    // distributed: the discrete Gaussian share is added on the codec grid at encoding (distributedShare).
    default: return 0;
  }
}

/**
 * The DP-SGD hook over crypto/dp's `dpSgdStep`: clip every per-sample gradient to L2 norm C,
 * sum, add the node's share of lattice-exact Gaussian noise (none in central mode), divide by
 * the expected batch size.
 */
export function dpStepHook(dp: DpRequest, rng: RandomSource = systemRandom): DpStepHook {
  const z = nodeNoiseMultiplier(dp);
  return (grads, ctx) => dpSgdStep(
    { rows: grads.rows, cols: grads.cols, data: Float64Array.from(grads.data) },
    { clipNorm: dp.clipNorm, noiseMultiplier: z > 0 ? z : 1, expectedBatchSize: Math.max(ctx.expectedBatchSize, 1e-9), addNoise: z > 0 },
    rng,
  );
}

/** Local training arguments a DP mode imposes (one full-batch step per round for distributed/central). */
export function dpTrainingArgs(dp: DpRequest, args: PolicyDecision['args'], rows: number): { learningRate: number; epochs: number; batchSize: number; samplingRate?: number } {
  if (dp.mode === 'off') return { ...args };
  if (dp.mode === 'local') return { ...args, samplingRate: Math.min(1, args.batchSize / Math.max(rows, 1)) };
  return { learningRate: args.learningRate, epochs: 1, batchSize: Math.max(args.batchSize, 1), samplingRate: 1 };
}

/** Grid parameters of a distributed-DP round: the codec's scale and the update dimension P. */
export interface DistributedGrid {
  readonly scale: number;
  readonly dimension: number;
}

/**
 * crypto/dp's distributed mechanism for one round: record-level, one full-batch step, the summed
 * update −lr·Σ clipped gradients has L2 sensitivity lr·C; at least `minParticipants` honest nodes.
 */
export function distributedConfig(work: WorkRequest, learningRate: number, grid: DistributedGrid): DpMechanismConfig {
  return {
    mode: 'distributed', unit: 'record', clipNorm: learningRate * work.dp.clipNorm, noiseMultiplier: work.dp.noiseMultiplier,
    samplingRate: 1, stepsPerRound: 1, minHonestParties: work.minParticipants, scale: grid.scale, dimension: grid.dimension,
  };
}

/** The per-coordinate noise bound a node's distributed share needs in the codec (`noiseBound`). */
export function distributedCodecNoiseBound(config: DpMechanismConfig): number {
  return distributedNoiseBound(distributedLocalSigma(config), config.dimension!).noiseBound;
}

/**
 * Encodes a distributed-DP contribution: quantize with the codec, add crypto/dp's discrete
 * Gaussian share to the first P (update) coordinates on the integer grid, wrap into the ring.
 * Refuses (ERR_NODE_REQUEST_INVALID) a codec whose noiseBound cannot hold the share.
 */
export function distributedShare(codec: FixedPointCodec, v: Float64Array, config: DpMechanismConfig, rng: RandomSource = systemRandom): Uint32Array {
  const need = distributedCodecNoiseBound(config);
  if (codec.noiseBound < need) throw new NodeError('ERR_NODE_REQUEST_INVALID', `codec noiseBound ${codec.noiseBound} is below the ${need} this node's distributed noise needs`);
  const ints = codec.quantize(v, rng);
  const noise = distributedNoise(config, rng);
  for (let i = 0; i < noise.length; i++) ints[i] = ints[i]! + noise[i]!;
  return codec.wrap(ints);
}

/** The accounting event of one round of `work` on a dataset of `rows` training rows. */
export function dpEventFor(work: WorkRequest, decision: PolicyDecision, rows: number, grid?: DistributedGrid): DpEvent {
  if (work.dp.mode === 'distributed') {
    if (grid === undefined) throw new NodeError('ERR_NODE_REQUEST_INVALID', 'distributed DP needs the codec grid');
    return roundEvent(distributedConfig(work, decision.args.learningRate, grid));
  }
  const a = dpTrainingArgs(work.dp, decision.args, rows);
  const q = a.samplingRate ?? 1;
  const steps = work.dp.mode === 'local' ? a.epochs * Math.max(1, Math.ceil(1 / q)) : 1;
  return { kind: 'poissonGaussian', samplingRate: q, noiseMultiplier: work.dp.noiseMultiplier, steps };
}

/**
 * The agent's PrivacyGuard over node/ledger's durable {@link PrivacyLedger}. The dataset budget
 * comes from the node policy (set in the ledger when it changes). The spend is recorded — exact
 * composition, write-ahead, fsynced — when the node accepts a round, before any computation or
 * release; a round aborted after acceptance still counts (conservative). A dataset whose budget
 * would be exceeded is refused with ERR_DP_BUDGET_EXCEEDED, which the researcher sees.
 */
export function ledgerGuard(ledger: PrivacyLedger, budgets: (tag: string) => DatasetBudget): PrivacyGuard {
  const ensureBudget = (tag: string): void => {
    const b = budgets(tag);
    const st = ledger.status(tag);
    if (st.budget === undefined || st.budget.maxEpsilon !== b.epsilon || st.budget.delta !== b.delta) ledger.setBudget(tag, { maxEpsilon: b.epsilon, delta: b.delta });
  };
  return {
    check: async (w, d, rows, grid) => {
      ensureBudget(w.tag);
      ledger.spend(w.tag, dpEventFor(w, d, rows, grid), `${w.experiment}/r${w.round}/a${w.attempt}`);
    },
    charge: async (w) => {
      const st = ledger.status(w.tag);
      return { epsilon: st.spentEpsilon, delta: st.budget?.delta ?? w.dp.delta };
    },
  };
}
