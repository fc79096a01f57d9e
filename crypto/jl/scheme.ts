/**
 * The Joye-Libert scheme (Joye & Libert, FC 2013) over a public modulus N:
 *
 *   c = (1+N)^m * H(tag)^sk  mod N^2,   and with sk0 = -(sum of node keys)
 *   prod_i c_i * H(tag)^sk0 = (1+N)^(sum m_i) = 1 + (sum m_i) N  mod N^2.
 *
 * The "pad" H(tag, index)^sk depends only on the key and the tag, never on the data, so it
 * is precomputed before the round ({@link JlScheme.pads}, or the worker pool); encryption on
 * the critical path is then {@link JlScheme.encryptWithPad}: (1+mN)P = P + N((mP) mod N),
 * one multiplication and two reductions. The researcher precomputes H^(-S) (S the sum of
 * node keys) the same way and decrypts with one multiplication.
 */
import { assertInt } from '../../common/validate.ts';
import { deriveKey } from '../hkdf.ts';
import { aesCtrKeystream } from '../prg.ts';
import { randomBigIntBits, systemRandom, type RandomSource } from '../random.ts';
import { JlError } from './errors.ts';
import { hashToGroup, type JlTag } from './hash.ts';
import { batchInverse, OpenSslModPow } from './modexp.ts';
import type { JlModulus } from './modulus.ts';

/** Bits of a node key for an N of `modulusBits` bits: 2|N|, as Joye-Libert prescribe. */
export function nodeKeyBits(modulusBits: number): number {
  return 2 * modulusBits;
}

/** A node's JL key: uniform in [0, 2^(2|N|)) from the CSPRNG. */
export function generateNodeKey(modulus: JlModulus, rng: RandomSource = systemRandom): bigint {
  return randomBigIntBits(nodeKeyBits(modulus.bits), rng);
}

/** Public JL parameters and the operations on them (no secrets held). */
export class JlScheme {
  readonly modulus: JlModulus;
  readonly n: bigint;
  readonly n2: bigint;
  /** Bytes of one serialized ciphertext (|N^2|/8). */
  readonly ciphertextBytes: number;
  #pow: OpenSslModPow | undefined;

  constructor(modulus: JlModulus) {
    this.modulus = modulus;
    this.n = modulus.n;
    this.n2 = modulus.n * modulus.n;
    this.ciphertextBytes = Math.ceil((2 * modulus.bits) / 8);
  }

  /** The OpenSSL exponentiation context modulo N^2 (one per scheme, this thread). */
  get powCtx(): OpenSslModPow {
    this.#pow ??= new OpenSslModPow(this.n2);
    return this.#pow;
  }

  /** H(tag, index) ∈ Z*_(N^2). */
  hash(tag: JlTag, index: number): bigint {
    return hashToGroup(this.modulus, this.n2, tag, index);
  }

  /**
   * H(tag, i)^exp for i in [start, start+count), in this thread through OpenSSL. With
   * `invert`, returns the inverses (the researcher's H^(-S)), by batch inversion.
   */
  pads(exp: bigint, tag: JlTag, start: number, count: number, invert = false): bigint[] {
    assertInt('start', start, 0, 2 ** 32);
    assertInt('count', count, 0, 2 ** 32);
    if (typeof exp !== 'bigint' || exp < 0n) throw new JlError('ERR_JL_STAGE', 'pad exponent must be a non-negative bigint');
    const out: bigint[] = new Array<bigint>(count);
    const ctx = this.powCtx;
    for (let i = 0; i < count; i++) out[i] = ctx.pow(this.hash(tag, start + i), exp);
    return invert ? batchInverse(out, this.n2) : out;
  }

  /** (1+N)^m * pad mod N^2 for a plaintext m in [0, N). */
  encryptWithPad(m: bigint, pad: bigint): bigint {
    const { n, n2 } = this;
    const c = pad + n * ((m * pad) % n);
    return c >= n2 ? c - n2 : c;
  }

  /** Multiplies ciphertext vectors element-wise modulo N^2 into `acc` (in place). */
  multiplyInto(acc: bigint[], cts: readonly bigint[]): bigint[] {
    if (acc.length !== cts.length) throw new JlError('ERR_JL_ROUND', `ciphertext count mismatch: ${acc.length} vs ${cts.length}`);
    const n2 = this.n2;
    for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! * cts[i]!) % n2;
    return acc;
  }

  /**
   * The plaintext m of T = 1 + mN (T = product times the researcher's inverse pad). Throws
   * `ERR_JL_DECRYPT` if T is not of that form: a missing, extra or forged ciphertext, or the wrong key.
   */
  decodeUnit(t: bigint, index = 0): bigint {
    const d = t - 1n;
    const q = d / this.n;
    if (d < 0n || q * this.n !== d) throw new JlError('ERR_JL_DECRYPT', `aggregate ${index} is not of the form 1+mN: wrong key, missing, extra or forged ciphertext`, { ciphertext: index });
    return q;
  }

  /** Decrypts one aggregate with the researcher's inverse pad H^(-S). */
  decryptWithInversePad(product: bigint, inversePad: bigint, index = 0): bigint {
    return this.decodeUnit((product * inversePad) % this.n2, index);
  }

  /** Ciphertexts as fixed-width big-endian bytes, concatenated. */
  serialize(cts: readonly bigint[]): Uint8Array {
    const w = this.ciphertextBytes;
    const buf = Buffer.alloc(cts.length * w);
    for (let i = 0; i < cts.length; i++) {
      const c = cts[i]!;
      if (c < 0n || c >= this.n2) throw new JlError('ERR_JL_ROUND', `ciphertext ${i} is outside [0, N^2)`);
      const hex = c.toString(16);
      buf.write(hex.length % 2 === 0 ? hex : '0' + hex, i * w + w - Math.ceil(hex.length / 2), 'hex');
    }
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Parses `count` ciphertexts; each must lie in (0, N^2) and be prime to N (not ≡ 0 mod N). */
  deserialize(bytes: Uint8Array, count: number, field = 'ciphertexts'): bigint[] {
    const w = this.ciphertextBytes;
    if (!(bytes instanceof Uint8Array) || bytes.length !== count * w) {
      throw new JlError('ERR_JL_ROUND', `${field}: expected ${count * w} bytes`);
    }
    const out: bigint[] = new Array<bigint>(count);
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) {
      const c = BigInt('0x' + buf.toString('hex', i * w, (i + 1) * w));
      if (c === 0n || c >= this.n2 || c % this.n === 0n) throw new JlError('ERR_JL_ROUND', `${field}: element ${i} is not in Z*_(N^2)`, { index: i });
      out[i] = c;
    }
    return out;
  }
}

/** Width in 32-bit words of one self-mask element: |N| + 128 bits (statistically uniform mod N). */
export function maskWords(modulusBits: number): number {
  return Math.ceil((modulusBits + 128) / 32);
}

/**
 * The self-mask stream of one node for one tag: `count` elements of 32·W ≥ |N|+128 bits, element
 * m being the big-endian integer of bytes [4Wm, 4W(m+1)). Derived from the node's per-round seed
 * with HKDF then AES-256-CTR, bound to the modulus, the tag and the node id.
 */
export function selfMaskStream(seed: Uint8Array, modulus: JlModulus, tag: JlTag, nodeId: string, count: number): Uint8Array {
  const key = deriveKey(seed, ['fedsec/jl/self-mask/v1', modulus.fingerprint, tag.federation, tag.experiment, tag.round, tag.attempt, nodeId]);
  const out = aesCtrKeystream(key, new Uint8Array(16), count * maskWords(modulus.bits) * 4);
  key.fill(0);
  return out;
}

/** Element `m` of a mask stream as a bigint. */
export function maskElement(stream: Uint8Array, modulusBits: number, m: number): bigint {
  const len = maskWords(modulusBits) * 4;
  return BigInt('0x' + Buffer.from(stream.buffer, stream.byteOffset, stream.byteLength).toString('hex', m * len, (m + 1) * len));
}

/** acc += stream, read as big-endian 32-bit words, without carries (exact for up to 2^20 streams). */
export function addMaskStream(acc: Float64Array, stream: Uint8Array): Float64Array {
  if (acc.length * 4 !== stream.length) throw new JlError('ERR_JL_ROUND', 'mask length mismatch');
  const dv = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + dv.getUint32(i * 4, false);
  return acc;
}

/** Element `m` of a word-wise sum made by {@link addMaskStream}: the sum of the streams' elements. */
export function maskSumElement(acc: Float64Array, modulusBits: number, m: number): bigint {
  const w = maskWords(modulusBits);
  const buf = Buffer.alloc(4 * (w + 2));
  let carry = 0;
  for (let j = w - 1; j >= 0; j--) {
    const t = acc[m * w + j]! + carry;
    carry = Math.floor(t / 4294967296);
    buf.writeUInt32BE(t - carry * 4294967296, 4 * (j + 2));
  }
  buf.writeUInt32BE(carry % 4294967296, 4);
  buf.writeUInt32BE(Math.floor(carry / 4294967296), 0);
  return BigInt('0x' + buf.toString('hex'));
}
