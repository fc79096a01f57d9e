/**
 * The training-plan bundle: the unit a researcher submits and a node approves by SHA-256.
 *
 * A bundle is a small binary container: the magic `FSPLAN01`, a 4-byte big-endian header length,
 * a canonical-JSON header (name, kind, parameter count, training contract, section table), then
 * the sections' bytes in header order (typically `step.onnx` and `infer.onnx`). The plan hash is
 * SHA-256 over the entire encoding, so changing any byte of any graph or of the header changes
 * the hash, and a node that approved one hash never runs anything else.
 */
import { InvalidMessageError } from '../common/errors.ts';
import { assertInt, assertString, ID_PATTERN } from '../common/validate.ts';
import { concatBytes, toHex, u32be, utf8 } from '../crypto/bytes.ts';
import { sha256Digest } from '../crypto/hkdf.ts';
import { canonicalJson } from './durable.ts';

/** Magic prefix of an encoded bundle. */
export const PLAN_MAGIC = 'FSPLAN01';
/** Largest encoded bundle accepted anywhere (bytes). */
export const MAX_PLAN_BYTES = 64 * 1024 * 1024;
/** Largest bundle header (bytes). */
export const MAX_PLAN_HEADER_BYTES = 64 * 1024;

/** A decoded plan bundle. */
export interface PlanBundle {
  /** Human-readable plan name (ID_PATTERN). */
  readonly name: string;
  /** Model family, e.g. `logreg`, `mlp`, `custom`, or `stats` for federated preprocessing. */
  readonly kind: string;
  /** Length of the flat parameter vector the step graph consumes and produces. */
  readonly numParams: number;
  /** Free-form, non-secret description fields shown to the data manager (strings or numbers). */
  readonly meta: Readonly<Record<string, string | number>>;
  /** Named binary sections (e.g. `step.onnx`, `infer.onnx`). */
  readonly sections: Readonly<Record<string, Uint8Array>>;
}

/** Encodes a bundle canonically (same bundle, same bytes, same hash). */
export function encodePlanBundle(b: PlanBundle): Uint8Array {
  validateHeaderFields(b.name, b.kind, b.numParams, b.meta, 'argument');
  const names = Object.keys(b.sections).sort();
  const header = utf8(canonicalJson({
    name: b.name,
    kind: b.kind,
    numParams: b.numParams,
    meta: b.meta,
    sections: names.map((n) => ({ name: n, length: b.sections[n]!.length })),
  }));
  if (header.length > MAX_PLAN_HEADER_BYTES) throw new InvalidMessageError('plan.header', `header of ${header.length} bytes exceeds ${MAX_PLAN_HEADER_BYTES}`);
  const out = concatBytes(utf8(PLAN_MAGIC), u32be(header.length), header, ...names.map((n) => b.sections[n]!));
  if (out.length > MAX_PLAN_BYTES) throw new InvalidMessageError('plan', `bundle of ${out.length} bytes exceeds ${MAX_PLAN_BYTES}`);
  return out;
}

/** Lower-case hex SHA-256 of an encoded bundle: the plan hash nodes approve. */
export function planHash(encoded: Uint8Array): string {
  return toHex(sha256Digest(encoded));
}

/** Decodes and strictly validates an encoded bundle (throws InvalidMessageError naming the field). */
export function decodePlanBundle(bytes: Uint8Array): PlanBundle {
  if (!(bytes instanceof Uint8Array)) throw new InvalidMessageError('plan', 'expected bytes');
  if (bytes.length > MAX_PLAN_BYTES) throw new InvalidMessageError('plan', `bundle of ${bytes.length} bytes exceeds ${MAX_PLAN_BYTES}`);
  if (bytes.length < 12 || Buffer.from(bytes.subarray(0, 8)).toString('latin1') !== PLAN_MAGIC) {
    throw new InvalidMessageError('plan', 'not a fedsec plan bundle (bad magic)');
  }
  const hlen = new DataView(bytes.buffer, bytes.byteOffset + 8, 4).getUint32(0, false);
  if (hlen > MAX_PLAN_HEADER_BYTES || 12 + hlen > bytes.length) throw new InvalidMessageError('plan.header', 'header length out of range');
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(12, 12 + hlen)).toString('utf8'));
  } catch {
    throw new InvalidMessageError('plan.header', 'header is not JSON');
  }
  if (typeof header !== 'object' || header === null) throw new InvalidMessageError('plan.header', 'header is not an object');
  const h = header as Record<string, unknown>;
  const meta = (h['meta'] ?? {}) as Record<string, string | number>;
  validateHeaderFields(h['name'], h['kind'], h['numParams'], meta, 'message');
  const table = h['sections'];
  if (!Array.isArray(table) || table.length > 16) throw new InvalidMessageError('plan.sections', 'expected an array of at most 16 sections');
  const sections: Record<string, Uint8Array> = {};
  let off = 12 + hlen;
  for (const [i, s] of table.entries()) {
    const e = s as Record<string, unknown>;
    assertString(`plan.sections[${i}].name`, e['name'], 64, /^[A-Za-z0-9._-]+$/, 'message');
    assertInt(`plan.sections[${i}].length`, e['length'], 0, MAX_PLAN_BYTES, 'message');
    const name = e['name'] as string;
    const len = e['length'] as number;
    if (name in sections) throw new InvalidMessageError(`plan.sections[${i}].name`, 'duplicate section');
    if (off + len > bytes.length) throw new InvalidMessageError(`plan.sections[${i}]`, 'truncated bundle');
    sections[name] = bytes.slice(off, off + len);
    off += len;
  }
  if (off !== bytes.length) throw new InvalidMessageError('plan', 'trailing bytes after the last section');
  const re = encodePlanBundle({ name: h['name'] as string, kind: h['kind'] as string, numParams: h['numParams'] as number, meta, sections });
  if (planHash(re) !== planHash(bytes)) throw new InvalidMessageError('plan.header', 'header is not in canonical form');
  return { name: h['name'] as string, kind: h['kind'] as string, numParams: h['numParams'] as number, meta, sections };
}

function validateHeaderFields(name: unknown, kind: unknown, numParams: unknown, meta: unknown, kind_: 'argument' | 'message'): void {
  assertString('plan.name', name, 128, ID_PATTERN, kind_);
  assertString('plan.kind', kind, 32, /^[a-z][a-z0-9-]*$/, kind_);
  assertInt('plan.numParams', numParams, 1, 1 << 26, kind_);
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new InvalidMessageError('plan.meta', 'expected an object');
  const entries = Object.entries(meta as Record<string, unknown>);
  if (entries.length > 64) throw new InvalidMessageError('plan.meta', 'too many entries');
  for (const [k, v] of entries) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(k)) throw new InvalidMessageError('plan.meta', `bad key ${JSON.stringify(k).slice(0, 70)}`);
    if (!(typeof v === 'string' && v.length <= 1024) && !(typeof v === 'number' && Number.isFinite(v))) {
      throw new InvalidMessageError(`plan.meta.${k}`, 'expected a string (≤1024 chars) or a finite number');
    }
  }
}
