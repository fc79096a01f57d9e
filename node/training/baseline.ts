/**
 * The central, non-private baseline: the same plan trained on all training rows pooled in one
 * place through the same onnxruntime path, then evaluated on the same test rows. The demo prints
 * it next to the federated private model.
 */
import type { RandomSource } from '../../crypto/random.ts';
import type { TabularDataset } from '../datasets/index.ts';
import type { TrainingPlan } from '../../researcher/plans/index.ts';
import type { PlanSessionCache } from './sessions.ts';
import { evaluate, trainLocal, type EvaluateResult, type LocalTrainingArgs } from './train.ts';

/** Input of {@link trainCentralBaseline}. */
export interface CentralBaselineInput {
  readonly plan: TrainingPlan;
  /** All training rows pooled (already standardized like the federation's). */
  readonly train: TabularDataset;
  /** Test rows. */
  readonly test: TabularDataset;
  readonly trainingArgs: LocalTrainingArgs;
  readonly rng: RandomSource;
  readonly sessions?: PlanSessionCache;
}

/** Result of {@link trainCentralBaseline}. */
export interface CentralBaselineResult {
  readonly params: Float32Array;
  readonly trainLoss: number;
  readonly steps: number;
  readonly test: EvaluateResult;
}

/** Trains `plan` from its initial parameters on the pooled rows without DP and evaluates it. */
export async function trainCentralBaseline(input: CentralBaselineInput): Promise<CentralBaselineResult> {
  const sessions = input.sessions === undefined ? {} : { sessions: input.sessions };
  const r = await trainLocal({ plan: input.plan, dataset: input.train, trainingArgs: input.trainingArgs, rng: input.rng, ...sessions });
  const test = await evaluate({ plan: input.plan, dataset: input.test, params: r.params, ...sessions });
  return { params: r.params, trainLoss: r.loss, steps: r.steps, test };
}
