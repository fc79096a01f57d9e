/**
 * What a hospital runs: the node agent (dial-out session, plan / policy / budget checks, local
 * training, secure aggregation clients), governance (plan approval by SHA-256, node policy,
 * hash-chained audit log), DP at the node, and the sub-areas datasets/, training/ and ledger/.
 */
export {
  NodeAgent, identitySecretFromKeyObject, decodeParams, localStats, statsVectorLength as contributionStatsLength, MAX_WIDE_PARTIES,
  type DatasetSource, type NodeAgentOptions, type PrivacyGuard, type Trainer,
} from './agent.ts';
export { AuditLog, isAuditTampered, type AuditEntry, type AuditHead, type AuditType, type AuditVerification } from './audit.ts';
export { PlanStore, type PlanRecord, type PlanStatus } from './plans.ts';
export { DEFAULT_POLICY, evaluatePolicy, loadPolicy, parsePolicy, savePolicy, type DatasetBudget, type NodePolicy, type PolicyDecision, type Range } from './policy.ts';
export { dpEventFor, dpStepHook, dpTrainingArgs, ledgerGuard, nodeNoiseMultiplier } from './privacy.ts';
export { OnnxTrainer, applyStandardization, type DatasetSplits, type OnnxTrainerOptions, type TrainRoundInput, type TrainRoundOutput } from './trainer.ts';
export { nodePaths, registryDatasets, startNodeService, type NodeServiceOptions } from './service.ts';
export { NodeError, type NodeErrorCode } from './errors.ts';
export * as datasets from './datasets/index.ts';
export * as training from './training/index.ts';
export * as ledger from './ledger/index.ts';
