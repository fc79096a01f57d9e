/** Minimal DER helpers for the few primitive values fedsec puts in its private extensions. */
import { PkiError } from './errors.ts';

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** DER OCTET STRING holding `bytes`. */
export function derOctetString(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from([0x04, ...lengthBytes(bytes.length), ...bytes]);
}

/** DER INTEGER of a non-negative bigint (minimal encoding). */
export function derInteger(v: bigint): Uint8Array {
  if (v < 0n) throw new RangeError('negative');
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  let body = [...Buffer.from(hex, 'hex')];
  if (body[0]! & 0x80) body = [0, ...body];
  return Uint8Array.from([0x02, ...lengthBytes(body.length), ...body]);
}

/** Parses a DER OCTET STRING that must span all of `der`; throws ERR_PKI_BAD_CERT otherwise. */
export function parseDerOctetString(der: Uint8Array, field: string): Uint8Array {
  const bad = (): never => {
    throw new PkiError('ERR_PKI_BAD_CERT', `${field}: malformed OCTET STRING`);
  };
  if (der.length < 2 || der[0] !== 0x04) bad();
  let len = der[1]!;
  let off = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 2 || der.length < 2 + n) bad();
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[2 + i]!;
    off = 2 + n;
  }
  if (off + len !== der.length) bad();
  return der.slice(off);
}

/** Parses a DER INTEGER spanning all of `der` as a non-negative bigint. */
export function parseDerInteger(der: Uint8Array, field: string): bigint {
  if (der.length < 3 || der[0] !== 0x02 || der[1]! >= 0x80 || der[1]! + 2 !== der.length || der[2]! & 0x80) {
    throw new PkiError('ERR_PKI_BAD_CRL', `${field}: malformed INTEGER`);
  }
  return BigInt('0x' + Buffer.from(der.subarray(2)).toString('hex'));
}
