/**
 * Node-side local training: runs an approved plan's ONNX graphs with onnxruntime-node
 * (sessions cached per plan hash), plain SGD or DP-SGD through a caller-supplied hook with
 * optional Poisson sampling, evaluation on the held-out split, and the central baseline.
 *
 * One round on a node, as the service calls it:
 * ```ts
 * const { train, test } = registry.load(tag);                    // node/datasets
 * const st = standardizationFromSums(globalStatsSum, plan.features); // from the securely aggregated stats round
 * const r = await trainLocal({ plan, dataset: standardize(train, st), params: globalParams,
 *   trainingArgs: { learningRate, epochs, batchSize, samplingRate }, dp: dpStepFromTheDpEngine, rng: systemRandom });
 * // r.update (Float64Array, length P) goes to secure aggregation; r.samples is the FedAvg weight.
 * const e = await evaluate({ plan, dataset: standardize(test, st), params: newGlobalParams });
 * ```
 * The researcher applies the aggregated mean update with `applyUpdate(globalParams, meanUpdate)`.
 */
export { trainLocal, evaluate, applyUpdate } from './train.ts';
export type {
  LocalTrainingArgs, PerSampleGradients, DpStepContext, DpStepHook, TrainLocalInput, TrainLocalResult, EvaluateInput, EvaluateResult,
} from './train.ts';
export { trainCentralBaseline } from './baseline.ts';
export type { CentralBaselineInput, CentralBaselineResult } from './baseline.ts';
export { PlanSessionCache, defaultSessionCache } from './sessions.ts';
export type { PlanSessions, PlanSessionCacheOptions } from './sessions.ts';
export { TrainingError } from './errors.ts';
export type { TrainingErrorCode } from './errors.ts';
