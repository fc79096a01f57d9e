/**
 * Node-side local training: runs an approved plan's ONNX graphs with onnxruntime-node
 * (sessions cached per plan hash), plain SGD or DP-SGD through a caller-supplied hook with
 * optional Poisson sampling, evaluation on the held-out split, and the central baseline.
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
