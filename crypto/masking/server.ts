/**
 * The server (aggregator) side of pairwise-masking secure aggregation. The server is not
 * trusted by the clients; it is a router plus an accumulator that, at the end, removes the
 * masks it is allowed to remove and learns only the sum of the survivors' inputs.
 *
 * The service layer feeds client messages to {@link MaskingServer.receive} (or masked-input
 * chunks to {@link MaskingServer.acceptMaskedChunk}) and, when a stage's deadline passes,
 * calls {@link MaskingServer.closeStage}. Both return the messages to route, one per
 * recipient, in recipient order. A stage also closes by itself once every expected member has
 * answered. Masked inputs are added into one running sum as chunks arrive, so memory grows
 * with the model, not with nodes × model. A rejected message throws a typed error and leaves
 * the state untouched. Falling below the threshold aborts the round (typed error
 * `ERR_SECAGG_BELOW_THRESHOLD`): the partial sum is wiped and nothing is released.
 */
import { InvalidMessageError } from '../../common/errors.ts';
import { equalBytes } from '../bytes.ts';
import { verify } from '../ed25519.ts';
import type { Roster } from '../roster.ts';
import { combineBytes32, decodeShare256, type Share } from '../shamir.ts';
import { x25519PublicKey, x25519SharedSecret } from '../x25519.ts';
import { advertisePayload, consistencyPayload } from './client.ts';
import { MaskingRound, type MaskingConfig } from './config.ts';
import { SecAggError } from './errors.ts';
import { addWords, combineMasks, pairMaskSeed, pairMaskSpec, reduceWords, selfMaskDomain, type MaskSpec } from './masks.ts';
import {
  parseClientMessage,
  type AdvertisedKeys,
  type ClientMessage,
  type MaskedInputMessage,
  type Outgoing,
  type OutgoingShare,
} from './messages.ts';

/** Stages of the server, named after the client messages it collects. */
export type MaskingServerStage = 'advertise-keys' | 'share-keys' | 'masked-input' | 'consistency' | 'unmask' | 'done' | 'aborted';

/** The outcome of a completed round. */
export interface MaskingResult {
  /** Σ inputs of the survivors mod 2^bits (decode with the same FixedPointCodec). */
  readonly sum: Uint32Array;
  /** Members whose masked inputs are in the sum, sorted. */
  readonly survivors: readonly string[];
  /** Members that shared keys but whose masked input did not arrive, sorted. */
  readonly dropped: readonly string[];
}

const STAGE_ORDER: readonly MaskingServerStage[] = ['advertise-keys', 'share-keys', 'masked-input', 'consistency', 'unmask'];

/** The server of one pairwise-masking round. */
export class MaskingServer {
  /** The validated round parameters. */
  readonly round: MaskingRound;
  readonly #roster: Roster;
  #stage: MaskingServerStage = 'advertise-keys';
  #abortError: SecAggError | undefined;
  readonly #keys = new Map<string, AdvertisedKeys>();
  readonly #shares = new Map<string, readonly OutgoingShare[]>();
  #sum: Uint32Array | undefined;
  readonly #uploaded = new Map<string, number>();
  #completed = 0;
  #survivors: readonly string[] = [];
  #survivorSet: ReadonlySet<string> = new Set();
  #dropped: readonly string[] = [];
  readonly #signatures = new Map<string, Uint8Array>();
  readonly #unmaskers = new Set<string>();
  /** Revealed shares by owner: self-mask seeds of survivors, mask keys of dropped members. */
  readonly #selfShares = new Map<string, Share[]>();
  readonly #keyShares = new Map<string, Share[]>();
  #result: MaskingResult | undefined;

  /** Validates the config against the roster; throws `ERR_INVALID_ARGUMENT` naming the field. */
  constructor(config: MaskingConfig, roster: Roster) {
    this.round = new MaskingRound(config, roster);
    this.#roster = roster;
  }

  /** The stage whose client messages the server is collecting (or done / aborted). */
  get stage(): MaskingServerStage {
    return this.#stage;
  }

  /** Members expected to answer the current stage that have not (yet), sorted. */
  pending(): string[] {
    return this.#expected().filter((id) => !this.#answered(id)).sort();
  }

  /**
   * Validates and records one client message. Returns the next stage's messages when this
   * was the last expected answer, otherwise an empty list. `sender` must already be
   * authenticated by the transport (mutual TLS); the engine checks it against the round.
   */
  receive(message: unknown): Outgoing[] {
    this.#live();
    const msg = parseClientMessage(this.round, message);
    if (msg.stage !== this.#stage) {
      throw new SecAggError('ERR_SECAGG_WRONG_STAGE', `server is collecting ${this.#stage}, got ${msg.stage}`, { expected: this.#stage, actual: msg.stage });
    }
    if (!this.#isExpected(msg.sender)) {
      throw new SecAggError('ERR_SECAGG_UNEXPECTED_SENDER', `${msg.sender} is not expected to answer ${msg.stage} in this round`, { field: 'sender' });
    }
    if (this.#answered(msg.sender)) throw new SecAggError('ERR_SECAGG_DUPLICATE', `${msg.sender} already answered ${msg.stage}`, { field: 'sender' });
    this.#accept(msg);
    return this.#answeredCount() === this.#expectedCount() ? this.closeStage() : [];
  }

  /**
   * Streams one chunk of `from`'s masked input: `words` must start at `offset`, the number of
   * words received from `from` so far. The chunk is added into the running sum at once.
   */
  acceptMaskedChunk(from: string, offset: number, words: Uint32Array): Outgoing[] {
    const msg: MaskedInputMessage = { stage: 'masked-input', federation: this.round.federation, round: this.round.round, sender: from, offset, words };
    return this.receive(msg);
  }

  /**
   * Closes the current stage (its deadline passed): members that did not answer count as
   * dropped. Returns the next stage's messages, or `[]` after the unmask stage (then
   * {@link result} is available). Throws `ERR_SECAGG_BELOW_THRESHOLD` (and aborts) when too
   * few remain, `ERR_SECAGG_INCOMPLETE_UPLOAD` when a masked input was cut off mid-stream.
   */
  closeStage(): Outgoing[] {
    this.#live();
    const r = this.round;
    const hdr = { federation: r.federation, round: r.round, sender: r.aggregator };
    switch (this.#stage) {
      case 'advertise-keys': {
        const u1 = [...this.#keys.keys()].sort();
        this.#need(u1.length, 'advertised keys');
        this.#stage = 'share-keys';
        return u1.map((to) => ({
          to,
          message: { stage: 'keys', ...hdr, recipient: to, keys: u1.filter((j) => r.areNeighbours(to, j)).map((j) => this.#keys.get(j)!) },
        }));
      }
      case 'share-keys': {
        const u2 = [...this.#shares.keys()].sort();
        this.#need(u2.length, 'shared keys');
        this.#stage = 'masked-input';
        this.#sum = new Uint32Array(r.vectorLength);
        return u2.map((to) => ({
          to,
          message: {
            stage: 'shares', ...hdr, recipient: to,
            shares: u2.flatMap((from) => this.#shares.get(from)!.filter((s) => s.to === to).map((s) => ({ from, ciphertext: s.ciphertext }))),
          },
        }));
      }
      case 'masked-input': {
        const partial = [...this.#uploaded].filter(([, n]) => n < r.vectorLength).map(([id]) => id).sort();
        if (partial.length > 0) {
          this.#abort(new SecAggError('ERR_SECAGG_INCOMPLETE_UPLOAD', `masked inputs of ${partial.join(', ')} were cut off mid-stream; their partial contributions cannot be removed`, { members: partial }));
        }
        const u3 = [...this.#uploaded.keys()].sort();
        this.#need(u3.length, 'masked inputs');
        this.#survivors = u3;
        this.#survivorSet = new Set(u3);
        this.#dropped = [...this.#shares.keys()].filter((id) => !this.#uploaded.has(id)).sort();
        this.#stage = 'consistency';
        return u3.map((to) => ({ to, message: { stage: 'consistency-request', ...hdr, recipient: to, survivors: [...u3] } }));
      }
      case 'consistency': {
        const u4 = [...this.#signatures.keys()].sort();
        this.#need(u4.length, 'consistency signatures');
        this.#stage = 'unmask';
        const signatures = u4.map((id) => ({ id, signature: this.#signatures.get(id)! }));
        return u4.map((to) => ({
          to,
          message: { stage: 'unmask-request', ...hdr, recipient: to, survivors: [...this.#survivors], dropped: [...this.#dropped], signatures },
        }));
      }
      case 'unmask':
        this.#need(this.#unmaskers.size, 'unmask answers');
        this.#finish();
        return [];
      default:
        throw new SecAggError('ERR_SECAGG_STATE', `no open stage (server is ${this.#stage})`);
    }
  }

  /** The survivors' sum; only after a successful unmask stage. */
  result(): MaskingResult {
    if (this.#result === undefined) throw new SecAggError('ERR_SECAGG_STATE', `no result: the server is ${this.#stage}`);
    return this.#result;
  }

  #live(): void {
    if (this.#stage === 'aborted') throw new SecAggError('ERR_SECAGG_ABORTED', `round aborted earlier: ${this.#abortError!.code}`, { cause: this.#abortError!.code });
  }

  #isExpected(id: string): boolean {
    switch (this.#stage) {
      case 'advertise-keys': return this.round.isParticipant(id);
      case 'share-keys': return this.#keys.has(id);
      case 'masked-input': return this.#shares.has(id);
      case 'consistency': return this.#survivorSet.has(id);
      case 'unmask': return this.#signatures.has(id);
      default: return false;
    }
  }

  #expected(): readonly string[] {
    switch (this.#stage) {
      case 'advertise-keys': return this.round.participants;
      case 'share-keys': return [...this.#keys.keys()];
      case 'masked-input': return [...this.#shares.keys()];
      case 'consistency': return this.#survivors;
      case 'unmask': return [...this.#signatures.keys()];
      default: return [];
    }
  }

  #expectedCount(): number {
    switch (this.#stage) {
      case 'advertise-keys': return this.round.participants.length;
      case 'share-keys': return this.#keys.size;
      case 'masked-input': return this.#shares.size;
      case 'consistency': return this.#survivors.length;
      case 'unmask': return this.#signatures.size;
      default: return 0;
    }
  }

  #answeredCount(): number {
    switch (this.#stage) {
      case 'advertise-keys': return this.#keys.size;
      case 'share-keys': return this.#shares.size;
      case 'masked-input': return this.#completed;
      case 'consistency': return this.#signatures.size;
      case 'unmask': return this.#unmaskers.size;
      default: return 0;
    }
  }

  #answered(id: string): boolean {
    switch (this.#stage) {
      case 'advertise-keys': return this.#keys.has(id);
      case 'share-keys': return this.#shares.has(id);
      case 'masked-input': return this.#uploaded.get(id) === this.round.vectorLength;
      case 'consistency': return this.#signatures.has(id);
      case 'unmask': return this.#unmaskers.has(id);
      default: return true;
    }
  }

  #need(have: number, what: string): void {
    if (have < this.round.threshold) {
      this.#abort(new SecAggError('ERR_SECAGG_BELOW_THRESHOLD', `only ${have} ${what}, threshold is ${this.round.threshold}: round aborted`, { have, threshold: this.round.threshold, stage: this.#stage }));
    }
  }

  #abort(e: SecAggError): never {
    this.#stage = 'aborted';
    this.#abortError = e;
    this.#sum?.fill(0);
    this.#sum = undefined;
    this.#selfShares.clear();
    this.#keyShares.clear();
    throw e;
  }

  /** Checks a parsed message against the round state, then records it (nothing is recorded on error). */
  #accept(msg: ClientMessage): void {
    const r = this.round;
    switch (msg.stage) {
      case 'advertise-keys': {
        const member = this.#roster.require(msg.sender, 'node');
        if (!verify(member.identityKey, advertisePayload(r, msg.sender, msg.encryptionKey, msg.maskKey), msg.signature)) {
          throw new SecAggError('ERR_SECAGG_BAD_SIGNATURE', `the round keys of ${msg.sender} are not signed by its identity key for this round`, { field: 'signature' });
        }
        if (equalBytes(msg.encryptionKey, msg.maskKey)) throw new SecAggError('ERR_SECAGG_DUPLICATE_KEY', 'encryptionKey equals maskKey', { field: 'maskKey' });
        for (const field of ['encryptionKey', 'maskKey'] as const) {
          if (isLowOrder(msg[field])) throw new SecAggError('ERR_SECAGG_BAD_KEY', `${field} of ${msg.sender} is a low-order X25519 point`, { field });
        }
        for (const k of this.#keys.values()) {
          for (const a of [k.encryptionKey, k.maskKey]) {
            if (equalBytes(a, msg.encryptionKey) || equalBytes(a, msg.maskKey)) throw new SecAggError('ERR_SECAGG_DUPLICATE_KEY', `${msg.sender} advertised a public key another member already used`, { field: 'encryptionKey' });
          }
        }
        this.#keys.set(msg.sender, { id: msg.sender, encryptionKey: msg.encryptionKey, maskKey: msg.maskKey, signature: msg.signature });
        return;
      }
      case 'share-keys': {
        const want = [...this.#keys.keys()].filter((j) => r.areNeighbours(msg.sender, j));
        const got = new Set<string>();
        for (const [i, s] of msg.shares.entries()) {
          if (!r.areNeighbours(msg.sender, s.to) || !this.#keys.has(s.to)) throw new SecAggError('ERR_SECAGG_UNEXPECTED_SENDER', `shares[${i}].to is not a neighbour that advertised keys`, { field: `shares[${i}].to` });
          if (got.has(s.to)) throw new SecAggError('ERR_SECAGG_DUPLICATE', `shares[${i}].to appears twice`, { field: `shares[${i}].to` });
          got.add(s.to);
        }
        if (got.size !== want.length) throw new InvalidMessageError('shares', `expected one share bundle for each of the ${want.length} neighbours that advertised keys, got ${got.size}`);
        this.#shares.set(msg.sender, msg.shares);
        return;
      }
      case 'masked-input': {
        const have = this.#uploaded.get(msg.sender) ?? 0;
        if (msg.offset !== have) throw new InvalidMessageError('offset', `expected the chunk at offset ${have}, got ${msg.offset}`, { expected: have, actual: msg.offset });
        addWords(this.#sum!, msg.words, msg.offset);
        this.#uploaded.set(msg.sender, have + msg.words.length);
        if (have + msg.words.length === r.vectorLength) this.#completed++;
        return;
      }
      case 'consistency': {
        if (!verify(this.#roster.require(msg.sender, 'node').identityKey, consistencyPayload(r, this.#survivors), msg.signature)) {
          throw new SecAggError('ERR_SECAGG_BAD_SIGNATURE', `${msg.sender}'s signature over the survivor list does not verify`, { field: 'signature' });
        }
        this.#signatures.set(msg.sender, msg.signature);
        return;
      }
      case 'unmask': {
        const idx = r.shareIndex(msg.sender);
        const survivors = new Set(this.#survivors);
        const dropped = new Set(this.#dropped);
        const take = (field: string, list: readonly { owner: string; share: Uint8Array }[], owners: Set<string>): Array<[string, Share]> => {
          const seen = new Set<string>();
          return list.map((x, i) => {
            if (!owners.has(x.owner)) throw new SecAggError('ERR_SECAGG_UNEXPECTED_SENDER', `${field}[${i}].owner is not a ${field === 'selfMaskShares' ? 'survivor' : 'dropped member'}`, { field: `${field}[${i}].owner` });
            if (x.owner !== msg.sender && !(r.areNeighbours(x.owner, msg.sender) && (this.#shares.get(x.owner) ?? []).some((s) => s.to === msg.sender))) {
              throw new SecAggError('ERR_SECAGG_UNEXPECTED_SENDER', `${field}[${i}]: ${msg.sender} holds no share of ${x.owner}`, { field: `${field}[${i}].owner` });
            }
            if (seen.has(x.owner)) throw new SecAggError('ERR_SECAGG_DUPLICATE', `${field}[${i}].owner appears twice`, { field: `${field}[${i}].owner` });
            seen.add(x.owner);
            let share: Share;
            try {
              share = decodeShare256(x.share);
            } catch {
              throw new InvalidMessageError(`${field}[${i}].share`, 'not a valid share encoding');
            }
            if (share.index !== idx) throw new InvalidMessageError(`${field}[${i}].share`, `share index ${share.index} is not the sender's index ${idx}`);
            return [x.owner, share];
          });
        };
        const self = take('selfMaskShares', msg.selfMaskShares, survivors);
        const keys = take('maskKeyShares', msg.maskKeyShares, dropped);
        for (const [owner, s] of self) push(this.#selfShares, owner, s);
        for (const [owner, s] of keys) push(this.#keyShares, owner, s);
        this.#unmaskers.add(msg.sender);
        return;
      }
    }
  }

  /** Reconstructs every needed secret first (aborting if any is short), then removes the masks. */
  #finish(): void {
    const r = this.round;
    const t = r.threshold;
    const recon = (shares: Share[] | undefined, owner: string, what: string): Uint8Array => {
      if (shares === undefined || shares.length < t) {
        this.#abort(new SecAggError('ERR_SECAGG_BELOW_THRESHOLD', `only ${shares?.length ?? 0} shares of ${owner}'s ${what}, threshold is ${t}: round aborted`, { member: owner, have: shares?.length ?? 0, threshold: t }));
      }
      try {
        const a = combineBytes32(shares, t);
        // With more than t shares, a second, different subset must give the same secret.
        if (shares.length > t && !equalBytes(a, combineBytes32(shares.slice(shares.length - t), t))) throw new Error('mismatch');
        return a;
      } catch {
        this.#abort(new SecAggError('ERR_SECAGG_RECONSTRUCTION_FAILED', `the shares of ${owner}'s ${what} are inconsistent`, { member: owner }));
      }
    };
    const selfSeeds = this.#survivors.map((u) => [u, recon(this.#selfShares.get(u), u, 'self-mask seed')] as const);
    // A dropped member's mask key is needed only if a survivor added a pairwise mask with it.
    const needed = this.#dropped.filter((v) => this.#survivors.some((u) => r.areNeighbours(u, v)));
    const maskKeys = needed.map((v) => {
      const sk = recon(this.#keyShares.get(v), v, 'mask key');
      if (!equalBytes(x25519PublicKey(sk), this.#keys.get(v)!.maskKey)) {
        this.#abort(new SecAggError('ERR_SECAGG_RECONSTRUCTION_FAILED', `the reconstructed mask key of ${v} does not match its advertised public key`, { member: v }));
      }
      return [v, sk] as const;
    });
    const sum = this.#sum!;
    const specs: MaskSpec[] = selfSeeds.map(([u, seed]) => ({ seed, domain: selfMaskDomain(r, u), negate: true }));
    for (const [v, sk] of maskKeys) {
      for (const u of this.#survivors) {
        if (!r.areNeighbours(u, v)) continue;
        let seed: Uint8Array;
        try {
          seed = pairMaskSeed(r, sk, this.#keys.get(u)!.maskKey, v, u);
        } catch {
          this.#abort(new SecAggError('ERR_SECAGG_RECONSTRUCTION_FAILED', `no pairwise mask agreement between ${v} and ${u}`, { member: v }));
        }
        specs.push(pairMaskSpec(r, seed, u, v, true));
      }
      sk.fill(0);
    }
    combineMasks(sum, specs, r.bits);
    reduceWords(sum, r.bits);
    this.#result = Object.freeze({ sum, survivors: [...this.#survivors], dropped: [...this.#dropped] });
    this.#selfShares.clear();
    this.#keyShares.clear();
    this.#stage = 'done';
  }
}

/** A fixed, public probe scalar: X25519 with it gives all zeros exactly for low-order points. */
const PROBE_SCALAR = new Uint8Array(32).fill(0x5a);

/** True if `publicKey` is a low-order X25519 point (RFC 7748 §6.1: the agreement would be all zero). */
function isLowOrder(publicKey: Uint8Array): boolean {
  try {
    x25519SharedSecret(PROBE_SCALAR, publicKey);
    return false;
  } catch {
    return true;
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const a = m.get(k);
  if (a === undefined) m.set(k, [v]);
  else a.push(v);
}

export { STAGE_ORDER as MASKING_SERVER_STAGES };
