/**
 * Round parameters of the pairwise-masking engine, their validation, the domain-separation
 * labels every derivation uses, and the neighbour graph (complete for Bonawitz et al. 2017,
 * a randomly permuted Harary graph for SecAgg+, Bell et al. 2020).
 *
 * Both the clients and the server build a {@link MaskingRound} from the same public
 * {@link MaskingConfig}; every signature, key derivation and AEAD binds its digest, so
 * members with different parameters can never complete a round together.
 */
import { InvalidArgumentError } from '../../common/errors.ts';
import { assertBytes, assertInt, assertString, ID_PATTERN } from '../../common/validate.ts';
import { encodeTuple, type TupleItem } from '../bytes.ts';
import { sha256Digest } from '../hkdf.ts';
import { expandMask } from '../prg.ts';
import type { Roster } from '../roster.ts';

/** Protocol label prefix; bump the version on any wire or derivation change. */
export const MASKING_PROTOCOL = 'fedsec/secagg/masking/v1';

/** Public parameters of one masking round, identical at every member. */
export interface MaskingConfig {
  /** Federation id (must equal the roster's). */
  readonly federation: string;
  /** Round number (a non-negative safe integer, never reused within a federation). */
  readonly round: number;
  /** Roster id of the aggregator (role 'aggregator') that relays messages. */
  readonly aggregator: string;
  /** Roster ids of the nodes invited to this round (role 'node'), at least 2, no duplicates. */
  readonly participants: readonly string[];
  /**
   * Shamir threshold t: shares needed to reconstruct a member's secrets. Each member shares
   * among itself and its k neighbours, so t ≤ k + 1; t must exceed half of k + 1.
   */
  readonly threshold: number;
  /**
   * Neighbour count k. Omitted or ≥ n-1 gives the complete graph (Bonawitz et al.); a smaller
   * even k gives the SecAgg+ Harary graph of degree k (Bell et al.).
   */
  readonly neighbours?: number;
  /** Length of the input vector (model parameters). */
  readonly vectorLength: number;
  /** Ring width: inputs and sums live in Z_(2^bits), 1..32. */
  readonly bits: number;
  /**
   * Optional 32-byte digest of the application's parameters of this round (e.g. the work
   * request: DP and training parameters). Bound into the round digest, so members shown
   * different parameters cannot complete a round together.
   */
  readonly context?: Uint8Array;
}

/** Largest vector the engine accepts (expandMask's limit). */
export const MAX_VECTOR_LENGTH = 2 ** 29;
/** Largest number of participants in one round. */
export const MAX_PARTICIPANTS = 10_000;

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A validated round: config plus derived values (indices, graph, digest). */
export class MaskingRound {
  readonly federation: string;
  readonly round: number;
  readonly aggregator: string;
  /** Participants sorted by id. */
  readonly participants: readonly string[];
  readonly threshold: number;
  /** Effective neighbour count k (n-1 when complete). */
  readonly neighbours: number;
  /** True when every participant is every other's neighbour. */
  readonly complete: boolean;
  readonly vectorLength: number;
  readonly bits: number;
  /** The application's parameter digest (absent when the config has none). */
  readonly context: Uint8Array | undefined;
  /** SHA-256 over every parameter: bound into every signature, key and AEAD. */
  readonly digest: Uint8Array;
  readonly #index: ReadonlyMap<string, number>;
  readonly #graph: ReadonlyMap<string, ReadonlySet<string>>;

  /**
   * Validates `config` against `roster` (ids enrolled with the right roles, federation match,
   * threshold and neighbour bounds). Throws `ERR_INVALID_ARGUMENT` naming the field.
   */
  constructor(config: MaskingConfig, roster: Roster) {
    if (typeof config !== 'object' || config === null) throw new InvalidArgumentError('config', 'expected an object');
    assertString('config.federation', config.federation, 128, ID_PATTERN);
    if (config.federation !== roster.federation) throw new InvalidArgumentError('config.federation', 'does not match the roster federation');
    assertInt('config.round', config.round, 0, Number.MAX_SAFE_INTEGER);
    assertString('config.aggregator', config.aggregator, 128, ID_PATTERN);
    const agg = roster.get(config.aggregator);
    if (agg === undefined || agg.role !== 'aggregator') throw new InvalidArgumentError('config.aggregator', 'is not an enrolled aggregator');
    if (!Array.isArray(config.participants)) throw new InvalidArgumentError('config.participants', 'expected an array of ids');
    assertInt('config.participants.length', config.participants.length, 2, MAX_PARTICIPANTS);
    const seen = new Set<string>();
    for (const [i, id] of config.participants.entries()) {
      assertString(`config.participants[${i}]`, id, 128, ID_PATTERN);
      const m = roster.get(id);
      if (m === undefined || m.role !== 'node') throw new InvalidArgumentError(`config.participants[${i}]`, 'is not an enrolled node');
      if (seen.has(id)) throw new InvalidArgumentError(`config.participants[${i}]`, 'duplicate participant');
      seen.add(id);
    }
    const n = config.participants.length;
    const k = config.neighbours === undefined ? n - 1 : config.neighbours;
    assertInt('config.neighbours', k, 1, Number.MAX_SAFE_INTEGER);
    const complete = k >= n - 1;
    if (!complete && k % 2 !== 0) throw new InvalidArgumentError('config.neighbours', 'must be even for a sparse (Harary) graph, or ≥ participants - 1');
    if (!complete && k < 2) throw new InvalidArgumentError('config.neighbours', 'must be at least 2');
    const kk = complete ? n - 1 : k;
    assertInt('config.threshold', config.threshold, Math.floor((kk + 1) / 2) + 1, kk + 1);
    assertInt('config.vectorLength', config.vectorLength, 1, MAX_VECTOR_LENGTH);
    assertInt('config.bits', config.bits, 1, 32);
    if (config.context !== undefined) assertBytes('config.context', config.context, 32);

    this.federation = config.federation;
    this.round = config.round;
    this.aggregator = config.aggregator;
    this.participants = Object.freeze([...config.participants].sort(cmp));
    this.threshold = config.threshold;
    this.neighbours = kk;
    this.complete = complete;
    this.vectorLength = config.vectorLength;
    this.bits = config.bits;
    this.context = config.context === undefined ? undefined : Uint8Array.from(config.context);
    this.digest = sha256Digest(encodeTuple([
      `${MASKING_PROTOCOL}/round`, this.federation, this.round, this.aggregator, this.threshold, this.neighbours,
      this.vectorLength, this.bits, this.participants.length, ...this.participants,
      ...(this.context === undefined ? [] : [this.context]),
    ]));
    this.#index = new Map(this.participants.map((id, i) => [id, i + 1]));
    this.#graph = buildGraph(this.participants, kk, complete, this.digest);
  }

  /** True if `id` is a participant. */
  isParticipant(id: string): boolean {
    return this.#index.has(id);
  }

  /** The Shamir share index (1-based position in the sorted participant list) of a participant. */
  shareIndex(id: string): number {
    const i = this.#index.get(id);
    if (i === undefined) throw new InvalidArgumentError('id', 'not a participant');
    return i;
  }

  /** The neighbours of a participant (excluding itself). */
  neighboursOf(id: string): ReadonlySet<string> {
    const s = this.#graph.get(id);
    if (s === undefined) throw new InvalidArgumentError('id', 'not a participant');
    return s;
  }

  /** True if `a` and `b` are distinct neighbours. */
  areNeighbours(a: string, b: string): boolean {
    return this.#graph.get(a)?.has(b) ?? false;
  }

  /** A domain-separation label for `purpose`, bound to this round's federation, number and digest. */
  label(purpose: string, ...rest: TupleItem[]): TupleItem[] {
    return [`${MASKING_PROTOCOL}/${purpose}`, this.federation, this.round, this.digest, ...rest];
  }

  /** Canonical bytes of a label (for signatures and AEAD associated data). */
  labelBytes(purpose: string, ...rest: TupleItem[]): Uint8Array {
    return encodeTuple(this.label(purpose, ...rest));
  }
}

/**
 * The neighbour graph. Complete when `complete`; otherwise the Harary graph H(k, n) over a
 * pseudorandom permutation of the participants (Bell et al. 2020 §3): place the permuted
 * members on a ring and join each to the k/2 nearest on either side. The permutation is
 * derived from the round digest, so every member computes the same graph and the aggregator
 * cannot choose it beyond choosing the participant set.
 */
function buildGraph(ids: readonly string[], k: number, complete: boolean, digest: Uint8Array): Map<string, Set<string>> {
  const g = new Map<string, Set<string>>(ids.map((id) => [id, new Set<string>()]));
  if (complete) {
    for (const a of ids) for (const b of ids) if (a !== b) g.get(a)!.add(b);
    return g;
  }
  const n = ids.length;
  const keys = expandMask(digest, [`${MASKING_PROTOCOL}/graph-permutation`], n, 32);
  const order = ids.map((id, i) => ({ id, key: keys[i]! })).sort((a, b) => a.key - b.key || cmp(a.id, b.id)).map((x) => x.id);
  for (let p = 0; p < n; p++) {
    for (let d = 1; d <= k / 2; d++) {
      const a = order[p]!;
      const b = order[(p + d) % n]!;
      g.get(a)!.add(b);
      g.get(b)!.add(a);
    }
  }
  return g;
}
