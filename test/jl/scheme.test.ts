import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { JlScheme, generateNodeKey, maskElement, selfMaskStream, addMaskStream, maskSumElement, maskWords } from '../../crypto/jl/scheme.ts';
import { pack, packingLayout, unpack, sumsToRing, ciphertextCount } from '../../crypto/jl/packing.ts';
import { hashToGroup, type JlTag } from '../../crypto/jl/hash.ts';
import { seededRandomSource } from '../../crypto/random.ts';
import { isFedsecError } from '../../common/errors.ts';
import { fixtureModulus } from './helpers.ts';

const modulus = fixtureModulus(1024);
const scheme = new JlScheme(modulus);
const tag: JlTag = { federation: 'fed', experiment: 'exp', round: 3, attempt: 0 };

/** Encrypts values for each party, multiplies, decrypts with H^-(sum keys); returns slot sums. */
function roundTrip(values: Uint32Array[], valueBits: number, keys: bigint[], subset?: number[]) {
  const layout = packingLayout(modulus.bits, valueBits, values.length);
  const count = values[0]!.length;
  const k = ciphertextCount(layout, count);
  const cts = values.map((v, i) => {
    const pads = scheme.pads(keys[i]!, tag, 0, k);
    return pack(layout, v).map((m, j) => scheme.encryptWithPad(m, pads[j]!));
  });
  const S = keys.reduce((a, b) => a + b, 0n);
  const inv = scheme.pads(S, tag, 0, k, true);
  const use = subset ?? values.map((_, i) => i);
  const prod = cts[use[0]!]!.slice();
  for (const i of use.slice(1)) scheme.multiplyInto(prod, cts[i]!);
  return { layout, count, prod, inv };
}

describe('Joye-Libert scheme with packing', () => {
  it('decrypt(product of encryptions) = sum, for random n, vectors and value bits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 32 }),
        fc.integer({ min: 1, max: 130 }),
        fc.integer(),
        (n, valueBits, count, seed) => {
          const rng = seededRandomSource(new Uint8Array(32).fill(seed & 0xff));
          const values = Array.from({ length: n }, (_, i) =>
            Uint32Array.from({ length: count }, (_, j) => Number((BigInt(seed >>> 0) * 2654435761n + BigInt(i * 7919 + j * 104729)) % (1n << BigInt(valueBits)))),
          );
          values[0]![0] = 2 ** valueBits - 1; // the extreme value too
          const keys = values.map(() => generateNodeKey(modulus, rng));
          const { layout, prod, inv } = roundTrip(values, valueBits, keys);
          const plain = prod.map((c, j) => scheme.decryptWithInversePad(c, inv[j]!, j));
          const sums = unpack(layout, plain, count, n);
          for (let j = 0; j < count; j++) {
            const want = values.reduce((a, v) => a + v[j]!, 0);
            if (sums[j] !== want) return false;
          }
          const ring = sumsToRing(layout, sums);
          return ring.every((r, j) => r === values.reduce((a, v) => a + v[j]!, 0) % 2 ** valueBits);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('any strict subset of ciphertexts decrypts to noise, not to a partial sum', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), fc.integer(), (n, seed) => {
        const rng = seededRandomSource(new Uint8Array(32).fill((seed >>> 3) & 0xff));
        const values = Array.from({ length: n }, (_, i) => Uint32Array.from({ length: 20 }, (_, j) => (i * 31 + j * 7 + seed) & 0xffff));
        const keys = values.map(() => generateNodeKey(modulus, rng));
        const drop = Math.abs(seed) % n;
        const subset = values.map((_, i) => i).filter((i) => i !== drop);
        const { layout, prod, inv } = roundTrip(values, 16, keys, subset);
        // The raw value (T-1)/N is not an integer, and neither floor((T-1)/N) nor any slot equals the partial sum.
        for (let j = 0; j < prod.length; j++) {
          const t = (prod[j]! * inv[j]!) % scheme.n2;
          if ((t - 1n) % modulus.n === 0n) return false;
          const noisy = (t - 1n) / modulus.n;
          const partial = subset.reduce((a, i) => a + pack(layout, values[i]!)[j]!, 0n);
          if (noisy === partial) return false;
          try {
            scheme.decryptWithInversePad(prod[j]!, inv[j]!, j);
            return false;
          } catch (e) {
            if (!isFedsecError(e, 'ERR_JL_DECRYPT')) return false;
          }
        }
        return true;
      }),
      { numRuns: 8 },
    );
  });

  it('pads are H(tag,i)^sk, differ per tag field and index', () => {
    const sk = 987654321987654321n;
    const h = hashToGroup(modulus, scheme.n2, tag, 5);
    expect(scheme.pads(sk, tag, 5, 1)[0]).toBe(scheme.powCtx.pow(h, sk));
    const variants: JlTag[] = [tag, { ...tag, round: 4 }, { ...tag, attempt: 1 }, { ...tag, experiment: 'exp2' }, { ...tag, federation: 'fed2' }];
    const hs = new Set(variants.map((t) => hashToGroup(modulus, scheme.n2, t, 0)));
    hs.add(hashToGroup(modulus, scheme.n2, tag, 1));
    expect(hs.size).toBe(6);
    expect(h.toString(2).length).toBeGreaterThan(2 * modulus.bits - 16); // full-domain, not 256 bits
  });

  it('serialization round-trips and rejects values outside Z*_(N^2)', () => {
    const cts = scheme.pads(12345n, tag, 0, 3);
    const bytes = scheme.serialize(cts);
    expect(bytes.length).toBe(3 * scheme.ciphertextBytes);
    expect(scheme.deserialize(bytes, 3)).toEqual(cts);
    const bad = scheme.serialize([0n, 1n, 2n]);
    expect(() => scheme.deserialize(bad, 3)).toThrow(expect.objectContaining({ code: 'ERR_JL_ROUND' }));
    expect(() => scheme.deserialize(bytes, 2)).toThrow(expect.objectContaining({ code: 'ERR_JL_ROUND' }));
  });

  it('self-mask word sums equal the sum of mask elements', () => {
    const streams = [1, 2, 3, 4].map((i) => selfMaskStream(new Uint8Array(32).fill(i), modulus, tag, `n${i}`, 3));
    streams.push(new Uint8Array(streams[0]!.length).fill(0xff)); // carries in every word
    const acc = new Float64Array(3 * maskWords(modulus.bits));
    for (const s of streams) addMaskStream(acc, s);
    for (let m = 0; m < 3; m++) expect(maskSumElement(acc, modulus.bits, m)).toBe(streams.reduce((x, s) => x + maskElement(s, modulus.bits, m), 0n));
    const a = streams[0]!;
    expect(selfMaskStream(new Uint8Array(32).fill(1), modulus, { ...tag, attempt: 1 }, 'n1', 3)).not.toEqual(a);
    expect(maskElement(a, modulus.bits, 0).toString(2).length).toBeGreaterThan(modulus.bits + 100);
  });
});

describe('packing', () => {
  it('slot width is value bits + ceil(log2(n+1)) and the layout stays below N', () => {
    const l = packingLayout(2048, 16, 10);
    expect(l.slotBits).toBe(20);
    expect(l.slotsPerCiphertext).toBe(102);
    expect(l.slotsPerCiphertext * l.slotBits).toBeLessThan(2048);
    expect(packingLayout(2048, 16, 1).slotBits).toBe(17);
    expect(packingLayout(2048, 16, 3).slotBits).toBe(18);
  });

  it('detects overflow in any slot and in the unused high bits', () => {
    const l = packingLayout(1024, 8, 2);
    const [m] = pack(l, Uint32Array.of(255, 255, 3));
    expect(Array.from(unpack(l, [m! * 2n], 3, 2))).toEqual([510, 510, 6]);
    expect(() => unpack(l, [m! * 2n], 3, 1)).toThrow(expect.objectContaining({ code: 'ERR_JL_SLOT_OVERFLOW' }));
    expect(() => unpack(l, [1n << 1020n], 3, 2)).toThrow(expect.objectContaining({ code: 'ERR_JL_SLOT_OVERFLOW' }));
    expect(() => unpack(l, [m! + (1n << BigInt(l.slotBits * 5))], 3, 2)).toThrow(expect.objectContaining({ code: 'ERR_JL_SLOT_OVERFLOW' }));
    expect(() => pack(l, Uint32Array.of(256))).toThrow(expect.objectContaining({ code: 'ERR_JL_PACKING' }));
  });
});
