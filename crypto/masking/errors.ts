/**
 * Typed errors of the pairwise-masking secure-aggregation engine. Codes are stable
 * (`ERR_SECAGG_*`); malformed messages and bad arguments use the common
 * `InvalidMessageError` / `InvalidArgumentError` (code `ERR_INVALID_MESSAGE` /
 * `ERR_INVALID_ARGUMENT`), which name the offending field.
 */
import { FedsecError } from '../../common/errors.ts';

/** Every protocol-level error code the masking engine raises. */
export const SECAGG_ERROR_CODES = [
  /** A message belongs to another federation. */
  'ERR_SECAGG_WRONG_FEDERATION',
  /** A message belongs to another round (e.g. a replay from an earlier round). */
  'ERR_SECAGG_WRONG_ROUND',
  /** A message belongs to another stage than the one the state machine is in. */
  'ERR_SECAGG_WRONG_STAGE',
  /** The sender or recipient is not who this stage expects (not a participant, not a neighbour, not the aggregator). */
  'ERR_SECAGG_UNEXPECTED_SENDER',
  /** The same sender answered a stage twice. */
  'ERR_SECAGG_DUPLICATE',
  /** A signature over round keys or over the survivor list does not verify against the roster. */
  'ERR_SECAGG_BAD_SIGNATURE',
  /** An encrypted share failed authentication or decoded to the wrong sender/recipient. */
  'ERR_SECAGG_BAD_SHARE',
  /** Two members advertised the same public key (replay or reflection). */
  'ERR_SECAGG_DUPLICATE_KEY',
  /** An advertised X25519 key is a low-order point (its agreements would be all zero). */
  'ERR_SECAGG_BAD_KEY',
  /** Fewer members than the threshold remain: the round aborts and releases nothing. */
  'ERR_SECAGG_BELOW_THRESHOLD',
  /** The server's survivor and dropped lists overlap or do not cover the peers this client holds shares of. */
  'ERR_SECAGG_INCONSISTENT_LISTS',
  /** The survivor list in the unmask request differs from the list this client signed. */
  'ERR_SECAGG_SURVIVOR_MISMATCH',
  /** A second, different unmask request arrived after this client already answered one. */
  'ERR_SECAGG_ALREADY_UNMASKED',
  /** A masked-input upload was started but not completed when its stage closed. */
  'ERR_SECAGG_INCOMPLETE_UPLOAD',
  /** Reconstructed secrets are inconsistent (shares from a faulty or malicious member). */
  'ERR_SECAGG_RECONSTRUCTION_FAILED',
  /** The state machine aborted earlier; it refuses every further call. */
  'ERR_SECAGG_ABORTED',
  /** The call is not allowed in the current state (e.g. result before unmask). */
  'ERR_SECAGG_STATE',
] as const;

/** One of {@link SECAGG_ERROR_CODES}. */
export type SecAggErrorCode = (typeof SECAGG_ERROR_CODES)[number];

/** A secure-aggregation protocol error. Messages never contain secrets. */
export class SecAggError extends FedsecError {
  declare readonly code: SecAggErrorCode;
  constructor(code: SecAggErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? undefined : { details });
  }
}
