/**
 * Full-domain hash into Z*_(N^2) for Joye-Libert tags, and the round tag itself.
 *
 * H(tag, index) expands the canonical encoding of (domain, modulus fingerprint, federation,
 * experiment, round, attempt, ciphertext index) with SHAKE256 (FIPS 202) to |N^2| + 256
 * bits and reduces modulo N^2, so the output is within 2^-256 of uniform on Z_(N^2)
 * (Fed-BioMed's hash, by contrast, has only 256 bits of output). An output that is not a
 * unit would reveal a factor of N; that happens with probability about 2^-(|N|/2) and is
 * not tested for (a gcd per hash would cost more than it protects), but the degenerate
 * outputs 0 mod N and 1 are refused.
 */
import { createHash } from 'node:crypto';
import { assertInt, assertString, ID_PATTERN } from '../../common/validate.ts';
import { encodeTuple } from '../bytes.ts';
import { bytesToBigIntBE } from '../random.ts';
import { JlError } from './errors.ts';
import type { JlModulus } from './modulus.ts';

/** Domain label of the hash-to-group. */
export const HASH_TO_GROUP_DOMAIN = 'fedsec/jl/hash-to-group/v1';

/** What one JL encryption is bound to; a node never encrypts twice under the same tag. */
export interface JlTag {
  readonly federation: string;
  readonly experiment: string;
  /** Training round (≥ 0). */
  readonly round: number;
  /** Attempt of that round (≥ 0); a retried round uses a new attempt. */
  readonly attempt: number;
}

/** Validates a tag (ids, non-negative safe integers). */
export function assertTag(field: string, t: unknown, kind: 'argument' | 'message' = 'argument'): asserts t is JlTag {
  if (typeof t !== 'object' || t === null) throw new JlError('ERR_JL_ROUND', `${field}: tag must be an object`);
  const o = t as Record<string, unknown>;
  assertString(`${field}.federation`, o['federation'], 128, ID_PATTERN, kind);
  assertString(`${field}.experiment`, o['experiment'], 128, ID_PATTERN, kind);
  assertInt(`${field}.round`, o['round'], 0, Number.MAX_SAFE_INTEGER, kind);
  assertInt(`${field}.attempt`, o['attempt'], 0, Number.MAX_SAFE_INTEGER, kind);
}

/** Canonical string key of a tag (for used-tag sets). */
export function tagKey(t: JlTag): string {
  return JSON.stringify([t.federation, t.experiment, t.round, t.attempt]);
}

/** Equality of two tags. */
export function sameTag(a: JlTag, b: JlTag): boolean {
  return a.federation === b.federation && a.experiment === b.experiment && a.round === b.round && a.attempt === b.attempt;
}

/** The message hashed for ciphertext `index` under `tag` (exposed for the KAT generator's cross-check). */
export function hashInput(fingerprint: Uint8Array, tag: JlTag, index: number): Uint8Array {
  return encodeTuple([HASH_TO_GROUP_DOMAIN, fingerprint, tag.federation, tag.experiment, tag.round, tag.attempt, index]);
}

/** H(tag, index) ∈ Z*_(N^2). */
export function hashToGroup(modulus: JlModulus, n2: bigint, tag: JlTag, index: number): bigint {
  const n2Bytes = Math.ceil(2 * modulus.bits / 8);
  const out = createHash('shake256', { outputLength: n2Bytes + 32 }).update(hashInput(modulus.fingerprint, tag, index)).digest();
  const h = bytesToBigIntBE(new Uint8Array(out.buffer, out.byteOffset, out.byteLength)) % n2;
  if (h % modulus.n === 0n || h === 1n) throw new JlError('ERR_JL_MODULUS', 'hash output is degenerate (N is not a proper RSA modulus)');
  return h;
}
