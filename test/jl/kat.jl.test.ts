/** Known-answer test: the engine must reproduce test/fixtures/jl/kat.json, produced by tools/gen-jl-kat.mjs. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseModulus } from '../../crypto/jl/modulus.ts';
import { JlScheme } from '../../crypto/jl/scheme.ts';
import { pack, packingLayout, unpack } from '../../crypto/jl/packing.ts';
import { modPow } from '../../crypto/jl/modexp.ts';
import type { JlTag } from '../../crypto/jl/hash.ts';

interface Kat {
  modulus: unknown;
  tag: JlTag;
  valueBits: number;
  slotBits: number;
  slotsPerCiphertext: number;
  nodes: { id: string; key: string; inputs: number[]; plaintexts: string[]; ciphertexts: string[] }[];
  hashes: string[];
  product: string[];
  researcherKey: string;
  decrypted: string[];
  sums: number[];
}
const kat = JSON.parse(readFileSync(new URL('../fixtures/jl/kat.json', import.meta.url), 'utf8')) as Kat;
const h = (s: string) => (s.startsWith('-') ? -BigInt('0x' + s.slice(1)) : BigInt('0x' + s));

describe('JL known answers (independent generator)', () => {
  const modulus = parseModulus(kat.modulus);
  const scheme = new JlScheme(modulus);
  const layout = packingLayout(modulus.bits, kat.valueBits, kat.nodes.length);

  it('layout, packing and hash-to-group match', () => {
    expect(layout.slotBits).toBe(kat.slotBits);
    expect(layout.slotsPerCiphertext).toBe(kat.slotsPerCiphertext);
    for (const n of kat.nodes) expect(pack(layout, Uint32Array.from(n.inputs)).map((m) => m.toString(16))).toEqual(n.plaintexts);
    kat.hashes.forEach((x, i) => expect(scheme.hash(kat.tag, i)).toBe(h(x)));
  });

  it('pad-based encryption reproduces the textbook ciphertexts', () => {
    for (const n of kat.nodes) {
      const pads = scheme.pads(h(n.key), kat.tag, 0, n.plaintexts.length);
      expect(n.plaintexts.map((m, i) => scheme.encryptWithPad(h(m), pads[i]!).toString(16))).toEqual(n.ciphertexts);
    }
  });

  it('aggregation and decryption with the researcher key reproduce the sums', () => {
    const prod = kat.nodes[0]!.ciphertexts.map(h);
    for (const n of kat.nodes.slice(1)) scheme.multiplyInto(prod, n.ciphertexts.map(h));
    expect(prod.map((p) => p.toString(16))).toEqual(kat.product);
    const sk0 = h(kat.researcherKey);
    expect(sk0).toBe(-kat.nodes.reduce((a, n) => a + h(n.key), 0n));
    const inv = scheme.pads(-sk0, kat.tag, 0, prod.length, true);
    const plain = prod.map((p, i) => scheme.decryptWithInversePad(p, inv[i]!, i));
    expect(plain.map((m) => m.toString(16))).toEqual(kat.decrypted);
    // Also through the signed-exponent helper.
    expect(scheme.decodeUnit((prod[0]! * modPow(scheme.hash(kat.tag, 0), sk0, scheme.n2)) % scheme.n2)).toBe(plain[0]);
    expect(Array.from(unpack(layout, plain, kat.sums.length, kat.nodes.length))).toEqual(kat.sums);
  });
});
