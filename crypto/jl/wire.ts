/**
 * Small canonical encodings for JL payloads: signed bigints, and the inverse of
 * `encodeTuple` (crypto/bytes.ts) for the AEAD plaintexts this engine builds itself.
 */
import { InvalidMessageError } from '../../common/errors.ts';
import { encodeTuple, type TupleItem } from '../bytes.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { bigIntToBytesBE, bytesToBigIntBE } from '../random.ts';

/** Signed bigint as sign byte (0 non-negative, 1 negative) then minimal big-endian magnitude. */
export function encodeSignedBigInt(v: bigint): Uint8Array {
  const neg = v < 0n;
  const mag = neg ? -v : v;
  const len = mag === 0n ? 0 : Math.ceil(mag.toString(16).length / 2);
  const out = new Uint8Array(1 + len);
  out[0] = neg ? 1 : 0;
  if (len > 0) out.set(bigIntToBytesBE(mag, len), 1);
  return out;
}

/** Inverse of {@link encodeSignedBigInt}; rejects non-canonical forms and more than `maxBytes` of magnitude. */
export function decodeSignedBigInt(b: Uint8Array, field: string, maxBytes = 4096): bigint {
  if (!(b instanceof Uint8Array) || b.length < 1 || b.length > maxBytes + 1 || (b[0] !== 0 && b[0] !== 1)) throw new InvalidMessageError(field, 'not a signed integer encoding');
  if (b.length > 1 && b[1] === 0) throw new InvalidMessageError(field, 'non-minimal integer encoding');
  const mag = bytesToBigIntBE(b.subarray(1));
  if (b[0] === 1 && mag === 0n) throw new InvalidMessageError(field, 'negative zero');
  return b[0] === 1 ? -mag : mag;
}

/** Decodes what `encodeTuple` produced; throws InvalidMessageError on any malformed input. */
export function decodeTuple(b: Uint8Array, field: string): TupleItem[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const need = (off: number, n: number) => {
    if (off + n > b.length) throw new InvalidMessageError(field, 'truncated tuple');
  };
  need(0, 4);
  const count = dv.getUint32(0, false);
  let off = 4;
  const out: TupleItem[] = [];
  const dec = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < count; i++) {
    need(off, 1);
    const t = b[off]!;
    off += 1;
    if (t === 1 || t === 3) {
      need(off, 4);
      const len = dv.getUint32(off, false);
      off += 4;
      need(off, len);
      const body = b.subarray(off, off + len);
      off += len;
      if (t === 1) {
        try {
          out.push(dec.decode(body));
        } catch {
          throw new InvalidMessageError(field, 'invalid UTF-8');
        }
      } else out.push(Uint8Array.from(body));
    } else if (t === 2) {
      need(off, 8);
      const v = dv.getBigUint64(off, false);
      off += 8;
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidMessageError(field, 'integer too large');
      out.push(Number(v));
    } else throw new InvalidMessageError(field, 'unknown tuple item type');
  }
  if (off !== b.length) throw new InvalidMessageError(field, 'trailing bytes');
  return out;
}

/** SHA-256 of the canonical tuple encoding (what signatures cover). */
export function tupleDigest(items: readonly TupleItem[]): Uint8Array {
  return sha256(encodeTuple(items));
}
