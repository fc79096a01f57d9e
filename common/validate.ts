/**
 * Input validation helpers for trust boundaries. Each throws {@link InvalidArgumentError}
 * (or the error produced by `make`) naming the offending field.
 */
import { InvalidArgumentError, InvalidMessageError } from './errors.ts';

/** Which error family a validator throws: caller arguments or untrusted messages. */
export type ErrorKind = 'argument' | 'message';

function fail(kind: ErrorKind, field: string, message: string, details?: Record<string, unknown>): never {
  throw kind === 'argument'
    ? new InvalidArgumentError(field, message, details)
    : new InvalidMessageError(field, message, details);
}

/** Asserts `v` is a Uint8Array, of exactly `length` bytes when given. */
export function assertBytes(field: string, v: unknown, length?: number, kind: ErrorKind = 'argument'): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) fail(kind, field, `expected Uint8Array, got ${describe(v)}`);
  if (length !== undefined && v.length !== length) fail(kind, field, `expected ${length} bytes, got ${v.length}`, { expected: length, actual: v.length });
}

/** Asserts `v` is a Uint8Array whose length lies in [min, max]. */
export function assertBytesRange(field: string, v: unknown, min: number, max: number, kind: ErrorKind = 'argument'): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) fail(kind, field, `expected Uint8Array, got ${describe(v)}`);
  if (v.length < min || v.length > max) fail(kind, field, `length ${v.length} outside [${min}, ${max}]`, { min, max, actual: v.length });
}

/** Asserts `v` is a safe integer in [min, max]. */
export function assertInt(field: string, v: unknown, min: number, max: number, kind: ErrorKind = 'argument'): asserts v is number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(kind, field, `expected an integer, got ${describe(v)}`);
  if (v < min || v > max) fail(kind, field, `${v} outside [${min}, ${max}]`, { min, max, actual: v });
}

/** Asserts `v` is a finite number in [min, max] (bounds inclusive unless `open` says otherwise). */
export function assertNumber(
  field: string,
  v: unknown,
  min: number,
  max: number,
  opts: { minOpen?: boolean; maxOpen?: boolean; kind?: ErrorKind } = {},
): asserts v is number {
  const kind = opts.kind ?? 'argument';
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(kind, field, `expected a finite number, got ${describe(v)}`);
  const lowOk = opts.minOpen ? v > min : v >= min;
  const highOk = opts.maxOpen ? v < max : v <= max;
  if (!lowOk || !highOk) {
    fail(kind, field, `${v} outside ${opts.minOpen ? '(' : '['}${min}, ${max}${opts.maxOpen ? ')' : ']'}`, { min, max, actual: v });
  }
}

/** Asserts `v` is a bigint in [min, max]. */
export function assertBigInt(field: string, v: unknown, min: bigint, max: bigint, kind: ErrorKind = 'argument'): asserts v is bigint {
  if (typeof v !== 'bigint') fail(kind, field, `expected a bigint, got ${describe(v)}`);
  if (v < min || v > max) fail(kind, field, `value outside the allowed range`);
}

/** Asserts `v` is a non-empty string of at most `maxLength` characters matching `pattern` if given. */
export function assertString(field: string, v: unknown, maxLength = 256, pattern?: RegExp, kind: ErrorKind = 'argument'): asserts v is string {
  if (typeof v !== 'string') fail(kind, field, `expected a string, got ${describe(v)}`);
  if (v.length === 0 || v.length > maxLength) fail(kind, field, `length ${v.length} outside [1, ${maxLength}]`);
  if (pattern !== undefined && !pattern.test(v)) fail(kind, field, `does not match ${pattern}`);
}

/** Asserts every element of a numeric array is finite; names the first bad index. */
export function assertFiniteVector(field: string, v: unknown, kind: ErrorKind = 'argument'): asserts v is ArrayLike<number> {
  if (!(v instanceof Float64Array || v instanceof Float32Array || Array.isArray(v))) {
    fail(kind, field, `expected Float64Array, Float32Array or number[], got ${describe(v)}`);
  }
  const a = v as ArrayLike<unknown>;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(kind, field, `element ${i} is ${describe(x)}, expected a finite number`, { index: i });
  }
}

/** Short, secret-free description of a value's type for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? 'number' : String(v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/** Identifier pattern for federation, member, experiment and dataset names. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
