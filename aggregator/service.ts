/**
 * The aggregator: the federation's only gRPC server.
 *
 * - Mutual TLS with the federation PKI; every call (and every message on a Session stream) is
 *   authorized by the role in the client certificate and checked for revocation with the PKI's
 *   {@link PeerVerifier}. Nodes may call Session / UploadUpdate / Download; researchers
 *   UploadBlob / ListNodes / CreateExperiment / GetExperiment / RunRound / Download.
 * - Nodes dial in and keep a Session stream open; the aggregator sends them work through it.
 * - A round attempt: invite the connected nodes holding the dataset tag, collect accept/refuse
 *   (refusals are forwarded to the researcher with the node's typed reason), run the chosen
 *   aggregation scheme (aggregator/schemes.ts) with stage timeouts, never release a sum over
 *   fewer than `minParticipants` nodes, store the aggregate and the round durably, then answer.
 */
import * as grpc from '@grpc/grpc-js';
import { FedsecError, InvalidMessageError } from '../common/errors.ts';
import { assertInt, assertString, ID_PATTERN } from '../common/validate.ts';
import type { Role } from '../crypto/roster.ts';
import type { TlsCredentials } from '../pki/member.ts';
import { verifyRoster, type SignedRosterDocument } from '../pki/roster.ts';
import type { Roster } from '../crypto/roster.ts';
import type { PeerVerifier, VerifiedPeer } from '../pki/verifier.ts';
import { ChunkSequence, LimitError, blobChunks, type ElemType } from '../proto/chunks.ts';
import { writable } from '../proto/client.ts';
import { decodeEngineMessage, encodeEngineMessage, parseJsonBody } from '../proto/envelope.ts';
import type { JlModulus } from '../crypto/jl/index.ts';
import type { JlSetupRecord } from './jl.ts';
import { MAX_BLOB_BYTES, MAX_CONCURRENT_BLOB_UPLOADS_PER_PEER, MAX_INFLIGHT_BLOB_BYTES, MAX_JSON_CHARS, MAX_ROUND_NODES } from '../proto/limits.ts';
import { decodePlanBundle } from '../proto/plan.ts';
import {
  CHANNEL_OPTIONS, federationService, serverCredentials, toServiceError,
  type ChunkMsg, type DownloadRequestMsg, type Envelope, type JsonBodyMsg, type RoundEventMsg, type UploadAckMsg,
} from '../proto/rpc.ts';
import { TRAIN_TAIL, validateArgs, validateDp, validateStandardize, SECAGG_SCHEMES, type SecAggScheme, type WorkKind, type WorkRequest } from '../proto/work.ts';
import { validateCodecSpec, workContext } from '../proto/secagg.ts';
import { AggregatorError } from './errors.ts';
import { addGaussianNoise } from '../crypto/dp/index.ts';
import { createScheme, type SchemeServer, type RoundContext } from './schemes.ts';
import type { AggregatorStore, RoundRecord } from './store.ts';

/** Options of {@link AggregatorService}. */
export interface AggregatorOptions {
  readonly store: AggregatorStore;
  readonly tls: TlsCredentials;
  readonly verifier: PeerVerifier;
  /** The CA-signed roster relayed to nodes for secure aggregation (their identity keys). */
  readonly roster?: () => SignedRosterDocument | undefined;
  /** Floor on participants for every round (default 3). Requests may ask for more, never fewer. */
  readonly minParticipants?: number;
  /** Default stage timeout in ms (default 60 s); requests may shorten it. */
  readonly stageTimeoutMs?: number;
  /** Diagnostics sink (never receives secrets). */
  readonly log?: (line: string) => void;
  /** Public Joye-Libert modulus (from `fedsec secagg modulus`); without it `secagg: jl` is unavailable. */
  readonly jlModulus?: JlModulus;
}

/** One connected node. */
interface NodeSession {
  readonly id: string;
  readonly peer: VerifiedPeer;
  readonly call: grpc.ServerDuplexStream<Envelope, Envelope>;
  datasets: string[];
  auditHead: { seq: number; hash: string } | undefined;
  readonly connectedAt: string;
}

/** A round request from a researcher (validated). */
export interface RoundRequest {
  readonly experiment: string;
  readonly round: number;
  readonly kind: WorkKind;
  readonly tag: string;
  readonly plan: string;
  readonly model?: string;
  readonly args: WorkRequest['args'];
  readonly secagg: SecAggScheme;
  readonly dp: WorkRequest['dp'];
  readonly minParticipants: number;
  /** Vector length each node contributes. */
  readonly vectorLength: number;
  /** Scheme parameters (codec clip / bits / wide exponent), validated by the scheme. */
  readonly codec: Readonly<Record<string, unknown>>;
  readonly stageTimeoutMs: number;
  /** Restrict the invitation to these nodes (default: every connected node with the tag). */
  readonly nodes?: readonly string[];
  /** Global standardization forwarded to the nodes. */
  readonly standardize?: WorkRequest['standardize'];
}

const HASH_RE = /^[0-9a-f]{64}$/;

/** Decides a node's reply or a stage message; resolved by the session handler. */
class Waiter<T> {
  readonly #pending = new Map<string, (v: T) => void>();
  readonly #got = new Map<string, T>();
  deliver(from: string, v: T): boolean {
    if (this.#got.has(from)) return false;
    this.#got.set(from, v);
    this.#pending.get(from)?.(v);
    return true;
  }
  has(from: string): boolean {
    return this.#got.has(from);
  }
  /** Waits for every id in `ids` or the timeout / abort; returns what arrived. */
  async all(ids: readonly string[], timeoutMs: number, signal: AbortSignal): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    await Promise.all(ids.map((id) => new Promise<void>((resolve) => {
      const have = this.#got.get(id);
      if (have !== undefined) { out.set(id, have); resolve(); return; }
      const timer = setTimeout(done, timeoutMs);
      const onAbort = (): void => done();
      signal.addEventListener('abort', onAbort, { once: true });
      function done(): void { clearTimeout(timer); signal.removeEventListener('abort', onAbort); resolve(); }
      this.#pending.set(id, (v) => { out.set(id, v); done(); });
    })));
    for (const id of ids) this.#pending.delete(id);
    return out;
  }
}

/** State of one running round attempt. */
export class RoundRun implements RoundContext {
  readonly record: RoundRecord;
  readonly request: RoundRequest;
  readonly invited: readonly string[];
  readonly abort = new AbortController();
  readonly replies = new Waiter<Envelope>();
  readonly stageMessages = new Map<string, Waiter<unknown>>();
  accepted: string[] = [];
  scheme: SchemeServer | undefined;
  workContext: Uint8Array | undefined;
  readonly #send: (node: string, env: Envelope) => void;
  readonly #emit: (type: string, body: Record<string, unknown>) => void;

  constructor(record: RoundRecord, request: RoundRequest, invited: readonly string[], send: (node: string, env: Envelope) => void, emit: (type: string, body: Record<string, unknown>) => void) {
    this.record = record;
    this.request = request;
    this.invited = invited;
    this.#send = send;
    this.#emit = emit;
  }
  get tag(): string { return this.record.tag; }
  get attempt(): number { return this.record.attempt; }
  get seq(): number { return this.record.seq; }
  get signal(): AbortSignal { return this.abort.signal; }
  get timeoutMs(): number { return this.request.stageTimeoutMs; }
  /** Sends an envelope to a participant of this attempt. */
  send(node: string, type: string, json: Record<string, unknown>, payload?: Uint8Array): void {
    this.#send(node, { type, round_tag: this.tag, json: JSON.stringify(json), payload: payload ?? new Uint8Array(0) });
  }
  /** Reports progress to the researcher. */
  progress(stage: string, message: string, extra: Record<string, unknown> = {}): void {
    this.#emit('progress', { stage, message, ...extra });
  }
  /** Reports a dropout to the researcher. */
  dropout(node: string, stage: string): void {
    this.#emit('dropout', { node, stage });
  }
  /** The waiter of engine messages of a stage. */
  stage(name: string): Waiter<unknown> {
    let w = this.stageMessages.get(name);
    if (w === undefined) {
      w = new Waiter<unknown>();
      this.stageMessages.set(name, w);
    }
    return w;
  }
}

/** Parses and bounds a researcher's round request. */
export function parseRoundRequest(o: Record<string, unknown>, floor: number, defaultTimeout: number): RoundRequest {
  assertString('experiment', o['experiment'], 128, ID_PATTERN, 'message');
  assertInt('round', o['round'], 0, 1_000_000, 'message');
  if (o['kind'] !== 'train' && o['kind'] !== 'stats' && o['kind'] !== 'eval') throw new InvalidMessageError('kind', 'expected train, stats or eval');
  assertString('tag', o['tag'], 128, ID_PATTERN, 'message');
  assertString('plan', o['plan'], 64, HASH_RE, 'message');
  if (o['model'] !== undefined) assertString('model', o['model'], 64, HASH_RE, 'message');
  if (!SECAGG_SCHEMES.includes(o['secagg'] as SecAggScheme)) throw new InvalidMessageError('secagg', `expected one of ${SECAGG_SCHEMES.join(', ')}`);
  const minP = o['minParticipants'] ?? floor;
  assertInt('minParticipants', minP, 1, MAX_ROUND_NODES, 'message');
  assertInt('vectorLength', o['vectorLength'], 1, 1 << 24, 'message');
  const timeout = o['stageTimeoutMs'] ?? defaultTimeout;
  assertInt('stageTimeoutMs', timeout, 100, 10 * 60_000, 'message');
  const codec = o['codec'] ?? {};
  if (typeof codec !== 'object' || codec === null || Array.isArray(codec)) throw new InvalidMessageError('codec', 'expected an object');
  let nodes: string[] | undefined;
  if (o['nodes'] !== undefined) {
    if (!Array.isArray(o['nodes']) || o['nodes'].length > MAX_ROUND_NODES) throw new InvalidMessageError('nodes', 'expected an array of node ids');
    nodes = (o['nodes'] as unknown[]).map((n, i) => { assertString(`nodes[${i}]`, n, 128, ID_PATTERN, 'message'); return n; });
  }
  return {
    experiment: o['experiment'], round: o['round'], kind: o['kind'], tag: o['tag'], plan: o['plan'],
    ...(o['model'] === undefined ? {} : { model: o['model'] as string }),
    args: validateArgs(o['args'], 'message'), secagg: o['secagg'] as SecAggScheme, dp: validateDp(o['dp'], 'message'),
    // Never fewer than the aggregator's floor, whatever the request says.
    minParticipants: Math.max(minP, floor), vectorLength: o['vectorLength'], codec: codec as Record<string, unknown>,
    stageTimeoutMs: timeout, ...(nodes === undefined ? {} : { nodes }),
    ...(o['standardize'] === undefined ? {} : { standardize: validateStandardize(o['standardize']) }),
  };
}

/** The aggregator gRPC service. */
export class AggregatorService {
  readonly #opts: AggregatorOptions;
  readonly #floor: number;
  readonly #sessions = new Map<string, NodeSession>();
  readonly #rounds = new Map<string, RoundRun>();
  readonly #busyExperiments = new Set<string>();
  readonly #jlSetups = new Map<string, JlSetupRecord>();
  /** Open blob uploads per member, and the bytes they reserve in total (bounded, see proto/limits.ts). */
  readonly #blobUploads = new Map<string, number>();
  #inflightBlobBytes = 0;
  #server: grpc.Server | undefined;
  #stopCrlRefresh: (() => void) | undefined;

  constructor(opts: AggregatorOptions) {
    this.#opts = opts;
    this.#floor = opts.minParticipants ?? 3;
    assertInt('minParticipants', this.#floor, 1, MAX_ROUND_NODES);
  }

  /** Ids of the nodes currently connected. */
  connectedNodes(): string[] {
    return [...this.#sessions.keys()].sort();
  }

  /** Starts listening (loopback by default) and returns the bound port. */
  async start(host = '127.0.0.1', port = 0): Promise<number> {
    const server = new grpc.Server({ ...CHANNEL_OPTIONS });
    server.addService(federationService(), this.#handlers());
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host}:${port}`, serverCredentials(this.#opts.tls), (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.#server = server;
    this.#stopCrlRefresh = this.#opts.verifier.startAutoRefresh(2_000, (e) => this.#log(`CRL refresh failed: ${(e as Error).message}`));
    return bound;
  }

  /** Re-reads the CRL file now (the background refresh also does it periodically). */
  async refreshCrl(): Promise<boolean> {
    return this.#opts.verifier.refresh();
  }

  /** Stops the server: aborts running attempts, ends sessions. */
  async stop(): Promise<void> {
    this.#stopCrlRefresh?.();
    for (const r of this.#rounds.values()) r.abort.abort();
    for (const s of this.#sessions.values()) s.call.end();
    this.#sessions.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { server.forceShutdown(); resolve(); }, 2_000);
        server.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  #log(line: string): void {
    this.#opts.log?.(line);
  }

  /** Authenticates the caller of a call: verified certificate with one of `roles`. */
  #authorize(call: { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } | null }, roles: readonly Role[]): VerifiedPeer {
    const ctx = call.getAuthContext();
    const cert = ctx?.sslPeerCertificate;
    if (cert === undefined || cert === null || cert.raw === undefined) {
      throw new FedsecError('ERR_AUTH_NO_CERT', 'the caller presented no client certificate');
    }
    const peer = this.#opts.verifier.verify(new Uint8Array(cert.raw));
    if (!roles.includes(peer.role)) {
      throw new FedsecError('ERR_AUTH_ROLE', `a ${peer.role} may not call this method (allowed: ${roles.join(', ')})`, { details: { role: peer.role } });
    }
    return peer;
  }

  #handlers(): grpc.UntypedServiceImplementation {
    const unary = <Req, Res>(roles: readonly Role[], fn: (peer: VerifiedPeer, req: Req) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> =>
      (call, callback) => {
        Promise.resolve()
          .then(() => fn(this.#authorize(call, roles), call.request))
          .then((res) => callback(null, res), (e: unknown) => callback(toServiceError(e)));
      };
    return {
      Session: (call: grpc.ServerDuplexStream<Envelope, Envelope>) => this.#session(call),
      UploadUpdate: (call: grpc.ServerReadableStream<ChunkMsg, UploadAckMsg>, cb: grpc.sendUnaryData<UploadAckMsg>) => this.#uploadUpdate(call, cb),
      UploadBlob: (call: grpc.ServerReadableStream<ChunkMsg, UploadAckMsg>, cb: grpc.sendUnaryData<UploadAckMsg>) => this.#uploadBlob(call, cb),
      Download: (call: grpc.ServerWritableStream<DownloadRequestMsg, ChunkMsg>) => this.#download(call),
      ListNodes: unary<object, JsonBodyMsg>(['researcher'], () => ({
        json: JSON.stringify({ nodes: [...this.#sessions.values()].map((s) => ({ id: s.id, datasets: s.datasets, connectedAt: s.connectedAt })) }),
      })),
      CreateExperiment: unary<JsonBodyMsg, JsonBodyMsg>(['researcher'], (peer, req) => this.#createExperiment(peer, req)),
      GetExperiment: unary<JsonBodyMsg, JsonBodyMsg>(['researcher'], (peer, req) => this.#getExperiment(peer, req)),
      RunRound: (call: grpc.ServerWritableStream<JsonBodyMsg, RoundEventMsg>) => this.#runRoundCall(call),
      RoundReply: unary<Envelope, object>(['researcher'], (peer, env) => this.#roundReply(peer, env)),
    };
  }

  // ---- node session ----

  #session(call: grpc.ServerDuplexStream<Envelope, Envelope>): void {
    let peer: VerifiedPeer;
    try {
      peer = this.#authorize(call, ['node']);
    } catch (e) {
      call.emit('error', toServiceError(e));
      return;
    }
    let session: NodeSession | undefined;
    const fail = (e: unknown): void => {
      this.#log(`session ${peer.id}: ${(e as Error).message}`);
      if (session !== undefined && this.#sessions.get(peer.id) === session) this.#sessions.delete(peer.id);
      try { call.emit('error', toServiceError(e)); } catch { /* stream already closed */ }
    };
    call.on('data', (env: Envelope) => {
      try {
        // Revocation and validity are re-checked on every message of the long-lived stream.
        this.#opts.verifier.verify(new Uint8Array(call.getAuthContext()?.sslPeerCertificate?.raw ?? new Uint8Array(0)), { roles: ['node'], id: peer.id });
      } catch (e) {
        fail(e);
        return;
      }
      try {
        if (session === undefined) {
          if (env.type !== 'hello') throw new InvalidMessageError('type', 'the first Session message must be hello');
          const body = parseJsonBody(env.json, 'hello', MAX_JSON_CHARS);
          const datasets = Array.isArray(body['datasets']) ? body['datasets'] : [];
          if (datasets.length > 256) throw new InvalidMessageError('hello.datasets', 'too many datasets');
          for (const [i, d] of datasets.entries()) assertString(`hello.datasets[${i}]`, d, 128, ID_PATTERN, 'message');
          const old = this.#sessions.get(peer.id);
          if (old !== undefined) old.call.end();
          session = { id: peer.id, peer, call, datasets: datasets as string[], auditHead: parseHead(body['auditHead']), connectedAt: new Date().toISOString() };
          this.#sessions.set(peer.id, session);
          this.#sendTo(peer.id, { type: 'welcome', round_tag: '', json: JSON.stringify({ aggregator: this.#opts.tls.member.id }), payload: new Uint8Array(0) });
          this.#log(`node ${peer.id} connected with datasets ${datasets.join(', ')}`);
          return;
        }
        this.#onNodeMessage(session, env);
      } catch (e) {
        // A bad message is answered with a typed error envelope; the session stays up.
        const err = e instanceof FedsecError ? e : new FedsecError('ERR_INTERNAL', 'internal error');
        try { call.write({ type: 'error', round_tag: env.round_tag ?? '', json: JSON.stringify(err.toJSON()), payload: new Uint8Array(0) }); } catch { /* closed */ }
      }
    });
    const closed = (): void => {
      if (session !== undefined && this.#sessions.get(peer.id) === session) {
        this.#sessions.delete(peer.id);
        this.#log(`node ${peer.id} disconnected`);
      }
    };
    call.on('end', () => { closed(); try { call.end(); } catch { /* closed */ } });
    call.on('error', closed);
    call.on('close', closed);
    call.on('cancelled', closed);
  }

  #onNodeMessage(session: NodeSession, env: Envelope): void {
    if (env.type === 'heartbeat') return;
    const run = this.#rounds.get(env.round_tag);
    if (run === undefined) throw new AggregatorError('ERR_AGG_ROUND_UNKNOWN', `no running round attempt ${JSON.stringify(String(env.round_tag)).slice(0, 200)}`);
    if (!run.invited.includes(session.id)) throw new AggregatorError('ERR_AGG_ROUND_UNKNOWN', `node ${session.id} is not a participant of ${run.tag}`);
    switch (env.type) {
      case 'accept':
      case 'refuse': {
        const body = parseJsonBody(env.json, env.type, MAX_JSON_CHARS);
        if (body['auditHead'] !== undefined) session.auditHead = parseHead(body['auditHead']);
        if (!run.replies.deliver(session.id, env)) throw new InvalidMessageError('type', `duplicate ${env.type} for ${run.tag}`);
        return;
      }
      case 'relay': {
        const body = parseJsonBody(env.json, 'relay', MAX_JSON_CHARS);
        assertString('relay.stage', body['stage'], 64, /^[a-z][a-z/-]*$/, 'message');
        if (!run.accepted.includes(session.id)) throw new InvalidMessageError('relay', 'only accepted participants may send engine messages');
        // Engine messages go to the scheme's engine only: never into the aggregator's own stage
        // waiters (`uploaded`, `release`), which a node could otherwise fill in without uploading.
        if (run.scheme?.onRelay === undefined) throw new InvalidMessageError('relay', `round ${run.tag} takes no engine messages now`);
        run.scheme.onRelay(session.id, decodeEngineMessage(env.payload));
        return;
      }
      case 'release': {
        const body = parseJsonBody(env.json, 'release', MAX_JSON_CHARS);
        if (body['auditHead'] !== undefined) session.auditHead = parseHead(body['auditHead']);
        // Only the typed fields of the receipt are recorded with the round (never arbitrary node JSON).
        run.stage('release').deliver(session.id, releaseReceipt(body));
        return;
      }
      default:
        throw new InvalidMessageError('type', `unknown envelope type ${JSON.stringify(String(env.type)).slice(0, 40)}`);
    }
  }

  #sendTo(node: string, env: Envelope): void {
    const s = this.#sessions.get(node);
    if (s === undefined) return;
    try {
      s.call.write(env);
    } catch {
      // The session closed; the round treats the node as dropped.
    }
  }

  /** The signed roster verified against the CA and CRL, as the engines' Roster. */
  #verifiedRoster(): Roster {
    const doc = this.#opts.roster?.();
    if (doc === undefined) throw new AggregatorError('ERR_AGG_CONFIG', 'secure aggregation needs a signed roster; start the aggregator with one');
    const crl = this.#opts.verifier.crl;
    return verifyRoster(doc, this.#opts.verifier.ca.der, crl === undefined ? {} : { crl }).toRoster();
  }

  // ---- uploads and downloads ----

  #uploadUpdate(call: grpc.ServerReadableStream<ChunkMsg, UploadAckMsg>, cb: grpc.sendUnaryData<UploadAckMsg>): void {
    let peer: VerifiedPeer;
    try {
      peer = this.#authorize(call, ['node']);
    } catch (e) {
      cb(toServiceError(e));
      return;
    }
    let done = false;
    let run: RoundRun | undefined;
    let sink: ReturnType<SchemeServer['openUpload']> | undefined;
    let seq: ChunkSequence | undefined;
    const finish = (e: unknown, ack?: UploadAckMsg): void => {
      if (done) return;
      done = true;
      if (e !== undefined && sink !== undefined) sink.fail(e);
      if (e !== undefined) cb(toServiceError(e)); else cb(null, ack);
      if (e !== undefined) call.destroy();
    };
    call.on('data', (c: ChunkMsg) => {
      if (done) return;
      try {
        if (run === undefined) {
          run = this.#rounds.get(c.round_tag);
          if (run === undefined) throw new AggregatorError('ERR_AGG_ROUND_UNKNOWN', `no running round attempt ${JSON.stringify(String(c.round_tag)).slice(0, 200)}`);
          if (run.scheme === undefined || !run.accepted.includes(peer.id)) throw new AggregatorError('ERR_AGG_UPLOAD', `node ${peer.id} may not upload to ${run.tag} now`);
          sink = run.scheme.openUpload(peer.id);
          seq = new ChunkSequence(sink.elem as ElemType, sink.length);
        } else if (c.round_tag !== run.tag) {
          throw new InvalidMessageError('chunk.round_tag', 'round tag changed within one upload');
        }
        const { offset, data } = seq!.accept(c);
        sink!.chunk(offset, data);
      } catch (e) {
        finish(e);
      }
    });
    call.on('end', () => {
      if (done) return;
      try {
        if (seq === undefined || sink === undefined) throw new InvalidMessageError('chunk', 'empty upload');
        seq.finish();
        sink.complete();
        finish(undefined, { hash: '', elements: seq.total });
      } catch (e) {
        finish(e);
      }
    });
    call.on('error', (e) => finish(e));
    call.on('cancelled', () => finish(new AggregatorError('ERR_AGG_UPLOAD', 'upload cancelled by the node')));
  }

  #uploadBlob(call: grpc.ServerReadableStream<ChunkMsg, UploadAckMsg>, cb: grpc.sendUnaryData<UploadAckMsg>): void {
    let peer: VerifiedPeer;
    try {
      peer = this.#authorize(call, ['researcher']);
    } catch (e) {
      cb(toServiceError(e));
      return;
    }
    let done = false;
    let seq: ChunkSequence | undefined;
    let buf: Uint8Array | undefined;
    let hash = '';
    let reserved = 0;
    const release = (): void => {
      if (reserved === 0) return;
      this.#inflightBlobBytes -= reserved;
      reserved = 0;
      const open = (this.#blobUploads.get(peer.id) ?? 1) - 1;
      if (open <= 0) this.#blobUploads.delete(peer.id); else this.#blobUploads.set(peer.id, open);
    };
    const finish = (e: unknown, ack?: UploadAckMsg): void => {
      if (done) return;
      done = true;
      release();
      if (e !== undefined) { cb(toServiceError(e)); call.destroy(); } else cb(null, ack);
    };
    call.on('data', (c: ChunkMsg) => {
      if (done) return;
      try {
        if (seq === undefined) {
          if (c.total > MAX_BLOB_BYTES) throw new AggregatorError('ERR_AGG_BLOB_TOO_LARGE', `blob of ${c.total} bytes exceeds MAX_BLOB_BYTES ${MAX_BLOB_BYTES}`);
          assertString('chunk.hash', c.hash, 64, HASH_RE, 'message');
          // Reserve the announced size before allocating it: bounded per member and overall.
          const open = this.#blobUploads.get(peer.id) ?? 0;
          if (open >= MAX_CONCURRENT_BLOB_UPLOADS_PER_PEER) {
            throw new LimitError(`${peer.id} already has ${open} blob uploads open (MAX_CONCURRENT_BLOB_UPLOADS_PER_PEER ${MAX_CONCURRENT_BLOB_UPLOADS_PER_PEER})`);
          }
          if (this.#inflightBlobBytes + c.total > MAX_INFLIGHT_BLOB_BYTES) {
            throw new LimitError(`open blob uploads would reserve more than MAX_INFLIGHT_BLOB_BYTES ${MAX_INFLIGHT_BLOB_BYTES}; retry later`);
          }
          this.#blobUploads.set(peer.id, open + 1);
          this.#inflightBlobBytes += c.total;
          reserved = c.total;
          hash = c.hash;
          seq = new ChunkSequence('bytes', c.total);
          buf = new Uint8Array(c.total);
        } else if (c.hash !== hash) {
          throw new InvalidMessageError('chunk.hash', 'hash changed within one upload');
        }
        const { offset, data } = seq.accept(c);
        buf!.set(data, offset);
      } catch (e) {
        finish(e);
      }
    });
    call.on('end', () => {
      if (done) return;
      try {
        if (seq === undefined || buf === undefined) throw new InvalidMessageError('chunk', 'empty upload');
        seq.finish();
        const stored = this.#opts.store.putBlob(buf, peer.id);
        if (stored !== hash) throw new InvalidMessageError('chunk.hash', 'the uploaded bytes do not match the announced SHA-256');
        finish(undefined, { hash: stored, elements: buf.length });
      } catch (e) {
        finish(e);
      }
    });
    call.on('error', (e) => finish(e));
    call.on('cancelled', () => finish(new AggregatorError('ERR_AGG_UPLOAD', 'blob upload cancelled by the client')));
  }

  #download(call: grpc.ServerWritableStream<DownloadRequestMsg, ChunkMsg>): void {
    try {
      const peer = this.#authorize(call, ['node', 'researcher']);
      const hash = call.request.hash;
      assertString('hash', hash, 64, HASH_RE, 'message');
      if (peer.role === 'node' && !this.#nodeMayRead(hash, peer.id)) {
        throw new AggregatorError('ERR_AGG_BLOB_UNKNOWN', `no blob ${hash.slice(0, 16)} available to nodes`);
      }
      // Researchers read their own uploads and the results of their own experiments only.
      if (peer.role === 'researcher' && !this.#opts.store.researcherMayRead(hash, peer.id)) {
        throw new AggregatorError('ERR_AGG_BLOB_UNKNOWN', `no blob ${hash.slice(0, 16)} available to ${peer.id}`);
      }
      const bytes = this.#opts.store.getBlob(hash);
      void (async () => {
        for (const c of blobChunks(bytes, hash)) {
          if (!call.write(c)) await writable(call);
          if (call.cancelled) return;
        }
        call.end();
      })().catch((e: unknown) => call.destroy(e as Error));
    } catch (e) {
      call.emit('error', toServiceError(e));
    }
  }

  /** Nodes may read offered plans, and the plan and model of running rounds they are invited to. */
  #nodeMayRead(hash: string, node: string): boolean {
    for (const r of this.#rounds.values()) {
      if ((r.request.plan === hash || r.request.model === hash) && r.invited.includes(node)) return true;
    }
    return this.#opts.store.planOffered(hash);
  }

  // ---- researcher calls ----

  #createExperiment(peer: VerifiedPeer, req: JsonBodyMsg): JsonBodyMsg {
    const body = parseJsonBody(req.json, 'experiment', MAX_JSON_CHARS);
    assertString('id', body['id'], 128, ID_PATTERN, 'message');
    const plans = body['plans'];
    if (!Array.isArray(plans) || plans.length < 1 || plans.length > 8) throw new InvalidMessageError('plans', 'expected 1..8 plan hashes');
    for (const [i, p] of plans.entries()) {
      assertString(`plans[${i}]`, p, 64, HASH_RE, 'message');
      // Only blobs this researcher may read: offering a plan makes it readable by every node.
      if (!this.#opts.store.researcherMayRead(p, peer.id)) throw new AggregatorError('ERR_AGG_BLOB_UNKNOWN', `no blob ${p.slice(0, 16)} available to ${peer.id}`);
      decodePlanBundle(this.#opts.store.getBlob(p)); // must be a stored, well-formed bundle
    }
    const rec = this.#opts.store.createExperiment(body['id'], peer.id, body);
    for (const p of plans as string[]) this.#opts.store.offerPlan(p);
    // Offer the plans to connected nodes now; nodes that connect later get them with their work.
    for (const s of this.#sessions.values()) {
      for (const p of plans as string[]) this.#sendTo(s.id, { type: 'plan-offer', round_tag: '', json: JSON.stringify({ plan: p, experiment: rec.id, from: peer.id }), payload: new Uint8Array(0) });
    }
    return { json: JSON.stringify({ experiment: rec }) };
  }

  /** A researcher's engine message for its running round (Joye-Libert advertisement, unmask request). */
  #roundReply(peer: VerifiedPeer, env: Envelope): object {
    const run = this.#rounds.get(env.round_tag);
    if (run === undefined) throw new AggregatorError('ERR_AGG_ROUND_UNKNOWN', `no running round attempt ${JSON.stringify(String(env.round_tag)).slice(0, 200)}`);
    if (this.#opts.store.getExperiment(run.record.experiment)?.owner !== peer.id) throw new FedsecError('ERR_AGG_NOT_OWNER', `round ${run.tag} belongs to another researcher`);
    if (run.scheme?.onResearcher === undefined) throw new AggregatorError('ERR_AGG_ROUND_UNKNOWN', `round ${run.tag} expects no researcher messages`);
    run.scheme.onResearcher(decodeEngineMessage(env.payload));
    return {};
  }

  #getExperiment(peer: VerifiedPeer, req: JsonBodyMsg): JsonBodyMsg {
    const body = parseJsonBody(req.json, 'request', MAX_JSON_CHARS);
    assertString('id', body['id'], 128, ID_PATTERN, 'message');
    const exp = this.#opts.store.getExperiment(body['id']);
    if (exp === undefined) throw new AggregatorError('ERR_AGG_EXPERIMENT_UNKNOWN', `no experiment ${body['id']}`);
    if (exp.owner !== peer.id) throw new FedsecError('ERR_AGG_NOT_OWNER', `experiment ${exp.id} belongs to another researcher`);
    return { json: JSON.stringify({ experiment: exp, rounds: this.#opts.store.listRounds(exp.id) }) };
  }

  #runRoundCall(call: grpc.ServerWritableStream<JsonBodyMsg, RoundEventMsg>): void {
    const emit = (type: string, body: Record<string, unknown>): void => {
      try { call.write({ type, json: JSON.stringify(body) }); } catch { /* researcher went away */ }
    };
    void (async () => {
      const peer = this.#authorize(call, ['researcher']);
      const req = parseRoundRequest(parseJsonBody(call.request.json, 'round', MAX_JSON_CHARS), this.#floor, this.#opts.stageTimeoutMs ?? 60_000);
      const result = await this.runRound(peer.id, req, emit, call);
      emit('result', result);
      call.end();
    })().catch((e: unknown) => {
      call.emit('error', toServiceError(e));
    });
  }

  /**
   * Runs one attempt of a round for researcher `owner`. Resolves with the released result, or
   * throws a typed error after recording the attempt as aborted.
   */
  async runRound(owner: string, req: RoundRequest, emit: (type: string, body: Record<string, unknown>) => void, researcherCall?: { on(ev: 'cancelled', f: () => void): unknown }): Promise<Record<string, unknown>> {
    const store = this.#opts.store;
    const exp = store.getExperiment(req.experiment);
    if (exp === undefined) throw new AggregatorError('ERR_AGG_EXPERIMENT_UNKNOWN', `no experiment ${req.experiment}`);
    if (exp.owner !== owner) throw new FedsecError('ERR_AGG_NOT_OWNER', `experiment ${exp.id} belongs to another researcher`);
    const plans = (exp.config['plans'] as string[] | undefined) ?? [];
    if (!plans.includes(req.plan)) throw new InvalidMessageError('plan', 'the plan is not part of this experiment');
    // The model must be one this researcher may read (its upload or its own result): nodes
    // download it and the released sum is computed from it.
    if (req.model !== undefined && !store.researcherMayRead(req.model, owner)) throw new AggregatorError('ERR_AGG_BLOB_UNKNOWN', 'the model blob has not been uploaded by this researcher');
    const completed = new Set(store.listRounds(exp.id).filter((r) => r.status === 'completed').map((r) => r.round));
    const next = completed.size === 0 ? 0 : Math.max(...completed) + 1;
    if (completed.has(req.round)) throw new AggregatorError('ERR_AGG_ROUND_DONE', `round ${req.round} of ${exp.id} is already completed`, { next });
    if (req.round !== next) throw new AggregatorError('ERR_AGG_ROUND_ORDER', `round ${req.round} requested; the next round of ${exp.id} is ${next}`, { next });
    if (this.#busyExperiments.has(exp.id)) throw new AggregatorError('ERR_AGG_ROUND_BUSY', `a round of ${exp.id} is already running`);

    // Revocation is re-checked before inviting: a node revoked since it connected is cut off now.
    for (const s of [...this.#sessions.values()]) {
      try {
        this.#opts.verifier.verify(new Uint8Array(s.call.getAuthContext()?.sslPeerCertificate?.raw ?? new Uint8Array(0)), { roles: ['node'], id: s.id });
      } catch (e) {
        this.#sessions.delete(s.id);
        try { s.call.emit('error', toServiceError(e)); } catch { /* closed */ }
        if (s.datasets.includes(req.tag)) {
          const err = e instanceof FedsecError ? e : new FedsecError('ERR_PKI_BAD_CERT', 'certificate check failed');
          emit('refusal', { node: s.id, code: err.code, message: `cut off by the aggregator: ${err.message}` });
        }
      }
    }
    let candidates = [...this.#sessions.values()].filter((s) => s.datasets.includes(req.tag)).map((s) => s.id);
    if (req.nodes !== undefined) candidates = candidates.filter((id) => req.nodes!.includes(id));
    candidates.sort();
    if (candidates.length < req.minParticipants) {
      throw new AggregatorError('ERR_AGG_TOO_FEW_NODES', `only ${candidates.length} connected node(s) hold dataset ${req.tag}; at least ${req.minParticipants} are required`, { available: candidates.length, required: req.minParticipants });
    }
    if (req.secagg !== 'off') validateCodecSpec(req.codec, req.vectorLength, candidates.length);
    if (req.secagg === 'jl' && req.dp.mode === 'central') throw new AggregatorError('ERR_AGG_CONFIG', 'central DP needs an aggregator that can add noise to the sum; with Joye-Libert it cannot');
    this.#busyExperiments.add(exp.id);
    let rec: RoundRecord;
    try {
      rec = store.beginRound(exp.id, req.round, req.kind, candidates);
    } catch (e) {
      this.#busyExperiments.delete(exp.id);
      throw e;
    }
    const run = new RoundRun(rec, req, candidates, (n, env) => this.#sendTo(n, env), emit);
    this.#rounds.set(rec.tag, run);
    researcherCall?.on('cancelled', () => run.abort.abort());
    const refusals: Array<{ node: string; code: string; message: string }> = [];
    try {
      run.progress('invite', `attempt ${rec.tag}: inviting ${candidates.length} node(s)`, { tag: rec.tag, nodes: candidates });
      const work: WorkRequest = {
        experiment: exp.id, round: req.round, attempt: rec.attempt, tag: req.tag, kind: req.kind, plan: req.plan,
        ...(req.model === undefined ? {} : { model: req.model }), args: req.args, secagg: req.secagg, dp: req.dp,
        participants: candidates, minParticipants: req.minParticipants,
        ...(req.standardize === undefined ? {} : { standardize: req.standardize }),
      };
      run.workContext = workContext(work, req.codec);
      const roster = this.#opts.roster?.();
      for (const n of candidates) {
        run.send(n, 'work', { work, seq: rec.seq, vectorLength: req.vectorLength, codec: req.codec, aggregator: this.#opts.tls.member.id, ...(roster === undefined ? {} : { roster }) });
      }
      const replies = await run.replies.all(candidates, req.stageTimeoutMs, run.signal);
      for (const n of candidates) {
        const r = replies.get(n);
        if (r === undefined) { run.dropout(n, 'invite'); continue; }
        if (r.type === 'accept') { run.accepted.push(n); continue; }
        const body = JSON.parse(r.json) as Record<string, unknown>;
        const refusal = { node: n, code: String(body['code'] ?? 'ERR_NODE_REFUSED').slice(0, 64), message: String(body['message'] ?? '').slice(0, 1000) };
        refusals.push(refusal);
        emit('refusal', refusal);
      }
      if (run.accepted.length < req.minParticipants) {
        const why = refusals.map((r) => `${r.node}: [${r.code}] ${r.message}`).join('; ');
        throw new AggregatorError('ERR_AGG_TOO_FEW_NODES', `${run.accepted.length} of ${candidates.length} node(s) accepted; at least ${req.minParticipants} are required${why ? ` — ${why}` : ''}`, { accepted: run.accepted.length, required: req.minParticipants, refusals });
      }
      run.progress('accepted', `${run.accepted.length} node(s) accepted`, { nodes: run.accepted });
      const jlModulus = this.#opts.jlModulus;
      run.scheme = createScheme(req, run, {
        federation: this.#opts.verifier.federation, aggregator: this.#opts.tls.member.id, roster: () => this.#verifiedRoster(),
        ...(jlModulus === undefined ? {} : {
          jl: { modulus: jlModulus, setups: this.#jlSetups, researcher: owner, toResearcher: (m: { stage: string }) => emit('relay', { stage: m.stage, payload: Buffer.from(encodeEngineMessage(m)).toString('base64') }), rosterDoc: () => this.#opts.roster?.() },
        }),
      });
      for (const n of run.accepted) run.send(n, 'begin', { participants: run.accepted });
      const out = await run.scheme.aggregate(run.accepted);
      if (out.contributors.length < req.minParticipants) {
        throw new AggregatorError('ERR_AGG_TOO_FEW_NODES', `only ${out.contributors.length} contribution(s) survived; the sum is not released below ${req.minParticipants}`, { contributors: out.contributors.length, required: req.minParticipants });
      }
      if (req.kind === 'train' && req.dp.mode === 'central') {
        // Central DP: the aggregator adds N(0, (lr·σ·C)²) to the summed update before release.
        const P = out.sum.length - TRAIN_TAIL;
        // The summed update is −lr·Σ clipped gradients: sensitivity lr·C; lattice-exact noise (crypto/dp).
        const noisy = addGaussianNoise(out.sum.subarray(0, P), req.args.learningRate * req.dp.clipNorm, req.dp.noiseMultiplier);
        out.sum.set(noisy, 0);
        run.progress('central-noise', `added central Gaussian noise (σ = ${req.dp.noiseMultiplier}) to the sum`);
      }
      const released = out.blob ?? new Uint8Array(out.sum.buffer, out.sum.byteOffset, out.sum.byteLength);
      const resultHash = store.putBlob(released, this.#opts.tls.member.id);
      // Per-node release receipts (epsilon spent, audit heads) recorded with the round.
      const releases = await run.stage('release').all(out.contributors, Math.min(req.stageTimeoutMs, 10_000), run.signal);
      const nodes: Record<string, unknown> = {};
      for (const n of out.contributors) {
        const s = this.#sessions.get(n);
        nodes[n] = { ...(releases.get(n) as Record<string, unknown> | undefined ?? {}), ...(s?.auditHead ? { auditHead: s.auditHead } : {}) };
      }
      const metrics = { ...out.metrics, nodes, refusals };
      store.completeRound(rec.tag, { resultHash, contributors: out.contributors, metrics });
      for (const n of out.contributors) run.send(n, 'done', { tag: rec.tag, contributors: out.contributors.length });
      return { tag: rec.tag, attempt: rec.attempt, round: req.round, contributors: out.contributors, invited: candidates.length, resultHash, length: out.blob === undefined ? out.sum.length : 0, encrypted: out.blob !== undefined, metrics };
    } catch (e) {
      const reason = e instanceof FedsecError ? `[${e.code}] ${e.message}` : 'internal error';
      store.abortRound(rec.tag, reason, { refusals });
      for (const n of candidates) run.send(n, 'abort', { reason: reason.slice(0, 500) });
      run.abort.abort();
      throw e;
    } finally {
      this.#rounds.delete(rec.tag);
      this.#busyExperiments.delete(exp.id);
    }
  }
}

/** The recorded part of a node's release receipt: its cumulative (ε, δ) and dataset tag, when well-formed. */
function releaseReceipt(b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof b['epsilon'] === 'number' && Number.isFinite(b['epsilon']) && b['epsilon'] >= 0) out['epsilon'] = b['epsilon'];
  if (typeof b['delta'] === 'number' && b['delta'] >= 0 && b['delta'] <= 1) out['delta'] = b['delta'];
  if (typeof b['dataset'] === 'string' && b['dataset'].length <= 128 && ID_PATTERN.test(b['dataset'])) out['dataset'] = b['dataset'];
  return out;
}

function parseHead(v: unknown): { seq: number; hash: string } | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o['seq'] !== 'number' || !Number.isSafeInteger(o['seq']) || typeof o['hash'] !== 'string' || !HASH_RE.test(o['hash'])) return undefined;
  return { seq: o['seq'], hash: o['hash'] };
}
