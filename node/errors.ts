/** Typed errors of the node service (codes `ERR_NODE_*`). */
import { FedsecError } from '../common/errors.ts';

/** Stable codes of node-side refusals and failures. */
export type NodeErrorCode =
  | 'ERR_NODE_AUDIT_TAMPERED'
  | 'ERR_NODE_PLAN_UNKNOWN'
  | 'ERR_NODE_PLAN_NOT_APPROVED'
  | 'ERR_NODE_PLAN_REJECTED'
  | 'ERR_NODE_PLAN_ALTERED'
  | 'ERR_NODE_POLICY_INVALID'
  | 'ERR_NODE_POLICY_SCHEME'
  | 'ERR_NODE_POLICY_SECAGG_REQUIRED'
  | 'ERR_NODE_POLICY_DP_REQUIRED'
  | 'ERR_NODE_POLICY_DP_MODE'
  | 'ERR_NODE_POLICY_NOISE'
  | 'ERR_NODE_POLICY_ARGS'
  | 'ERR_NODE_POLICY_PARTICIPANTS'
  | 'ERR_NODE_DATASET_UNKNOWN'
  | 'ERR_NODE_BUDGET_EXHAUSTED'
  | 'ERR_NODE_REQUEST_INVALID'
  | 'ERR_NODE_TRAINING_FAILED';

/** A node refused or failed a request; `code` says why, the message is shown to the researcher. */
export class NodeError extends FedsecError {
  constructor(code: NodeErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? undefined : { details });
  }
}
