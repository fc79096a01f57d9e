/** Typed errors of the aggregator service (codes `ERR_AGG_*`). */
import { FedsecError } from '../common/errors.ts';

/** Stable codes of aggregator failures. */
export type AggregatorErrorCode =
  | 'ERR_AGG_STORE'
  | 'ERR_AGG_EXPERIMENT_EXISTS'
  | 'ERR_AGG_EXPERIMENT_UNKNOWN'
  | 'ERR_AGG_ROUND_DONE'
  | 'ERR_AGG_ROUND_UNKNOWN'
  | 'ERR_AGG_ROUND_BUSY'
  | 'ERR_AGG_ROUND_ORDER'
  | 'ERR_AGG_TOO_FEW_NODES'
  | 'ERR_AGG_STAGE_TIMEOUT'
  | 'ERR_AGG_UPLOAD'
  | 'ERR_AGG_BLOB_UNKNOWN'
  | 'ERR_AGG_BLOB_TOO_LARGE'
  | 'ERR_AGG_ABORTED'
  | 'ERR_AGG_SCHEME_UNAVAILABLE'
  | 'ERR_AGG_CONFIG';

/** An aggregator-side failure. */
export class AggregatorError extends FedsecError {
  constructor(code: AggregatorErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? undefined : { details });
  }
}
