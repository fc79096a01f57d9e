/**
 * Aggregation schemes on the aggregator side. A scheme receives the accepted participants of a
 * round attempt, drives its stages through the {@link RoundContext} (relays over the Session
 * streams, uploads over UploadUpdate, stage timeouts, dropouts) and returns the released sum.
 *
 * Uploads are folded into one running accumulator as chunks arrive, so memory is one model's
 * worth whatever the number of nodes. A contribution that fails half-way has already been
 * partly added and cannot be taken out again: the scheme then aborts the attempt
 * (ERR_AGG_UPLOAD) and the researcher retries the round under a new attempt.
 */
import { InvalidMessageError } from '../common/errors.ts';
import { MaskingServer, type MaskingResult } from '../crypto/masking/index.ts';
import type { Roster } from '../crypto/roster.ts';
import { decodeVectorSum, maskingConfigFor } from '../proto/secagg.ts';
import { F64SumAccumulator, type ElemType } from '../proto/chunks.ts';
import { encodeEngineMessage } from '../proto/envelope.ts';
import { AggregatorError } from './errors.ts';
import type { RoundRequest } from './service.ts';
import { JlSchemeServer, type JlEnv } from './jl.ts';

/** What a scheme may use of its round attempt. */
export interface RoundContext {
  readonly tag: string;
  /** Attempt number of this round. */
  readonly attempt: number;
  /** Federation-wide attempt number (the engines' protocol round). */
  readonly seq: number;
  readonly request: RoundRequest;
  /** Digest of the work request sent to the nodes (proto/secagg.ts workContext), bound into the masking round. */
  readonly workContext?: Uint8Array;
  /** Nodes invited to the attempt (codec party bound). */
  readonly invited: readonly string[];
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  send(node: string, type: string, json: Record<string, unknown>, payload?: Uint8Array): void;
  progress(stage: string, message: string, extra?: Record<string, unknown>): void;
  dropout(node: string, stage: string): void;
  stage(name: string): { deliver(from: string, v: unknown): boolean; all(ids: readonly string[], timeoutMs: number, signal: AbortSignal): Promise<Map<string, unknown>> };
}

/** Receiver of one node's upload. */
export interface UploadSink {
  readonly elem: ElemType;
  readonly length: number;
  /** Validates and folds one chunk (offsets are already checked for continuity). */
  chunk(offset: number, data: Uint8Array): void;
  /** The whole vector arrived. */
  complete(): void;
  /** The upload failed after `chunk` calls may have happened. */
  fail(e: unknown): void;
}

/** The result of a scheme. */
export interface SchemeResult {
  /** The released sum, as real numbers (empty when the aggregator cannot decrypt: see `blob`). */
  readonly sum: Float64Array;
  /** An opaque aggregate only the researcher can open (Joye-Libert). */
  readonly blob?: Uint8Array;
  /** Nodes whose contributions are in the sum. */
  readonly contributors: string[];
  readonly metrics: Record<string, unknown>;
}

/** A scheme's aggregator side. */
export interface SchemeServer {
  openUpload(node: string): UploadSink;
  /** Engine messages relayed by nodes (schemes with setup stages). Throws a typed error on a bad message. */
  onRelay?(from: string, msg: unknown): void;
  /** Engine messages from the researcher (RoundReply). */
  onResearcher?(msg: unknown): void;
  aggregate(accepted: readonly string[]): Promise<SchemeResult>;
}

/** Tracks per-node uploads into one accumulator, and poisoning by partial uploads. */
export class UploadTracker<A extends { check(d: Uint8Array): void; add(o: number, d: Uint8Array): void; readonly elem: ElemType; readonly length: number }> {
  readonly acc: A;
  readonly #ctx: RoundContext;
  readonly #open = new Set<string>();
  readonly #completed = new Set<string>();
  #poisonedBy: string | undefined;
  readonly #waiter: ReturnType<RoundContext['stage']>;

  constructor(acc: A, ctx: RoundContext) {
    this.acc = acc;
    this.#ctx = ctx;
    this.#waiter = ctx.stage('uploaded');
  }

  /** Opens a node's upload (one per node per attempt). */
  open(node: string, onChunk?: (offset: number, data: Uint8Array) => void): UploadSink {
    if (this.#open.has(node) || this.#completed.has(node)) throw new AggregatorError('ERR_AGG_UPLOAD', `node ${node} already uploaded to ${this.#ctx.tag}`);
    if (this.#ctx.signal.aborted) throw new AggregatorError('ERR_AGG_ABORTED', `round attempt ${this.#ctx.tag} is no longer accepting uploads`);
    this.#open.add(node);
    let touched = false;
    return {
      elem: this.acc.elem,
      length: this.acc.length,
      chunk: (offset, data) => {
        if (this.#ctx.signal.aborted) throw new AggregatorError('ERR_AGG_ABORTED', `round attempt ${this.#ctx.tag} was aborted`);
        this.acc.check(data);
        touched = true;
        this.acc.add(offset, data);
        onChunk?.(offset, data);
      },
      complete: () => {
        this.#open.delete(node);
        this.#completed.add(node);
        this.#waiter.deliver(node, true);
      },
      fail: () => {
        this.#open.delete(node);
        if (touched && this.#poisonedBy === undefined) {
          this.#poisonedBy = node;
          this.#waiter.deliver(node, false);
        }
      },
    };
  }

  /** Waits for uploads from `nodes`; returns the ones that completed. Throws if the sum is poisoned. */
  async wait(nodes: readonly string[]): Promise<string[]> {
    await this.#waiter.all(nodes, this.#ctx.timeoutMs, this.#ctx.signal);
    this.assertClean();
    const done = nodes.filter((n) => this.#completed.has(n));
    for (const n of nodes) if (!this.#completed.has(n)) this.#ctx.dropout(n, 'upload');
    return done;
  }

  /** Throws ERR_AGG_UPLOAD if a partial upload contaminated the sum. */
  assertClean(): void {
    if (this.#poisonedBy !== undefined || this.#open.size > 0) {
      const who = this.#poisonedBy ?? [...this.#open].join(', ');
      throw new AggregatorError('ERR_AGG_UPLOAD', `the upload of ${who} ended part-way; its partial contribution cannot be removed, so this attempt is aborted (retry the round)`, { node: who });
    }
    if (this.#ctx.signal.aborted) throw new AggregatorError('ERR_AGG_ABORTED', `round attempt ${this.#ctx.tag} was aborted`);
  }
}

/** Plain aggregation (secure aggregation off): float64 sums the aggregator can read. */
export class PlainScheme implements SchemeServer {
  readonly #tracker: UploadTracker<F64SumAccumulator>;
  readonly #ctx: RoundContext;
  constructor(ctx: RoundContext) {
    this.#ctx = ctx;
    this.#tracker = new UploadTracker(new F64SumAccumulator(ctx.request.vectorLength), ctx);
  }
  openUpload(node: string): UploadSink {
    return this.#tracker.open(node);
  }
  async aggregate(accepted: readonly string[]): Promise<SchemeResult> {
    this.#ctx.progress('upload', `waiting for ${accepted.length} plain update(s)`);
    const contributors = await this.#tracker.wait(accepted);
    return { sum: this.#tracker.acc.sum, contributors, metrics: { scheme: 'off' } };
  }
}

/** What the secure schemes need from the aggregator. */
export interface SchemeEnv {
  readonly federation: string;
  /** The aggregator's member id. */
  readonly aggregator: string;
  /** The verified roster (throws if none is configured). */
  readonly roster: () => Roster;
  /** Joye-Libert environment (absent: the scheme is unavailable). */
  readonly jl?: JlEnv;
}

/** Builds the scheme of a round request. */
export function createScheme(req: RoundRequest, ctx: RoundContext, env: SchemeEnv): SchemeServer {
  switch (req.secagg) {
    case 'off':
      return new PlainScheme(ctx);
    case 'masking':
      return new MaskingScheme(ctx, env);
    case 'jl':
      return env.jl === undefined ? unavailable('jl (start the aggregator with a Joye-Libert modulus)') : new JlSchemeServer(ctx, env, env.jl);
    default:
      return unavailable(String(req.secagg));
  }
}


/**
 * Pairwise masking (crypto/masking): the aggregator relays the nodes' signed key advertisements
 * and AEAD-encrypted shares it cannot read, folds masked-input chunks into the engine's running
 * sum as they arrive, closes a stage when every expected node answered or its timeout passed
 * (late nodes count as dropped), and finally learns only the survivors' sum.
 */
export class MaskingScheme implements SchemeServer {
  readonly #ctx: RoundContext;
  readonly #env: SchemeEnv;
  #server: MaskingServer | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stage = '';
  #settle: { resolve: (r: MaskingResult) => void; reject: (e: unknown) => void } | undefined;

  constructor(ctx: RoundContext, env: SchemeEnv) {
    this.#ctx = ctx;
    this.#env = env;
  }

  openUpload(node: string): UploadSink {
    const server = this.#live();
    const length = this.#ctx.request.vectorLength;
    return {
      elem: 'u32',
      length,
      chunk: (offset, data) => {
        const words = new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4);
        this.#drive(() => server.acceptMaskedChunk(node, offset, words));
      },
      complete: () => undefined,
      fail: () => undefined, // the engine aborts at stage close if a masked input was cut off
    };
  }

  onRelay(_from: string, msg: unknown): void {
    // The transport authenticated the sender; the engine checks it against the message.
    if (typeof msg === 'object' && msg !== null && (msg as { sender?: unknown }).sender !== _from) {
      throw new InvalidMessageError('sender', 'engine message sender differs from the authenticated node');
    }
    this.#drive(() => this.#live().receive(msg));
  }

  /**
   * Feeds the engine and routes its output. A message that closed a stage can abort the round
   * (below threshold, inconsistent shares): the attempt then ends at once with the engine's
   * typed error, instead of waiting for the stage timer; the sender gets the error too.
   */
  #drive(step: () => readonly { to: string; message: { stage: string } }[]): void {
    let out: readonly { to: string; message: { stage: string } }[];
    try {
      out = step();
    } catch (e) {
      if (this.#server?.stage === 'aborted') this.#settle?.reject(e);
      throw e;
    }
    this.#route(out);
  }

  async aggregate(accepted: readonly string[]): Promise<SchemeResult> {
    const req = this.#ctx.request;
    const config = maskingConfigFor(this.#env.federation, this.#ctx.seq, this.#env.aggregator, accepted, req.minParticipants, req.vectorLength, this.#ctx.workContext);
    this.#server = new MaskingServer(config, this.#env.roster());
    const result = await new Promise<MaskingResult>((resolve, reject) => {
      this.#settle = { resolve, reject };
      this.#ctx.signal.addEventListener('abort', () => reject(new AggregatorError('ERR_AGG_ABORTED', `round attempt ${this.#ctx.tag} was aborted`)), { once: true });
      this.#armTimer();
    }).finally(() => clearTimeout(this.#timer));
    const contributors = [...result.survivors];
    for (const d of result.dropped) this.#ctx.dropout(d, 'masked-input');
    const sum = decodeVectorSum(req.codec, result.sum, this.#ctx.invited.length, contributors.length);
    return { sum, contributors, metrics: { scheme: 'masking', threshold: config.threshold, dropped: [...result.dropped] } };
  }

  #live(): MaskingServer {
    if (this.#server === undefined) throw new AggregatorError('ERR_AGG_UPLOAD', 'the masking round has not started');
    return this.#server;
  }

  #route(out: readonly { to: string; message: { stage: string } }[]): void {
    for (const o of out) this.#ctx.send(o.to, 'relay', { stage: o.message.stage }, encodeEngineMessage(o.message));
    this.#armTimer();
  }

  #armTimer(): void {
    const server = this.#server;
    if (server === undefined || this.#settle === undefined) return;
    if (server.stage === 'done') {
      clearTimeout(this.#timer);
      this.#settle.resolve(server.result());
      return;
    }
    if (server.stage === this.#stage) return;
    this.#stage = server.stage;
    this.#ctx.progress(server.stage, `masking: collecting ${server.stage}`);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      try {
        for (const n of server.pending()) this.#ctx.dropout(n, server.stage);
        this.#route(server.closeStage());
      } catch (e) {
        this.#settle?.reject(e);
      }
    }, this.#ctx.timeoutMs);
  }
}

function unavailable(s: string): never {
  throw new AggregatorError('ERR_AGG_SCHEME_UNAVAILABLE', `secure-aggregation scheme ${s} is not available in this build`);
}
