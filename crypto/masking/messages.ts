/**
 * Wire messages of the pairwise-masking engine and their validation.
 *
 * Every message is a plain object of strings, numbers, Uint8Array / Uint32Array and arrays of
 * such objects, with a `stage` discriminator, `federation`, `round` and `sender` (client to
 * server) or `sender` + `recipient` (server to client). Parsers check every field (type,
 * length, id syntax, federation, round) before any state is touched and return a fresh copy,
 * so later mutation of the caller's object cannot affect the engine.
 */
import { InvalidMessageError } from '../../common/errors.ts';
import { assertBytes, assertInt, assertString, describe, ID_PATTERN } from '../../common/validate.ts';
import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES } from '../aead.ts';
import { SHARE_BYTES_256 } from '../shamir.ts';
import { SecAggError } from './errors.ts';
import type { MaskingRound } from './config.ts';

/** Client → server: the member's fresh round keys, signed with its long-term identity key. */
export interface AdvertiseKeysMessage {
  readonly stage: 'advertise-keys';
  readonly federation: string;
  readonly round: number;
  readonly sender: string;
  /** X25519 public key for encrypting shares to this member. */
  readonly encryptionKey: Uint8Array;
  /** X25519 public key for pairwise mask agreement. */
  readonly maskKey: Uint8Array;
  /** Ed25519 signature by the sender's identity key over the round label and both keys. */
  readonly signature: Uint8Array;
}

/** One member's advertised keys as relayed by the server. */
export interface AdvertisedKeys {
  readonly id: string;
  readonly encryptionKey: Uint8Array;
  readonly maskKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** Server → client: the advertised keys of the recipient's neighbours that answered. */
export interface KeysMessage {
  readonly stage: 'keys';
  readonly federation: string;
  readonly round: number;
  readonly sender: string;
  readonly recipient: string;
  readonly keys: readonly AdvertisedKeys[];
}

/** One encrypted share bundle addressed to `to`. */
export interface OutgoingShare {
  readonly to: string;
  /** nonce ‖ ChaCha20-Poly1305(share of mask key ‖ share of self-mask seed) ‖ tag. */
  readonly ciphertext: Uint8Array;
}

/** Client → server: encrypted Shamir shares of the sender's secrets, one per neighbour. */
export interface ShareKeysMessage {
  readonly stage: 'share-keys';
  readonly federation: string;
  readonly round: number;
  readonly sender: string;
  readonly shares: readonly OutgoingShare[];
}

/** One encrypted share bundle from `from`. */
export interface IncomingShare {
  readonly from: string;
  readonly ciphertext: Uint8Array;
}

/** Server → client: the encrypted shares addressed to the recipient. */
export interface SharesMessage {
  readonly stage: 'shares';
  readonly federation: string;
  readonly round: number;
  readonly sender: string;
  readonly recipient: string;
  readonly shares: readonly IncomingShare[];
}

/**
 * Client → server: a contiguous chunk `words` of the masked input starting at `offset`.
 * A whole upload is one message with offset 0; see {@link splitMaskedInput} for streaming.
 */
export interface MaskedInputMessage {
  readonly stage: 'masked-input';
  readonly federation: string;
  readonly round: number;
  readonly sender: string;
  readonly offset: number;
  readonly words: Uint32Array;
}

/** Server → client: the survivors (members whose masked input arrived), to be signed. */
export interface ConsistencyRequestMessage {
  readonly stage: 'consistency-request';
  readonly federation: string;
  readonly round: number;
  readonly sender: string;
  readonly recipient: string;
  readonly survivors: readonly string[];
}

/** Client → server: the sender's signature over the survivor list it was shown. */
export interface ConsistencyMessage {
  readonly stage: 'consistency';
  readonly federation: string;
  readonly round: number;
  readonly sender: string;
  readonly signature: Uint8Array;
}

/** A survivor's signature over the survivor list. */
export interface SurvivorSignature {
  readonly id: string;
  readonly signature: Uint8Array;
}

/** Server → client: survivors, dropped members and the survivors' signatures over the list. */
export interface UnmaskRequestMessage {
  readonly stage: 'unmask-request';
  readonly federation: string;
  readonly round: number;
  readonly sender: string;
  readonly recipient: string;
  readonly survivors: readonly string[];
  readonly dropped: readonly string[];
  readonly signatures: readonly SurvivorSignature[];
}

/** One revealed Shamir share (37-byte encoding) of `owner`'s secret. */
export interface RevealedShare {
  readonly owner: string;
  readonly share: Uint8Array;
}

/** Client → server: shares of survivors' self-mask seeds and of dropped members' mask keys. */
export interface UnmaskMessage {
  readonly stage: 'unmask';
  readonly federation: string;
  readonly round: number;
  readonly sender: string;
  readonly selfMaskShares: readonly RevealedShare[];
  readonly maskKeyShares: readonly RevealedShare[];
}

/** Any message a client sends. */
export type ClientMessage = AdvertiseKeysMessage | ShareKeysMessage | MaskedInputMessage | ConsistencyMessage | UnmaskMessage;
/** Any message the server sends. */
export type ServerMessage = KeysMessage | SharesMessage | ConsistencyRequestMessage | UnmaskRequestMessage;
/** A server message with its recipient, in the deterministic order the service should route them. */
export interface Outgoing {
  readonly to: string;
  readonly message: ServerMessage;
}

/** Plaintext of one encrypted share bundle: two 37-byte shares. */
export const SHARE_PLAINTEXT_BYTES = 2 * SHARE_BYTES_256;
/** Ciphertext length of one share bundle (random nonce, plaintext, tag). */
export const SHARE_CIPHERTEXT_BYTES = AEAD_NONCE_BYTES + SHARE_PLAINTEXT_BYTES + AEAD_TAG_BYTES;

const CLIENT_STAGES = ['advertise-keys', 'share-keys', 'masked-input', 'consistency', 'unmask'] as const;
const SERVER_STAGES = ['keys', 'shares', 'consistency-request', 'unmask-request'] as const;

type Obj = Record<string, unknown>;

function bad(field: string, message: string): never {
  throw new InvalidMessageError(field, message);
}

function asObject(field: string, v: unknown): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) bad(field, `expected an object, got ${describe(v)}`);
  return v as Obj;
}

function asArray(field: string, v: unknown, max: number): unknown[] {
  if (!Array.isArray(v)) bad(field, `expected an array, got ${describe(v)}`);
  if (v.length > max) bad(field, `has ${v.length} entries, at most ${max} allowed`);
  return v;
}

function id(field: string, v: unknown): string {
  assertString(field, v, 128, ID_PATTERN, 'message');
  return v;
}

function bytes(field: string, v: unknown, length: number): Uint8Array {
  assertBytes(field, v, length, 'message');
  return Uint8Array.from(v);
}

/** A sorted, duplicate-free list of participant ids. */
function idList(field: string, v: unknown, round: MaskingRound): string[] {
  const a = asArray(field, v, round.participants.length);
  const out: string[] = [];
  for (const [i, x] of a.entries()) {
    const s = id(`${field}[${i}]`, x);
    if (!round.isParticipant(s)) throw new SecAggError('ERR_SECAGG_UNEXPECTED_SENDER', `${field}[${i}] is not a participant of this round`, { field: `${field}[${i}]` });
    if (i > 0 && !(out[i - 1]! < s)) bad(`${field}[${i}]`, 'ids must be sorted and unique');
    out.push(s);
  }
  return out;
}

/** Checks stage, federation and round; returns the object for field parsing. */
function header(raw: unknown, round: MaskingRound, stages: readonly string[]): { o: Obj; stage: string } {
  const o = asObject('message', raw);
  const stage = o['stage'];
  if (typeof stage !== 'string' || !stages.includes(stage)) bad('stage', `expected one of ${stages.join(', ')}`);
  assertString('federation', o['federation'], 128, ID_PATTERN, 'message');
  assertInt('round', o['round'], 0, Number.MAX_SAFE_INTEGER, 'message');
  if (o['federation'] !== round.federation) throw new SecAggError('ERR_SECAGG_WRONG_FEDERATION', `message is for federation ${o['federation']}, this round is in ${round.federation}`);
  if (o['round'] !== round.round) throw new SecAggError('ERR_SECAGG_WRONG_ROUND', `message is for round ${o['round']}, this is round ${round.round}`, { expected: round.round, actual: o['round'] });
  id('sender', o['sender']);
  return { o, stage };
}

/**
 * Validates an untrusted client message for `round` and returns a copy. Throws
 * `ERR_INVALID_MESSAGE` naming the field, or `ERR_SECAGG_WRONG_FEDERATION` / `ERR_SECAGG_WRONG_ROUND`.
 * Sender membership and stage order are checked by the server.
 */
export function parseClientMessage(round: MaskingRound, raw: unknown): ClientMessage {
  const { o, stage } = header(raw, round, CLIENT_STAGES);
  const base = { federation: round.federation, round: round.round, sender: o['sender'] as string };
  const n = round.participants.length;
  switch (stage) {
    case 'advertise-keys':
      return { stage, ...base, encryptionKey: bytes('encryptionKey', o['encryptionKey'], 32), maskKey: bytes('maskKey', o['maskKey'], 32), signature: bytes('signature', o['signature'], 64) };
    case 'share-keys': {
      const shares = asArray('shares', o['shares'], n).map((x, i) => {
        const s = asObject(`shares[${i}]`, x);
        return { to: id(`shares[${i}].to`, s['to']), ciphertext: bytes(`shares[${i}].ciphertext`, s['ciphertext'], SHARE_CIPHERTEXT_BYTES) };
      });
      return { stage, ...base, shares };
    }
    case 'masked-input': {
      assertInt('offset', o['offset'], 0, round.vectorLength - 1, 'message');
      const w = o['words'];
      if (!(w instanceof Uint32Array)) bad('words', `expected Uint32Array, got ${describe(w)}`);
      if (w.length < 1 || o['offset'] + w.length > round.vectorLength) bad('words', `chunk [${o['offset']}, ${o['offset'] + w.length}) outside [0, ${round.vectorLength})`);
      if (round.bits < 32) {
        const lim = 2 ** round.bits;
        for (let i = 0; i < w.length; i++) if (w[i]! >= lim) bad('words', `word ${i} is outside Z_(2^${round.bits})`);
      }
      return { stage, ...base, offset: o['offset'], words: w.slice() };
    }
    case 'consistency':
      return { stage, ...base, signature: bytes('signature', o['signature'], 64) };
    default: {
      const rev = (field: string): RevealedShare[] =>
        asArray(field, o[field], n).map((x, i) => {
          const s = asObject(`${field}[${i}]`, x);
          return { owner: id(`${field}[${i}].owner`, s['owner']), share: bytes(`${field}[${i}].share`, s['share'], SHARE_BYTES_256) };
        });
      return { stage: 'unmask', ...base, selfMaskShares: rev('selfMaskShares'), maskKeyShares: rev('maskKeyShares') };
    }
  }
}

/**
 * Validates an untrusted server message for `round` (as received by a client) and returns a
 * copy. Same error contract as {@link parseClientMessage}; also checks list sortedness and
 * that every listed id is a participant.
 */
export function parseServerMessage(round: MaskingRound, raw: unknown): ServerMessage {
  const { o, stage } = header(raw, round, SERVER_STAGES);
  const base = { federation: round.federation, round: round.round, sender: o['sender'] as string, recipient: id('recipient', o['recipient']) };
  const n = round.participants.length;
  switch (stage) {
    case 'keys': {
      const keys = asArray('keys', o['keys'], n).map((x, i) => {
        const k = asObject(`keys[${i}]`, x);
        return {
          id: id(`keys[${i}].id`, k['id']),
          encryptionKey: bytes(`keys[${i}].encryptionKey`, k['encryptionKey'], 32),
          maskKey: bytes(`keys[${i}].maskKey`, k['maskKey'], 32),
          signature: bytes(`keys[${i}].signature`, k['signature'], 64),
        };
      });
      return { stage, ...base, keys };
    }
    case 'shares': {
      const shares = asArray('shares', o['shares'], n).map((x, i) => {
        const s = asObject(`shares[${i}]`, x);
        return { from: id(`shares[${i}].from`, s['from']), ciphertext: bytes(`shares[${i}].ciphertext`, s['ciphertext'], SHARE_CIPHERTEXT_BYTES) };
      });
      return { stage, ...base, shares };
    }
    case 'consistency-request':
      return { stage, ...base, survivors: idList('survivors', o['survivors'], round) };
    default: {
      const signatures = asArray('signatures', o['signatures'], n).map((x, i) => {
        const s = asObject(`signatures[${i}]`, x);
        return { id: id(`signatures[${i}].id`, s['id']), signature: bytes(`signatures[${i}].signature`, s['signature'], 64) };
      });
      return { stage: 'unmask-request', ...base, survivors: idList('survivors', o['survivors'], round), dropped: idList('dropped', o['dropped'], round), signatures };
    }
  }
}

/**
 * Splits a whole masked-input message into chunk messages of at most `chunkWords` words each,
 * for streaming; the server sums chunks as they arrive (in order, per sender).
 */
export function splitMaskedInput(msg: MaskedInputMessage, chunkWords: number): MaskedInputMessage[] {
  assertInt('chunkWords', chunkWords, 1, 2 ** 29);
  if (typeof msg !== 'object' || msg === null || !(msg.words instanceof Uint32Array)) bad('words', 'expected a masked-input message');
  const out: MaskedInputMessage[] = [];
  for (let off = 0; off < msg.words.length; off += chunkWords) {
    out.push({ ...msg, offset: msg.offset + off, words: msg.words.subarray(off, Math.min(msg.words.length, off + chunkWords)) });
  }
  return out;
}
