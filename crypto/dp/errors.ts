/**
 * Typed errors of the differential-privacy engine (`ERR_DP_*`). Invalid parameters throw the
 * shared {@link InvalidArgumentError} (code `ERR_INVALID_ARGUMENT`) naming the parameter.
 */
import { FedsecError } from '../../common/errors.ts';

/** A spend would exceed a dataset's privacy budget. `details` carries the numbers. */
export class DpBudgetExceededError extends FedsecError {
  static readonly code = 'ERR_DP_BUDGET_EXCEEDED';
  readonly dataset: string;
  readonly remainingEpsilon: number;
  constructor(dataset: string, message: string, details: { maxEpsilon: number; delta: number; spentEpsilon: number; requestedEpsilon: number; remainingEpsilon: number }) {
    super(DpBudgetExceededError.code, message, { details: { dataset, ...details } });
    this.dataset = dataset;
    this.remainingEpsilon = details.remainingEpsilon;
  }
}

/** A requested combination is not supported by the accountant (e.g. an event kind under PLD). */
export class DpUnsupportedError extends FedsecError {
  static readonly code = 'ERR_DP_UNSUPPORTED';
  constructor(message: string, details?: Record<string, unknown>) {
    super(DpUnsupportedError.code, message, details === undefined ? undefined : { details });
  }
}

/** A calibration target cannot be met within the search range. */
export class DpCalibrationError extends FedsecError {
  static readonly code = 'ERR_DP_CALIBRATION';
  constructor(message: string, details?: Record<string, unknown>) {
    super(DpCalibrationError.code, message, details === undefined ? undefined : { details });
  }
}

/** A node refuses an update whose DP configuration does not meet its policy. */
export class DpPolicyError extends FedsecError {
  static readonly code = 'ERR_DP_POLICY';
  constructor(message: string, details?: Record<string, unknown>) {
    super(DpPolicyError.code, message, details === undefined ? undefined : { details });
  }
}
