/**
 * The node agent: what runs at a hospital. It dials out to the aggregator (it opens no port),
 * keeps a Session stream open (reconnecting with bounded backoff), and for every work request:
 *
 *   audit `request` → plan approved by SHA-256? (unknown plans are fetched and left pending)
 *   → node policy → dataset present → privacy budget → `accept` or `refuse` (typed reason,
 *   audited) → compute the contribution (local statistics or local training with DP)
 *   → charge the budget before anything leaves → take part in the chosen scheme
 *   (plain upload, pairwise masking) → audit `release`.
 *
 * The aggregator never sees more than the scheme allows: masked words for `masking`, float
 * sums only when the node's policy accepts `secagg: off`.
 */
import type * as grpc from '@grpc/grpc-js';
import { FedsecError, InvalidMessageError } from '../common/errors.ts';
import { MaskingClient, type MaskingConfig } from '../crypto/masking/index.ts';
import {
  JlNode, JlSetupNode, modulusToJson, parseModulus,
  type JlModulus, type JlNodeKeys, type JlNodeUnmaskInput, type JlSetupAdvertise, type JlSetupShares, type JlTag,
} from '../crypto/jl/index.ts';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ID_PATTERN } from '../common/validate.ts';
import { writeFileDurable } from '../proto/durable.ts';
import { encodeVector, encodedLength, fixedCodec, maskingConfigFor, workContext } from '../proto/secagg.ts';
import { distributedCodecNoiseBound, distributedConfig, distributedShare, type DistributedGrid } from './privacy.ts';
import type { Roster } from '../crypto/roster.ts';
import { systemRandom, type RandomSource } from '../crypto/random.ts';
import type { TlsCredentials } from '../pki/member.ts';
import { verifyRoster } from '../pki/roster.ts';
import type { PeerVerifier } from '../pki/verifier.ts';
import { FederationClient } from '../proto/client.ts';
import { decodeEngineMessage, decodeStoredEngineMessage, encodeEngineMessage, parseJsonBody } from '../proto/envelope.ts';
import { MAX_JSON_CHARS } from '../proto/limits.ts';
import { decodePlanBundle, type PlanBundle } from '../proto/plan.ts';
import type { Envelope } from '../proto/rpc.ts';
import { WIDE_MAX_PARTIES } from '../proto/widecodec.ts';
import { EVAL_LENGTH, trainContributionLength, validateWorkRequest, type WorkRequest } from '../proto/work.ts';
import { localStatsVector, type TabularDataset } from './datasets/index.ts';
import type { DatasetSplits, TrainRoundInput, TrainRoundOutput } from './trainer.ts';
import type { AuditLog } from './audit.ts';
import { NodeError } from './errors.ts';
import type { PlanStore } from './plans.ts';
import { evaluatePolicy, type NodePolicy, type PolicyDecision } from './policy.ts';

/** Where the agent finds the node's datasets (node/datasets' registry adapts to this). */
export interface DatasetSource {
  /** Dataset tags the node offers. */
  tags(): readonly string[];
  /** The training and held-out rows of a dataset. */
  load(tag: string): Promise<DatasetSplits>;
}

/** Local training (node/trainer.ts's OnnxTrainer implements it). */
export interface Trainer {
  train(input: TrainRoundInput): Promise<TrainRoundOutput>;
  /** Evaluates `params` on the held-out rows. */
  evaluate(input: Omit<TrainRoundInput, 'args'>): Promise<TrainRoundOutput['eval']>;
}

/** Privacy budget of the node's datasets (node/privacy.ts's ledger implements it). */
export interface PrivacyGuard {
  /** Records the round's spend, or throws (e.g. ERR_DP_BUDGET_EXCEEDED) if it would exceed the dataset's budget. `grid`: distributed DP's codec grid. */
  check(work: WorkRequest, decision: PolicyDecision, rows: number, grid?: DistributedGrid): Promise<void>;
  /** Records the spend before release; returns the dataset's cumulative (ε, δ). */
  charge(work: WorkRequest, decision: PolicyDecision, rows: number): Promise<{ epsilon: number; delta: number }>;
}

/** Options of {@link NodeAgent}. */
export interface NodeAgentOptions {
  readonly address: string;
  readonly tls: TlsCredentials;
  /** Verifies the aggregator's certificate and the signed roster (CA + CRL). */
  readonly verifier: PeerVerifier;
  /** This node's Ed25519 identity secret key (32 bytes), for the masking engine. */
  readonly identitySecretKey: Uint8Array;
  readonly plans: PlanStore;
  readonly audit: AuditLog;
  readonly policy: () => NodePolicy;
  readonly datasets: DatasetSource;
  readonly trainer?: Trainer;
  readonly privacy?: PrivacyGuard;
  readonly rng?: RandomSource;
  /** Diagnostics sink (never receives data or secrets). */
  readonly log?: (line: string) => void;
  /** Pinned Joye-Libert modulus fingerprint (hex); without it any modulus of at least 2048 bits is accepted. */
  readonly jlModulusFingerprint?: string;
  /**
   * Directory for Joye-Libert key material (mode 0700, files 0600): the node's key and shares per
   * setup, and the tags already used, so a restarted node keeps its keys and never reuses a tag.
   * Without it the keys live in memory only.
   */
  readonly jlStateDir?: string;
  /** Test hook: called at each stage; throwing simulates a crash of the node at that point. */
  readonly onStage?: (stage: string, work: WorkRequest) => void | Promise<void>;
}

/** Joye-Libert state of one key setup at this node (keys live in memory only). */
interface JlEntry {
  setup: JlSetupNode | undefined;
  readonly modulus: JlModulus;
  readonly ready: Promise<JlNode>;
  readonly resolve: (n: JlNode) => void;
}

/** Work as the aggregator sends it. */
interface WorkEnvelope {
  work: WorkRequest;
  seq: number;
  vectorLength: number;
  codec: Record<string, unknown>;
  aggregator: string;
  roster?: unknown;
}

interface ActiveRound {
  readonly work: WorkEnvelope;
  readonly abort: AbortController;
  roster?: Roster;
  /** Resolves with the encoded input once computed (Joye-Libert submits when asked). */
  readonly inputReady: Promise<Uint32Array>;
  setInput: (v: Uint32Array) => void;
  /** Resolves once the Joye-Libert submission left the node. */
  readonly submitted: Promise<void>;
  markSubmitted: () => void;
  /** Resolves with the final participant list when the aggregator sends `begin`. */
  readonly begun: Promise<readonly string[]>;
  begin: (participants: readonly string[]) => void;
  masking?: MaskingClient;
  input?: Uint32Array;
  readonly inbox: Envelope[];
}

/** Vector length of a `stats` contribution for d features: [n, Σx (d), Σx² (d)]. */
export function statsVectorLength(d: number): number {
  return 1 + 2 * d;
}

/** Local feature statistics [n, Σx_j, Σx_j²] of a dataset (node/datasets' localStatsVector). */
export function localStats(t: TabularDataset): Float64Array {
  return localStatsVector(t);
}

/** Raw 32-byte Ed25519 secret of a PKI identity key object. */
export function identitySecretFromKeyObject(k: { export(o: { format: 'jwk' }): { d?: string } }): Uint8Array {
  const d = k.export({ format: 'jwk' }).d;
  if (d === undefined) throw new NodeError('ERR_NODE_REQUEST_INVALID', 'identity key is not a private Ed25519 key');
  return new Uint8Array(Buffer.from(d, 'base64url'));
}

/** The node agent. */
export class NodeAgent {
  readonly id: string;
  readonly #opts: NodeAgentOptions;
  readonly #client: FederationClient;
  readonly #rounds = new Map<string, ActiveRound>();
  readonly #jl = new Map<string, JlEntry>();
  #stream: grpc.ClientDuplexStream<Envelope, Envelope> | undefined;
  #closed = false;
  #connectedOnce: Promise<void>;
  #resolveConnected!: () => void;
  #retryTimer: NodeJS.Timeout | undefined;
  #backoff = 200;

  constructor(opts: NodeAgentOptions) {
    this.#opts = opts;
    this.id = opts.tls.member.id;
    this.#client = new FederationClient({ address: opts.address, tls: opts.tls, verifier: opts.verifier });
    this.#connectedOnce = new Promise((r) => { this.#resolveConnected = r; });
  }

  /** Opens the Session; resolves once the aggregator welcomed this node (reconnects on loss). */
  async start(): Promise<void> {
    this.#open();
    await this.#connectedOnce;
  }

  /** Resolves at the next welcome (after a reconnect). */
  waitConnected(): Promise<void> {
    return this.#connectedOnce;
  }

  /** Closes the session and stops reconnecting. */
  close(): void {
    this.#closed = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    for (const r of this.#rounds.values()) r.abort.abort();
    this.#rounds.clear();
    try { this.#stream?.end(); } catch { /* closed */ }
    try { this.#stream?.cancel(); } catch { /* closed */ }
    this.#client.close();
  }

  #log(s: string): void {
    this.#opts.log?.(`[${this.id}] ${s}`);
  }

  #open(): void {
    if (this.#closed) return;
    const stream = this.#client.session();
    this.#stream = stream;
    stream.on('data', (env: Envelope) => this.#onMessage(env));
    const lost = (why: string): void => {
      if (this.#stream !== stream) return;
      this.#stream = undefined;
      for (const r of this.#rounds.values()) r.abort.abort();
      this.#rounds.clear();
      if (this.#closed) return;
      this.#log(`session lost (${why}); reconnecting in ${this.#backoff} ms`);
      this.#connectedOnce = new Promise((r) => { this.#resolveConnected = r; });
      this.#retryTimer = setTimeout(() => this.#open(), this.#backoff);
      this.#backoff = Math.min(this.#backoff * 2, 2_000);
    };
    stream.on('error', (e: Error) => lost(e.message));
    stream.on('end', () => lost('ended'));
    stream.write({ type: 'hello', round_tag: '', json: JSON.stringify({ datasets: this.#opts.datasets.tags(), auditHead: this.#opts.audit.head() }), payload: new Uint8Array(0) });
  }

  #send(type: string, tag: string, json: Record<string, unknown>, payload?: Uint8Array): void {
    try {
      this.#stream?.write({ type, round_tag: tag, json: JSON.stringify(json), payload: payload ?? new Uint8Array(0) });
    } catch {
      // session gone; the aggregator treats us as dropped
    }
  }

  #onMessage(env: Envelope): void {
    switch (env.type) {
      case 'welcome':
        this.#backoff = 200;
        this.#resolveConnected();
        return;
      case 'plan-offer':
        void this.#fetchPlan(env).catch((e: unknown) => this.#log(`plan offer failed: ${(e as Error).message}`));
        return;
      case 'work':
        void this.#onWork(env).catch((e: unknown) => {
          // Fail closed (e.g. the audit log no longer verifies): refuse without running anything.
          this.#log(`work ${env.round_tag.slice(0, 200)} refused: ${(e as Error).message}`);
          const err = e instanceof FedsecError ? e : new NodeError('ERR_NODE_TRAINING_FAILED', 'internal error');
          this.#send('refuse', env.round_tag, { code: err.code, message: err.message });
        });
        return;
      case 'begin': {
        const r = this.#rounds.get(env.round_tag);
        if (r !== undefined) {
          try {
            const body = parseJsonBody(env.json, 'begin', MAX_JSON_CHARS * 4);
            const parts = body['participants'];
            if (!Array.isArray(parts) || parts.some((p) => typeof p !== 'string' || !r.work.work.participants.includes(p)) || !parts.includes(this.id)) {
              throw new InvalidMessageError('begin.participants', 'must be invited nodes including this one');
            }
            // Distinct nodes only: a repeated id must not count towards the participant floor.
            if (new Set(parts).size !== parts.length) throw new InvalidMessageError('begin.participants', 'duplicate node id');
            const min = Math.max(this.#opts.policy().minParticipants, r.work.work.minParticipants);
            if (parts.length < min) throw new NodeError('ERR_NODE_POLICY_PARTICIPANTS', `only ${parts.length} participants; policy requires ${min}`);
            r.begin([...(parts as string[])].sort());
          } catch (e) {
            this.#log(`bad begin: ${(e as Error).message}`);
            r.abort.abort();
            this.#rounds.delete(env.round_tag);
            const err = e instanceof FedsecError ? e : new NodeError('ERR_NODE_REQUEST_INVALID', 'bad begin');
            this.#opts.audit.append('refusal', { tag: env.round_tag, code: err.code, message: err.message, stage: 'begin' });
          }
        }
        return;
      }
      case 'relay': {
        const r = this.#rounds.get(env.round_tag);
        if (r !== undefined) void this.#onRelay(r, env);
        return;
      }
      case 'abort': {
        const r = this.#rounds.get(env.round_tag);
        if (r !== undefined) {
          r.abort.abort();
          this.#rounds.delete(env.round_tag);
          this.#opts.audit.append('round-aborted', { tag: env.round_tag, reason: safeReason(env.json) });
        }
        return;
      }
      case 'done':
        this.#rounds.delete(env.round_tag);
        return;
      case 'error':
        this.#log(`aggregator reported: ${env.json.slice(0, 300)}`);
        return;
      default:
        this.#log(`ignoring unknown message type ${env.type.slice(0, 30)}`);
    }
  }

  async #fetchPlan(env: Envelope): Promise<void> {
    const body = parseJsonBody(env.json, 'plan-offer', MAX_JSON_CHARS);
    const hash = String(body['plan']);
    if (!/^[0-9a-f]{64}$/.test(hash)) return;
    if (this.#opts.plans.list().some((p) => p.hash === hash)) return;
    const bytes = await this.#client.download(hash);
    this.#opts.plans.receive(bytes, String(body['from'] ?? 'researcher').slice(0, 128));
  }

  async #onWork(env: Envelope): Promise<void> {
    const tag = env.round_tag;
    let we: WorkEnvelope;
    try {
      const body = parseJsonBody(env.json, 'work', MAX_JSON_CHARS * 4);
      const work = validateWorkRequest(body['work']);
      if (typeof body['seq'] !== 'number' || !Number.isSafeInteger(body['seq']) || typeof body['vectorLength'] !== 'number' || typeof body['aggregator'] !== 'string') {
        throw new InvalidMessageError('work', 'missing seq, vectorLength or aggregator');
      }
      we = { work, seq: body['seq'], vectorLength: body['vectorLength'], codec: (body['codec'] ?? {}) as Record<string, unknown>, aggregator: body['aggregator'], roster: body['roster'] };
    } catch (e) {
      this.#refuse(tag, e, undefined);
      return;
    }
    const { work } = we;
    this.#opts.audit.append('request', { tag, experiment: work.experiment, round: work.round, attempt: work.attempt, kind: work.kind, plan: work.plan, dataset: work.tag, secagg: work.secagg, dp: work.dp, args: work.args });
    let decision: PolicyDecision;
    let bundle: PlanBundle;
    let data: DatasetSplits;
    let roster: Roster | undefined;
    try {
      bundle = await this.#approvedPlan(work.plan);
      decision = evaluatePolicy(this.#opts.policy(), work);
      if (!this.#opts.datasets.tags().includes(work.tag)) throw new NodeError('ERR_NODE_DATASET_UNKNOWN', `this node holds no dataset tagged ${work.tag}`);
      data = await this.#opts.datasets.load(work.tag);
      const real = work.kind === 'stats' ? statsVectorLength(data.train.features) : work.kind === 'eval' ? EVAL_LENGTH : trainContributionLength(bundle.numParams);
      const expected = work.secagg === 'off' ? real : encodedLength(we.codec, real);
      if (we.vectorLength !== expected) throw new NodeError('ERR_NODE_REQUEST_INVALID', `vector length ${we.vectorLength} does not match this ${work.kind} round (expected ${expected})`);
      if (work.kind !== 'stats') {
        if (bundle.kind === 'stats') throw new NodeError('ERR_NODE_REQUEST_INVALID', 'a stats plan cannot train or evaluate');
        if (this.#opts.trainer === undefined) throw new NodeError('ERR_NODE_TRAINING_FAILED', 'this node has no training engine configured');
        if (work.model === undefined) throw new NodeError('ERR_NODE_REQUEST_INVALID', 'a training round needs a model');
      }
      if (work.kind === 'train' && work.dp.mode !== 'off') {
        if (this.#opts.privacy === undefined) throw new NodeError('ERR_NODE_BUDGET_EXHAUSTED', 'this node has no privacy ledger configured, so it cannot account for DP rounds');
        if (work.dp.mode !== 'local' && work.secagg === 'off') throw new NodeError('ERR_NODE_POLICY_SECAGG_REQUIRED', `DP mode ${work.dp.mode} needs secure aggregation: without it the aggregator would see an under-noised or un-noised update`);
        let grid: DistributedGrid | undefined;
        if (work.dp.mode === 'distributed') {
          const codec = fixedCodec(we.codec, work.participants.length);
          grid = { scale: codec.scale, dimension: bundle.numParams };
          const need = distributedCodecNoiseBound(distributedConfig(work, decision.args.learningRate, grid));
          if (codec.noiseBound < need) throw new NodeError('ERR_NODE_REQUEST_INVALID', `codec noiseBound ${codec.noiseBound} cannot hold this node's distributed noise (needs ${need})`);
        }
        await this.#opts.privacy.check(work, decision, data.train.rows, grid);
      }
      if (work.secagg === 'masking' || work.secagg === 'jl') roster = this.#verifiedRoster(we);
    } catch (e) {
      this.#refuse(tag, e, work);
      return;
    }
    let begin!: (p: readonly string[]) => void;
    const begun = new Promise<readonly string[]>((r) => { begin = r; });
    let setInput!: (v: Uint32Array) => void;
    const inputReady = new Promise<Uint32Array>((r) => { setInput = r; });
    let markSubmitted!: () => void;
    const submitted = new Promise<void>((r) => { markSubmitted = r; });
    const active: ActiveRound = { work: we, abort: new AbortController(), begun, begin, inbox: [], inputReady, setInput, submitted, markSubmitted, ...(roster === undefined ? {} : { roster }) };
    this.#rounds.set(tag, active);
    this.#send('accept', tag, { overrides: decision.overrides, auditHead: this.#opts.audit.head() });
    try {
      const computing = (async () => {
        await this.#opts.onStage?.('compute', work);
        return this.#compute(we, bundle, data, decision);
      })();
      computing.catch(() => undefined);
      const participants = await Promise.race([begun, aborted(active.abort.signal)]);
      if (work.secagg === 'masking') {
        // Key advertisement does not depend on the data: it runs while training does.
        active.masking = new MaskingClient({ config: this.#maskingConfig(we, participants), roster: roster!, id: this.id, identitySecretKey: this.#opts.identitySecretKey, ...(this.#opts.rng ? { rng: this.#opts.rng } : {}) });
        this.#relay(active, active.masking.advertiseKeys());
        await this.#drainInbox(active);
      }
      const contribution = await computing;
      if (active.abort.signal.aborted) return;
      let spent: { epsilon: number; delta: number } | undefined;
      if (work.kind === 'train' && work.dp.mode !== 'off') {
        spent = await this.#opts.privacy!.charge(work, decision, data.train.rows);
        this.#opts.audit.append('budget-spend', { tag, dataset: work.tag, dp: work.dp, epsilon: spent.epsilon, delta: spent.delta });
      }
      await this.#opts.onStage?.('upload', work);
      if (work.secagg === 'off') {
        await this.#client.uploadUpdate(tag, contribution, active.abort.signal);
      } else {
        active.input = work.kind === 'train' && work.dp.mode === 'distributed'
          ? distributedShare(fixedCodec(we.codec, work.participants.length), contribution, distributedConfig(work, decision.args.learningRate, { scale: fixedCodec(we.codec, work.participants.length).scale, dimension: bundle.numParams }), this.#opts.rng ?? systemRandom)
          : this.#encode(we, contribution);
        active.setInput(active.input);
        await this.#drainInbox(active);
        if (work.secagg === 'jl') await Promise.race([active.submitted, aborted(active.abort.signal)]);
      }
      this.#opts.audit.append('release', { tag, dataset: work.tag, scheme: work.secagg, elements: we.vectorLength, ...(spent ? { epsilon: spent.epsilon, delta: spent.delta } : {}) });
      this.#send('release', tag, { ...(spent ? { epsilon: spent.epsilon, delta: spent.delta } : {}), dataset: work.tag, auditHead: this.#opts.audit.head() });
    } catch (e) {
      if (!active.abort.signal.aborted) this.#log(`round ${tag} failed: ${(e as Error).message}`);
      this.#rounds.delete(tag);
    }
  }

  #refuse(tag: string, e: unknown, work: WorkRequest | undefined): void {
    const err = e instanceof FedsecError ? e : new NodeError('ERR_NODE_TRAINING_FAILED', 'internal error');
    this.#opts.audit.append('refusal', { tag, code: err.code, message: err.message, ...(work ? { experiment: work.experiment, round: work.round } : {}) });
    this.#send('refuse', tag, { code: err.code, message: err.message, auditHead: this.#opts.audit.head() });
  }

  async #approvedPlan(hash: string): Promise<PlanBundle> {
    if (!this.#opts.plans.list().some((p) => p.hash === hash)) {
      const bytes = await this.#client.download(hash);
      decodePlanBundle(bytes);
      this.#opts.plans.receive(bytes, 'aggregator');
    }
    return this.#opts.plans.requireApproved(hash);
  }

  #verifiedRoster(we: WorkEnvelope): Roster {
    if (we.roster === undefined) throw new NodeError('ERR_NODE_REQUEST_INVALID', 'secure aggregation needs the signed federation roster');
    const crl = this.#opts.verifier.crl;
    const v = verifyRoster(we.roster, this.#opts.verifier.ca.der, crl === undefined ? {} : { crl });
    const roster = v.toRoster();
    roster.require(we.aggregator, 'aggregator');
    for (const p of we.work.participants) roster.require(p, 'node');
    return roster;
  }

  #maskingConfig(we: WorkEnvelope, participants: readonly string[]): MaskingConfig {
    // The work (DP and training parameters, codec) is bound into the round: every participant must have been sent the same.
    return maskingConfigFor(this.#opts.verifier.federation, we.seq, we.aggregator, participants, we.work.minParticipants, we.vectorLength, workContext(we.work, we.codec));
  }

  async #compute(we: WorkEnvelope, bundle: PlanBundle, data: DatasetSplits, decision: PolicyDecision): Promise<Float64Array> {
    const { work } = we;
    if (work.kind === 'stats') return localStats(data.train);
    const params = decodeParams(await this.#client.download(work.model!), bundle.numParams);
    if (work.kind === 'eval') {
      const e = await this.#opts.trainer!.evaluate({ bundle, data, params, work });
      return Float64Array.of(e.correct, e.count, e.lossSum);
    }
    let out: TrainRoundOutput;
    try {
      out = await this.#opts.trainer!.train({ bundle, data, params, work, args: decision.args });
    } catch (e) {
      throw e instanceof FedsecError ? e : new NodeError('ERR_NODE_TRAINING_FAILED', `local training failed: ${(e as Error).message}`);
    }
    const P = bundle.numParams;
    if (out.update.length !== P) throw new NodeError('ERR_NODE_TRAINING_FAILED', `trainer returned ${out.update.length} values for ${P} parameters`);
    const v = new Float64Array(trainContributionLength(P));
    for (let i = 0; i < P; i++) v[i] = out.update[i]! * out.weight;
    v[P] = out.weight;
    v[P + 1] = out.loss * out.weight;
    v[P + 2] = out.eval.correct;
    v[P + 3] = out.eval.count;
    v[P + 4] = out.eval.lossSum;
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) throw new NodeError('ERR_NODE_TRAINING_FAILED', 'training produced a non-finite value');
    return v;
  }

  #encode(we: WorkEnvelope, v: Float64Array): Uint32Array {
    return encodeVector(we.codec, v, we.work.participants.length, this.#opts.rng ?? systemRandom);
  }

  #relay(active: ActiveRound, msg: { stage: string }): void {
    const tag = roundTagOf(active.work);
    if (msg.stage === 'masked-input') {
      const m = msg as unknown as { words: Uint32Array };
      void this.#client.uploadUpdate(tag, m.words, active.abort.signal).catch((e: unknown) => this.#log(`masked upload failed: ${(e as Error).message}`));
      return;
    }
    this.#send('relay', tag, { stage: msg.stage }, encodeEngineMessage(msg));
  }

  async #onRelay(active: ActiveRound, env: Envelope): Promise<void> {
    if (active.work.work.secagg === 'jl') {
      try {
        await this.#onJl(active, decodeEngineMessage(env.payload) as Record<string, unknown>);
      } catch (e) {
        this.#log(`Joye-Libert ${JSON.stringify(env.json).slice(0, 80)} failed: ${(e as Error).message}`);
        if (e instanceof FedsecError) {
          this.#opts.audit.append('refusal', { tag: env.round_tag, code: e.code, message: e.message, stage: 'jl' });
        }
        active.abort.abort();
      }
      return;
    }
    active.inbox.push(env);
    await this.#drainInbox(active);
  }

  /**
   * Refuses a Joye-Libert key setup whose node count or decryption threshold is below the
   * participant floor of the node's policy or of the accepted work: with threshold t the
   * researcher can decrypt a sum over any t nodes, so t is the real floor.
   */
  #checkJlThreshold(active: ActiveRound, nodeCount: number, threshold: number): void {
    const min = Math.max(this.#opts.policy().minParticipants, active.work.work.minParticipants);
    if (nodeCount < min) throw new NodeError('ERR_NODE_POLICY_PARTICIPANTS', `key setup over ${nodeCount} nodes; policy requires ${min}`);
    if (!Number.isSafeInteger(threshold) || threshold < min || threshold > nodeCount) {
      throw new NodeError('ERR_NODE_POLICY_PARTICIPANTS', `key setup threshold ${String(threshold)} would let sums over fewer than ${min} nodes be decrypted; policy requires at least ${min}`);
    }
  }

  /** Joye-Libert: key setup (once per setup id) and the round's submit / unmask steps. */
  async #onJl(active: ActiveRound, msg: Record<string, unknown>): Promise<void> {
    const tag = roundTagOf(active.work);
    const send = (m: { stage: string }): void => this.#send('relay', tag, { stage: m.stage }, encodeEngineMessage(m));
    const identity = { id: this.id, secretKey: this.#opts.identitySecretKey };
    const setupId = String(msg['setupId'] ?? '');
    switch (msg['stage']) {
      case 'jl/setup/start': {
        const modulus = parseModulus(msg['modulus'], this.#opts.jlModulusFingerprint === undefined ? {} : { expectedFingerprint: this.#opts.jlModulusFingerprint });
        const nodes = msg['nodes'] as string[];
        if (!Array.isArray(nodes) || !nodes.includes(this.id)) throw new InvalidMessageError('nodes', 'this node is not part of the key setup');
        const threshold = Number(msg['threshold']);
        this.#checkJlThreshold(active, nodes.length, threshold);
        const setup = new JlSetupNode({ roster: active.roster!, modulus, setupId, nodes, researcher: String(msg['researcher']), threshold }, identity, this.#opts.rng ?? systemRandom);
        let resolve!: (n: JlNode) => void;
        const ready = new Promise<JlNode>((r) => { resolve = r; });
        this.#jl.set(setupId, { setup, modulus, ready, resolve });
        send(setup.advertise());
        return;
      }
      case 'jl/setup/ads': {
        const e = this.#jlEntry(setupId);
        send(e.setup!.deal(msg['ads'] as JlSetupAdvertise[]));
        return;
      }
      case 'jl/setup/shares-for': {
        const e = this.#jlEntry(setupId);
        for (const m of msg['shares'] as JlSetupShares[]) e.setup!.receive(m);
        const sum = e.setup!.complete();
        const keys = e.setup!.keys();
        const node = new JlNode(keys, e.modulus, identity, active.roster!);
        e.setup = undefined;
        this.#saveJl(setupId, keys, e.modulus, []);
        send(sum);
        e.resolve(node);
        return;
      }
      case 'jl/round/go': {
        const e = this.#jl.get(setupId) ?? this.#loadJl(setupId, active.roster!) ?? this.#jlEntry(setupId);
        const node = await e.ready;
        // A reused key setup must still satisfy this round's participant floor: its threshold is
        // the smallest set of nodes whose sum the researcher can decrypt.
        this.#checkJlThreshold(active, node.keys.nodes.length, node.keys.threshold);
        const input = await Promise.race([active.inputReady, aborted(active.abort.signal)]);
        const jlTag = msg['tag'] as JlTag;
        const w = active.work.work;
        if (jlTag.experiment !== w.experiment || jlTag.round !== w.round || jlTag.attempt !== w.attempt) throw new InvalidMessageError('tag', 'Joye-Libert tag does not match the accepted work');
        await node.precompute(jlTag, input.length, 32);
        await this.#opts.onStage?.('jl-submit', w);
        const submission = node.submit(jlTag, input, 32);
        // The tag is consumed: record it durably before the ciphertexts leave the node.
        this.#saveJl(setupId, node.keys, node.modulus, node.usedTags());
        send(submission);
        active.markSubmitted();
        return;
      }
      case 'jl/round/unmask-input': {
        const node = await this.#jlEntry(setupId === '' ? String((msg['request'] as Record<string, unknown>)['setupId']) : setupId).ready;
        const { stage: _s, ...input } = msg;
        void _s;
        send(await node.unmask(input as unknown as JlNodeUnmaskInput));
        return;
      }
      default:
        throw new InvalidMessageError('stage', 'unknown Joye-Libert message');
    }
  }

  #jlFile(setupId: string): string | undefined {
    const dir = this.#opts.jlStateDir;
    if (dir === undefined || !ID_PATTERN.test(setupId)) return undefined;
    return join(dir, `${setupId}.json`);
  }

  #saveJl(setupId: string, keys: JlNodeKeys, modulus: JlModulus, usedTags: readonly string[]): void {
    const f = this.#jlFile(setupId);
    if (f === undefined) return;
    mkdirSync(dirname(f), { recursive: true, mode: 0o700 });
    writeFileDurable(f, encodeEngineMessage({ format: 'fedsec-jl-node-state/1', keys, modulus: modulusToJson(modulus), usedTags }), 0o600);
  }

  #loadJl(setupId: string, roster: Roster): JlEntry | undefined {
    const f = this.#jlFile(setupId);
    if (f === undefined || !existsSync(f)) return undefined;
    const st = decodeStoredEngineMessage(new Uint8Array(readFileSync(f))) as { format?: string; keys: JlNodeKeys; modulus: unknown; usedTags: string[] };
    if (st.format !== 'fedsec-jl-node-state/1') throw new NodeError('ERR_NODE_REQUEST_INVALID', `${f} is not a Joye-Libert node state file`);
    const modulus = parseModulus(st.modulus, this.#opts.jlModulusFingerprint === undefined ? {} : { expectedFingerprint: this.#opts.jlModulusFingerprint });
    const node = new JlNode(st.keys, modulus, { id: this.id, secretKey: this.#opts.identitySecretKey }, roster, { usedTags: st.usedTags });
    const entry: JlEntry = { setup: undefined, modulus, ready: Promise.resolve(node), resolve: () => undefined };
    this.#jl.set(setupId, entry);
    return entry;
  }

  #jlEntry(setupId: string): JlEntry {
    const e = this.#jl.get(setupId);
    if (e === undefined) throw new NodeError('ERR_NODE_REQUEST_INVALID', `no Joye-Libert key setup ${setupId.slice(0, 64)} at this node (restarted since? a new setup is needed)`);
    return e;
  }

  /** Feeds queued engine messages to the masking client (the `shares` message waits for the input). */
  async #drainInbox(active: ActiveRound): Promise<void> {
    const m = active.masking;
    if (m === undefined) return;
    while (active.inbox.length > 0) {
      const env = active.inbox[0]!;
      let msg: unknown;
      try {
        msg = decodeEngineMessage(env.payload);
      } catch {
        active.inbox.shift();
        continue;
      }
      const stage = (msg as { stage?: unknown }).stage;
      if (stage === 'shares' && active.input === undefined) return; // wait for training
      active.inbox.shift();
      try {
        if (stage === 'consistency-request' || stage === 'shares') void this.#opts.onStage?.(`masking-${String(stage)}`, active.work.work);
        this.#relay(active, m.receive(msg, active.input));
      } catch (e) {
        this.#log(`masking ${String(stage)} failed: ${(e as Error).message}`);
        active.abort.abort();
        return;
      }
    }
  }
}

/** Decodes a model blob (little-endian float64) of exactly `n` parameters. */
export function decodeParams(bytes: Uint8Array, n: number): Float64Array {
  if (bytes.length !== n * 8) throw new NodeError('ERR_NODE_REQUEST_INVALID', `model blob has ${bytes.length / 8} parameters, the plan expects ${n}`);
  const a = Uint8Array.from(bytes);
  return new Float64Array(a.buffer);
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_, reject) => {
    const fail = (): void => reject(new NodeError('ERR_NODE_TRAINING_FAILED', 'round aborted'));
    if (signal.aborted) fail(); else signal.addEventListener('abort', fail, { once: true });
  });
}

function roundTagOf(we: WorkEnvelope): string {
  return `${we.work.experiment}/r${we.work.round}/a${we.work.attempt}`;
}

function safeReason(json: string): string {
  try {
    return String((JSON.parse(json) as Record<string, unknown>)['reason'] ?? '').slice(0, 500);
  } catch {
    return '';
  }
}

/** Largest number of parties the wide codec supports (re-exported for services). */
export const MAX_WIDE_PARTIES = WIDE_MAX_PARTIES;
