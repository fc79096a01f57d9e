/**
 * Canonical byte encodings used in transcripts, key-derivation info strings and signatures.
 * Every variable-length item is length-prefixed so distinct tuples never encode alike.
 */
import { InvalidArgumentError } from '../common/errors.ts';

const enc = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(s: string): Uint8Array {
  return enc.encode(s);
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** 4-byte big-endian unsigned integer. */
export function u32be(v: number): Uint8Array {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new InvalidArgumentError('value', `${v} is not a uint32`);
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, false);
  return b;
}

/** One item of a canonical tuple: a string, an unsigned integer, or raw bytes. */
export type TupleItem = string | number | Uint8Array;

/**
 * Injective encoding of a tuple: each item is tagged with its type and length-prefixed.
 * Use it for domain-separation labels, signed payloads and AEAD associated data.
 */
export function encodeTuple(items: readonly TupleItem[]): Uint8Array {
  const parts: Uint8Array[] = [u32be(items.length)];
  for (const it of items) {
    if (typeof it === 'string') {
      const b = utf8(it);
      parts.push(Uint8Array.of(1), u32be(b.length), b);
    } else if (typeof it === 'number') {
      if (!Number.isSafeInteger(it) || it < 0) throw new InvalidArgumentError('tuple', `integer item ${it} must be a non-negative safe integer`);
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt(it), false);
      parts.push(Uint8Array.of(2), b);
    } else {
      parts.push(Uint8Array.of(3), u32be(it.length), it);
    }
  }
  return concatBytes(...parts);
}

/** Constant-time equality of two byte arrays (length is not secret). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Hex encoding. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Hex decoding (throws on odd length or non-hex characters). */
export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new InvalidArgumentError('hex', 'not a hex string');
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** Standard base64 encoding. */
export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** Strict standard base64 decoding (rejects non-canonical input). */
export function fromBase64(s: string, field = 'base64'): Uint8Array {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) {
    throw new InvalidArgumentError(field, 'not canonical base64');
  }
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64') !== s) throw new InvalidArgumentError(field, 'not canonical base64');
  return new Uint8Array(b);
}
