/**
 * Chunked vectors and blobs: splitting on the sender, strict validation and streaming
 * accumulation on the receiver. A receiver never buffers a whole contribution: each chunk is
 * checked (element type, offset continuity, total, size limits, finiteness) and folded into a
 * running sum whose size is the model's, whatever the number of senders.
 */
import { FedsecError, InvalidMessageError } from '../common/errors.ts';
import { assertInt } from '../common/validate.ts';
import { MAX_BLOB_BYTES, MAX_CHUNK_BYTES, MAX_VECTOR_LENGTH } from './limits.ts';
import type { ChunkMsg } from './rpc.ts';

/** Element types on the wire. */
export type ElemType = 'f64' | 'u32' | 'bytes';

/** Bytes per element. */
export function elemBytes(e: ElemType): number {
  return e === 'f64' ? 8 : e === 'u32' ? 4 : 1;
}

/** A limit was exceeded (maps to RESOURCE_EXHAUSTED). */
export class LimitError extends FedsecError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('ERR_LIMIT', message, details === undefined ? undefined : { details });
  }
}

/** Splits a vector into chunks of at most MAX_CHUNK_BYTES. */
export function* vectorChunks(v: Float64Array | Uint32Array, roundTag: string): Generator<ChunkMsg> {
  const elem: ElemType = v instanceof Float64Array ? 'f64' : 'u32';
  const per = Math.floor(MAX_CHUNK_BYTES / elemBytes(elem));
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const eb = elemBytes(elem);
  if (v.length === 0) yield { round_tag: roundTag, offset: 0, total: 0, elem, data: new Uint8Array(0), hash: '' };
  for (let off = 0; off < v.length; off += per) {
    const n = Math.min(per, v.length - off);
    yield { round_tag: roundTag, offset: off, total: v.length, elem, data: bytes.slice(off * eb, (off + n) * eb), hash: '' };
  }
}

/** Splits a blob into chunks. */
export function* blobChunks(b: Uint8Array, hash: string): Generator<ChunkMsg> {
  if (b.length === 0) yield { round_tag: '', offset: 0, total: 0, elem: 'bytes', data: new Uint8Array(0), hash };
  for (let off = 0; off < b.length; off += MAX_CHUNK_BYTES) {
    const n = Math.min(MAX_CHUNK_BYTES, b.length - off);
    yield { round_tag: '', offset: off, total: b.length, elem: 'bytes', data: b.subarray(off, off + n), hash };
  }
}

/**
 * Validates a stream of chunks as it arrives: same element type and total in every chunk,
 * contiguous offsets from 0, whole elements, size limits. `finish()` checks completeness.
 */
export class ChunkSequence {
  readonly elem: ElemType;
  readonly total: number;
  #next = 0;

  /** `elem` and `total` are what the receiver expects (the chunks must agree). */
  constructor(elem: ElemType, total: number) {
    assertInt('total', total, 0, elem === 'bytes' ? MAX_BLOB_BYTES : MAX_VECTOR_LENGTH);
    this.elem = elem;
    this.total = total;
  }

  /** Received elements so far. */
  get received(): number {
    return this.#next;
  }

  /** Checks one chunk and returns its elements' bytes (copied, aligned) and offset. */
  accept(c: ChunkMsg): { offset: number; data: Uint8Array; count: number } {
    if (c.elem !== this.elem) throw new InvalidMessageError('chunk.elem', `expected ${this.elem}, got ${JSON.stringify(String(c.elem)).slice(0, 20)}`);
    if (c.total !== this.total) throw new InvalidMessageError('chunk.total', `vector length ${c.total} where ${this.total} was expected`, { expected: this.total, actual: c.total });
    if (!(c.data instanceof Uint8Array)) throw new InvalidMessageError('chunk.data', 'missing data');
    if (c.data.length > MAX_CHUNK_BYTES) throw new LimitError(`chunk of ${c.data.length} bytes exceeds MAX_CHUNK_BYTES ${MAX_CHUNK_BYTES}`, { limit: MAX_CHUNK_BYTES });
    const eb = elemBytes(this.elem);
    if (c.data.length % eb !== 0) throw new InvalidMessageError('chunk.data', `${c.data.length} bytes is not a whole number of ${this.elem} elements`);
    if (c.offset !== this.#next) throw new InvalidMessageError('chunk.offset', `offset ${c.offset} where ${this.#next} was expected`, { expected: this.#next, actual: c.offset });
    const count = c.data.length / eb;
    if (count === 0 && this.total !== 0) throw new InvalidMessageError('chunk.data', 'empty chunk');
    if (this.#next + count > this.total) throw new InvalidMessageError('chunk.data', `chunk runs past the vector end (${this.#next + count} > ${this.total})`);
    this.#next += count;
    return { offset: c.offset, data: Uint8Array.from(c.data), count };
  }

  /** Throws unless every element arrived (truncated streams are refused). */
  finish(): void {
    if (this.#next !== this.total) throw new InvalidMessageError('chunk', `stream ended after ${this.#next} of ${this.total} elements (truncated)`, { received: this.#next, total: this.total });
  }
}

/** A running sum fed chunk by chunk. */
export interface Accumulator {
  readonly elem: ElemType;
  readonly length: number;
  /** Checks a chunk's elements (e.g. finiteness) without adding it. */
  check(data: Uint8Array): void;
  /** Adds elements starting at `offset`. */
  add(offset: number, data: Uint8Array): void;
}

/** Float64 sum (plain rounds). Rejects NaN and ±Infinity per chunk before adding anything. */
export class F64SumAccumulator implements Accumulator {
  readonly elem = 'f64' as const;
  readonly length: number;
  readonly sum: Float64Array;
  constructor(length: number) {
    assertInt('length', length, 0, MAX_VECTOR_LENGTH);
    this.length = length;
    this.sum = new Float64Array(length);
  }
  check(data: Uint8Array): void {
    const v = new Float64Array(data.buffer, data.byteOffset, data.byteLength / 8);
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i]!)) throw new InvalidMessageError('chunk.data', `element is ${String(v[i])}; only finite values are accepted`, { index: i });
    }
  }
  add(offset: number, data: Uint8Array): void {
    const v = new Float64Array(data.buffer, data.byteOffset, data.byteLength / 8);
    const s = this.sum;
    for (let i = 0; i < v.length; i++) s[offset + i]! += v[i]!;
  }
}

/** Sum in Z_(2^bits) (ring words of masked or quantized updates). */
export class RingSumAccumulator implements Accumulator {
  readonly elem = 'u32' as const;
  readonly length: number;
  readonly bits: number;
  readonly sum: Uint32Array;
  constructor(length: number, bits: number) {
    assertInt('length', length, 0, MAX_VECTOR_LENGTH);
    assertInt('bits', bits, 1, 32);
    this.length = length;
    this.bits = bits;
    this.sum = new Uint32Array(length);
  }
  check(data: Uint8Array): void {
    if (this.bits === 32) return;
    const v = new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4);
    const lim = 2 ** this.bits;
    for (let i = 0; i < v.length; i++) if (v[i]! >= lim) throw new InvalidMessageError('chunk.data', `word ${i} is outside Z_(2^${this.bits})`, { index: i });
  }
  add(offset: number, data: Uint8Array): void {
    const v = new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4);
    const s = this.sum;
    if (this.bits === 32) {
      for (let i = 0; i < v.length; i++) s[offset + i] = (s[offset + i]! + v[i]!) >>> 0;
    } else {
      const m = 2 ** this.bits - 1;
      for (let i = 0; i < v.length; i++) s[offset + i] = ((s[offset + i]! + v[i]!) & m) >>> 0;
    }
  }
}

/** Float64Array view of little-endian bytes (copies when unaligned). */
export function f64FromBytes(b: Uint8Array): Float64Array {
  if (b.byteLength % 8 !== 0) throw new InvalidMessageError('vector', 'byte length is not a multiple of 8');
  const a = b.byteOffset % 8 === 0 ? b : Uint8Array.from(b);
  return new Float64Array(a.buffer, a.byteOffset, a.byteLength / 8);
}

/** Bytes of a Float64Array (little-endian on every supported platform). */
export function f64ToBytes(v: Float64Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
