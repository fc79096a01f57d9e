import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBigIntBelow, randomIntBelow, seededRandomSource, systemRandom, bigIntToBytesBE, bytesToBigIntBE } from '../../crypto/random.ts';
import { toHex } from '../../crypto/bytes.ts';

describe('random sources', () => {
  it('seeded source is deterministic and independent of read sizes', () => {
    const a = seededRandomSource(new Uint8Array(32).fill(1));
    const b = seededRandomSource(new Uint8Array(32).fill(1));
    const x = a.fill(new Uint8Array(5000));
    const y = new Uint8Array(5000);
    for (let off = 0; off < 5000; off += 37) b.fill(y.subarray(off, Math.min(5000, off + 37)));
    expect(toHex(x)).toBe(toHex(y));
    expect(toHex(seededRandomSource(new Uint8Array(32).fill(2)).fill(new Uint8Array(64)))).not.toBe(toHex(x.subarray(0, 64)));
  });
  it('system source fills large buffers', () => {
    const b = systemRandom.fill(new Uint8Array(1 << 16));
    expect(b.some((v) => v !== 0)).toBe(true);
  });
  it('property: bounded draws stay in range', () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 1n << 300n }), (bound) => {
      const v = randomBigIntBelow(bound);
      return v >= 0n && v < bound;
    }), { numRuns: 100 });
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 32 }), (bound) => {
      const v = randomIntBelow(bound);
      return v >= 0 && v < bound && Number.isInteger(v);
    }), { numRuns: 100 });
  });
  it('property: bigint/bytes round trip', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }), (v) => bytesToBigIntBE(bigIntToBytesBE(v, 32)) === v));
    expect(() => bigIntToBytesBE(1n << 256n, 32)).toThrowError(/does not fit/);
  });
});
