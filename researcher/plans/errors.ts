/** Typed errors of training plans (codes `ERR_PLAN_*`). */
import { FedsecError } from '../../common/errors.ts';

/** Stable codes of plan failures. */
export type PlanErrorCode =
  /** A graph exceeds {@link MAX_GRAPH_BYTES} (or the parameter vector its size limit). */
  | 'ERR_PLAN_TOO_LARGE'
  /** onnxruntime could not load the bytes as an ONNX model. */
  | 'ERR_PLAN_GRAPH_INVALID'
  /** The graph loads but breaks the plan contract (names, dtypes, shapes, probe run). */
  | 'ERR_PLAN_CONTRACT'
  /** A graph reads external data files or uses operators outside the allowed domains. */
  | 'ERR_PLAN_UNSAFE'
  /** A plan bundle does not describe a valid plan (sections, metadata, initial parameters). */
  | 'ERR_PLAN_BUNDLE';

/** A plan or one of its graphs was refused; `code` says why. */
export class PlanError extends FedsecError {
  constructor(code: PlanErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? undefined : { details });
  }
}
