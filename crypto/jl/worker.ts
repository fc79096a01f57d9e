/**
 * Worker-thread entry for {@link JlWorkerPool}: computes H(tag, i)^exp mod N^2 (optionally
 * inverted) for a range of indices through OpenSSL and returns them as fixed-width bytes.
 * Loaded with tsx's loader by the pool; not part of the public surface.
 */
import { parentPort } from 'node:worker_threads';
import { fromHex } from '../bytes.ts';
import { bytesToBigIntBE } from '../random.ts';
import type { JlTag } from './hash.ts';
import { combineRecovery } from './recovery.ts';
import { JlScheme } from './scheme.ts';

/** A job as sent to a worker (hex strings: bigints cross the thread boundary as text). */
export interface PadWorkerJob {
  readonly id: number;
  readonly kind?: 'pads';
  readonly bits: number;
  readonly n: string;
  readonly fingerprint: string;
  readonly exponent: string;
  readonly tag: JlTag;
  readonly start: number;
  readonly count: number;
  readonly invert: boolean;
}

/** A dropout-recovery combination job (see recovery.ts); group elements as serialized ciphertexts. */
export interface CombineWorkerJob {
  readonly id: number;
  readonly kind: 'combine';
  readonly bits: number;
  readonly n: string;
  readonly fingerprint: string;
  readonly count: number;
  readonly base: Uint8Array;
  readonly elements: readonly Uint8Array[];
  /** Signed decimal strings. */
  readonly lambdas: readonly string[];
  readonly d2: string;
}

const schemes = new Map<string, JlScheme>();

parentPort?.on('message', (job: PadWorkerJob | CombineWorkerJob) => {
  try {
    let scheme = schemes.get(job.n);
    if (scheme === undefined) {
      scheme = new JlScheme({ bits: job.bits, n: bytesToBigIntBE(fromHex(job.n)), fingerprint: fromHex(job.fingerprint) });
      schemes.set(job.n, scheme);
    }
    if (job.kind === 'combine') {
      const s = scheme;
      const out = combineRecovery(
        s,
        s.deserialize(job.base, job.count, 'base'),
        job.elements.map((e) => s.deserialize(e, job.count, 'elements')),
        job.lambdas.map((l) => BigInt(l)),
        BigInt(job.d2),
      );
      const bytes = s.serialize(out);
      parentPort!.postMessage({ id: job.id, bytes }, [bytes.buffer as ArrayBuffer]);
      return;
    }
    const exp = bytesToBigIntBE(fromHex(job.exponent));
    const pads = scheme.pads(exp, job.tag, job.start, job.count, job.invert);
    const bytes = scheme.serialize(pads);
    parentPort!.postMessage({ id: job.id, bytes }, [bytes.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: e instanceof Error ? `${(e as { code?: string }).code ?? 'ERR_INTERNAL'}: ${e.message}` : String(e) });
  }
});
