import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FixedPointCodec } from '../../crypto/codec.ts';
import { isFedsecError } from '../../common/errors.ts';
import { seededRandomSource } from '../../crypto/random.ts';

function code(f: () => unknown): string | undefined {
  try { f(); return undefined; } catch (e) { return isFedsecError(e) ? e.code : 'untyped'; }
}

describe('fixed-point codec', () => {
  it('property: round trip of one encoding is within one quantization step (after clipping)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 8, max: 32 }), fc.double({ min: 0.01, max: 100, noNaN: true }),
      fc.array(fc.double({ min: -200, max: 200, noNaN: true }), { maxLength: 50 }),
      (bits, clip, xs) => {
        const codec = FixedPointCodec.forRange({ bits, clip, maxParties: 1 });
        const dec = codec.decodeSum(codec.encode(xs), 1);
        return xs.every((x, i) => Math.abs(dec[i]! - Math.max(-clip, Math.min(clip, x))) <= 1 / codec.scale + 1e-12);
      }), { numRuns: 100 });
  });
  it('property: the ring sum of n encodings decodes to the sum of quantized values', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 30 }), fc.integer({ min: 12, max: 32 }), fc.integer({ min: 1, max: 20 }), (n, bits, len) => {
      const codec = FixedPointCodec.forRange({ bits, clip: 1, maxParties: n });
      const rng = seededRandomSource(new Uint8Array(32).fill(n));
      const acc = new Uint32Array(len);
      const exact = new Float64Array(len);
      for (let p = 0; p < n; p++) {
        const xs = Array.from({ length: len }, (_, i) => Math.sin(p * 31 + i));
        const q = codec.quantize(xs, rng);
        q.forEach((v, i) => { exact[i] = exact[i]! + v; });
        codec.addInto(acc, codec.wrap(q));
      }
      const dec = codec.decodeSum(acc, n);
      return dec.every((v, i) => v === exact[i]! / codec.scale);
    }), { numRuns: 60 });
  });
  it('stochastic rounding is unbiased', () => {
    const codec = new FixedPointCodec({ bits: 32, clip: 10, scale: 1, maxParties: 1 });
    const xs = new Float64Array(100_000).fill(0.3);
    const q = codec.quantize(xs, seededRandomSource(new Uint8Array(32).fill(1)));
    let s = 0;
    for (const v of q) s += v;
    // Bernoulli(0.3) mean; sd of the mean = sqrt(0.21/1e5) ≈ 0.00145.
    expect(Math.abs(s / xs.length - 0.3)).toBeLessThan(0.008);
    expect(q.every((v) => v === 0 || v === 1)).toBe(true);
  });
  it('refuses parameters whose sum could overflow and names them', () => {
    try {
      new FixedPointCodec({ bits: 16, clip: 1, scale: 1024, maxParties: 100 });
      expect.unreachable();
    } catch (e) {
      expect(isFedsecError(e, 'ERR_CODEC_OVERFLOW')).toBe(true);
      expect((e as Error).message).toMatch(/bits/);
      expect((e as Error).message).toMatch(/maxParties/);
    }
    expect(code(() => new FixedPointCodec({ bits: 32, clip: 1, scale: 1, maxParties: 1, noiseBound: 2 ** 31 }))).toBe('ERR_CODEC_OVERFLOW');
    const c = new FixedPointCodec({ bits: 16, clip: 1, scale: 100, maxParties: 3 });
    expect(code(() => c.decodeSum(new Uint32Array(2), 4))).toBe('ERR_INVALID_ARGUMENT');
  });
  it('rejects NaN, Infinity and bad parameters with typed errors naming the field', () => {
    const c = new FixedPointCodec({ bits: 16, clip: 1, scale: 100, maxParties: 3 });
    expect(() => c.encode([0, Number.NaN])).toThrowError(/element 1/);
    expect(() => c.encode([Infinity])).toThrowError(/element 0/);
    expect(code(() => new FixedPointCodec({ bits: 33, clip: 1, scale: 1, maxParties: 1 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => new FixedPointCodec({ bits: 16, clip: Number.NaN, scale: 1, maxParties: 1 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => new FixedPointCodec({ bits: 16, clip: 1, scale: -1, maxParties: 1 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => c.addInto(new Uint32Array(2), new Uint32Array(3)))).toBe('ERR_CODEC_LENGTH');
  });
});
