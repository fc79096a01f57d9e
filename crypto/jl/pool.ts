/**
 * Parallel precomputation of JL pads H(tag, i)^exp mod N^2 on worker threads (each with its
 * own OpenSSL context). Pads depend only on the key and the tag, so nodes compute the next
 * round's pads, and the researcher its inverse pads H^(-S), before the round's data exists.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { assertInt } from '../../common/validate.ts';
import { toHex } from '../bytes.ts';
import { bigIntToBytesBE } from '../random.ts';
import { JlError } from './errors.ts';
import type { JlTag } from './hash.ts';
import type { JlModulus } from './modulus.ts';
import { byteLength } from './modexp.ts';
import { JlScheme } from './scheme.ts';
import type { CombineWorkerJob, PadWorkerJob } from './worker.ts';

/** One pad computation. */
export interface PadJob {
  readonly modulus: JlModulus;
  /** Non-negative exponent (a node key, or the researcher's key sum S with `invert`). */
  readonly exponent: bigint;
  readonly tag: JlTag;
  readonly start: number;
  readonly count: number;
  /** Return H^(-exp) instead of H^exp. */
  readonly invert?: boolean;
}

/** Default worker count: the machine's available parallelism. */
export function defaultWorkers(): number {
  return availableParallelism();
}

/** A fixed set of worker threads computing pads; `close()` when done. */
export class JlWorkerPool {
  readonly size: number;
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
  #next = 0;
  #closed = false;

  constructor(size: number = defaultWorkers()) {
    assertInt('size', size, 1, 256);
    this.size = size;
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./worker-boot.mjs', import.meta.url));
      w.on('message', (m: { id: number; bytes?: Uint8Array; error?: string }) => {
        const p = this.#pending.get(m.id);
        if (p === undefined) return;
        this.#pending.delete(m.id);
        if (m.bytes !== undefined) p.resolve(m.bytes);
        else p.reject(new JlError('ERR_JL_STAGE', `pad worker failed: ${m.error ?? 'unknown error'}`));
      });
      w.on('error', (e) => {
        for (const p of this.#pending.values()) p.reject(e);
        this.#pending.clear();
      });
      w.unref();
      this.#workers.push(w);
    }
  }

  #run(worker: Worker, job: Omit<PadWorkerJob, 'id'> | Omit<CombineWorkerJob, 'id'>): Promise<Uint8Array> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...job, id });
    }).finally(() => {
      if (this.#pending.size === 0) for (const w of this.#workers) w.unref();
    }) as Promise<Uint8Array>;
  }

  /** Computes the pads of `job`, split into contiguous chunks across the workers. */
  async pads(job: PadJob): Promise<bigint[]> {
    if (this.#closed) throw new JlError('ERR_JL_STAGE', 'worker pool is closed');
    assertInt('count', job.count, 0, 2 ** 31);
    if (job.exponent < 0n) throw new JlError('ERR_JL_STAGE', 'pad exponent must be non-negative');
    const scheme = new JlScheme(job.modulus);
    const chunks = Math.min(this.size * 2, Math.max(1, job.count));
    const per = Math.ceil(job.count / chunks);
    const base = {
      bits: job.modulus.bits,
      n: toHex(bigIntToBytesBE(job.modulus.n, Math.ceil(job.modulus.bits / 8))),
      fingerprint: toHex(job.modulus.fingerprint),
      exponent: toHex(bigIntToBytesBE(job.exponent, Math.max(1, byteLength(job.exponent)))),
      tag: { federation: job.tag.federation, experiment: job.tag.experiment, round: job.tag.round, attempt: job.tag.attempt },
      invert: job.invert === true,
    };
    const parts: Promise<Uint8Array>[] = [];
    for (let c = 0, s = 0; s < job.count; c++, s += per) {
      parts.push(this.#run(this.#workers[c % this.size]!, { ...base, start: job.start + s, count: Math.min(per, job.count - s) }));
    }
    const out: bigint[] = [];
    for (const [i, p] of parts.entries()) {
      const bytes = await p;
      const cnt = Math.min(per, job.count - i * per);
      for (const v of scheme.deserialize(bytes, cnt, 'pads')) out.push(v);
    }
    return out;
  }

  /**
   * The researcher's dropout-recovery combination (recovery.ts) split across the workers:
   * T_c = base_c^d2 · Π_k elements[k][c]^lambdas[k] mod N².
   */
  async combine(modulus: JlModulus, base: readonly bigint[], elements: readonly (readonly bigint[])[], lambdas: readonly bigint[], d2: bigint): Promise<bigint[]> {
    if (this.#closed) throw new JlError('ERR_JL_STAGE', 'worker pool is closed');
    const scheme = new JlScheme(modulus);
    const count = base.length;
    const chunks = Math.min(this.size, Math.max(1, count));
    const per = Math.ceil(count / chunks);
    const common = {
      kind: 'combine' as const,
      bits: modulus.bits,
      n: toHex(bigIntToBytesBE(modulus.n, Math.ceil(modulus.bits / 8))),
      fingerprint: toHex(modulus.fingerprint),
      lambdas: lambdas.map((l) => l.toString()),
      d2: d2.toString(),
    };
    const parts: Promise<Uint8Array>[] = [];
    for (let c = 0, s = 0; s < count; c++, s += per) {
      const e = Math.min(count, s + per);
      parts.push(this.#run(this.#workers[c % this.size]!, { ...common, count: e - s, base: scheme.serialize(base.slice(s, e)), elements: elements.map((el) => scheme.serialize(el.slice(s, e))) }));
    }
    const out: bigint[] = [];
    for (const [i, p] of parts.entries()) {
      for (const v of scheme.deserialize(await p, Math.min(per, count - i * per), 'combined')) out.push(v);
    }
    return out;
  }

  /** Terminates the workers. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

/**
 * Computes pads with `workers` threads (0: in this thread, synchronously). For repeated use
 * keep a {@link JlWorkerPool} instead of paying thread start-up each time.
 */
export async function computePads(job: PadJob, opts: { workers?: number; pool?: JlWorkerPool } = {}): Promise<bigint[]> {
  if (opts.pool !== undefined) return opts.pool.pads(job);
  const workers = opts.workers ?? 0;
  if (workers === 0) return new JlScheme(job.modulus).pads(job.exponent, job.tag, job.start, job.count, job.invert === true);
  const pool = new JlWorkerPool(workers);
  try {
    return await pool.pads(job);
  } finally {
    await pool.close();
  }
}
