/**
 * Mask derivation and arithmetic shared by the client and the server.
 *
 * A mask is read from the keystream of `expandMask` (crypto/prg.ts): AES-256-CTR under
 * `deriveKey(seed, ['fedsec/prg/aes-256-ctr', ...domain])` from a zero counter block.
 * - For rings of more than 16 bits, mask word i is keystream bytes 4i..4i+3 (little-endian):
 *   exactly `expandMask(seed, domain, count, bits)`.
 * - For rings of at most 16 bits, mask word i is keystream bytes 2i..2i+1 (little-endian), i.e.
 *   the low and high halves of `expandMask(seed, domain, ⌈count/2⌉, 32)`'s words, mod 2^bits:
 *   just as uniform, and half the keystream (the PRG is the cost that dominates masking).
 * {@link combineMasks} streams every mask in cache-sized blocks and adds them into the
 * accumulator block by block, so the keystream is consumed while still in cache instead of
 * materialising one array per mask. Words are combined mod 2^32 and reduced to Z_(2^bits) once
 * at the end: since 2^bits divides 2^32 this equals summing the `bits`-wide masks mod 2^bits.
 * The test suite checks both layouts against `expandMask` directly.
 */
import { createCipheriv } from 'node:crypto';
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertBytes, assertInt, describe } from '../../common/validate.ts';
import { endianness } from 'node:os';
import type { TupleItem } from '../bytes.ts';
import { deriveKey } from '../hkdf.ts';
import { x25519SharedSecret } from '../x25519.ts';
import type { MaskingRound } from './config.ts';
import { addWordsInto, applyToBlock, SIMD_BLOCK_WORDS, type MaskWords } from './simd.ts';

const LITTLE_ENDIAN = endianness() === 'LE';
type Cipheriv = ReturnType<typeof createCipheriv>;

/** Words per streaming block (256 KiB of keystream: fits in L2 with the accumulator block). */
export const MASK_BLOCK_WORDS = SIMD_BLOCK_WORDS;

/** One mask to add (or subtract, when `negate`) into an accumulator. */
export interface MaskSpec {
  readonly seed: Uint8Array;
  readonly domain: readonly TupleItem[];
  readonly negate: boolean;
}

/** The AES-256-CTR stream of `expandMask(seed, domain, ...)`, to be read block by block. */
function maskCipher(seed: Uint8Array, domain: readonly TupleItem[]): Cipheriv {
  return createCipheriv('aes-256-ctr', deriveKey(seed, ['fedsec/prg/aes-256-ctr', ...domain]), new Uint8Array(16));
}

/** Keystream bytes per mask word in a ring of `bits` bits (2 up to 16 bits, else 4). */
export function maskBytesPerWord(bits: number): 2 | 4 {
  return bits <= 16 ? 2 : 4;
}

/** Reads the next `words` keystream words of `c` (little-endian, `width` bytes each). */
function nextWords(c: Cipheriv, zeros: Buffer, words: number, width: 2 | 4): MaskWords {
  const n = words * width;
  const b = c.update(n === zeros.length ? zeros : zeros.subarray(0, n));
  if (LITTLE_ENDIAN && b.byteOffset % width === 0) return width === 4 ? new Uint32Array(b.buffer, b.byteOffset, words) : new Uint16Array(b.buffer, b.byteOffset, words);
  const out = width === 4 ? new Uint32Array(words) : new Uint16Array(words);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < words; i++) out[i] = width === 4 ? dv.getUint32(i * 4, true) : dv.getUint16(i * 2, true);
  return out;
}

/**
 * acc += Σ ±mask mod 2^32, in place, for every spec, with masks laid out for a ring of `bits`
 * bits (see the module comment: for bits > 16 each mask is `expandMask(spec.seed, spec.domain,
 * acc.length, 32)`), computed in one blocked pass (the block arithmetic runs in the WebAssembly
 * SIMD kernel of simd.ts when available). Reduce mod 2^bits afterwards.
 */
export function combineMasks(acc: Uint32Array, specs: readonly MaskSpec[], bits = 32): void {
  if (!(acc instanceof Uint32Array)) throw new InvalidArgumentError('acc', `expected Uint32Array, got ${describe(acc)}`);
  assertInt('bits', bits, 1, 32);
  const width = maskBytesPerWord(bits);
  if (!Array.isArray(specs)) throw new InvalidArgumentError('specs', 'expected an array');
  for (const [i, s] of specs.entries()) {
    assertBytes(`specs[${i}].seed`, s?.seed, 32);
    if (!Array.isArray(s.domain)) throw new InvalidArgumentError(`specs[${i}].domain`, 'expected an array of tuple items');
    if (typeof s.negate !== 'boolean') throw new InvalidArgumentError(`specs[${i}].negate`, 'expected a boolean');
  }
  if (specs.length === 0) return;
  const ciphers = specs.map((s) => maskCipher(s.seed, s.domain));
  const zeros = Buffer.alloc(MASK_BLOCK_WORDS * width);
  for (let start = 0; start < acc.length; start += MASK_BLOCK_WORDS) {
    const len = Math.min(MASK_BLOCK_WORDS, acc.length - start);
    applyToBlock(acc.subarray(start, start + len), (function* () {
      for (let j = 0; j < specs.length; j++) yield { words: nextWords(ciphers[j]!, zeros, len, width), negate: specs[j]!.negate };
    })());
  }
  for (const c of ciphers) c.final();
}

/**
 * The raw keystream cost of {@link combineMasks} without the arithmetic: expands `masks`
 * streams of `words` words each with AES-256-CTR in the same blocks (benchmark bound).
 */
export function expandKeystreamOnly(masks: number, words: number, key: Uint8Array, bytesPerWord: 2 | 4 = 4): void {
  assertInt('masks', masks, 0, 1 << 20);
  assertInt('words', words, 0, 2 ** 29);
  assertBytes('key', key, 32);
  if (bytesPerWord !== 2 && bytesPerWord !== 4) throw new InvalidArgumentError('bytesPerWord', 'must be 2 or 4');
  const zeros = Buffer.alloc(MASK_BLOCK_WORDS * bytesPerWord);
  const ciphers = Array.from({ length: masks }, () => createCipheriv('aes-256-ctr', key, new Uint8Array(16)));
  for (let start = 0; start < words; start += MASK_BLOCK_WORDS) {
    const n = Math.min(MASK_BLOCK_WORDS, words - start) * bytesPerWord;
    for (const c of ciphers) c.update(n === zeros.length ? zeros : zeros.subarray(0, n));
  }
  for (const c of ciphers) c.final();
}

/** The domain of the pairwise mask of (a, b). */
export function pairMaskDomain(round: MaskingRound, a: string, b: string): TupleItem[] {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return round.label('pair-mask', lo, hi);
}

/** The domain of `owner`'s self mask. */
export function selfMaskDomain(round: MaskingRound, owner: string): TupleItem[] {
  return round.label('self-mask', owner);
}

/**
 * The spec of the pairwise mask as it appears in `self`'s masked input: added when self < peer,
 * subtracted otherwise; `remove` flips the sign (the server taking it out again).
 */
export function pairMaskSpec(round: MaskingRound, seed: Uint8Array, self: string, peer: string, remove = false): MaskSpec {
  return { seed, domain: pairMaskDomain(round, self, peer), negate: (self < peer) === remove };
}

/** The seed of the pairwise mask between `a` and `b` (symmetric in a, b) from an X25519 agreement. */
export function pairMaskSeed(round: MaskingRound, secretKey: Uint8Array, peerPublicKey: Uint8Array, a: string, b: string): Uint8Array {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return deriveKey(x25519SharedSecret(secretKey, peerPublicKey), round.label('pair-mask-seed', lo, hi));
}

/** acc[offset + i] += v[i] mod 2^32, in place (the server's running sum of masked inputs). */
export const addWords = addWordsInto;

/** Reduces every word mod 2^bits in place. */
export function reduceWords(acc: Uint32Array, bits: number): void {
  if (!(acc instanceof Uint32Array)) throw new InvalidArgumentError('acc', `expected Uint32Array, got ${describe(acc)}`);
  assertInt('bits', bits, 1, 32);
  if (bits >= 32) return;
  const m = (2 ** bits - 1) >>> 0;
  const n = acc.length;
  for (let i = 0; i < n; i++) acc[i] = acc[i]! & m;
}
