/**
 * Parameters both ends of a secure round derive identically from the work request: the masking
 * engine's configuration and the codec that maps real vectors into ring words.
 */
import { InvalidMessageError } from '../common/errors.ts';
import { FixedPointCodec } from '../crypto/codec.ts';
import type { MaskingConfig } from '../crypto/masking/index.ts';
import { wideDecodeSum, wideEncode } from './widecodec.ts';
import type { RandomSource } from '../crypto/random.ts';
import { distributedLocalSigma, distributedNoiseBound } from '../crypto/dp/index.ts';
import { sha256Digest } from '../crypto/hkdf.ts';
import type { WorkRequest } from './work.ts';

/** Codec parameters of a round: `{ type: 'wide', exp }` or `{ type: 'fixed', bits?, clip, scale?, noiseBound? }`. */
export type CodecSpec = Readonly<Record<string, unknown>>;

/**
 * The masking configuration of an attempt: protocol round = the federation-wide attempt number,
 * participants = the nodes that accepted, threshold = max(majority, minParticipants) ≤ n.
 */
export function maskingConfigFor(federation: string, seq: number, aggregator: string, participants: readonly string[], minParticipants: number, vectorLength: number, context?: Uint8Array): MaskingConfig {
  const n = participants.length;
  const threshold = Math.min(n, Math.max(Math.floor(n / 2) + 1, minParticipants));
  return { federation, round: seq, aggregator, participants: [...participants].sort(), threshold, vectorLength, bits: 32, ...(context === undefined ? {} : { context }) };
}

/**
 * SHA-256 of the work request and codec of an attempt (canonical JSON, keys sorted), the masking
 * round's `context`: every node's DP parameters (mode, noise multiplier, clipping norm,
 * minParticipants), training arguments and codec are bound into the round digest, so an
 * aggregator that shows nodes different parameters (e.g. less noise to some) cannot complete
 * the round.
 */
export function workContext(work: WorkRequest, codec: CodecSpec): Uint8Array {
  return sha256Digest(new TextEncoder().encode(canonicalJson(['fedsec/work-context/v1', work, codec])));
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  const s = JSON.stringify(v);
  if (s === undefined) throw new InvalidMessageError('work', 'not JSON-encodable');
  return s;
}

/** The fixed-point codec of a spec for up to `maxParties` parties (scale chosen by forRange when absent). */
export function fixedCodec(spec: CodecSpec, maxParties: number): FixedPointCodec {
  const bits = spec['bits'] === undefined ? 32 : Number(spec['bits']);
  const clip = Number(spec['clip']);
  const noiseBound = spec['noiseBound'] === undefined ? 0 : Number(spec['noiseBound']);
  if (spec['scale'] === undefined) return FixedPointCodec.forRange({ bits, clip, maxParties, noiseBound });
  return new FixedPointCodec({ bits, clip, scale: Number(spec['scale']), maxParties, noiseBound });
}

/** Validates a codec spec (throws InvalidMessageError naming the problem). */
export function validateCodecSpec(spec: CodecSpec, vectorLength: number, maxParties: number): void {
  if (spec['type'] === 'wide') {
    const exp = spec['exp'];
    if (typeof exp !== 'number' || !Number.isInteger(exp) || exp < -60 || exp > 60) throw new InvalidMessageError('codec.exp', 'must be an integer in [-60, 60]');
    if (vectorLength % 3 !== 0) throw new InvalidMessageError('codec', 'a wide-codec vector has 3 words per value');
    return;
  }
  if (spec['type'] !== 'fixed') throw new InvalidMessageError('codec.type', 'expected fixed or wide');
  try {
    fixedCodec(spec, maxParties);
  } catch (e) {
    throw new InvalidMessageError('codec', (e as Error).message);
  }
}

/** Length in ring words of a real vector of length `n` under `spec`. */
export function encodedLength(spec: CodecSpec, n: number): number {
  return spec['type'] === 'wide' ? 3 * n : n;
}

/** Encodes a real vector into ring words. */
export function encodeVector(spec: CodecSpec, v: Float64Array, maxParties: number, rng?: RandomSource): Uint32Array {
  if (spec['type'] === 'wide') return wideEncode(v, Number(spec['exp']));
  return fixedCodec(spec, maxParties).encode(v, rng);
}

/** Decodes a ring sum of `contributors` encodings. */
export function decodeVectorSum(spec: CodecSpec, sum: Uint32Array, maxParties: number, contributors: number): Float64Array {
  if (spec['type'] === 'wide') return wideDecodeSum(sum, Number(spec['exp']));
  return fixedCodec(spec, maxParties).decodeSum(sum, Math.max(1, contributors));
}

/**
 * The fixed-point codec of a distributed-DP training round: the largest power-of-two scale whose
 * sum, discrete Gaussian shares included, cannot wrap for up to `maxNodes` parties. crypto/dp sizes
 * each node's share (std σ·(sensitivity·scale + rounding)/√minHonest) and its tail bound, which
 * becomes the codec's `noiseBound`; nodes recompute both and refuse a codec that cannot hold them.
 */
export function distributedCodecSpec(p: { clip: number; sensitivity: number; noiseMultiplier: number; minHonest: number; dimension: number; maxNodes: number }): CodecSpec {
  // Start at the largest scale the clipped values alone allow; shares only push it down.
  const top = Math.floor(Math.log2((2 ** 31 - 1) / (p.maxNodes * p.clip)));
  for (let e = Math.min(30, top); e >= -20; e--) {
    const scale = 2 ** e;
    const sigma = distributedLocalSigma({
      mode: 'distributed', unit: 'record', clipNorm: p.sensitivity, noiseMultiplier: p.noiseMultiplier,
      samplingRate: 1, stepsPerRound: 1, minHonestParties: p.minHonest, scale, dimension: p.dimension,
    });
    if (sigma > 2 ** 30) continue;
    const noiseBound = distributedNoiseBound(sigma, p.dimension).noiseBound;
    if (p.maxNodes * (Math.ceil(p.clip * scale) + noiseBound) < 2 ** 31 - 1) return { type: 'fixed', bits: 32, clip: p.clip, scale, noiseBound };
  }
  throw new InvalidMessageError('codec', 'no fixed-point scale fits the distributed noise; lower the clip or the number of nodes');
}
