/**
 * Mask derivation and arithmetic shared by the client and the server.
 *
 * Masks are `expandMask(seed, domain, count, 32)` words combined mod 2^32 and reduced to
 * Z_(2^bits) once at the end: since 2^bits divides 2^32 this equals summing
 * `expandMask(seed, domain, count, bits)` mod 2^bits, with one typed-array pass per mask.
 */
import { deriveKey } from '../hkdf.ts';
import { expandMask } from '../prg.ts';
import { x25519SharedSecret } from '../x25519.ts';
import type { MaskingRound } from './config.ts';

/** The seed of the pairwise mask between `a` and `b` (symmetric in a, b) from an X25519 agreement. */
export function pairMaskSeed(round: MaskingRound, secretKey: Uint8Array, peerPublicKey: Uint8Array, a: string, b: string): Uint8Array {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return deriveKey(x25519SharedSecret(secretKey, peerPublicKey), round.label('pair-mask-seed', lo, hi));
}

/** `acc += sign * PRG(seed)` mod 2^32 for the pairwise mask of (a, b). Positive for the smaller id. */
export function applyPairMask(round: MaskingRound, acc: Uint32Array, seed: Uint8Array, self: string, peer: string, negate = false): void {
  const [lo, hi] = self < peer ? [self, peer] : [peer, self];
  const m = expandMask(seed, round.label('pair-mask', lo, hi), acc.length, 32);
  if ((self < peer) !== negate) addWords(acc, m);
  else subWords(acc, m);
}

/** `acc += PRG(selfSeed)` (or minus, when `negate`) mod 2^32 for `owner`'s self mask. */
export function applySelfMask(round: MaskingRound, acc: Uint32Array, selfSeed: Uint8Array, owner: string, negate = false): void {
  const m = expandMask(selfSeed, round.label('self-mask', owner), acc.length, 32);
  if (negate) subWords(acc, m);
  else addWords(acc, m);
}

/** acc += v mod 2^32 (Uint32Array stores wrap), in place. */
export function addWords(acc: Uint32Array, v: Uint32Array, offset = 0): void {
  const n = v.length;
  for (let i = 0; i < n; i++) acc[offset + i] = acc[offset + i]! + v[i]!;
}

/** acc -= v mod 2^32, in place. */
export function subWords(acc: Uint32Array, v: Uint32Array): void {
  const n = acc.length;
  for (let i = 0; i < n; i++) acc[i] = acc[i]! - v[i]!;
}

/** Reduces every word mod 2^bits in place. */
export function reduceWords(acc: Uint32Array, bits: number): void {
  if (bits >= 32) return;
  const m = (2 ** bits - 1) >>> 0;
  const n = acc.length;
  for (let i = 0; i < n; i++) acc[i] = acc[i]! & m;
}
