/**
 * Training plans (researcher side): ONNX step/inference graph builders for logistic regression
 * and a small MLP, the plan contract for graphs made elsewhere, and the plan hash nodes approve.
 * Contract and rationale: docs/plans.md.
 *
 * Flow through the federation:
 * 1. researcher: `plan = logisticRegressionPlan({ features })` (or `mlpPlan`, or `await customPlan(...)`),
 *    `bytes = encodePlan(plan)` (a proto/plan.ts bundle), `hash = hashPlan(plan)`;
 * 2. node: `PlanStore.receive(bytes)` (node/plans.ts) stores it pending under the same hash; the
 *    service should run `await validatePlan(decodePlan(bytes))` on receipt and refuse failures;
 * 3. node, per round: `plan = planFromBundle(store.requireApproved(hash))`, then
 *    `trainLocal` / `evaluate` from node/training (which cache onnxruntime sessions by hash).
 */
export { logisticRegressionPlan, mlpPlan, MAX_FEATURES, MAX_HIDDEN, MAX_FEATURE_NAMES_CHARS } from './builders.ts';
export type { LogisticRegressionOptions, MlpOptions } from './builders.ts';
export {
  PLAN_CONTRACT_VERSION, PLAN_IO, PLAN_GRAPH_IO, PLAN_SECTIONS, MAX_GRAPH_BYTES, MAX_PARAMETERS,
  planToBundle, planFromBundle, encodePlan, decodePlan, hashPlan, validatePlanGraph, validatePlan, customPlan, assertGraphSafe, planFeatureNames,
} from './contract.ts';
export type { TrainingPlan, PlanGraphRole, PlanGraphInfo, ValidatePlanGraphOptions, CustomPlanInput } from './contract.ts';
export { PlanError } from './errors.ts';
export type { PlanErrorCode } from './errors.ts';
export { encodeOnnxModel, decodeOnnxSummary, onnxSafetyFindings, ALLOWED_OP_DOMAINS, ONNX_IR_VERSION, ONNX_OPSET } from './onnx.ts';
export type { OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo, OnnxDim, OnnxElemType, OnnxAttributeValue, OnnxSummary } from './onnx.ts';
export { GraphBuilder } from './graph.ts';
export { createOrtSession } from './runtime.ts';
export type { SessionTuning } from './runtime.ts';
