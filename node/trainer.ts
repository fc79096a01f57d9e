/**
 * The node's training engine: runs an approved plan with onnxruntime-node (node/training),
 * applies the DP mode of the request (node/privacy.ts), and evaluates the incoming global model
 * on the node's held-out split so the round's metrics come out of the same secure sum.
 */
import { systemRandom, type RandomSource } from '../crypto/random.ts';
import type { TabularDataset } from './datasets/index.ts';
import { standardize } from './datasets/index.ts';
import { evaluate, trainLocal, type PlanSessionCache } from './training/index.ts';
import { planFromBundle } from '../researcher/plans/index.ts';
import type { PlanBundle } from '../proto/plan.ts';
import type { PolicyDecision } from './policy.ts';
import { dpStepHook, dpTrainingArgs } from './privacy.ts';
import type { WorkRequest } from '../proto/work.ts';
import { NodeError } from './errors.ts';

/** A dataset's training and held-out rows. */
export interface DatasetSplits {
  readonly train: TabularDataset;
  readonly test: TabularDataset;
}

/** Input of one local training round. */
export interface TrainRoundInput {
  readonly bundle: PlanBundle;
  readonly data: DatasetSplits;
  readonly params: Float64Array;
  readonly work: WorkRequest;
  readonly args: PolicyDecision['args'];
}

/** What a node contributes from one training round (before encoding). */
export interface TrainRoundOutput {
  /** Parameter delta (P). */
  readonly update: Float64Array;
  /** Weight of the delta in the federated average. */
  readonly weight: number;
  /** Mean local training loss. */
  readonly loss: number;
  /** Evaluation of the incoming global parameters on the held-out rows. */
  readonly eval: { readonly correct: number; readonly count: number; readonly lossSum: number };
}

/** Applies the request's global standardization, if any. */
export function applyStandardization(ds: TabularDataset, work: WorkRequest): TabularDataset {
  const s = work.standardize;
  if (s === undefined) return ds;
  if (s.mean.length !== ds.features) throw new NodeError('ERR_NODE_REQUEST_INVALID', `standardization has ${s.mean.length} features, the dataset ${ds.features}`);
  return standardize(ds, { count: 0, mean: Float64Array.from(s.mean), std: Float64Array.from(s.std) });
}

/** Options of {@link OnnxTrainer}. */
export interface OnnxTrainerOptions {
  readonly rng?: RandomSource;
  readonly sessions?: PlanSessionCache;
}

/** Local training with onnxruntime-node and DP-SGD. */
export class OnnxTrainer {
  readonly #rng: RandomSource;
  readonly #sessions: PlanSessionCache | undefined;

  constructor(opts: OnnxTrainerOptions = {}) {
    this.#rng = opts.rng ?? systemRandom;
    this.#sessions = opts.sessions;
  }

  /** Evaluates the given parameters on the held-out rows. */
  async evaluate(input: Omit<TrainRoundInput, 'args'>): Promise<TrainRoundOutput['eval']> {
    const plan = planFromBundle(input.bundle);
    const test = applyStandardization(input.data.test, input.work);
    const sessions = this.#sessions === undefined ? {} : { sessions: this.#sessions };
    const ev = test.rows > 0 ? await evaluate({ plan, dataset: test, params: input.params, ...sessions }) : { accuracy: 0, loss: 0, samples: 0 };
    return { correct: Math.round(ev.accuracy * ev.samples), count: ev.samples, lossSum: ev.loss * ev.samples };
  }

  /** Trains one round; see {@link TrainRoundOutput}. */
  async train(input: TrainRoundInput): Promise<TrainRoundOutput> {
    const plan = planFromBundle(input.bundle);
    const train = applyStandardization(input.data.train, input.work);
    const sessions = this.#sessions === undefined ? {} : { sessions: this.#sessions };
    const ev = await this.evaluate(input);
    const dp = input.work.dp;
    const args = dpTrainingArgs(dp, input.args, train.rows);
    const res = await trainLocal({
      plan, dataset: train, params: input.params, trainingArgs: args, rng: this.#rng, ...sessions,
      ...(dp.mode === 'off' ? {} : { dp: dpStepHook(dp, this.#rng) }),
    });
    // DP rounds: equal weight per expected batch (the noisy sum is divided by it); else FedAvg by rows.
    const weight = dp.mode === 'off' ? res.samples : (args.samplingRate ?? 1) * train.rows;
    return {
      update: res.update, weight, loss: res.loss,
      eval: ev,
    };
  }
}
