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
 * - `distributed`: every one of k nodes adds N(0, σ²C²/k) to its clipped gradient sum; only the
 *   secure sum carries the full σC, so it requires secure aggregation, and each round is exactly
 *   one gradient step (sampling rate 1) so the released sum is one Gaussian mechanism.
 * - `central`: nodes send clipped, un-noised sums (one step per round, secure aggregation
 *   required) and the aggregator adds N(0, σ²C²) before releasing the sum; nodes must trust it.
 */
import { dpSgdStep, type DpEvent } from '../crypto/dp/index.ts';
import { systemRandom, type RandomSource } from '../crypto/random.ts';
import type { DpRequest, WorkRequest } from '../proto/work.ts';
import type { PrivacyGuard } from './agent.ts';
import type { PrivacyLedger } from './ledger/index.ts';
import type { DatasetBudget, PolicyDecision } from './policy.ts';
import type { DpStepHook } from './training/index.ts';

/** The noise multiplier a node applies per step in `mode` with `parties` honest nodes in the secure sum. */
export function nodeNoiseMultiplier(dp: DpRequest, parties: number): number {
  switch (dp.mode) {
    case 'local': return dp.noiseMultiplier;
    case 'distributed': return dp.noiseMultiplier / Math.sqrt(parties);
    default: return 0;
  }
}

/**
 * The DP-SGD hook over crypto/dp's `dpSgdStep`: clip every per-sample gradient to L2 norm C,
 * sum, add the node's share of lattice-exact Gaussian noise (none in central mode), divide by
 * the expected batch size.
 */
export function dpStepHook(dp: DpRequest, parties: number, rng: RandomSource = systemRandom): DpStepHook {
  const z = nodeNoiseMultiplier(dp, parties);
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

/** The accounting event of one round of `work` on a dataset of `rows` training rows. */
export function dpEventFor(work: WorkRequest, decision: PolicyDecision, rows: number): DpEvent {
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
    check: async (w, d, rows) => {
      ensureBudget(w.tag);
      ledger.spend(w.tag, dpEventFor(w, d, rows), `${w.experiment}/r${w.round}/a${w.attempt}`);
    },
    charge: async (w) => {
      const st = ledger.status(w.tag);
      return { epsilon: st.spentEpsilon, delta: st.budget?.delta ?? w.dp.delta };
    },
  };
}
