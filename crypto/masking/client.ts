/**
 * The client (node) side of pairwise-masking secure aggregation: Bonawitz et al. 2017 with
 * double masking, over the complete graph or the SecAgg+ neighbour graph (Bell et al. 2020).
 *
 * A {@link MaskingClient} is a state machine with one method per stage; each takes the
 * server's message for that stage (untrusted: fully validated before any state changes) and
 * returns the message to send back. It does no I/O and keeps no timers. A rejected message
 * throws a typed error and leaves the state untouched, so the service may report it and wait.
 *
 * Safety rules enforced here (the server is not trusted):
 * - every peer key must be signed by that peer's enrolled identity key for this round;
 * - shares are AEAD-encrypted under keys bound to federation, round, round digest, stage and
 *   the ordered pair, so a share from another round, stage or pair fails authentication;
 * - the client signs exactly one survivor list, answers exactly one unmask request, only if its
 *   survivor list equals the signed one, is disjoint from the dropped list, covers every peer it
 *   holds shares of, and carries at least `threshold` valid survivor signatures; for each peer it
 *   reveals either the self-mask share (survivor) or the mask-key share (dropped), never both.
 */
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertBytes, describe } from '../../common/validate.ts';
import { open, seal } from '../aead.ts';
import { concatBytes, equalBytes } from '../bytes.ts';
import { sign, signingPublicKey, verify } from '../ed25519.ts';
import { deriveKey } from '../hkdf.ts';
import { systemRandom, type RandomSource } from '../random.ts';
import type { Roster } from '../roster.ts';
import { decodeShare256, encodeShare256, SHARE_BYTES_256, splitBytes32 } from '../shamir.ts';
import { generateX25519KeyPair, x25519SharedSecret, type X25519KeyPair } from '../x25519.ts';
import { MaskingRound, type MaskingConfig } from './config.ts';
import { SecAggError } from './errors.ts';
import { combineMasks, pairMaskSeed, pairMaskSpec, reduceWords, selfMaskDomain, type MaskSpec } from './masks.ts';
import {
  parseServerMessage,
  type AdvertiseKeysMessage,
  type ClientMessage,
  type ConsistencyMessage,
  type MaskedInputMessage,
  type RevealedShare,
  type ServerMessage,
  type ShareKeysMessage,
  type UnmaskMessage,
  type UnmaskRequestMessage,
} from './messages.ts';

/** Stages of a client, named after what it waits for next. */
export type MaskingClientStage = 'advertise-keys' | 'keys' | 'shares' | 'consistency-request' | 'unmask-request' | 'done';

/** Construction options of a {@link MaskingClient}. */
export interface MaskingClientOptions {
  /** The round's public parameters (the same at every member). */
  readonly config: MaskingConfig;
  /** Enrolled identities the client verifies signatures against. */
  readonly roster: Roster;
  /** This node's roster id (a participant of the round). */
  readonly id: string;
  /** This node's long-term Ed25519 identity secret key (must match its roster identity key). */
  readonly identitySecretKey: Uint8Array;
  /** Randomness (default: the OS CSPRNG). */
  readonly rng?: RandomSource;
}

interface Peer {
  /** Seed of the pairwise mask with this peer (agreed in the share stage, used only if its shares arrive). */
  readonly pairSeed: Uint8Array;
  /** AEAD key of the share bundle this peer sends to this client (derived in the share stage). */
  readonly inboundKey: Uint8Array;
}

interface HeldShares {
  /** 37-byte share of the owner's mask secret key. */
  readonly maskKey: Uint8Array;
  /** 37-byte share of the owner's self-mask seed. */
  readonly selfMask: Uint8Array;
}

/** Builds the signed payload of an advertise-keys message. */
export function advertisePayload(round: MaskingRound, id: string, encryptionKey: Uint8Array, maskKey: Uint8Array): Uint8Array {
  return round.labelBytes('advertise-keys', id, encryptionKey, maskKey);
}

/** Builds the signed payload of a consistency signature over `survivors` (sorted ids). */
export function consistencyPayload(round: MaskingRound, survivors: readonly string[]): Uint8Array {
  return round.labelBytes('consistency', survivors.length, ...survivors);
}

/** Associated data of the share bundle `from` → `to`. */
export function shareAad(round: MaskingRound, from: string, to: string): Uint8Array {
  return round.labelBytes('share-keys', from, to);
}

/** The AEAD key of the share bundle `from` → `to` (directional) from the pair's X25519 shared secret. */
export function shareKey(round: MaskingRound, sharedSecret: Uint8Array, from: string, to: string): Uint8Array {
  return deriveKey(sharedSecret, round.label('share-key', from, to));
}

/** A client (node) of one pairwise-masking round. */
export class MaskingClient {
  /** The validated round parameters. */
  readonly round: MaskingRound;
  /** This node's id. */
  readonly id: string;
  readonly #roster: Roster;
  readonly #identitySecretKey: Uint8Array;
  readonly #rng: RandomSource;
  #stage: MaskingClientStage = 'advertise-keys';
  #encKeys: X25519KeyPair | undefined;
  #maskKeys: X25519KeyPair | undefined;
  #selfSeed: Uint8Array | undefined;
  /** Neighbours whose signed keys arrived (U1 ∩ N(self)). */
  #peers = new Map<string, Peer>();
  /** Shares this client holds, by owner (itself and the neighbours that sent it shares). */
  #held = new Map<string, HeldShares>();
  #signedSurvivors: readonly string[] | undefined;
  #unmaskRequest: { survivors: readonly string[]; dropped: readonly string[] } | undefined;
  #unmaskResponse: UnmaskMessage | undefined;

  /** Validates the options; throws `ERR_INVALID_ARGUMENT` naming the field. */
  constructor(opts: MaskingClientOptions) {
    if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('opts', 'expected an object');
    this.round = new MaskingRound(opts.config, opts.roster);
    if (typeof opts.id !== 'string' || !this.round.isParticipant(opts.id)) throw new InvalidArgumentError('id', 'is not a participant of this round');
    assertBytes('identitySecretKey', opts.identitySecretKey, 32);
    if (!equalBytes(signingPublicKey(opts.identitySecretKey), opts.roster.require(opts.id, 'node').identityKey)) {
      throw new InvalidArgumentError('identitySecretKey', 'does not match the roster identity key of this node');
    }
    this.id = opts.id;
    this.#roster = opts.roster;
    this.#identitySecretKey = Uint8Array.from(opts.identitySecretKey);
    this.#rng = opts.rng ?? systemRandom;
  }

  /** What the client waits for next. */
  get stage(): MaskingClientStage {
    return this.#stage;
  }

  /**
   * Dispatches a server message to the handler of its stage. `input` is required for the
   * `shares` message (the masked-input stage).
   */
  receive(message: unknown, input?: Uint32Array): ClientMessage {
    const stage = typeof message === 'object' && message !== null ? (message as { stage?: unknown }).stage : undefined;
    switch (stage) {
      case 'keys': return this.shareKeys(message);
      case 'shares':
        if (input === undefined) throw new InvalidArgumentError('input', 'the masked-input stage needs the encoded input vector');
        return this.maskInput(message, input);
      case 'consistency-request': return this.signSurvivors(message);
      case 'unmask-request': return this.unmask(message);
      default: return this.#parse(message, 'keys') as never;
    }
  }

  /** Stage 0: fresh X25519 key pairs and self-mask seed; returns the signed advertisement. */
  advertiseKeys(): AdvertiseKeysMessage {
    this.#expect('advertise-keys');
    const enc = generateX25519KeyPair(this.#rng);
    const mask = generateX25519KeyPair(this.#rng);
    const seed = this.#rng.fill(new Uint8Array(32));
    const signature = sign(this.#identitySecretKey, advertisePayload(this.round, this.id, enc.publicKey, mask.publicKey));
    this.#encKeys = enc;
    this.#maskKeys = mask;
    this.#selfSeed = seed;
    this.#stage = 'keys';
    return { stage: 'advertise-keys', federation: this.round.federation, round: this.round.round, sender: this.id, encryptionKey: Uint8Array.from(enc.publicKey), maskKey: Uint8Array.from(mask.publicKey), signature };
  }

  /**
   * Stage 1: verifies the neighbours' signed keys, splits the mask secret key and the self-mask
   * seed into Shamir shares among itself and those neighbours, and encrypts one bundle to each.
   */
  shareKeys(message: unknown): ShareKeysMessage {
    const msg = this.#parse(message, 'keys');
    if (msg.stage !== 'keys') throw new SecAggError('ERR_SECAGG_WRONG_STAGE', 'expected a keys message');
    const enc = this.#encKeys!;
    const mask = this.#maskKeys!;
    const neighbours = this.round.neighboursOf(this.id);
    const peerKeys = new Map<string, { readonly encryptionKey: Uint8Array; readonly maskKey: Uint8Array }>();
    const seenKeys: Uint8Array[] = [enc.publicKey, mask.publicKey];
    for (const [i, k] of msg.keys.entries()) {
      if (!neighbours.has(k.id)) throw new SecAggError('ERR_SECAGG_UNEXPECTED_SENDER', `keys[${i}].id is not a neighbour of ${this.id}`, { field: `keys[${i}].id` });
      if (peerKeys.has(k.id)) throw new SecAggError('ERR_SECAGG_DUPLICATE', `keys[${i}].id appears twice`, { field: `keys[${i}].id` });
      const member = this.#roster.require(k.id, 'node');
      if (!verify(member.identityKey, advertisePayload(this.round, k.id, k.encryptionKey, k.maskKey), k.signature)) {
        throw new SecAggError('ERR_SECAGG_BAD_SIGNATURE', `keys[${i}]: the round keys of ${k.id} are not signed by its identity key for this round`, { field: `keys[${i}].signature`, member: k.id });
      }
      for (const key of [k.encryptionKey, k.maskKey]) {
        if (seenKeys.some((s) => equalBytes(s, key))) throw new SecAggError('ERR_SECAGG_DUPLICATE_KEY', `keys[${i}] repeats a public key already seen in this round`, { field: `keys[${i}]` });
        seenKeys.push(key);
      }
      peerKeys.set(k.id, { encryptionKey: k.encryptionKey, maskKey: k.maskKey });
    }
    if (peerKeys.size + 1 < this.round.threshold) {
      throw new SecAggError('ERR_SECAGG_BELOW_THRESHOLD', `only ${peerKeys.size + 1} of ${this.id}'s share holders advertised keys, threshold is ${this.round.threshold}`, { have: peerKeys.size + 1, threshold: this.round.threshold });
    }
    const holders = [this.id, ...[...peerKeys.keys()].sort()];
    const indices = holders.map((h) => this.round.shareIndex(h));
    const sShares = splitBytes32(mask.secretKey, this.round.threshold, indices, this.#rng);
    const bShares = splitBytes32(this.#selfSeed!, this.round.threshold, indices, this.#rng);
    const peers = new Map<string, Peer>();
    const shares = holders.slice(1).map((to, j) => {
      const pk = peerKeys.get(to)!;
      let dh: Uint8Array;
      let pairSeed: Uint8Array;
      try {
        // One X25519 agreement per neighbour gives both directions' keys (the labels order the pair).
        dh = x25519SharedSecret(enc.secretKey, pk.encryptionKey);
        // The pairwise mask seed depends only on the keys: agree on it now, so masking is pure PRG work.
        pairSeed = pairMaskSeed(this.round, mask.secretKey, pk.maskKey, this.id, to);
      } catch {
        throw new SecAggError('ERR_SECAGG_BAD_KEY', `the round keys of ${to} are low-order X25519 points`, { member: to });
      }
      peers.set(to, { pairSeed, inboundKey: shareKey(this.round, dh, to, this.id) });
      const key = shareKey(this.round, dh, this.id, to);
      const pt = concatBytes(encodeShare256(sShares[j + 1]!), encodeShare256(bShares[j + 1]!));
      return { to, ciphertext: seal(key, pt, shareAad(this.round, this.id, to), this.#rng) };
    });
    enc.secretKey.fill(0); // both directions' share keys are derived: the encryption secret is no longer needed
    this.#peers = peers;
    this.#held.set(this.id, { maskKey: encodeShare256(sShares[0]!), selfMask: encodeShare256(bShares[0]!) });
    this.#stage = 'shares';
    return { stage: 'share-keys', federation: this.round.federation, round: this.round.round, sender: this.id, shares };
  }

  /**
   * Stage 2: decrypts the shares addressed to this client and returns the masked input
   * y = x + PRG(b) + Σ ±PRG(s_ij) mod 2^bits over the neighbours that sent shares.
   * `input` must be a Uint32Array of `vectorLength` words in Z_(2^bits) (a codec encoding).
   */
  maskInput(message: unknown, input: Uint32Array): MaskedInputMessage {
    checkInput(input, this.round.vectorLength, this.round.bits);
    const msg = this.#parse(message, 'shares');
    if (msg.stage !== 'shares') throw new SecAggError('ERR_SECAGG_WRONG_STAGE', 'expected a shares message');
    const myIndex = this.round.shareIndex(this.id);
    const received = new Map<string, HeldShares>();
    for (const [i, s] of msg.shares.entries()) {
      const peer = this.#peers.get(s.from);
      if (peer === undefined) throw new SecAggError('ERR_SECAGG_UNEXPECTED_SENDER', `shares[${i}].from is not a neighbour whose keys this client accepted`, { field: `shares[${i}].from` });
      if (received.has(s.from)) throw new SecAggError('ERR_SECAGG_DUPLICATE', `shares[${i}].from appears twice`, { field: `shares[${i}].from` });
      let pt: Uint8Array;
      try {
        pt = open(peer.inboundKey, s.ciphertext, shareAad(this.round, s.from, this.id));
      } catch {
        throw new SecAggError('ERR_SECAGG_BAD_SHARE', `shares[${i}]: the encrypted share from ${s.from} does not authenticate for this round, stage and pair`, { field: `shares[${i}].ciphertext`, member: s.from });
      }
      const sShare = pt.subarray(0, SHARE_BYTES_256);
      const bShare = pt.subarray(SHARE_BYTES_256);
      for (const sh of [sShare, bShare]) {
        let idx: number;
        try {
          idx = decodeShare256(sh).index;
        } catch {
          throw new SecAggError('ERR_SECAGG_BAD_SHARE', `shares[${i}]: the share from ${s.from} does not decode`, { field: `shares[${i}].ciphertext`, member: s.from });
        }
        if (idx !== myIndex) throw new SecAggError('ERR_SECAGG_BAD_SHARE', `shares[${i}]: the share from ${s.from} is for another index`, { field: `shares[${i}].ciphertext`, member: s.from });
      }
      received.set(s.from, { maskKey: Uint8Array.from(sShare), selfMask: Uint8Array.from(bShare) });
    }
    if (received.size + 1 < this.round.threshold) {
      throw new SecAggError('ERR_SECAGG_BELOW_THRESHOLD', `only ${received.size + 1} of ${this.id}'s neighbourhood shared keys, threshold is ${this.round.threshold}`, { have: received.size + 1, threshold: this.round.threshold });
    }
    const masked = input.slice();
    const specs: MaskSpec[] = [{ seed: this.#selfSeed!, domain: selfMaskDomain(this.round, this.id), negate: false }];
    for (const from of received.keys()) specs.push(pairMaskSpec(this.round, this.#peers.get(from)!.pairSeed, this.id, from));
    combineMasks(masked, specs, this.round.bits);
    reduceWords(masked, this.round.bits);
    for (const [from, h] of received) this.#held.set(from, h);
    // The client's own secrets are now only recoverable from the shares: forget them.
    this.#maskKeys!.secretKey.fill(0);
    this.#selfSeed!.fill(0);
    for (const p of this.#peers.values()) p.pairSeed.fill(0);
    this.#stage = 'consistency-request';
    return { stage: 'masked-input', federation: this.round.federation, round: this.round.round, sender: this.id, offset: 0, words: masked };
  }

  /**
   * Stage 3: checks the survivor list (contains this client, covers only peers it holds shares
   * of, at least `threshold` in its neighbourhood) and signs it. It will sign no other list
   * (`ERR_SECAGG_SURVIVOR_MISMATCH`); an identical retry gets the same signature.
   */
  signSurvivors(message: unknown): ConsistencyMessage {
    if (this.#signedSurvivors !== undefined) {
      // Already signed: an identical request (a transport retry) gets the same signature, any other list is refused.
      const again = parseServerMessage(this.round, message);
      if (again.stage !== 'consistency-request') throw new SecAggError('ERR_SECAGG_WRONG_STAGE', `client ${this.id} is waiting for ${this.#stage}, got ${again.stage}`);
      if (again.sender !== this.round.aggregator || again.recipient !== this.id) throw new SecAggError('ERR_SECAGG_UNEXPECTED_SENDER', 'message is not from the aggregator to this client', { field: 'recipient' });
      if (!sameList(again.survivors, this.#signedSurvivors)) throw new SecAggError('ERR_SECAGG_SURVIVOR_MISMATCH', `${this.id} already signed a different survivor list in this round`);
      return { stage: 'consistency', federation: this.round.federation, round: this.round.round, sender: this.id, signature: sign(this.#identitySecretKey, consistencyPayload(this.round, this.#signedSurvivors)) };
    }
    const msg = this.#parse(message, 'consistency-request');
    if (msg.stage !== 'consistency-request') throw new SecAggError('ERR_SECAGG_WRONG_STAGE', 'expected a consistency-request message');
    if (!msg.survivors.includes(this.id)) throw new SecAggError('ERR_SECAGG_INCONSISTENT_LISTS', `the survivor list does not contain ${this.id}, which sent its masked input`);
    let inHood = 0;
    for (const u of msg.survivors) {
      if (u === this.id) { inHood++; continue; }
      if (!this.round.areNeighbours(this.id, u)) continue;
      if (!this.#held.has(u)) throw new SecAggError('ERR_SECAGG_INCONSISTENT_LISTS', `survivor ${u} never shared keys with ${this.id}`, { member: u });
      inHood++;
    }
    if (inHood < this.round.threshold) {
      throw new SecAggError('ERR_SECAGG_BELOW_THRESHOLD', `only ${inHood} survivors in ${this.id}'s neighbourhood, threshold is ${this.round.threshold}`, { have: inHood, threshold: this.round.threshold });
    }
    const signature = sign(this.#identitySecretKey, consistencyPayload(this.round, msg.survivors));
    this.#signedSurvivors = Object.freeze([...msg.survivors]);
    this.#stage = 'unmask-request';
    return { stage: 'consistency', federation: this.round.federation, round: this.round.round, sender: this.id, signature };
  }

  /**
   * Stage 4: reveals, for each peer it holds shares of, the self-mask share if the peer
   * survived or the mask-key share if it dropped — after checking the lists are disjoint,
   * the survivors are exactly the list it signed, every held peer is classified, and, for every
   * such peer, at least `threshold` of that peer's share holders signed that list. Answers one
   * request only (an identical retry gets the same answer).
   */
  unmask(message: unknown): UnmaskMessage {
    if (this.#stage === 'done') {
      const msg = parseServerMessage(this.round, message) as UnmaskRequestMessage;
      const prev = this.#unmaskRequest!;
      if (msg.stage === 'unmask-request' && sameList(msg.survivors, prev.survivors) && sameList(msg.dropped, prev.dropped)) return this.#unmaskResponse!;
      throw new SecAggError('ERR_SECAGG_ALREADY_UNMASKED', `${this.id} already answered a different unmask request in this round`);
    }
    const msg = this.#parse(message, 'unmask-request');
    if (msg.stage !== 'unmask-request') throw new SecAggError('ERR_SECAGG_WRONG_STAGE', 'expected an unmask-request message');
    const survivors = new Set(msg.survivors);
    const dropped = new Set(msg.dropped);
    for (const d of dropped) {
      if (survivors.has(d)) throw new SecAggError('ERR_SECAGG_INCONSISTENT_LISTS', `member ${d} is listed both as survivor and as dropped`, { member: d });
    }
    if (!sameList(msg.survivors, this.#signedSurvivors!)) {
      throw new SecAggError('ERR_SECAGG_SURVIVOR_MISMATCH', 'the survivor list differs from the one this client signed');
    }
    for (const owner of this.#held.keys()) {
      if (!survivors.has(owner) && !dropped.has(owner)) throw new SecAggError('ERR_SECAGG_INCONSISTENT_LISTS', `peer ${owner} is neither survivor nor dropped`, { member: owner });
    }
    // For every peer whose share this client would reveal, at least t members of that peer's
    // share-holder set (the peer and its neighbours) must have signed this exact survivor list.
    // Honest members sign one list per round, so two groups of holders can never be shown two
    // lists that disagree about the peer unless 2t <= k + 1 + (corrupt holders): the server
    // cannot collect both kinds of share of one peer. In the complete graph this is Bonawitz
    // et al.'s check (t signatures in all); in the SecAgg+ graph it is the same check per peer.
    const relevant = new Set<string>();
    for (const owner of this.#held.keys()) {
      relevant.add(owner);
      for (const j of this.round.neighboursOf(owner)) relevant.add(j);
    }
    const payload = consistencyPayload(this.round, msg.survivors);
    const seen = new Set<string>();
    const valid = new Set<string>();
    for (const [i, s] of msg.signatures.entries()) {
      if (!survivors.has(s.id)) throw new SecAggError('ERR_SECAGG_UNEXPECTED_SENDER', `signatures[${i}].id is not a survivor`, { field: `signatures[${i}].id` });
      if (seen.has(s.id)) throw new SecAggError('ERR_SECAGG_DUPLICATE', `signatures[${i}].id appears twice`, { field: `signatures[${i}].id` });
      seen.add(s.id);
      if (!relevant.has(s.id)) continue;
      // Complete graph: every holder set is everyone, so t valid signatures settle it.
      if (this.round.complete && valid.size >= this.round.threshold) continue;
      if (!verify(this.#roster.require(s.id, 'node').identityKey, payload, s.signature)) {
        throw new SecAggError('ERR_SECAGG_BAD_SIGNATURE', `signatures[${i}]: ${s.id}'s signature over the survivor list does not verify`, { field: `signatures[${i}].signature`, member: s.id });
      }
      valid.add(s.id);
    }
    for (const owner of this.#held.keys()) {
      let count = valid.has(owner) ? 1 : 0;
      for (const j of this.round.neighboursOf(owner)) if (valid.has(j)) count++;
      if (count < this.round.threshold) {
        throw new SecAggError('ERR_SECAGG_BELOW_THRESHOLD', `only ${count} of ${owner}'s share holders signed the survivor list, threshold is ${this.round.threshold}`, { member: owner, have: count, threshold: this.round.threshold });
      }
    }
    const selfMaskShares: RevealedShare[] = [];
    const maskKeyShares: RevealedShare[] = [];
    for (const owner of [...this.#held.keys()].sort()) {
      const h = this.#held.get(owner)!;
      if (survivors.has(owner)) selfMaskShares.push({ owner, share: Uint8Array.from(h.selfMask) });
      else maskKeyShares.push({ owner, share: Uint8Array.from(h.maskKey) });
    }
    const response: UnmaskMessage = { stage: 'unmask', federation: this.round.federation, round: this.round.round, sender: this.id, selfMaskShares, maskKeyShares };
    this.#unmaskRequest = { survivors: [...msg.survivors], dropped: [...msg.dropped] };
    this.#unmaskResponse = response;
    this.#stage = 'done';
    return response;
  }

  #expect(stage: MaskingClientStage): void {
    if (this.#stage !== stage) throw new SecAggError('ERR_SECAGG_WRONG_STAGE', `client ${this.id} is waiting for ${this.#stage}, not ${stage}`, { expected: this.#stage, actual: stage });
  }

  #parse(message: unknown, stage: MaskingClientStage): ServerMessage {
    const msg = parseServerMessage(this.round, message);
    if (msg.stage !== stage || this.#stage !== stage) {
      throw new SecAggError('ERR_SECAGG_WRONG_STAGE', `client ${this.id} is waiting for ${this.#stage}, got ${msg.stage}`, { expected: this.#stage, actual: msg.stage });
    }
    if (msg.sender !== this.round.aggregator) throw new SecAggError('ERR_SECAGG_UNEXPECTED_SENDER', 'server messages must come from the round aggregator', { field: 'sender' });
    if (msg.recipient !== this.id) throw new SecAggError('ERR_SECAGG_UNEXPECTED_SENDER', `message is addressed to another member, not ${this.id}`, { field: 'recipient' });
    return msg;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Validates an encoded input vector: a Uint32Array of `length` words below 2^bits. */
export function checkInput(input: unknown, length: number, bits: number): asserts input is Uint32Array {
  if (!(input instanceof Uint32Array)) {
    if (Array.isArray(input) || input instanceof Float64Array || input instanceof Float32Array) {
      const a = input as ArrayLike<unknown>;
      for (let i = 0; i < a.length; i++) {
        const x = a[i];
        if (typeof x !== 'number' || !Number.isFinite(x)) throw new InvalidArgumentError('input', `element ${i} is ${describe(x)}; encode updates with FixedPointCodec.encode into a Uint32Array first`, { index: i });
      }
    }
    throw new InvalidArgumentError('input', `expected a Uint32Array (a FixedPointCodec encoding), got ${describe(input)}`);
  }
  if (input.length !== length) throw new InvalidArgumentError('input', `expected ${length} words, got ${input.length}`, { expected: length, actual: input.length });
  if (bits < 32) {
    const lim = 2 ** bits;
    for (let i = 0; i < input.length; i++) if (input[i]! >= lim) throw new InvalidArgumentError('input', `element ${i} is outside Z_(2^${bits})`, { index: i });
  }
}
