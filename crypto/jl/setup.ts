/**
 * Dealer-free JL key setup (the MPC), relayed by the aggregator:
 *
 * 1. advertise: every node and the researcher draw a fresh X25519 key pair for this setup and
 *    sign it, together with the whole configuration (federation, setup id, modulus fingerprint,
 *    node list, researcher, threshold), with their enrolled Ed25519 identity key.
 * 2. deal: each node i verifies every advertisement against the roster, draws its JL key sk_i
 *    with the CSPRNG, splits it (a) into n additive integer shares a_(i,k), keeping a_(i,i), and
 *    (b) into integer Shamir shares f_i(k) with threshold t (for dropout recovery), and sends
 *    node k the pair (a_(i,k), f_i(k)) AEAD-encrypted (ChaCha20-Poly1305) under a key derived
 *    from their X25519 agreement, bound to the setup, sender and recipient.
 * 3. sum: each node k adds what it received, s_k = Σ_i a_(i,k), and sends s_k to the researcher,
 *    AEAD-encrypted likewise. The researcher's key is sk0 = -(Σ_k s_k) = -(Σ_i sk_i).
 *
 * No party learns sk_i: the researcher sees only sums over all dealers, each node sees one
 * additive share (statistically hiding, 2^-128) and one Shamir share per peer (any t-1 hide the
 * key), the aggregator sees ciphertexts. A box that fails authentication is rejected
 * (`ERR_AEAD_AUTH`), a second box from the same sender is a replay (`ERR_JL_REPLAY`), and an
 * advertisement not signed by the enrolled key of its claimed sender is refused.
 */
import { AuthenticationError, InvalidMessageError } from '../../common/errors.ts';
import { assertBytes, assertInt, assertString, ID_PATTERN } from '../../common/validate.ts';
import { open, seal } from '../aead.ts';
import { encodeTuple, equalBytes, type TupleItem } from '../bytes.ts';
import { sign, verify } from '../ed25519.ts';
import { deriveKey } from '../hkdf.ts';
import { systemRandom, type RandomSource } from '../random.ts';
import type { Roster } from '../roster.ts';
import { generateX25519KeyPair, x25519SharedSecret } from '../x25519.ts';
import { JlError } from './errors.ts';
import { additiveShares, intShamirCoefficientBits, intShamirSplit, STAT_SECURITY_BITS } from './intshare.ts';
import type { JlModulus } from './modulus.ts';
import { generateNodeKey, nodeKeyBits } from './scheme.ts';
import { decodeSignedBigInt, decodeTuple, encodeSignedBigInt, tupleDigest } from './wire.ts';

/** A member's enrolled Ed25519 identity (the secret half never leaves the member). */
export interface JlIdentity {
  readonly id: string;
  readonly secretKey: Uint8Array;
}

/** What every party of one key setup agrees on. */
export interface JlSetupConfig {
  readonly roster: Roster;
  readonly modulus: JlModulus;
  /** Unique id of this key setup (a new one for every re-keying). */
  readonly setupId: string;
  readonly nodes: readonly string[];
  readonly researcher: string;
  /** Dropout threshold t: any t surviving nodes complete a round; floor(n/2)+1 ≤ t ≤ n. */
  readonly threshold: number;
}

/** Stage 1 message: a signed X25519 key for this setup. */
export interface JlSetupAdvertise {
  readonly stage: 'jl/setup/advertise';
  readonly federation: string;
  readonly setupId: string;
  readonly from: string;
  readonly role: 'node' | 'researcher';
  readonly x25519PublicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** Stage 2 message: a node's encrypted shares, one box per other node. */
export interface JlSetupShares {
  readonly stage: 'jl/setup/shares';
  readonly federation: string;
  readonly setupId: string;
  readonly from: string;
  readonly boxes: readonly { readonly to: string; readonly box: Uint8Array }[];
}

/** Stage 3 message: a node's encrypted share sum for the researcher. */
export interface JlSetupSum {
  readonly stage: 'jl/setup/sum';
  readonly federation: string;
  readonly setupId: string;
  readonly from: string;
  readonly box: Uint8Array;
}

/** A node's long-term JL material after setup (persist it encrypted at rest). */
export interface JlNodeKeys {
  readonly federation: string;
  readonly setupId: string;
  readonly nodeId: string;
  readonly nodes: readonly string[];
  readonly researcher: string;
  readonly threshold: number;
  readonly modulusFingerprint: Uint8Array;
  /** sk_i. */
  readonly key: bigint;
  readonly x25519SecretKey: Uint8Array;
  /** Every other party's setup X25519 key (nodes and researcher), by id. */
  readonly peerX25519: Readonly<Record<string, Uint8Array>>;
  /** This node's integer Shamir share f_j(index) of every other node j's key. */
  readonly keyShares: Readonly<Record<string, bigint>>;
}

/** The researcher's JL material after setup. */
export interface JlResearcherKeys {
  readonly federation: string;
  readonly setupId: string;
  readonly researcherId: string;
  readonly nodes: readonly string[];
  readonly threshold: number;
  readonly modulusFingerprint: Uint8Array;
  /** S = Σ sk_i; the researcher key is sk0 = -S. */
  readonly keySum: bigint;
  readonly x25519SecretKey: Uint8Array;
  readonly peerX25519: Readonly<Record<string, Uint8Array>>;
}

/** Validates a configuration; returns the sorted node list. */
export function checkSetupConfig(cfg: JlSetupConfig): string[] {
  assertString('setupId', cfg.setupId, 128, ID_PATTERN);
  if (!Array.isArray(cfg.nodes)) throw new JlError('ERR_JL_SETUP', 'nodes must be an array');
  const nodes = [...cfg.nodes].sort();
  assertInt('nodes.length', nodes.length, 2, 4096);
  if (new Set(nodes).size !== nodes.length) throw new JlError('ERR_JL_SETUP', 'node list has duplicates');
  for (const id of nodes) cfg.roster.require(id, 'node');
  cfg.roster.require(cfg.researcher, 'researcher');
  assertInt('threshold', cfg.threshold, Math.floor(nodes.length / 2) + 1, nodes.length);
  return nodes;
}

/** Index (1-based) of a node in the sorted node list: its Shamir x-coordinate. */
export function nodeIndex(nodes: readonly string[], id: string): number {
  const i = nodes.indexOf(id);
  if (i < 0) throw new JlError('ERR_JL_SETUP', `${id} is not a node of this setup`);
  return i + 1;
}

function advertisePayload(cfg: JlSetupConfig, nodes: readonly string[], from: string, role: string, pk: Uint8Array): Uint8Array {
  return tupleDigest(['fedsec/jl/setup/advertise/v1', cfg.roster.federation, cfg.setupId, cfg.modulus.fingerprint, cfg.researcher, cfg.threshold, nodes.length, ...nodes, from, role, pk]);
}

/** Verifies one advertisement against the roster and the configuration (throws otherwise). */
export function verifyAdvertisement(cfg: JlSetupConfig, nodes: readonly string[], ad: JlSetupAdvertise): void {
  if (typeof ad !== 'object' || ad === null || ad.stage !== 'jl/setup/advertise') throw new JlError('ERR_JL_STAGE', 'not a setup advertisement');
  if (ad.federation !== cfg.roster.federation || ad.setupId !== cfg.setupId) throw new JlError('ERR_JL_SETUP', 'advertisement for another federation or setup');
  assertString('from', ad.from, 128, ID_PATTERN, 'message');
  if (ad.role !== 'node' && ad.role !== 'researcher') throw new InvalidMessageError('role', 'unknown role');
  const member = cfg.roster.require(ad.from, ad.role);
  if (ad.role === 'node' && !nodes.includes(ad.from)) throw new JlError('ERR_JL_SETUP', `${ad.from} is not a node of this setup`);
  if (ad.role === 'researcher' && ad.from !== cfg.researcher) throw new JlError('ERR_JL_SETUP', `${ad.from} is not this setup's researcher`);
  assertBytes('x25519PublicKey', ad.x25519PublicKey, 32, 'message');
  if (!verify(member.identityKey, advertisePayload(cfg, nodes, ad.from, ad.role, ad.x25519PublicKey), ad.signature)) {
    throw new AuthenticationError(`setup advertisement of ${ad.from} is not signed by its enrolled identity key`, 'ERR_BAD_SIGNATURE');
  }
}

/** Collects the complete, verified set of advertisements: id → X25519 key. */
/**
 * Draws a fresh X25519 key into `x` (wiping the temporary copy) and returns the signed
 * advertisement of it for `role`.
 */
function drawAdvertisement(
  cfg: JlSetupConfig, nodes: readonly string[], identity: JlIdentity, role: 'node' | 'researcher',
  x: { readonly secretKey: Uint8Array; readonly publicKey: Uint8Array }, rng: RandomSource,
): JlSetupAdvertise {
  const kp = generateX25519KeyPair(rng);
  x.secretKey.set(kp.secretKey);
  x.publicKey.set(kp.publicKey);
  kp.secretKey.fill(0);
  return {
    stage: 'jl/setup/advertise',
    federation: cfg.roster.federation,
    setupId: cfg.setupId,
    from: identity.id,
    role,
    x25519PublicKey: Uint8Array.from(x.publicKey),
    signature: sign(identity.secretKey, advertisePayload(cfg, nodes, identity.id, role, x.publicKey)),
  };
}

function collectAdvertisements(cfg: JlSetupConfig, nodes: readonly string[], ads: readonly JlSetupAdvertise[]): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const ad of ads) {
    verifyAdvertisement(cfg, nodes, ad);
    if (out[ad.from] !== undefined) {
      if (!equalBytes(out[ad.from]!, ad.x25519PublicKey)) throw new JlError('ERR_JL_SETUP', `${ad.from} advertised two different keys`);
      continue;
    }
    out[ad.from] = Uint8Array.from(ad.x25519PublicKey);
  }
  for (const id of [...nodes, cfg.researcher]) if (out[id] === undefined) throw new JlError('ERR_JL_SETUP', `missing advertisement of ${id}`);
  return out;
}

/**
 * Directional channel key between two setup participants for one purpose, e.g.
 * `['setup-share']` or `['round-seed', experiment, round, attempt]`.
 */
export function channelKey(
  federation: string,
  setupId: string,
  fingerprint: Uint8Array,
  mySecret: Uint8Array,
  peerPublic: Uint8Array,
  from: string,
  to: string,
  purpose: readonly TupleItem[],
): Uint8Array {
  const shared = x25519SharedSecret(mySecret, peerPublic);
  try {
    return deriveKey(shared, ['fedsec/jl/channel/v1', federation, setupId, fingerprint, from, to, ...purpose]);
  } finally {
    shared.fill(0);
  }
}

function shareAad(federation: string, setupId: string, from: string, to: string): Uint8Array {
  return encodeTuple(['fedsec/jl/setup/share/v1', federation, setupId, from, to]);
}

function sumAad(federation: string, setupId: string, from: string, to: string): Uint8Array {
  return encodeTuple(['fedsec/jl/setup/sum/v1', federation, setupId, from, to]);
}

/** A node's side of the setup. Stages: advertise → deal → collect → done. */
export class JlSetupNode {
  readonly #cfg: JlSetupConfig;
  readonly #nodes: string[];
  readonly #id: JlIdentity;
  readonly #rng: RandomSource;
  readonly #x = { secretKey: new Uint8Array(32), publicKey: new Uint8Array(32) };
  #stage: 'advertise' | 'deal' | 'collect' | 'done' = 'advertise';
  #peers: Record<string, Uint8Array> = {};
  #key = 0n;
  #own = 0n;
  #sum = 0n;
  readonly #received = new Set<string>();
  readonly #keyShares: Record<string, bigint> = {};

  constructor(cfg: JlSetupConfig, identity: JlIdentity, rng: RandomSource = systemRandom) {
    this.#nodes = checkSetupConfig(cfg);
    cfg.roster.require(identity.id, 'node');
    if (!this.#nodes.includes(identity.id)) throw new JlError('ERR_JL_SETUP', `${identity.id} is not a node of this setup`);
    assertBytes('identity.secretKey', identity.secretKey, 32);
    this.#cfg = cfg;
    this.#id = identity;
    this.#rng = rng;
  }

  /** Current stage. */
  get stage(): string {
    return this.#stage;
  }

  #expect(s: JlSetupNode['stage']): void {
    if (this.#stage !== s) throw new JlError('ERR_JL_STAGE', `setup node is in stage ${this.#stage}, not ${s}`);
  }

  /** Stage 1: draws and signs this setup's X25519 key. */
  advertise(): JlSetupAdvertise {
    this.#expect('advertise');
    const ad = drawAdvertisement(this.#cfg, this.#nodes, this.#id, 'node', this.#x, this.#rng);
    this.#stage = 'deal';
    return ad;
  }

  /** Stage 2: verifies all advertisements, draws sk_i and deals its shares to the other nodes. */
  deal(ads: readonly JlSetupAdvertise[]): JlSetupShares {
    this.#expect('deal');
    const cfg = this.#cfg;
    const me = this.#id.id;
    this.#peers = collectAdvertisements(cfg, this.#nodes, ads);
    if (!equalBytes(this.#peers[me]!, this.#x.publicKey)) throw new JlError('ERR_JL_SETUP', 'the relayed advertisement of this node is not the one it made');
    const n = this.#nodes.length;
    const L = nodeKeyBits(cfg.modulus.bits);
    this.#key = generateNodeKey(cfg.modulus, this.#rng);
    const others = this.#nodes.filter((id) => id !== me);
    const add = additiveShares(this.#key, n, L, this.#rng); // add[n-1] is kept
    const sh = intShamirSplit(this.#key, cfg.threshold, n, L, this.#rng);
    this.#own = add[n - 1]!;
    const boxes = others.map((to, k) => {
      const key = channelKey(cfg.roster.federation, cfg.setupId, cfg.modulus.fingerprint, this.#x.secretKey, this.#peers[to]!, me, to, ['setup-share']);
      const pt = encodeTuple(['fedsec/jl/setup/share-plaintext/v1', encodeSignedBigInt(add[k]!), encodeSignedBigInt(sh[nodeIndex(this.#nodes, to) - 1]!.value)]);
      const box = seal(key, pt, shareAad(cfg.roster.federation, cfg.setupId, me, to), this.#rng);
      key.fill(0);
      pt.fill(0);
      return { to, box };
    });
    this.#sum = this.#own;
    this.#stage = 'collect';
    return { stage: 'jl/setup/shares', federation: cfg.roster.federation, setupId: cfg.setupId, from: me, boxes };
  }

  /** Stage 3 input: one relayed share message from another node (only the box for this node is read). */
  receive(msg: JlSetupShares): void {
    this.#expect('collect');
    const cfg = this.#cfg;
    const me = this.#id.id;
    if (typeof msg !== 'object' || msg === null || msg.stage !== 'jl/setup/shares') throw new JlError('ERR_JL_STAGE', 'not a setup share message');
    if (msg.federation !== cfg.roster.federation || msg.setupId !== cfg.setupId) throw new JlError('ERR_JL_SETUP', 'share message for another federation or setup');
    if (!this.#nodes.includes(msg.from) || msg.from === me) throw new JlError('ERR_JL_SETUP', 'share message from a non-peer');
    if (this.#received.has(msg.from)) throw new JlError('ERR_JL_REPLAY', `second share message from ${msg.from}`);
    const mine = Array.isArray(msg.boxes) ? msg.boxes.filter((b) => b.to === me) : [];
    if (mine.length !== 1) throw new InvalidMessageError('boxes', `expected exactly one box for ${me}`);
    const key = channelKey(cfg.roster.federation, cfg.setupId, cfg.modulus.fingerprint, this.#x.secretKey, this.#peers[msg.from]!, msg.from, me, ['setup-share']);
    let pt: Uint8Array;
    try {
      pt = open(key, mine[0]!.box, shareAad(cfg.roster.federation, cfg.setupId, msg.from, me));
    } finally {
      key.fill(0);
    }
    const items = decodeTuple(pt, 'share');
    if (items.length !== 3 || items[0] !== 'fedsec/jl/setup/share-plaintext/v1' || !(items[1] instanceof Uint8Array) || !(items[2] instanceof Uint8Array)) {
      throw new InvalidMessageError('share', 'malformed share plaintext');
    }
    const a = decodeSignedBigInt(items[1], 'share.additive');
    const f = decodeSignedBigInt(items[2], 'share.shamir');
    pt.fill(0);
    const n = this.#nodes.length;
    const L = nodeKeyBits(cfg.modulus.bits);
    const fBits = intShamirCoefficientBits(L, cfg.threshold, n) + Math.ceil(cfg.threshold * Math.log2(n + 1)) + 2;
    if (a < 0n || a >= 1n << BigInt(L + STAT_SECURITY_BITS)) throw new InvalidMessageError('share.additive', 'outside the dealt range');
    if (f < 0n || f >= 1n << BigInt(fBits)) throw new InvalidMessageError('share.shamir', 'outside the dealt range');
    this.#received.add(msg.from);
    this.#sum += a;
    this.#keyShares[msg.from] = f;
  }

  /** Stage 3 output: once every peer's shares arrived, the encrypted share sum for the researcher. */
  complete(): JlSetupSum {
    this.#expect('collect');
    const cfg = this.#cfg;
    const me = this.#id.id;
    const missing = this.#nodes.filter((id) => id !== me && !this.#received.has(id));
    if (missing.length > 0) throw new JlError('ERR_JL_SETUP', `shares missing from ${missing.length} node(s); every node must deal (restart the setup without a node that dropped)`, { missing });
    const key = channelKey(cfg.roster.federation, cfg.setupId, cfg.modulus.fingerprint, this.#x.secretKey, this.#peers[cfg.researcher]!, me, cfg.researcher, ['setup-sum']);
    const box = seal(key, encodeSignedBigInt(this.#sum), sumAad(cfg.roster.federation, cfg.setupId, me, cfg.researcher), this.#rng);
    key.fill(0);
    this.#sum = 0n;
    this.#own = 0n;
    this.#stage = 'done';
    return { stage: 'jl/setup/sum', federation: cfg.roster.federation, setupId: cfg.setupId, from: me, box };
  }

  /** The node's long-term material (after {@link complete}). */
  keys(): JlNodeKeys {
    this.#expect('done');
    const cfg = this.#cfg;
    const peers: Record<string, Uint8Array> = {};
    for (const [id, pk] of Object.entries(this.#peers)) if (id !== this.#id.id) peers[id] = Uint8Array.from(pk);
    return {
      federation: cfg.roster.federation,
      setupId: cfg.setupId,
      nodeId: this.#id.id,
      nodes: [...this.#nodes],
      researcher: cfg.researcher,
      threshold: cfg.threshold,
      modulusFingerprint: Uint8Array.from(cfg.modulus.fingerprint),
      key: this.#key,
      x25519SecretKey: Uint8Array.from(this.#x.secretKey),
      peerX25519: peers,
      keyShares: { ...this.#keyShares },
    };
  }
}

/** The researcher's side of the setup. Stages: advertise → collect → done. */
export class JlSetupResearcher {
  readonly #cfg: JlSetupConfig;
  readonly #nodes: string[];
  readonly #id: JlIdentity;
  readonly #rng: RandomSource;
  readonly #x = { secretKey: new Uint8Array(32), publicKey: new Uint8Array(32) };
  #stage: 'advertise' | 'accept' | 'collect' | 'done' = 'advertise';
  #peers: Record<string, Uint8Array> = {};
  #sum = 0n;
  readonly #received = new Set<string>();

  constructor(cfg: JlSetupConfig, identity: JlIdentity, rng: RandomSource = systemRandom) {
    this.#nodes = checkSetupConfig(cfg);
    if (identity.id !== cfg.researcher) throw new JlError('ERR_JL_SETUP', 'identity is not the configured researcher');
    assertBytes('identity.secretKey', identity.secretKey, 32);
    this.#cfg = cfg;
    this.#id = identity;
    this.#rng = rng;
  }

  /** Current stage. */
  get stage(): string {
    return this.#stage;
  }

  #expect(s: JlSetupResearcher['stage']): void {
    if (this.#stage !== s) throw new JlError('ERR_JL_STAGE', `setup researcher is in stage ${this.#stage}, not ${s}`);
  }

  /** Stage 1: draws and signs this setup's X25519 key. */
  advertise(): JlSetupAdvertise {
    this.#expect('advertise');
    const ad = drawAdvertisement(this.#cfg, this.#nodes, this.#id, 'researcher', this.#x, this.#rng);
    this.#stage = 'accept';
    return ad;
  }

  /** Verifies the complete set of advertisements. */
  accept(ads: readonly JlSetupAdvertise[]): void {
    this.#expect('accept');
    this.#peers = collectAdvertisements(this.#cfg, this.#nodes, ads);
    if (!equalBytes(this.#peers[this.#id.id]!, this.#x.publicKey)) throw new JlError('ERR_JL_SETUP', 'the relayed advertisement of the researcher is not the one it made');
    this.#stage = 'collect';
  }

  /** One node's encrypted share sum. */
  receive(msg: JlSetupSum): void {
    this.#expect('collect');
    const cfg = this.#cfg;
    if (typeof msg !== 'object' || msg === null || msg.stage !== 'jl/setup/sum') throw new JlError('ERR_JL_STAGE', 'not a setup sum message');
    if (msg.federation !== cfg.roster.federation || msg.setupId !== cfg.setupId) throw new JlError('ERR_JL_SETUP', 'sum message for another federation or setup');
    if (!this.#nodes.includes(msg.from)) throw new JlError('ERR_JL_SETUP', 'sum message from a non-node');
    if (this.#received.has(msg.from)) throw new JlError('ERR_JL_REPLAY', `second sum message from ${msg.from}`);
    const key = channelKey(cfg.roster.federation, cfg.setupId, cfg.modulus.fingerprint, this.#x.secretKey, this.#peers[msg.from]!, msg.from, cfg.researcher, ['setup-sum']);
    let pt: Uint8Array;
    try {
      pt = open(key, msg.box, sumAad(cfg.roster.federation, cfg.setupId, msg.from, cfg.researcher));
    } finally {
      key.fill(0);
    }
    const s = decodeSignedBigInt(pt, 'sum');
    this.#received.add(msg.from);
    this.#sum += s;
    if (this.#received.size === this.#nodes.length) this.#stage = 'done';
  }

  /** The researcher's material (after every node's sum arrived). */
  keys(): JlResearcherKeys {
    this.#expect('done');
    const cfg = this.#cfg;
    if (this.#sum < 0n) throw new JlError('ERR_JL_SETUP', 'share sums are inconsistent (negative key sum)');
    const peers: Record<string, Uint8Array> = {};
    for (const [id, pk] of Object.entries(this.#peers)) if (id !== this.#id.id) peers[id] = Uint8Array.from(pk);
    return {
      federation: cfg.roster.federation,
      setupId: cfg.setupId,
      researcherId: this.#id.id,
      nodes: [...this.#nodes],
      threshold: cfg.threshold,
      modulusFingerprint: Uint8Array.from(cfg.modulus.fingerprint),
      keySum: this.#sum,
      x25519SecretKey: Uint8Array.from(this.#x.secretKey),
      peerX25519: peers,
    };
  }
}

/**
 * The aggregator's relay for the setup: it checks signatures (to drop junk early), refuses
 * duplicates, and routes; it holds no key and can open no box.
 */
export class JlSetupRelay {
  readonly #cfg: JlSetupConfig;
  readonly #nodes: string[];
  readonly #ads = new Map<string, JlSetupAdvertise>();
  readonly #shares = new Map<string, JlSetupShares>();
  readonly #sums = new Map<string, JlSetupSum>();

  constructor(cfg: JlSetupConfig) {
    this.#nodes = checkSetupConfig(cfg);
    this.#cfg = cfg;
  }

  /** Accepts one advertisement. */
  addAdvertisement(ad: JlSetupAdvertise): void {
    verifyAdvertisement(this.#cfg, this.#nodes, ad);
    if (this.#ads.has(ad.from)) throw new JlError('ERR_JL_REPLAY', `second advertisement from ${ad.from}`);
    this.#ads.set(ad.from, ad);
  }

  /** All advertisements, once every node and the researcher advertised. */
  advertisements(): JlSetupAdvertise[] {
    if (this.#ads.size !== this.#nodes.length + 1) throw new JlError('ERR_JL_SETUP', `${this.#nodes.length + 1 - this.#ads.size} advertisement(s) missing`);
    return [...this.#ads.values()];
  }

  /** Accepts one node's share message. */
  addShares(msg: JlSetupShares): void {
    if (msg.stage !== 'jl/setup/shares' || !this.#nodes.includes(msg.from)) throw new JlError('ERR_JL_SETUP', 'not a share message from a node of this setup');
    if (this.#shares.has(msg.from)) throw new JlError('ERR_JL_REPLAY', `second share message from ${msg.from}`);
    this.#shares.set(msg.from, msg);
  }

  /** The share messages for one node (only the boxes addressed to it). */
  sharesFor(nodeId: string): JlSetupShares[] {
    return [...this.#shares.values()].filter((m) => m.from !== nodeId).map((m) => ({ ...m, boxes: m.boxes.filter((b) => b.to === nodeId) }));
  }

  /** Accepts one node's sum message. */
  addSum(msg: JlSetupSum): void {
    if (msg.stage !== 'jl/setup/sum' || !this.#nodes.includes(msg.from)) throw new JlError('ERR_JL_SETUP', 'not a sum message from a node of this setup');
    if (this.#sums.has(msg.from)) throw new JlError('ERR_JL_REPLAY', `second sum message from ${msg.from}`);
    this.#sums.set(msg.from, msg);
  }

  /** All sums for the researcher. */
  sums(): JlSetupSum[] {
    return [...this.#sums.values()];
  }
}
