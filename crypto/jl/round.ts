/**
 * One JL aggregation round with dropout tolerance, as three transport-agnostic state
 * machines: {@link JlNode}, {@link JlAggregatorRound}, {@link JlResearcher}.
 *
 * Stages (messages are plain objects with Uint8Array / bigint fields):
 * 0. precompute (off the critical path): each node computes its pads H(tag, c)^sk_i, the
 *    researcher its inverse pads H(tag, c)^(-S), S = Σ sk_i, on worker threads.
 * 1. submit (node → aggregator): the node draws a fresh self-mask seed b_i, encrypts
 *    pack(x_i) + R_i(b_i) mod N under its pads, and attaches Shamir shares (threshold t) of
 *    b_i, one AEAD box per other node. The node refuses a tag it already used.
 * 2. close (aggregator → researcher): the aggregator multiplies the ciphertexts as they arrive
 *    and proposes survivors S (who submitted) and dropped D (who did not).
 * 3. approve (researcher → aggregator → nodes): the researcher signs the unmask request.
 * 4. unmask (node → aggregator): each surviving node answers one signed request per tag:
 *    its shares of b_i for every i in S (boxed to the researcher) and, if D is non-empty, the
 *    key-recovery elements H(tag, c)^(Σ_{j∈D} f_j(k)) from its integer Shamir shares of the
 *    dropped nodes' keys. It never answers a second, different request for the same tag, so
 *    it never reveals both a seed share and a key share for the same peer.
 * 5. finalize (researcher): from any t responses it rebuilds the survivors' seeds, and for
 *    D ≠ ∅ raises (product · H^(-S))^(Δ²) and multiplies in Π_k R_k^(λ'_k) = H^(Δ² Σ_D sk_j),
 *    then removes Δ², subtracts the self-masks and unpacks with an overflow check per slot.
 *
 * Declaring a node dropped yields H^(Δ² sk_j) for this tag only (no re-keying, the long-term
 * key stays secret), and decrypting that node's ciphertext with it gives pack(x_j) + R_j mod N,
 * a one-time pad under b_j, which honest nodes never reveal once j was declared dropped.
 */
import { AuthenticationError, InvalidMessageError } from '../../common/errors.ts';
import { assertBytes, assertInt } from '../../common/validate.ts';
import { open, seal } from '../aead.ts';
import { encodeTuple, equalBytes } from '../bytes.ts';
import { sign, verify } from '../ed25519.ts';
import { systemRandom, type RandomSource } from '../random.ts';
import type { Roster } from '../roster.ts';
import { combineBytes32, decodeShare256, encodeShare256, splitBytes32, type Share } from '../shamir.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { JlError } from './errors.ts';
import { assertTag, sameTag, tagKey, type JlTag } from './hash.ts';
import { factorial, intLagrangeAtZero } from './intshare.ts';
import { modPow } from './modexp.ts';
import { combineRecovery } from './recovery.ts';
import type { JlModulus } from './modulus.ts';
import { ciphertextCount, pack, packingLayout, sumsToRing, unpack, type PackingLayout } from './packing.ts';
import { computePads, type JlWorkerPool } from './pool.ts';
import { addMaskStream, JlScheme, maskElement, maskSumElement, maskWords, selfMaskStream } from './scheme.ts';
import { channelKey, nodeIndex, type JlIdentity, type JlNodeKeys, type JlResearcherKeys } from './setup.ts';
import { decodeTuple, tupleDigest } from './wire.ts';

/** Stage 1: a node's encrypted update. */
export interface JlSubmission {
  readonly stage: 'jl/round/submit';
  readonly setupId: string;
  readonly tag: JlTag;
  readonly from: string;
  readonly valueCount: number;
  readonly valueBits: number;
  /** Concatenated fixed-width ciphertexts (|N^2|/8 bytes each). */
  readonly ciphertexts: Uint8Array;
  /** Shamir shares of the self-mask seed, one AEAD box per other node. */
  readonly seedShares: readonly { readonly to: string; readonly box: Uint8Array }[];
  readonly signature: Uint8Array;
}

/** Stage 2: the aggregator's view of who survived. */
export interface JlUnmaskProposal {
  readonly stage: 'jl/round/unmask-proposal';
  readonly setupId: string;
  readonly tag: JlTag;
  readonly valueCount: number;
  readonly valueBits: number;
  readonly survivors: readonly string[];
  readonly dropped: readonly string[];
  /** SHA-256 of the aggregated product. */
  readonly productDigest: Uint8Array;
}

/** Stage 3: the proposal signed by the researcher. */
export interface JlUnmaskRequest extends Omit<JlUnmaskProposal, 'stage'> {
  readonly stage: 'jl/round/unmask-request';
  readonly signature: Uint8Array;
}

/** What the aggregator forwards to one surviving node. */
export interface JlNodeUnmaskInput {
  readonly request: JlUnmaskRequest;
  /** The seed-share boxes addressed to this node by the survivors. */
  readonly seedShares: readonly { readonly from: string; readonly box: Uint8Array }[];
}

/** Stage 4: one node's unmasking answer. */
export interface JlUnmaskResponse {
  readonly stage: 'jl/round/unmask-response';
  readonly setupId: string;
  readonly tag: JlTag;
  readonly from: string;
  readonly requestDigest: Uint8Array;
  /** AEAD box to the researcher: this node's shares of the survivors' seeds. */
  readonly seedShares: Uint8Array;
  /** Key-recovery elements (one per ciphertext) when some node dropped; empty otherwise. */
  readonly keyRecovery: Uint8Array;
  readonly signature: Uint8Array;
}

/** Stage 5 input: everything the researcher needs. */
export interface JlAggregate {
  readonly stage: 'jl/round/aggregate';
  readonly request: JlUnmaskRequest;
  readonly product: Uint8Array;
  readonly responses: readonly JlUnmaskResponse[];
}

/** The round's outcome at the researcher. */
export interface JlRoundResult {
  /** Exact integer sums of the survivors' values. */
  readonly sums: Float64Array;
  /** The same sums modulo 2^valueBits: the fixed-point codec's ring sum (`decodeSum`). */
  readonly ring: Uint32Array;
  readonly survivors: readonly string[];
  readonly dropped: readonly string[];
}

/** Digest a node signs over its submission. */
export function submissionDigest(s: Omit<JlSubmission, 'signature'>): Uint8Array {
  return tupleDigest([
    'fedsec/jl/round/submit/v1', s.tag.federation, s.setupId, s.tag.experiment, s.tag.round, s.tag.attempt, s.from, s.valueCount, s.valueBits,
    sha256(s.ciphertexts), s.seedShares.length, ...s.seedShares.flatMap((b) => [b.to, sha256(b.box)]),
  ]);
}

/** Digest the researcher signs (and nodes answer to). */
export function requestDigest(r: Omit<JlUnmaskProposal, 'stage'>): Uint8Array {
  return tupleDigest([
    'fedsec/jl/round/unmask-request/v1', r.tag.federation, r.setupId, r.tag.experiment, r.tag.round, r.tag.attempt, r.valueCount, r.valueBits,
    r.survivors.length, ...r.survivors, r.dropped.length, ...r.dropped, r.productDigest,
  ]);
}

/** Digest a node signs over its unmask response. */
export function responseDigest(r: Omit<JlUnmaskResponse, 'signature'>): Uint8Array {
  return tupleDigest([
    'fedsec/jl/round/unmask-response/v1', r.tag.federation, r.setupId, r.tag.experiment, r.tag.round, r.tag.attempt, r.from, r.requestDigest,
    sha256(r.seedShares), sha256(r.keyRecovery),
  ]);
}

function seedAad(setupId: string, tag: JlTag, from: string, to: string): Uint8Array {
  return encodeTuple(['fedsec/jl/round/seed-share/v1', tag.federation, setupId, tag.experiment, tag.round, tag.attempt, from, to]);
}

function unmaskAad(setupId: string, tag: JlTag, from: string, to: string, digest: Uint8Array): Uint8Array {
  return encodeTuple(['fedsec/jl/round/unmask/v1', tag.federation, setupId, tag.experiment, tag.round, tag.attempt, from, to, digest]);
}

function roundPurpose(kind: string, tag: JlTag): (string | number)[] {
  return [kind, tag.experiment, tag.round, tag.attempt];
}

/** Checks S and D of a proposal/request against the node list and threshold. */
function checkPartition(nodes: readonly string[], threshold: number, survivors: readonly string[], dropped: readonly string[]): void {
  if (!Array.isArray(survivors) || !Array.isArray(dropped)) throw new InvalidMessageError('survivors', 'expected arrays');
  const all = [...survivors, ...dropped];
  if (all.length !== nodes.length || new Set(all).size !== all.length || !all.every((id) => nodes.includes(id))) {
    throw new JlError('ERR_JL_ROUND', 'survivors and dropped must partition the node list');
  }
  for (const l of [survivors, dropped]) for (let i = 1; i < l.length; i++) if (l[i - 1]! >= l[i]!) throw new JlError('ERR_JL_ROUND', 'survivor and dropped lists must be sorted');
  if (survivors.length < threshold) throw new JlError('ERR_JL_TOO_FEW', `${survivors.length} survivors, threshold ${threshold}`);
}

interface NodeRoundState {
  readonly tag: JlTag;
  readonly valueCount: number;
  readonly valueBits: number;
  readonly ciphertexts: number;
  readonly ownSeedShare: Share;
  answered?: Uint8Array;
  response?: JlUnmaskResponse;
}

/** Options shared by the node and researcher engines. */
export interface JlEngineOptions {
  readonly rng?: RandomSource;
  /** Worker pool for pads and key recovery; without one, pads are computed in this thread. */
  readonly pool?: JlWorkerPool;
}

/** A node's round engine over its long-term setup material. */
export class JlNode {
  readonly keys: JlNodeKeys;
  readonly modulus: JlModulus;
  readonly scheme: JlScheme;
  readonly #identity: JlIdentity;
  readonly #roster: Roster;
  readonly #rng: RandomSource;
  readonly #pool: JlWorkerPool | undefined;
  readonly #used: Set<string>;
  readonly #pads = new Map<string, bigint[]>();
  readonly #rounds = new Map<string, NodeRoundState>();

  /**
   * `usedTags` restores the set of tags this node already encrypted under (persist
   * {@link usedTags} across restarts: a restarted node must not reuse a tag either).
   */
  constructor(keys: JlNodeKeys, modulus: JlModulus, identity: JlIdentity, roster: Roster, opts: JlEngineOptions & { usedTags?: readonly string[] } = {}) {
    if (!equalBytes(keys.modulusFingerprint, modulus.fingerprint)) throw new JlError('ERR_JL_FINGERPRINT', 'keys were set up under another modulus');
    if (identity.id !== keys.nodeId) throw new JlError('ERR_JL_SETUP', 'identity does not match the keys');
    roster.require(keys.nodeId, 'node');
    this.keys = keys;
    this.modulus = modulus;
    this.scheme = new JlScheme(modulus);
    this.#identity = identity;
    this.#roster = roster;
    this.#rng = opts.rng ?? systemRandom;
    this.#pool = opts.pool;
    this.#used = new Set(opts.usedTags ?? []);
  }

  /** Tags already used for encryption (persist these). */
  usedTags(): string[] {
    return [...this.#used];
  }

  /** The packing layout of a round with `valueBits`-bit values. */
  layout(valueBits: number): PackingLayout {
    return packingLayout(this.modulus.bits, valueBits, this.keys.nodes.length);
  }

  #checkTag(tag: JlTag): void {
    assertTag('tag', tag);
    if (tag.federation !== this.keys.federation) throw new JlError('ERR_JL_ROUND', 'tag names another federation');
    if (this.#used.has(tagKey(tag))) throw new JlError('ERR_JL_TAG_REUSED', `already encrypted under round ${tag.round} attempt ${tag.attempt}: a retried round needs a new attempt number`);
  }

  /** Precomputes the pads for a future round (off the critical path). */
  async precompute(tag: JlTag, valueCount: number, valueBits: number): Promise<void> {
    this.#checkTag(tag);
    const k = ciphertextCount(this.layout(valueBits), valueCount);
    const job = { modulus: this.modulus, exponent: this.keys.key, tag, start: 0, count: k };
    const pads = await computePads(job, this.#pool === undefined ? {} : { pool: this.#pool });
    // The tag may have been consumed (submit without waiting) while the pads were computed.
    if (!this.#used.has(tagKey(tag))) this.#pads.set(tagKey(tag), pads);
  }

  /** Whether pads for this tag and size are ready. */
  isPrecomputed(tag: JlTag, valueCount: number, valueBits: number): boolean {
    return this.#pads.get(tagKey(tag))?.length === ciphertextCount(this.layout(valueBits), valueCount);
  }

  /**
   * Stage 1: encrypts `values` (each < 2^valueBits, e.g. a FixedPointCodec encoding) under `tag`.
   * Uses the precomputed pads when present (critical path: multiplications only), else computes
   * them inline. Refuses a tag already used (`ERR_JL_TAG_REUSED`).
   */
  submit(tag: JlTag, values: Uint32Array, valueBits: number): JlSubmission {
    this.#checkTag(tag);
    if (!(values instanceof Uint32Array) || values.length === 0) throw new JlError('ERR_JL_PACKING', 'values must be a non-empty Uint32Array');
    const layout = this.layout(valueBits);
    const k = ciphertextCount(layout, values.length);
    const plaintexts = pack(layout, values);
    const key = tagKey(tag);
    let pads = this.#pads.get(key);
    if (pads === undefined || pads.length !== k) pads = this.scheme.pads(this.keys.key, tag, 0, k);
    // From here on the tag is consumed, even if something below fails.
    this.#used.add(key);
    this.#pads.delete(key);
    const me = this.keys.nodeId;
    const seed = this.#rng.fill(new Uint8Array(32));
    const mask = selfMaskStream(seed, this.modulus, tag, me, k);
    const n = this.scheme.n;
    const cts = new Array<bigint>(k);
    for (let c = 0; c < k; c++) cts[c] = this.scheme.encryptWithPad((plaintexts[c]! + maskElement(mask, this.modulus.bits, c)) % n, pads[c]!);
    mask.fill(0);
    const nodes = this.keys.nodes;
    const shares = splitBytes32(seed, this.keys.threshold, nodes.map((_, i) => i + 1), this.#rng);
    seed.fill(0);
    const myIndex = nodeIndex(nodes, me);
    const seedShares = nodes
      .filter((id) => id !== me)
      .map((to) => {
        const ck = channelKey(this.keys.federation, this.keys.setupId, this.modulus.fingerprint, this.keys.x25519SecretKey, this.keys.peerX25519[to]!, me, to, roundPurpose('round-seed', tag));
        const box = seal(ck, encodeShare256(shares[nodeIndex(nodes, to) - 1]!), seedAad(this.keys.setupId, tag, me, to), this.#rng);
        ck.fill(0);
        return { to, box };
      });
    this.#rounds.set(key, { tag, valueCount: values.length, valueBits, ciphertexts: k, ownSeedShare: shares[myIndex - 1]! });
    const body = { stage: 'jl/round/submit' as const, setupId: this.keys.setupId, tag, from: me, valueCount: values.length, valueBits, ciphertexts: this.scheme.serialize(cts), seedShares };
    return { ...body, signature: sign(this.#identity.secretKey, submissionDigest(body)) };
  }

  /**
   * Stage 4: answers the researcher-signed unmask request. Answers at most one request per tag
   * (an identical repeat gets the same answer; a different one `ERR_JL_UNMASK_CONFLICT`).
   */
  async unmask(input: JlNodeUnmaskInput): Promise<JlUnmaskResponse> {
    const req = input.request;
    if (typeof req !== 'object' || req === null || req.stage !== 'jl/round/unmask-request') throw new JlError('ERR_JL_STAGE', 'not an unmask request');
    assertTag('request.tag', req.tag, 'message');
    const me = this.keys.nodeId;
    const state = this.#rounds.get(tagKey(req.tag));
    if (state === undefined) throw new JlError('ERR_JL_ROUND', 'unmask request for a round this node did not submit to');
    if (req.setupId !== this.keys.setupId || req.valueCount !== state.valueCount || req.valueBits !== state.valueBits) throw new JlError('ERR_JL_ROUND', 'unmask request does not match the submitted round');
    const digest = requestDigest(req);
    const researcher = this.#roster.require(this.keys.researcher, 'researcher');
    if (!verify(researcher.identityKey, digest, req.signature)) throw new AuthenticationError('unmask request is not signed by the researcher', 'ERR_BAD_SIGNATURE');
    checkPartition(this.keys.nodes, this.keys.threshold, req.survivors, req.dropped);
    if (!req.survivors.includes(me)) throw new JlError('ERR_JL_UNMASK_CONFLICT', 'this node submitted but is listed as dropped');
    if (state.answered !== undefined) {
      if (equalBytes(state.answered, digest) && state.response !== undefined) return state.response;
      throw new JlError('ERR_JL_UNMASK_CONFLICT', 'a different unmask request was already answered for this round attempt');
    }
    // Seed shares: only from survivors, at most one per sender.
    const got = new Map<string, Uint8Array>();
    for (const s of input.seedShares) {
      if (!req.survivors.includes(s.from) || s.from === me) throw new JlError('ERR_JL_UNMASK_CONFLICT', `seed share from ${String(s.from)}, who is not a surviving peer`);
      if (got.has(s.from)) throw new JlError('ERR_JL_REPLAY', `two seed shares from ${s.from}`);
      got.set(s.from, s.box);
    }
    state.answered = digest;
    const items: (string | number | Uint8Array)[] = ['fedsec/jl/round/unmask-plaintext/v1'];
    items.push(me, encodeShare256(state.ownSeedShare));
    for (const [from, box] of got) {
      const ck = channelKey(this.keys.federation, this.keys.setupId, this.modulus.fingerprint, this.keys.x25519SecretKey, this.keys.peerX25519[from]!, from, me, roundPurpose('round-seed', req.tag));
      try {
        const pt = open(ck, box, seedAad(this.keys.setupId, req.tag, from, me));
        const share = decodeShare256(pt);
        if (share.index !== nodeIndex(this.keys.nodes, me)) throw new InvalidMessageError('seedShare', 'share index is not this node');
        items.push(from, pt);
      } finally {
        ck.fill(0);
      }
    }
    const rk = channelKey(this.keys.federation, this.keys.setupId, this.modulus.fingerprint, this.keys.x25519SecretKey, this.keys.peerX25519[this.keys.researcher]!, me, this.keys.researcher, roundPurpose('round-unmask', req.tag));
    const seedBox = seal(rk, encodeTuple(items), unmaskAad(this.keys.setupId, req.tag, me, this.keys.researcher, digest), this.#rng);
    rk.fill(0);
    let keyRecovery: Uint8Array = new Uint8Array(0);
    if (req.dropped.length > 0) {
      let e = 0n;
      for (const j of req.dropped) e += this.keys.keyShares[j]!;
      const job = { modulus: this.modulus, exponent: e, tag: req.tag, start: 0, count: state.ciphertexts };
      keyRecovery = this.scheme.serialize(await computePads(job, this.#pool === undefined ? {} : { pool: this.#pool }));
    }
    const body = { stage: 'jl/round/unmask-response' as const, setupId: this.keys.setupId, tag: req.tag, from: me, requestDigest: digest, seedShares: seedBox, keyRecovery };
    state.response = { ...body, signature: sign(this.#identity.secretKey, responseDigest(body)) };
    return state.response;
  }
}

/** Configuration of one round at the aggregator. */
export interface JlAggregatorConfig {
  readonly roster: Roster;
  readonly modulus: JlModulus;
  readonly setupId: string;
  readonly nodes: readonly string[];
  readonly researcher: string;
  readonly threshold: number;
  readonly tag: JlTag;
  readonly valueCount: number;
  readonly valueBits: number;
}

/**
 * The aggregator's round: verifies and multiplies submissions as they arrive, proposes the
 * survivor set, relays the signed request and the responses. It holds no key.
 * Stages: collect → await-request → unmask → done.
 */
export class JlAggregatorRound {
  readonly #cfg: JlAggregatorConfig;
  readonly #nodes: string[];
  readonly #scheme: JlScheme;
  readonly #count: number;
  #stage: 'collect' | 'await-request' | 'unmask' | 'done' = 'collect';
  #product: bigint[] | undefined;
  readonly #subs = new Map<string, JlSubmission>();
  #proposal: JlUnmaskProposal | undefined;
  #request: JlUnmaskRequest | undefined;
  readonly #responses = new Map<string, JlUnmaskResponse>();

  constructor(cfg: JlAggregatorConfig) {
    assertTag('tag', cfg.tag);
    assertInt('valueCount', cfg.valueCount, 1, 2 ** 31);
    this.#nodes = [...cfg.nodes].sort();
    this.#cfg = cfg;
    this.#scheme = new JlScheme(cfg.modulus);
    this.#count = ciphertextCount(packingLayout(cfg.modulus.bits, cfg.valueBits, this.#nodes.length), cfg.valueCount);
  }

  /** Current stage. */
  get stage(): string {
    return this.#stage;
  }

  /** Number of ciphertexts per submission. */
  get ciphertextCount(): number {
    return this.#count;
  }

  /** Stage 1: verifies one submission and multiplies it into the product. */
  receive(sub: JlSubmission): void {
    if (this.#stage !== 'collect') throw new JlError('ERR_JL_STAGE', `aggregator is in stage ${this.#stage}, not collect`);
    const cfg = this.#cfg;
    if (typeof sub !== 'object' || sub === null || sub.stage !== 'jl/round/submit') throw new JlError('ERR_JL_STAGE', 'not a submission');
    assertTag('submission.tag', sub.tag, 'message');
    if (!sameTag(sub.tag, cfg.tag) || sub.setupId !== cfg.setupId) throw new JlError('ERR_JL_ROUND', 'submission for another round, attempt or setup');
    if (!this.#nodes.includes(sub.from)) throw new JlError('ERR_JL_ROUND', 'submission from a node outside this round');
    if (this.#subs.has(sub.from)) throw new JlError('ERR_JL_REPLAY', `second submission from ${sub.from}`);
    if (sub.valueCount !== cfg.valueCount || sub.valueBits !== cfg.valueBits) throw new JlError('ERR_JL_ROUND', 'submission has the wrong shape');
    assertBytes('signature', sub.signature, 64, 'message');
    const member = cfg.roster.require(sub.from, 'node');
    if (!verify(member.identityKey, submissionDigest(sub), sub.signature)) throw new AuthenticationError(`submission of ${sub.from} is not signed by its identity key`, 'ERR_BAD_SIGNATURE');
    const others = this.#nodes.filter((id) => id !== sub.from);
    if (!Array.isArray(sub.seedShares) || sub.seedShares.length !== others.length || !others.every((id, i) => sub.seedShares[i]?.to === id)) {
      throw new InvalidMessageError('seedShares', 'expected one box per other node, in node order');
    }
    const cts = this.#scheme.deserialize(sub.ciphertexts, this.#count);
    if (this.#product === undefined) this.#product = cts;
    else this.#scheme.multiplyInto(this.#product, cts);
    this.#subs.set(sub.from, { ...sub, ciphertexts: new Uint8Array(0) });
  }

  /** Stage 2: closes collection; proposes S (submitted) and D (missing). */
  close(): JlUnmaskProposal {
    if (this.#stage !== 'collect') throw new JlError('ERR_JL_STAGE', `aggregator is in stage ${this.#stage}, not collect`);
    const survivors = this.#nodes.filter((id) => this.#subs.has(id));
    const dropped = this.#nodes.filter((id) => !this.#subs.has(id));
    if (survivors.length < this.#cfg.threshold) throw new JlError('ERR_JL_TOO_FEW', `only ${survivors.length} submissions, threshold ${this.#cfg.threshold}`);
    const c = this.#cfg;
    this.#proposal = {
      stage: 'jl/round/unmask-proposal', setupId: c.setupId, tag: c.tag, valueCount: c.valueCount, valueBits: c.valueBits, survivors, dropped,
      productDigest: sha256(this.#scheme.serialize(this.#product!)),
    };
    this.#stage = 'await-request';
    return this.#proposal;
  }

  /** Stage 3: accepts the researcher's signed request (must match the proposal). */
  accept(req: JlUnmaskRequest): void {
    if (this.#stage !== 'await-request') throw new JlError('ERR_JL_STAGE', `aggregator is in stage ${this.#stage}, not await-request`);
    const p = this.#proposal!;
    if (!equalBytes(requestDigest(req), requestDigest(p))) throw new JlError('ERR_JL_ROUND', 'request differs from the proposal');
    const r = this.#cfg.roster.require(this.#cfg.researcher, 'researcher');
    if (!verify(r.identityKey, requestDigest(req), req.signature)) throw new AuthenticationError('unmask request is not signed by the researcher', 'ERR_BAD_SIGNATURE');
    this.#request = req;
    this.#stage = 'unmask';
  }

  /** What to send to one surviving node in stage 4. */
  inputFor(nodeId: string): JlNodeUnmaskInput {
    if (this.#stage !== 'unmask') throw new JlError('ERR_JL_STAGE', `aggregator is in stage ${this.#stage}, not unmask`);
    const req = this.#request!;
    if (!req.survivors.includes(nodeId)) throw new JlError('ERR_JL_ROUND', `${nodeId} is not a survivor`);
    const seedShares = req.survivors
      .filter((id) => id !== nodeId)
      .map((from) => ({ from, box: this.#subs.get(from)!.seedShares.find((b) => b.to === nodeId)!.box }));
    return { request: req, seedShares };
  }

  /** Stage 4: one node's response (signature checked; the researcher checks again). */
  receiveResponse(resp: JlUnmaskResponse): void {
    if (this.#stage !== 'unmask') throw new JlError('ERR_JL_STAGE', `aggregator is in stage ${this.#stage}, not unmask`);
    if (typeof resp !== 'object' || resp === null || resp.stage !== 'jl/round/unmask-response') throw new JlError('ERR_JL_STAGE', 'not an unmask response');
    if (!this.#request!.survivors.includes(resp.from)) throw new JlError('ERR_JL_ROUND', 'response from a non-survivor');
    if (this.#responses.has(resp.from)) throw new JlError('ERR_JL_REPLAY', `second response from ${resp.from}`);
    const member = this.#cfg.roster.require(resp.from, 'node');
    if (!verify(member.identityKey, responseDigest(resp), resp.signature)) throw new AuthenticationError(`response of ${resp.from} is not signed by its identity key`, 'ERR_BAD_SIGNATURE');
    this.#responses.set(resp.from, resp);
  }

  /** Stage 5 output: the product and at least t responses, for the researcher. */
  aggregate(): JlAggregate {
    if (this.#stage !== 'unmask' && this.#stage !== 'done') throw new JlError('ERR_JL_STAGE', `aggregator is in stage ${this.#stage}, not unmask`);
    if (this.#responses.size < this.#cfg.threshold) throw new JlError('ERR_JL_TOO_FEW', `only ${this.#responses.size} responses, threshold ${this.#cfg.threshold}`);
    this.#stage = 'done';
    return { stage: 'jl/round/aggregate', request: this.#request!, product: this.#scheme.serialize(this.#product!), responses: [...this.#responses.values()] };
  }
}

/** The researcher's engine: precomputes inverse pads, approves unmasking, decrypts the sum. */
export class JlResearcher {
  readonly keys: JlResearcherKeys;
  readonly modulus: JlModulus;
  readonly scheme: JlScheme;
  readonly #identity: JlIdentity;
  readonly #roster: Roster;
  readonly #pool: JlWorkerPool | undefined;
  readonly #inv = new Map<string, bigint[]>();
  readonly #approved = new Map<string, Uint8Array>();

  constructor(keys: JlResearcherKeys, modulus: JlModulus, identity: JlIdentity, roster: Roster, opts: JlEngineOptions = {}) {
    if (!equalBytes(keys.modulusFingerprint, modulus.fingerprint)) throw new JlError('ERR_JL_FINGERPRINT', 'keys were set up under another modulus');
    if (identity.id !== keys.researcherId) throw new JlError('ERR_JL_SETUP', 'identity does not match the keys');
    this.keys = keys;
    this.modulus = modulus;
    this.scheme = new JlScheme(modulus);
    this.#identity = identity;
    this.#roster = roster;
    this.#pool = opts.pool;
  }

  #layout(valueBits: number): PackingLayout {
    return packingLayout(this.modulus.bits, valueBits, this.keys.nodes.length);
  }

  /** Precomputes H(tag, c)^(-S) for a future round (off the critical path). */
  async precompute(tag: JlTag, valueCount: number, valueBits: number): Promise<void> {
    assertTag('tag', tag);
    const k = ciphertextCount(this.#layout(valueBits), valueCount);
    const job = { modulus: this.modulus, exponent: this.keys.keySum, tag, start: 0, count: k, invert: true };
    this.#inv.set(tagKey(tag), await computePads(job, this.#pool === undefined ? {} : { pool: this.#pool }));
  }

  /** Stage 3: signs the aggregator's proposal. Signs at most one request per tag. */
  approve(p: JlUnmaskProposal): JlUnmaskRequest {
    if (typeof p !== 'object' || p === null || p.stage !== 'jl/round/unmask-proposal') throw new JlError('ERR_JL_STAGE', 'not an unmask proposal');
    assertTag('proposal.tag', p.tag, 'message');
    if (p.tag.federation !== this.keys.federation || p.setupId !== this.keys.setupId) throw new JlError('ERR_JL_ROUND', 'proposal for another federation or setup');
    checkPartition(this.keys.nodes, this.keys.threshold, p.survivors, p.dropped);
    const digest = requestDigest(p);
    const prev = this.#approved.get(tagKey(p.tag));
    if (prev !== undefined && !equalBytes(prev, digest)) throw new JlError('ERR_JL_UNMASK_CONFLICT', 'a different unmask request was already approved for this round attempt');
    this.#approved.set(tagKey(p.tag), digest);
    const { stage: _s, ...rest } = p;
    void _s;
    return { ...rest, stage: 'jl/round/unmask-request', signature: sign(this.#identity.secretKey, digest) };
  }

  /** Stage 5: decrypts the survivors' sum (exact), failing loudly on any inconsistency. */
  async finalize(agg: JlAggregate): Promise<JlRoundResult> {
    const req = agg.request;
    const digest = requestDigest(req);
    const approved = this.#approved.get(tagKey(req.tag));
    if (approved === undefined || !equalBytes(approved, digest)) throw new JlError('ERR_JL_ROUND', 'aggregate for a request this researcher did not approve');
    const layout = this.#layout(req.valueBits);
    const k = ciphertextCount(layout, req.valueCount);
    if (!equalBytes(sha256(agg.product), req.productDigest)) throw new JlError('ERR_JL_ROUND', 'product does not match the approved digest');
    const product = this.scheme.deserialize(agg.product, k, 'product');
    const nodes = this.keys.nodes;
    const t = this.keys.threshold;
    const me = this.keys.researcherId;
    // Verify responses and open their seed-share boxes.
    const seedShares = new Map<string, Share[]>();
    const recovery: { index: number; elements: bigint[] }[] = [];
    const seen = new Set<string>();
    for (const r of agg.responses) {
      if (!req.survivors.includes(r.from) || seen.has(r.from)) continue;
      if (!equalBytes(r.requestDigest, digest) || !sameTag(r.tag, req.tag)) continue;
      const member = this.#roster.require(r.from, 'node');
      if (!verify(member.identityKey, responseDigest(r), r.signature)) continue;
      const ck = channelKey(this.keys.federation, this.keys.setupId, this.modulus.fingerprint, this.keys.x25519SecretKey, this.keys.peerX25519[r.from]!, r.from, me, roundPurpose('round-unmask', req.tag));
      let items;
      try {
        items = decodeTuple(open(ck, r.seedShares, unmaskAad(this.keys.setupId, req.tag, r.from, me, digest)), 'seedShares');
      } catch {
        continue;
      } finally {
        ck.fill(0);
      }
      if (items[0] !== 'fedsec/jl/round/unmask-plaintext/v1' || items.length % 2 !== 1) continue;
      const idx = nodeIndex(nodes, r.from);
      let elements: bigint[] = [];
      if (req.dropped.length > 0) {
        try {
          elements = this.scheme.deserialize(r.keyRecovery, k, 'keyRecovery');
        } catch {
          continue;
        }
      }
      const mine: [string, Share][] = [];
      try {
        for (let i = 1; i < items.length; i += 2) {
          const owner = items[i];
          const sb = items[i + 1];
          if (typeof owner !== 'string' || !(sb instanceof Uint8Array) || !req.survivors.includes(owner)) continue;
          const share = decodeShare256(sb);
          if (share.index === idx) mine.push([owner, share]);
        }
      } catch {
        continue; // a malformed answer counts as no answer
      }
      seen.add(r.from);
      for (const [owner, share] of mine) {
        const l = seedShares.get(owner) ?? [];
        l.push(share);
        seedShares.set(owner, l);
      }
      if (req.dropped.length > 0) recovery.push({ index: idx, elements });
    }
    if (seen.size < t) throw new JlError('ERR_JL_TOO_FEW', `${seen.size} valid responses, threshold ${t}`);
    // Survivors' self-masks.
    const W = maskWords(this.modulus.bits);
    const acc = new Float64Array(k * W);
    for (const i of req.survivors) {
      const sh = seedShares.get(i) ?? [];
      if (sh.length < t) throw new JlError('ERR_JL_TOO_FEW', `only ${sh.length} seed shares for ${i}, threshold ${t}`);
      const seed = combineBytes32(sh, t);
      addMaskStream(acc, selfMaskStream(seed, this.modulus, req.tag, i, k));
      seed.fill(0);
    }
    const inv = this.#inv.get(tagKey(req.tag)) ?? (await computePads({ modulus: this.modulus, exponent: this.keys.keySum, tag: req.tag, start: 0, count: k, invert: true }, this.#pool === undefined ? {} : { pool: this.#pool }));
    const { n, n2 } = this.scheme;
    const masked = new Array<bigint>(k);
    if (req.dropped.length === 0) {
      for (let c = 0; c < k; c++) masked[c] = this.scheme.decryptWithInversePad(product[c]!, inv[c]!, c);
    } else {
      // (P·H^-S)^(Δ²) · Π_k R_k^(λ'_k) = (1+N)^(Δ² M).
      const use = recovery.sort((a, b) => a.index - b.index).slice(0, t);
      const lam = intLagrangeAtZero(use.map((u) => u.index), nodes.length);
      const d2 = factorial(nodes.length) ** 2n;
      const d2inv = modPow(d2 % n, -1n, n);
      const base = product.map((p, c) => (p * inv[c]!) % n2);
      const elements = use.map((u) => u.elements);
      const tvals = this.#pool === undefined ? combineRecovery(this.scheme, base, elements, lam, d2) : await this.#pool.combine(this.modulus, base, elements, lam, d2);
      for (let c = 0; c < k; c++) masked[c] = (this.scheme.decodeUnit(tvals[c]!, c) * d2inv) % n;
    }
    const plain = masked.map((m, c) => {
      const r = (m - maskSumElement(acc, this.modulus.bits, c)) % n;
      return r < 0n ? r + n : r;
    });
    const sums = unpack(layout, plain, req.valueCount, req.survivors.length);
    this.#inv.delete(tagKey(req.tag));
    return { sums, ring: sumsToRing(layout, sums), survivors: [...req.survivors], dropped: [...req.dropped] };
  }
}
