/** Typed errors of local training and evaluation (codes `ERR_TRAIN_*`). */
import { FedsecError } from '../../common/errors.ts';

/** Stable codes of training failures. */
export type TrainingErrorCode =
  /** Dataset, parameters or arguments do not fit the plan (feature count, parameter length, empty data). */
  | 'ERR_TRAIN_INPUT'
  /** onnxruntime failed to load or run a plan graph. */
  | 'ERR_TRAIN_RUNTIME'
  /** The DP hook returned something other than a finite vector of P numbers. */
  | 'ERR_TRAIN_DP_HOOK'
  /** Loss or parameters became non-finite. */
  | 'ERR_TRAIN_DIVERGED';

/** Training or evaluation failed; `code` says why. */
export class TrainingError extends FedsecError {
  constructor(code: TrainingErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? undefined : { details });
  }
}
