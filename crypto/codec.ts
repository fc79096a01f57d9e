/**
 * Fixed-point codec for secure aggregation: real-valued updates are clipped per coordinate
 * to [-clip, clip], scaled by `scale` (grid step 1/scale), rounded stochastically with the
 * CSPRNG (unbiased: E[round(v)] = v), and wrapped into Z_(2^bits). Summing the encodings of
 * n parties mod 2^bits and decoding gives the sum of the quantized values exactly, provided
 * the true integer sum never leaves (-2^(bits-1), 2^(bits-1)); the constructor refuses any
 * parameter set for which it could, and says which parameter to change.
 */
import { FedsecError, InvalidArgumentError } from '../common/errors.ts';
import { assertInt, assertNumber } from '../common/validate.ts';
import { systemRandom, type RandomSource } from './random.ts';

/** Parameters of a {@link FixedPointCodec}. */
export interface CodecParams {
  /** Width of the ring Z_(2^bits), 2..32. Upload cost is bits/8 bytes per parameter (rounded to 4 on the wire). */
  readonly bits: number;
  /** Per-coordinate clipping bound (> 0). */
  readonly clip: number;
  /** Quantization scale: a value v becomes round(v * scale). */
  readonly scale: number;
  /** Largest number of encodings that will ever be summed. */
  readonly maxParties: number;
  /** Extra integer magnitude a party may add per coordinate (e.g. a discrete-noise tail bound). Default 0. */
  readonly noiseBound?: number;
}

/** Raised when parameters allow the sum to overflow the ring, or a sum is decoded for too many parties. */
export class CodecError extends FedsecError {
  constructor(code: 'ERR_CODEC_OVERFLOW' | 'ERR_CODEC_LENGTH', message: string, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? undefined : { details });
  }
}

/** Any array of numbers accepted as an update. */
export type NumericVector = Float64Array | Float32Array | readonly number[];

/** Fixed-point encoding into Z_(2^bits) with overflow-safe parameters. */
export class FixedPointCodec {
  readonly bits: number;
  readonly clip: number;
  readonly scale: number;
  readonly maxParties: number;
  readonly noiseBound: number;
  /** Largest |integer| one party can contribute per coordinate. */
  readonly maxAbsPerParty: number;
  readonly #modulus: number;
  readonly #half: number;

  constructor(params: CodecParams) {
    assertInt('bits', params.bits, 2, 32);
    assertNumber('clip', params.clip, 0, Number.MAX_VALUE, { minOpen: true });
    assertNumber('scale', params.scale, 0, Number.MAX_VALUE, { minOpen: true });
    assertInt('maxParties', params.maxParties, 1, 1 << 20);
    const noiseBound = params.noiseBound ?? 0;
    assertInt('noiseBound', noiseBound, 0, 2 ** 40);
    this.bits = params.bits;
    this.clip = params.clip;
    this.scale = params.scale;
    this.maxParties = params.maxParties;
    this.noiseBound = noiseBound;
    this.maxAbsPerParty = Math.ceil(params.clip * params.scale) + noiseBound;
    this.#modulus = 2 ** params.bits;
    this.#half = 2 ** (params.bits - 1);
    const worst = this.maxParties * this.maxAbsPerParty;
    if (!(worst < this.#half)) {
      const maxScale = (this.#half - 1) / this.maxParties - noiseBound;
      throw new CodecError(
        'ERR_CODEC_OVERFLOW',
        `sum of ${this.maxParties} parties can reach ${worst}, beyond the ring's signed range ±${this.#half - 1} for bits=${this.bits}: ` +
          `increase bits, lower maxParties, lower clip*scale (scale ≤ ${Math.max(0, Math.floor(maxScale / this.clip * 1e6) / 1e6)} at this clip), or lower noiseBound`,
        { bits: this.bits, maxParties: this.maxParties, clip: this.clip, scale: this.scale, noiseBound },
      );
    }
  }

  /**
   * The largest power-of-two scale that fits `bits` for `maxParties` at `clip` (and noise bound).
   * Throws `ERR_CODEC_OVERFLOW` if even scale 1 does not fit.
   */
  static forRange(p: Omit<CodecParams, 'scale'>): FixedPointCodec {
    assertInt('bits', p.bits, 2, 32);
    assertNumber('clip', p.clip, 0, Number.MAX_VALUE, { minOpen: true });
    assertInt('maxParties', p.maxParties, 1, 1 << 20);
    const budget = (2 ** (p.bits - 1) - 1) / p.maxParties - (p.noiseBound ?? 0) - 1;
    if (!(budget > 0)) return new FixedPointCodec({ ...p, scale: 1 });
    const scale = 2 ** Math.floor(Math.log2(budget / p.clip));
    return new FixedPointCodec({ ...p, scale });
  }

  /** Clips, scales and stochastically rounds `values` to integers (not yet wrapped). */
  quantize(values: NumericVector, rng: RandomSource = systemRandom): Int32Array {
    const n = values.length;
    const out = new Int32Array(n);
    const rnd = new Uint32Array(n);
    rng.fill(new Uint8Array(rnd.buffer));
    const c = this.clip;
    const s = this.scale;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new InvalidArgumentError('values', `element ${i} is ${String(v)}, expected a finite number`, { index: i });
      }
      const x = (v > c ? c : v < -c ? -c : v) * s;
      const f = Math.floor(x);
      out[i] = f + (rnd[i]! * 2.3283064365386963e-10 < x - f ? 1 : 0);
    }
    return out;
  }

  /** Maps integers into Z_(2^bits) (two's complement wrap). */
  wrap(ints: Int32Array): Uint32Array {
    const out = new Uint32Array(ints.length);
    if (this.bits === 32) {
      out.set(new Uint32Array(ints.buffer, ints.byteOffset, ints.length));
      return out;
    }
    const m = this.#modulus - 1;
    for (let i = 0; i < ints.length; i++) out[i] = (ints[i]! & m) >>> 0;
    return out;
  }

  /** quantize then wrap: the vector a party feeds into secure aggregation. */
  encode(values: NumericVector, rng: RandomSource = systemRandom): Uint32Array {
    return this.wrap(this.quantize(values, rng));
  }

  /** acc += v (mod 2^bits), in place. */
  addInto(acc: Uint32Array, v: Uint32Array): Uint32Array {
    if (acc.length !== v.length) throw new CodecError('ERR_CODEC_LENGTH', `length mismatch: ${acc.length} vs ${v.length}`);
    if (this.bits === 32) {
      for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! + v[i]!) >>> 0;
    } else {
      const m = this.#modulus - 1;
      for (let i = 0; i < acc.length; i++) acc[i] = ((acc[i]! + v[i]!) & m) >>> 0;
    }
    return acc;
  }

  /** acc -= v (mod 2^bits), in place. */
  subInto(acc: Uint32Array, v: Uint32Array): Uint32Array {
    if (acc.length !== v.length) throw new CodecError('ERR_CODEC_LENGTH', `length mismatch: ${acc.length} vs ${v.length}`);
    if (this.bits === 32) {
      for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! - v[i]!) >>> 0;
    } else {
      const m = this.#modulus - 1;
      for (let i = 0; i < acc.length; i++) acc[i] = ((acc[i]! - v[i]!) & m) >>> 0;
    }
    return acc;
  }

  /** Interprets ring elements as signed integers in (-2^(bits-1), 2^(bits-1)]. */
  unwrapSigned(sum: Uint32Array): Float64Array {
    const out = new Float64Array(sum.length);
    const mod = this.#modulus;
    const half = this.#half;
    for (let i = 0; i < sum.length; i++) {
      const v = sum[i]! % mod;
      out[i] = v >= half ? v - mod : v;
    }
    return out;
  }

  /**
   * Decodes the ring sum of `parties` encodings back to real values (sum of the quantized inputs
   * divided by scale). Refuses `parties` above `maxParties`: the sum could have wrapped.
   */
  decodeSum(sum: Uint32Array, parties: number): Float64Array {
    assertInt('parties', parties, 1, this.maxParties);
    const out = this.unwrapSigned(sum);
    const inv = 1 / this.scale;
    for (let i = 0; i < out.length; i++) out[i] = out[i]! * inv;
    return out;
  }
}
