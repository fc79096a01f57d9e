/**
 * Differential privacy at the node: the DP-SGD step hooks of the three modes and a durable
 * per-dataset privacy ledger that is charged before any update leaves the node.
 *
 * Record-level DP over each node's rows, accounted with crypto/dp's RDP accountant as
 * Poisson-subsampled Gaussian steps (noise multiplier σ, clipping norm C):
 *
 * - `local`: every node runs DP-SGD with the full noise N(0, σ²C²) per step; private against
 *   everyone, including other nodes and the aggregator, whatever the aggregation scheme.
 * - `distributed`: every one of k nodes adds N(0, σ²C²/k) to its clipped gradient sum; only the
 *   secure sum carries the full σC, so it requires secure aggregation, and each round is exactly
 *   one gradient step (sampling rate 1) so the released sum is one Gaussian mechanism.
 * - `central`: nodes send clipped, un-noised sums (one step per round, secure aggregation
 *   required) and the aggregator adds N(0, σ²C²) before releasing the sum; nodes must trust it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { computeEpsilon, type DpEvent } from '../crypto/dp/accountant.ts';
import { systemRandom, type RandomSource } from '../crypto/random.ts';
import type { DpStepHook } from './training/index.ts';
import { writeFileDurable } from '../proto/durable.ts';
import type { DpRequest, WorkRequest } from '../proto/work.ts';
import { NodeError } from './errors.ts';
import type { DatasetBudget, PolicyDecision } from './policy.ts';

/** `n` independent N(0, std²) samples from the CSPRNG (Box–Muller on 53-bit uniforms). */
export function gaussianNoise(n: number, std: number, rng: RandomSource = systemRandom): Float64Array {
  const out = new Float64Array(n);
  if (std === 0) return out;
  const words = new Uint32Array(4 * Math.ceil(n / 2));
  rng.fill(new Uint8Array(words.buffer));
  for (let i = 0, w = 0; i < n; i += 2, w += 4) {
    // Uniforms in (0, 1] and [0, 1) with 53 random bits each.
    const u1 = ((words[w]! >>> 5) * 67108864 + (words[w + 1]! >>> 6) + 1) / 9007199254740992;
    const u2 = ((words[w + 2]! >>> 5) * 67108864 + (words[w + 3]! >>> 6)) / 9007199254740992;
    const r = Math.sqrt(-2 * Math.log(u1)) * std;
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** Noise std per step a node adds in `mode` with `parties` nodes in the secure sum. */
export function nodeNoiseStd(dp: DpRequest, parties: number): number {
  switch (dp.mode) {
    case 'local': return dp.noiseMultiplier * dp.clipNorm;
    case 'distributed': return (dp.noiseMultiplier * dp.clipNorm) / Math.sqrt(parties);
    default: return 0;
  }
}

/**
 * The DP-SGD hook: clip every per-sample gradient to L2 norm C, sum, add the node's noise
 * share, divide by the expected batch size.
 */
export function dpStepHook(dp: DpRequest, parties: number, rng: RandomSource = systemRandom): DpStepHook {
  const C = dp.clipNorm;
  const std = nodeNoiseStd(dp, parties);
  return (grads, ctx) => {
    const P = grads.cols;
    const sum = new Float64Array(P);
    for (let r = 0; r < grads.rows; r++) {
      let norm2 = 0;
      for (let j = 0; j < P; j++) norm2 += grads.data[r * P + j]! ** 2;
      const f = Math.min(1, C / Math.max(Math.sqrt(norm2), 1e-12));
      for (let j = 0; j < P; j++) sum[j]! += grads.data[r * P + j]! * f;
    }
    const noise = gaussianNoise(P, std, rng);
    const denom = Math.max(ctx.expectedBatchSize, 1);
    for (let j = 0; j < P; j++) sum[j] = (sum[j]! + noise[j]!) / denom;
    return sum;
  };
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

/** One recorded spend. */
export interface LedgerEntry {
  readonly tag: string;
  readonly time: string;
  readonly event: DpEvent;
  readonly delta: number;
}

/**
 * A durable per-dataset privacy ledger (JSON file, atomic writes). The cumulative ε of a
 * dataset is the RDP composition of all its recorded events at the budget's δ.
 */
export class FilePrivacyLedger {
  readonly path: string;
  readonly #budgets: (tag: string) => DatasetBudget;

  constructor(path: string, budgets: (tag: string) => DatasetBudget) {
    this.path = path;
    this.#budgets = budgets;
  }

  /** Every recorded spend. */
  entries(): LedgerEntry[] {
    if (!existsSync(this.path)) return [];
    return JSON.parse(readFileSync(this.path, 'utf8')) as LedgerEntry[];
  }

  /** Cumulative ε of a dataset at its budget's δ (optionally with one more event). */
  spent(tag: string, extra?: DpEvent): { epsilon: number; delta: number } {
    const delta = this.#budgets(tag).delta;
    const events = this.entries().filter((e) => e.tag === tag).map((e) => e.event);
    if (extra !== undefined) events.push(extra);
    if (events.length === 0) return { epsilon: 0, delta };
    return { epsilon: computeEpsilon(events, delta).epsilon, delta };
  }

  /** Throws ERR_NODE_BUDGET_EXHAUSTED if `event` would take the dataset past its budget. */
  check(tag: string, event: DpEvent): void {
    const budget = this.#budgets(tag);
    const after = this.spent(tag, event);
    if (!(after.epsilon <= budget.epsilon)) {
      throw new NodeError('ERR_NODE_BUDGET_EXHAUSTED', `dataset ${tag}: this round would bring ε to ${after.epsilon.toFixed(3)}, beyond its budget ε = ${budget.epsilon} (δ = ${budget.delta})`, { epsilon: after.epsilon, budget: budget.epsilon });
    }
  }

  /** Records the spend durably (after re-checking) and returns the new cumulative (ε, δ). */
  charge(tag: string, event: DpEvent): { epsilon: number; delta: number } {
    this.check(tag, event);
    const entries = this.entries();
    entries.push({ tag, time: new Date().toISOString(), event, delta: this.#budgets(tag).delta });
    writeFileDurable(this.path, JSON.stringify(entries, null, 1), 0o600);
    return this.spent(tag);
  }
}

/** A {@link FilePrivacyLedger} as the agent's PrivacyGuard. */
export function ledgerGuard(ledger: FilePrivacyLedger): { check: (w: WorkRequest, d: PolicyDecision, rows: number) => Promise<void>; charge: (w: WorkRequest, d: PolicyDecision, rows: number) => Promise<{ epsilon: number; delta: number }> } {
  return {
    check: async (w, d, rows) => ledger.check(w.tag, dpEventFor(w, d, rows)),
    charge: async (w, d, rows) => ledger.charge(w.tag, dpEventFor(w, d, rows)),
  };
}
