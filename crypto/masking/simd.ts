/**
 * Word-wise addition and subtraction mod 2^32 over blocks, with a tiny WebAssembly SIMD kernel
 * (i32x4.add / i32x4.sub, assembled below from its opcodes: no binary blob, no dependency) and
 * a plain typed-array fallback where WebAssembly SIMD is unavailable or the host is big-endian.
 *
 * The kernel works on two scratch blocks inside its own linear memory; callers copy words in
 * and out with TypedArray.set (native memcpy). On 1M-word vectors this is several times faster
 * than a JavaScript loop, which V8 does not vectorise.
 */
import { endianness } from 'node:os';
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertInt, describe } from '../../common/validate.ts';

/** Words per scratch block (256 KiB). */
export const SIMD_BLOCK_WORDS = 1 << 16;
const BLOCK_BYTES = SIMD_BLOCK_WORDS * 4;

type KernelOp = (acc: number, src: number, bytes: number) => void;

/**
 * The kernel: `op(acc, src, bytes)` does acc[i] ±= src[i] over `bytes` of 32-bit accumulator
 * lanes (a multiple of 16); `add16` / `sub16` read the sources as 16-bit words, zero-extended.
 */
interface Kernel {
  readonly add: KernelOp;
  readonly sub: KernelOp;
  readonly add16: KernelOp;
  readonly sub16: KernelOp;
  readonly words: Uint32Array;
  readonly halves: Uint16Array;
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/**
 * Body of `(func (param $acc i32) (param $src i32) (param $n i32) (local $end i32) ...)` with lane
 * op `simdOp`, source load `loadOp` (v128.load = 0, v128.load16x4_u = 4) and source stride.
 */
function loopBody(simdOp: number, loadOp: number, srcStride: number): number[] {
  const op = [0xfd, ...uleb(simdOp)];
  const code = [
    0x20, 0x00, 0x20, 0x02, 0x6a, 0x21, 0x03, // end = acc + n
    0x02, 0x40, 0x03, 0x40, // block, loop
    0x20, 0x00, 0x20, 0x03, 0x4f, 0x0d, 0x01, // if acc >= end: break
    0x20, 0x00, // store address
    0x20, 0x00, 0xfd, 0x00, 0x00, 0x00, // v128.load acc
    0x20, 0x01, 0xfd, loadOp, 0x00, 0x00, // v128.load src (or load16x4_u: four u16 widened to i32)
    ...op, // i32x4.add / i32x4.sub
    0xfd, 0x0b, 0x00, 0x00, // v128.store
    0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, // acc += 16
    0x20, 0x01, 0x41, srcStride, 0x6a, 0x21, 0x01, // src += stride
    0x0c, 0x00, 0x0b, 0x0b, 0x0b, // br loop, end loop, end block, end func
  ];
  const body = [0x01, 0x01, 0x7f, ...code]; // one local of type i32
  return [...uleb(body.length), ...body];
}

function assemble(): Uint8Array {
  const name = (s: string): number[] => [s.length, ...[...s].map((c) => c.charCodeAt(0))];
  const pages = Math.ceil((2 * BLOCK_BYTES + 16) / 65536);
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00]), // type (i32 i32 i32) -> ()
    ...section(3, [0x04, 0x00, 0x00, 0x00, 0x00]), // four functions of type 0
    ...section(5, [0x01, 0x00, ...uleb(pages)]), // one memory
    ...section(7, [0x05, ...name('mem'), 0x02, 0x00, ...name('add'), 0x00, 0x00, ...name('sub'), 0x00, 0x01, ...name('add16'), 0x00, 0x02, ...name('sub16'), 0x00, 0x03]),
    // i32x4.add = 0xfd 174, i32x4.sub = 0xfd 177; v128.load = 0xfd 0, v128.load16x4_u = 0xfd 4
    ...section(10, [0x04, ...loopBody(0xae, 0x00, 16), ...loopBody(0xb1, 0x00, 16), ...loopBody(0xae, 0x04, 8), ...loopBody(0xb1, 0x04, 8)]),
  ]);
}

/** The slice of the WebAssembly JS API used here (the project's lib settings do not declare it). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}

function loadKernel(): Kernel | undefined {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (endianness() !== 'LE' || wasm === undefined) return undefined;
  try {
    const inst = new wasm.Instance(new wasm.Module(assemble()), {});
    const e = inst.exports as { mem: { buffer: ArrayBuffer }; add: KernelOp; sub: KernelOp; add16: KernelOp; sub16: KernelOp };
    const k: Kernel = { add: e.add, sub: e.sub, add16: e.add16, sub16: e.sub16, words: new Uint32Array(e.mem.buffer), halves: new Uint16Array(e.mem.buffer) };
    // Self-test before trusting it.
    const a = Uint32Array.of(1, 0xffffffff, 5, 7, 9);
    const b = Uint32Array.of(2, 2, 6, 0xffffffff, 1);
    k.words.set(a, 0);
    k.words.set(b, SIMD_BLOCK_WORDS);
    k.add(0, BLOCK_BYTES, 32);
    k.sub(0, BLOCK_BYTES, 32);
    k.sub(0, BLOCK_BYTES, 32);
    const want = [0xffffffff, 0xfffffffd, 0xffffffff, 8, 8];
    for (let i = 0; i < 5; i++) if (k.words[i] !== want[i]) return undefined;
    k.halves.set(Uint16Array.of(0xffff, 1, 2, 3, 4), 2 * SIMD_BLOCK_WORDS);
    k.add16(0, BLOCK_BYTES, 32);
    k.sub16(0, BLOCK_BYTES, 32);
    k.add16(0, BLOCK_BYTES, 32);
    const want16 = [0xfffe, 0xfffffffe, 1, 11, 12];
    for (let i = 0; i < 5; i++) if (k.words[i] !== (want16[i]! >>> 0)) return undefined;
    return k;
  } catch {
    return undefined;
  }
}

const kernel = loadKernel();

/** True when the WebAssembly SIMD kernel is in use (false: typed-array loops). */
export const SIMD_ENABLED = kernel !== undefined;

/** A mask source: 32-bit words, or 16-bit words (zero-extended) for rings of at most 16 bits. */
export type MaskWords = Uint32Array | Uint16Array;

function jsAdd(acc: Uint32Array, v: MaskWords): void {
  const n = v.length;
  for (let i = 0; i < n; i++) acc[i] = acc[i]! + v[i]!;
}

function jsSub(acc: Uint32Array, v: MaskWords): void {
  const n = v.length;
  for (let i = 0; i < n; i++) acc[i] = acc[i]! - v[i]!;
}

/**
 * Applies `sources` to one accumulator block of at most {@link SIMD_BLOCK_WORDS} words:
 * `block[i] += src[i]` (or `-=` when `negate`) mod 2^32 for each source, in order.
 * Every source must have `block.length` words.
 */
export function applyToBlock(block: Uint32Array, sources: Iterable<{ readonly words: MaskWords; readonly negate: boolean }>): void {
  if (!(block instanceof Uint32Array)) throw new InvalidArgumentError('block', `expected Uint32Array, got ${describe(block)}`);
  assertInt('block.length', block.length, 0, SIMD_BLOCK_WORDS);
  const check = (s: { readonly words: MaskWords }, i: number): void => {
    if (!(s.words instanceof Uint32Array || s.words instanceof Uint16Array) || s.words.length !== block.length) {
      throw new InvalidArgumentError(`sources[${i}].words`, `expected a Uint32Array or Uint16Array of ${block.length} words`);
    }
  };
  if (kernel === undefined || block.length < 64) {
    let i = 0;
    for (const s of sources) {
      check(s, i++);
      (s.negate ? jsSub : jsAdd)(block, s.words);
    }
    return;
  }
  const n = block.length;
  const bytes = Math.ceil(n / 4) * 16;
  const w = kernel.words;
  w.set(block, 0);
  let i = 0;
  for (const s of sources) {
    check(s, i++);
    if (s.words instanceof Uint16Array) {
      kernel.halves.set(s.words, 2 * SIMD_BLOCK_WORDS);
      (s.negate ? kernel.sub16 : kernel.add16)(0, BLOCK_BYTES, bytes);
    } else {
      w.set(s.words, SIMD_BLOCK_WORDS);
      (s.negate ? kernel.sub : kernel.add)(0, BLOCK_BYTES, bytes);
    }
  }
  block.set(w.subarray(0, n));
}

/** acc[offset + i] += v[i] mod 2^32 for all i, in place (blockwise through the kernel). */
export function addWordsInto(acc: Uint32Array, v: Uint32Array, offset = 0): void {
  if (!(acc instanceof Uint32Array)) throw new InvalidArgumentError('acc', `expected Uint32Array, got ${describe(acc)}`);
  if (!(v instanceof Uint32Array)) throw new InvalidArgumentError('v', `expected Uint32Array, got ${describe(v)}`);
  if (v.length > acc.length) throw new InvalidArgumentError('v', `has ${v.length} words, more than the accumulator's ${acc.length}`);
  assertInt('offset', offset, 0, acc.length - v.length);
  for (let s = 0; s < v.length; s += SIMD_BLOCK_WORDS) {
    const len = Math.min(SIMD_BLOCK_WORDS, v.length - s);
    applyToBlock(acc.subarray(offset + s, offset + s + len), [{ words: v.subarray(s, s + len), negate: false }]);
  }
}
