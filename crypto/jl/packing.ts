/**
 * Dense packing of quantized values into JL plaintexts.
 *
 * Each value is an unsigned `valueBits`-bit integer (the fixed-point codec's ring element).
 * A plaintext holds `slotsPerCiphertext` slots of `slotBits = valueBits + ceil(log2(maxParties+1))`
 * bits each, least-significant slot first, so the sum of up to `maxParties` plaintexts never
 * carries from one slot into the next, and `slotsPerCiphertext * slotBits < |N|` keeps the
 * packed sum below N. Unpacking checks every slot against the largest possible honest sum and
 * the unused high bits against zero, and fails loudly (`ERR_JL_SLOT_OVERFLOW`) otherwise: a
 * decryption with the wrong key, a missing or forged ciphertext, or an oversized input all land there.
 */
import { assertInt } from '../../common/validate.ts';
import { JlError } from './errors.ts';

/** How values are laid out in plaintexts. */
export interface PackingLayout {
  readonly modulusBits: number;
  readonly valueBits: number;
  readonly maxParties: number;
  readonly slotBits: number;
  readonly slotsPerCiphertext: number;
}

/** The layout for a modulus size, value width and largest number of summed plaintexts. */
export function packingLayout(modulusBits: number, valueBits: number, maxParties: number): PackingLayout {
  assertInt('modulusBits', modulusBits, 64, 1 << 16);
  assertInt('valueBits', valueBits, 1, 32);
  assertInt('maxParties', maxParties, 1, (1 << 20) - 1);
  const slotBits = valueBits + Math.ceil(Math.log2(maxParties + 1));
  if (slotBits > 52) throw new JlError('ERR_JL_PACKING', `slot of ${slotBits} bits exceeds 52`);
  const slotsPerCiphertext = Math.floor((modulusBits - 1) / slotBits);
  return Object.freeze({ modulusBits, valueBits, maxParties, slotBits, slotsPerCiphertext });
}

/** Number of plaintexts (ciphertexts) for `count` values. */
export function ciphertextCount(layout: PackingLayout, count: number): number {
  return Math.ceil(count / layout.slotsPerCiphertext);
}

function wordsToBigInt(words: Uint32Array): bigint {
  const buf = Buffer.alloc(words.length * 4);
  for (let i = 0; i < words.length; i++) buf.writeUInt32BE(words[i]!, 4 * (words.length - 1 - i));
  return words.length === 0 ? 0n : BigInt('0x' + buf.toString('hex'));
}

function bigIntToWords(v: bigint, nWords: number): Uint32Array {
  const hex = v.toString(16);
  if (hex.length > nWords * 8) throw new JlError('ERR_JL_SLOT_OVERFLOW', 'plaintext exceeds the packed width');
  const buf = Buffer.from(hex.padStart(nWords * 8, '0'), 'hex');
  const out = new Uint32Array(nWords);
  for (let i = 0; i < nWords; i++) out[nWords - 1 - i] = buf.readUInt32BE(4 * i);
  return out;
}

/**
 * Packs `values` (each < 2^valueBits) into plaintexts; the last plaintext is zero-padded.
 * Returns bigints, each below 2^(slotsPerCiphertext*slotBits) < N.
 */
export function pack(layout: PackingLayout, values: Uint32Array): bigint[] {
  if (!(values instanceof Uint32Array)) throw new JlError('ERR_JL_PACKING', 'values must be a Uint32Array');
  const { slotBits, slotsPerCiphertext: k, valueBits } = layout;
  const limit = 2 ** valueBits;
  const nWords = Math.ceil((k * slotBits) / 32) + 1;
  const out: bigint[] = [];
  const words = new Uint32Array(nWords);
  for (let start = 0; start < values.length; start += k) {
    words.fill(0);
    const end = Math.min(values.length, start + k);
    for (let i = start; i < end; i++) {
      const v = values[i]!;
      if (v >= limit) throw new JlError('ERR_JL_PACKING', `value at index ${i} exceeds ${valueBits} bits`, { index: i });
      const off = (i - start) * slotBits;
      const w = off >>> 5;
      const s = off & 31;
      words[w] = (words[w]! | (v << s)) >>> 0;
      if (s > 0) words[w + 1] = (words[w + 1]! | (v >>> (32 - s))) >>> 0;
    }
    out.push(wordsToBigInt(words));
  }
  return out;
}

/**
 * Unpacks the decrypted sum of `parties` plaintexts into `count` integer slot sums, checking
 * each slot against parties*(2^valueBits - 1) and the bits above the slots against zero.
 */
export function unpack(layout: PackingLayout, plaintexts: readonly bigint[], count: number, parties: number): Float64Array {
  assertInt('parties', parties, 1, layout.maxParties);
  const { slotBits, slotsPerCiphertext: k, valueBits } = layout;
  if (plaintexts.length !== Math.ceil(count / k)) throw new JlError('ERR_JL_PACKING', `expected ${Math.ceil(count / k)} plaintexts, got ${plaintexts.length}`);
  const maxSlot = parties * (2 ** valueBits - 1);
  const used = BigInt(k * slotBits);
  const nWords = Math.ceil((k * slotBits) / 32);
  const out = new Float64Array(count);
  for (let c = 0; c < plaintexts.length; c++) {
    const m = plaintexts[c]!;
    if (m < 0n || m >> used !== 0n) throw new JlError('ERR_JL_SLOT_OVERFLOW', `plaintext ${c} has bits above its slots: wrong key, missing or forged ciphertext`, { ciphertext: c });
    const words = bigIntToWords(m, nWords);
    const slots = Math.min(k, count - c * k);
    for (let j = 0; j < k; j++) {
      let val = 0;
      let got = 0;
      let pos = j * slotBits;
      while (got < slotBits) {
        const w = pos >>> 5;
        const s = pos & 31;
        const take = Math.min(32 - s, slotBits - got);
        const mask = take === 32 ? 0xffffffff : (1 << take) - 1;
        val += ((((words[w] ?? 0) >>> s) & mask) >>> 0) * 2 ** got;
        got += take;
        pos += take;
      }
      if (j >= slots) {
        if (val !== 0) throw new JlError('ERR_JL_SLOT_OVERFLOW', `padding slot ${j} of plaintext ${c} is not zero`, { ciphertext: c, slot: j });
        continue;
      }
      if (val > maxSlot) throw new JlError('ERR_JL_SLOT_OVERFLOW', `slot ${j} of plaintext ${c} exceeds the largest sum of ${parties} values`, { ciphertext: c, slot: j });
      out[c * k + j] = val;
    }
  }
  return out;
}

/** Reduces integer slot sums modulo 2^valueBits: the codec's ring sum, ready for `decodeSum`. */
export function sumsToRing(layout: PackingLayout, sums: Float64Array): Uint32Array {
  const mod = 2 ** layout.valueBits;
  const out = new Uint32Array(sums.length);
  for (let i = 0; i < sums.length; i++) out[i] = sums[i]! % mod;
  return out;
}
