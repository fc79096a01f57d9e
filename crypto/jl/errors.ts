/**
 * Errors of the Joye-Libert secure-aggregation engine. Codes are stable and namespaced
 * `ERR_JL_*`; messages never carry keys, shares, pads or plaintexts.
 */
import { FedsecError } from '../../common/errors.ts';

/** Every code the JL engine raises on purpose. */
export type JlErrorCode =
  | 'ERR_JL_MODULUS'
  | 'ERR_JL_FINGERPRINT'
  | 'ERR_JL_INSECURE_MODULUS'
  | 'ERR_JL_TAG_REUSED'
  | 'ERR_JL_NOT_PRECOMPUTED'
  | 'ERR_JL_DECRYPT'
  | 'ERR_JL_SLOT_OVERFLOW'
  | 'ERR_JL_PACKING'
  | 'ERR_JL_STAGE'
  | 'ERR_JL_SETUP'
  | 'ERR_JL_REPLAY'
  | 'ERR_JL_UNMASK_CONFLICT'
  | 'ERR_JL_TOO_FEW'
  | 'ERR_JL_ROUND';

/** A JL protocol or scheme failure; branch on `code`. */
export class JlError extends FedsecError {
  constructor(code: JlErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? undefined : { details });
  }
}
