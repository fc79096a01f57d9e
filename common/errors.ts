/**
 * Typed errors with stable codes.
 *
 * Every error fedsec throws on purpose is a {@link FedsecError}: callers and tests branch on
 * `code` (a stable string such as `ERR_INVALID_ARGUMENT`), never on the message, which is for
 * people. Messages must never contain secret material (keys, seeds, shares, raw updates).
 *
 * Modules define their own subclasses with their own codes; codes are namespaced by area
 * (`ERR_SECAGG_*`, `ERR_DP_*`, `ERR_PKI_*`, ...) and, once released, never change meaning.
 */
export class FedsecError extends Error {
  /** Stable, machine-readable error code. */
  readonly code: string;
  /** Optional non-secret details (field names, counts, limits) for programmatic handling. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details;
  }

  /** JSON form (code, name, message, details): what services send over the wire. */
  toJSON(): { code: string; name: string; message: string; details?: Readonly<Record<string, unknown>> } {
    return this.details === undefined
      ? { code: this.code, name: this.name, message: this.message }
      : { code: this.code, name: this.name, message: this.message, details: this.details };
  }
}

/** A caller passed a value of the wrong type, length or range. `field` names the parameter. */
export class InvalidArgumentError extends FedsecError {
  static readonly code = 'ERR_INVALID_ARGUMENT';
  readonly field: string;
  constructor(field: string, message: string, details?: Record<string, unknown>) {
    super(InvalidArgumentError.code, `${field}: ${message}`, { details: { field, ...details } });
    this.field = field;
  }
}

/** A message from the network or a file failed validation (size, shape, round, sender). */
export class InvalidMessageError extends FedsecError {
  static readonly code = 'ERR_INVALID_MESSAGE';
  readonly field: string;
  constructor(field: string, message: string, details?: Record<string, unknown>) {
    super(InvalidMessageError.code, `${field}: ${message}`, { details: { field, ...details } });
    this.field = field;
  }
}

/** An authenticated decryption or signature check failed. */
export class AuthenticationError extends FedsecError {
  static readonly code = 'ERR_AUTHENTICATION';
  constructor(message: string, code: string = AuthenticationError.code, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? undefined : { details });
  }
}

/** An operation was called in a state where it is not allowed (wrong stage, already done). */
export class StateError extends FedsecError {
  static readonly code = 'ERR_STATE';
  constructor(message: string, code: string = StateError.code, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? undefined : { details });
  }
}

/** True if `e` is a FedsecError, optionally with the given code. */
export function isFedsecError(e: unknown, code?: string): e is FedsecError {
  return e instanceof FedsecError && (code === undefined || e.code === code);
}
