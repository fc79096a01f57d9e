/**
 * Client side of the Federation service, shared by nodes and researchers: mutual-TLS channel to
 * the aggregator (whose certificate must carry role `aggregator` and be unrevoked), typed
 * wrappers of every RPC, and conversion of gRPC failures into typed {@link RemoteError}s.
 */
import * as grpc from '@grpc/grpc-js';
import { toHex } from '../crypto/bytes.ts';
import { sha256Digest } from '../crypto/hkdf.ts';
import type { TlsCredentials } from '../pki/member.ts';
import type { PeerVerifier } from '../pki/verifier.ts';
import { ChunkSequence, blobChunks, vectorChunks } from './chunks.ts';
import { MAX_BLOB_BYTES } from './limits.ts';
import {
  CHANNEL_OPTIONS, clientCredentials, federationClientConstructor, fromServiceError,
  type ChunkMsg, type Envelope, type JsonBodyMsg, type RoundEventMsg, type UploadAckMsg,
} from './rpc.ts';

/** Options of {@link FederationClient}. */
export interface ClientOptions {
  /** `host:port` of the aggregator (loopback in tests and the demo). */
  readonly address: string;
  readonly tls: TlsCredentials;
  /** Verifies the aggregator's certificate (role, revocation). */
  readonly verifier: PeerVerifier;
}

/** Resolves when a stream can take more data, or has ended / failed (never hangs on a dead stream). */
export function writable(s: NodeJS.EventEmitter): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => { s.off('drain', done); s.off('error', done); s.off('close', done); s.off('finish', done); resolve(); };
    s.once('drain', done);
    s.once('error', done);
    s.once('close', done);
    s.once('finish', done);
  });
}

type Raw = grpc.Client & Record<string, (...a: unknown[]) => unknown>;

/** A connection to the aggregator. */
export class FederationClient {
  readonly #raw: Raw;

  constructor(opts: ClientOptions) {
    const Ctor = federationClientConstructor();
    this.#raw = new Ctor(opts.address, clientCredentials(opts.tls, opts.verifier), { ...CHANNEL_OPTIONS }) as unknown as Raw;
  }

  /** Closes the channel. */
  close(): void {
    this.#raw.close();
  }

  /** Opens the node Session stream. */
  session(): grpc.ClientDuplexStream<Envelope, Envelope> {
    return this.#raw['Session']!() as grpc.ClientDuplexStream<Envelope, Envelope>;
  }

  /** Streams a vector as chunks to UploadUpdate. */
  async uploadUpdate(roundTag: string, v: Float64Array | Uint32Array, signal?: AbortSignal): Promise<UploadAckMsg> {
    return this.#clientStream('UploadUpdate', vectorChunks(v, roundTag), signal);
  }

  /** Sends raw chunks to UploadUpdate (tests of malformed input use this). */
  async uploadRawChunks(chunks: Iterable<ChunkMsg>): Promise<UploadAckMsg> {
    return this.#clientStream('UploadUpdate', chunks);
  }

  /** Uploads a blob; resolves to its SHA-256. */
  async uploadBlob(bytes: Uint8Array): Promise<string> {
    const hash = toHex(sha256Digest(bytes));
    const ack = await this.#clientStream('UploadBlob', blobChunks(bytes, hash));
    return ack.hash;
  }

  /** Downloads a blob and checks its SHA-256. */
  async download(hash: string): Promise<Uint8Array> {
    const call = this.#raw['Download']!({ hash }) as grpc.ClientReadableStream<ChunkMsg>;
    let seq: ChunkSequence | undefined;
    let buf: Uint8Array | undefined;
    try {
      for await (const c of call as AsyncIterable<ChunkMsg>) {
        if (seq === undefined) {
          if (c.total > MAX_BLOB_BYTES) throw new Error('blob too large');
          seq = new ChunkSequence('bytes', c.total);
          buf = new Uint8Array(c.total);
        }
        const { offset, data } = seq.accept(c);
        buf!.set(data, offset);
      }
    } catch (e) {
      call.cancel();
      throw fromServiceError(e);
    }
    if (seq === undefined || buf === undefined) throw fromServiceError(new Error('empty download'));
    seq.finish();
    if (toHex(sha256Digest(buf)) !== hash) throw fromServiceError(new Error('downloaded blob does not match its hash'));
    return buf;
  }

  /** A unary JSON call. */
  async call(method: 'ListNodes' | 'CreateExperiment' | 'GetExperiment', body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const res = await new Promise<JsonBodyMsg>((resolve, reject) => {
      this.#raw[method]!(method === 'ListNodes' ? {} : { json: JSON.stringify(body) }, (err: grpc.ServiceError | null, r: JsonBodyMsg) => (err ? reject(fromServiceError(err)) : resolve(r)));
    });
    return JSON.parse(res.json) as Record<string, unknown>;
  }

  /** Sends the researcher's engine message for a running round (RoundReply). */
  async roundReply(roundTag: string, payload: Uint8Array): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#raw['RoundReply']!({ type: 'relay', round_tag: roundTag, json: '{}', payload }, (err: grpc.ServiceError | null) => (err ? reject(fromServiceError(err)) : resolve()));
    });
  }

  /** Runs a round; `onEvent` sees every event, the promise resolves with the `result` event body. */
  async runRound(body: Record<string, unknown>, onEvent: (type: string, body: Record<string, unknown>) => void = () => undefined): Promise<Record<string, unknown>> {
    const call = this.#raw['RunRound']!({ json: JSON.stringify(body) }) as grpc.ClientReadableStream<RoundEventMsg>;
    let result: Record<string, unknown> | undefined;
    try {
      for await (const ev of call as AsyncIterable<RoundEventMsg>) {
        const b = JSON.parse(ev.json) as Record<string, unknown>;
        onEvent(ev.type, b);
        if (ev.type === 'result') result = b;
      }
    } catch (e) {
      throw fromServiceError(e);
    }
    if (result === undefined) throw fromServiceError(new Error('round ended without a result'));
    return result;
  }

  async #clientStream(method: string, chunks: Iterable<ChunkMsg>, signal?: AbortSignal): Promise<UploadAckMsg> {
    return new Promise<UploadAckMsg>((resolve, reject) => {
      const call = this.#raw[method]!((err: grpc.ServiceError | null, ack: UploadAckMsg) => (err ? reject(fromServiceError(err)) : resolve(ack))) as grpc.ClientWritableStream<ChunkMsg>;
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      void (async () => {
        for (const c of chunks) {
          if (signal?.aborted) return;
          if (!call.write(c)) await writable(call);
        }
        call.end();
      })().catch(() => call.cancel()).finally(() => signal?.removeEventListener('abort', onAbort));
    });
  }
}
