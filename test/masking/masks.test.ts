import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { expandMask } from '../../crypto/prg.ts';
import { InvalidArgumentError } from '../../common/errors.ts';
import { combineMasks, MASK_BLOCK_WORDS, reduceWords } from '../../crypto/masking/masks.ts';
import { addWordsInto, applyToBlock, SIMD_BLOCK_WORDS } from '../../crypto/masking/simd.ts';

describe('mask arithmetic', () => {
  it('combineMasks equals adding and subtracting expandMask outputs (across block boundaries, odd lengths), and reduces to the bits-wide masks', () => {
    for (const len of [1, 63, 64, 1001, MASK_BLOCK_WORDS + 37]) {
      const specs = [
        { seed: new Uint8Array(32).fill(1), domain: ['a', len], negate: false },
        { seed: new Uint8Array(32).fill(2), domain: ['b', len], negate: true },
        { seed: new Uint8Array(32).fill(3), domain: ['c'], negate: false },
      ];
      const base = Uint32Array.from({ length: len }, (_, i) => (i * 2654435761) >>> 0);
      const acc = base.slice();
      combineMasks(acc, specs);
      const want = base.slice();
      for (const s of specs) {
        const m = expandMask(s.seed, s.domain, len, 32);
        for (let i = 0; i < len; i++) want[i] = s.negate ? want[i]! - m[i]! : want[i]! + m[i]!;
      }
      expect(acc).toEqual(want);
      // Reduced to 20 bits it equals the sum of expandMask(..., 20) mod 2^20.
      const r = acc.slice();
      reduceWords(r, 20);
      const w20 = base.map((x) => x & 0xfffff);
      for (const s of specs) {
        const m = expandMask(s.seed, s.domain, len, 20);
        for (let i = 0; i < len; i++) w20[i] = (s.negate ? w20[i]! - m[i]! : w20[i]! + m[i]!) & 0xfffff;
      }
      expect(r).toEqual(w20);
      // Rings of at most 16 bits: word i is the i-th 16-bit half of expandMask(..., ⌈len/2⌉, 32).
      const r12 = base.slice();
      combineMasks(r12, specs, 12);
      reduceWords(r12, 12);
      const w12 = base.map((x) => x & 0xfff);
      for (const s of specs) {
        const m = expandMask(s.seed, s.domain, Math.ceil(len / 2), 32);
        for (let i = 0; i < len; i++) {
          const half = i % 2 === 0 ? m[i >> 1]! & 0xffff : m[i >> 1]! >>> 16;
          w12[i] = (s.negate ? w12[i]! - half : w12[i]! + half) & 0xfff;
        }
      }
      expect(r12).toEqual(w12);
    }
  });

  it('property: the block kernel adds and subtracts 32-bit and zero-extended 16-bit sources mod 2^32 like plain arithmetic', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }), fc.integer(), (len, signs, salt) => {
      const acc = Uint32Array.from({ length: len }, (_, i) => Math.imul(i + salt, 2654435761) >>> 0);
      const srcs = signs.map((negate, j) => ({
        negate,
        words: j % 2 === 0 ? Uint32Array.from({ length: len }, (_, i) => Math.imul(i * 7 + j + salt, 40503) >>> 0) : Uint16Array.from({ length: len }, (_, i) => Math.imul(i * 7 + j + salt, 40503) & 0xffff),
      }));
      const want = acc.slice();
      for (const s of srcs) for (let i = 0; i < len; i++) want[i] = s.negate ? want[i]! - s.words[i]! : want[i]! + s.words[i]!;
      applyToBlock(acc, srcs);
      expect(acc).toEqual(want);
    }), { numRuns: 60 });
  });

  it('addWordsInto honours the offset and spans several blocks', () => {
    const acc = new Uint32Array(SIMD_BLOCK_WORDS * 2 + 10).fill(0xffffffff);
    const v = Uint32Array.from({ length: SIMD_BLOCK_WORDS + 5 }, (_, i) => i + 1);
    addWordsInto(acc, v, 3);
    expect(acc[0]).toBe(0xffffffff);
    expect(acc[2]).toBe(0xffffffff);
    expect(acc[3]).toBe(0);
    expect(acc[3 + SIMD_BLOCK_WORDS + 4]).toBe(SIMD_BLOCK_WORDS + 4);
    expect(acc[3 + SIMD_BLOCK_WORDS + 5]).toBe(0xffffffff);
  });

  it('bad arguments throw typed errors naming the field (never a silent wrong sum or a RangeError)', () => {
    const field = (f: () => unknown): string | undefined => {
      try { f(); } catch (e) { return e instanceof InvalidArgumentError ? e.field : `untyped:${String(e)}`; }
      return undefined;
    };
    const acc = new Uint32Array(100);
    expect(field(() => applyToBlock(acc, [{ words: new Uint32Array(99), negate: false }]))).toBe('sources[0].words');
    expect(field(() => applyToBlock(new Uint32Array(10), [{ words: new Uint32Array(10), negate: false }, { words: new Uint32Array(9), negate: true }]))).toBe('sources[1].words');
    expect(field(() => applyToBlock(new Uint32Array(SIMD_BLOCK_WORDS + 1), []))).toBe('block.length');
    expect(field(() => applyToBlock([1, 2] as never, []))).toBe('block');
    expect(field(() => addWordsInto(acc, new Uint32Array(10), 91))).toBe('offset');
    expect(field(() => addWordsInto(acc, new Uint32Array(101)))).toBe('v');
    expect(field(() => addWordsInto(acc, new Float64Array(3) as never))).toBe('v');
    expect(field(() => combineMasks(acc, [{ seed: new Uint8Array(31), domain: [], negate: false }]))).toBe('specs[0].seed');
    expect(field(() => combineMasks(acc, [{ seed: new Uint8Array(32), domain: [], negate: 1 as never }]))).toBe('specs[0].negate');
    expect(field(() => combineMasks(new Int32Array(3) as never, []))).toBe('acc');
    expect(field(() => reduceWords(acc, 0))).toBe('bits');
    expect(field(() => reduceWords(acc, Number.NaN))).toBe('bits');
  });
});
