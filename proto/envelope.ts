/**
 * Serialization of secure-aggregation engine messages for the Session stream. The engines'
 * messages are plain objects of strings, numbers, booleans, arrays, Uint8Array, Uint32Array and
 * bigint; they are encoded as JSON with tagged binary values ({"$u8": base64}, {"$u32": base64},
 * {"$big": hex}). The aggregator relays them without reading their secrets (shares are
 * AEAD-encrypted end to end by the engines); receivers hand the decoded object to the engine,
 * whose own parser validates every field.
 */
import { InvalidMessageError } from '../common/errors.ts';
import { MAX_RELAY_BYTES } from './limits.ts';

/** Encodes an engine message. */
export function encodeEngineMessage(msg: unknown): Uint8Array {
  const s = JSON.stringify(msg, (_k, v: unknown) => {
    if (v instanceof Uint8Array) return { $u8: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
    if (v instanceof Uint32Array) return { $u32: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
    if (typeof v === 'bigint') return { $big: v.toString(16) };
    return v;
  });
  return new Uint8Array(Buffer.from(s, 'utf8'));
}

/** Decodes an engine message (bounded size; the engine validates the fields). */
export function decodeEngineMessage(bytes: Uint8Array): unknown {
  if (bytes.length > MAX_RELAY_BYTES) throw new InvalidMessageError('payload', `engine message of ${bytes.length} bytes exceeds ${MAX_RELAY_BYTES}`);
  return decodeStoredEngineMessage(bytes);
}

/** Decodes the same encoding from local storage (no relay size bound). */
export function decodeStoredEngineMessage(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'), (_k, v: unknown) => {
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o);
        if (keys.length === 1) {
          if (typeof o['$u8'] === 'string') return new Uint8Array(Buffer.from(o['$u8'], 'base64'));
          if (typeof o['$u32'] === 'string') {
            const b = Buffer.from(o['$u32'], 'base64');
            if (b.length % 4 !== 0) throw new InvalidMessageError('payload', 'bad $u32 length');
            return new Uint32Array(Uint8Array.from(b).buffer);
          }
          if (typeof o['$big'] === 'string' && /^-?[0-9a-f]{1,4096}$/.test(o['$big'])) {
            const s = o['$big'];
            return s.startsWith('-') ? -BigInt('0x' + s.slice(1)) : BigInt('0x' + s);
          }
        }
      }
      return v;
    });
  } catch (e) {
    if (e instanceof InvalidMessageError) throw e;
    throw new InvalidMessageError('payload', 'engine message is not valid JSON');
  }
}

/** Parses a JSON body of bounded size into an object (InvalidMessageError otherwise). */
export function parseJsonBody(json: string, field: string, maxChars: number): Record<string, unknown> {
  if (typeof json !== 'string' || json.length === 0) throw new InvalidMessageError(field, 'missing JSON body');
  if (json.length > maxChars) throw new InvalidMessageError(field, `JSON body of ${json.length} characters exceeds ${maxChars}`);
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new InvalidMessageError(field, 'not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidMessageError(field, 'expected a JSON object');
  return v as Record<string, unknown>;
}
