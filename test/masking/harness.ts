/** In-memory federation and message router for the masking engine tests (real engines, no mocks). */
import { generateSigningKeyPair } from '../../crypto/ed25519.ts';
import { seededRandomSource, type RandomSource } from '../../crypto/random.ts';
import { Roster, type RosterMember } from '../../crypto/roster.ts';
import { MaskingClient } from '../../crypto/masking/client.ts';
import { MaskingServer, type MaskingResult } from '../../crypto/masking/server.ts';
import type { MaskingConfig } from '../../crypto/masking/config.ts';
import type { AdvertiseKeysMessage, ClientMessage, Outgoing } from '../../crypto/masking/messages.ts';
import { isFedsecError } from '../../common/errors.ts';

export const FED = 'fed-test';
export const AGG = 'aggregator-1';

export interface Federation {
  readonly roster: Roster;
  readonly ids: string[];
  readonly secrets: Map<string, Uint8Array>;
}

/** n nodes (node-00..), one aggregator and one researcher, with deterministic identity keys. */
export function makeFederation(n: number, seedByte = 1): Federation {
  const rng = seededRandomSource(new Uint8Array(32).fill(seedByte));
  const members: RosterMember[] = [];
  const secrets = new Map<string, Uint8Array>();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `node-${String(i).padStart(2, '0')}`;
    const kp = generateSigningKeyPair(rng);
    members.push({ id, role: 'node', identityKey: kp.publicKey });
    secrets.set(id, kp.secretKey);
    ids.push(id);
  }
  const agg = generateSigningKeyPair(rng);
  members.push({ id: AGG, role: 'aggregator', identityKey: agg.publicKey });
  members.push({ id: 'researcher-1', role: 'researcher', identityKey: generateSigningKeyPair(rng).publicKey });
  return { roster: new Roster(FED, members), ids, secrets };
}

export function makeConfig(fed: Federation, over: Partial<MaskingConfig> = {}): MaskingConfig {
  const n = fed.ids.length;
  return { federation: FED, round: 7, aggregator: AGG, participants: fed.ids, threshold: Math.floor((2 * n) / 3) + 1, vectorLength: 8, bits: 32, ...over };
}

export function makeClients(fed: Federation, config: MaskingConfig, rng?: RandomSource): Map<string, MaskingClient> {
  const r = rng ?? seededRandomSource(new Uint8Array(32).fill(9));
  return new Map(fed.ids.map((id) => [id, new MaskingClient({ config, roster: fed.roster, id, identitySecretKey: fed.secrets.get(id)!, rng: r })]));
}

/** Deterministic input of member `id` (words in Z_(2^bits)). */
export function inputOf(ids: string[], id: string, len: number, bits: number): Uint32Array {
  const k = ids.indexOf(id);
  const out = new Uint32Array(len);
  for (let i = 0; i < len; i++) out[i] = (Math.imul(k + 1, 2654435761) + i * 40503 + (k * i) ** 2) >>> (32 - bits);
  return out;
}

export function plainSum(inputs: Uint32Array[], len: number, bits: number): Uint32Array {
  const out = new Uint32Array(len);
  for (const x of inputs) for (let i = 0; i < len; i++) out[i] = out[i]! + x[i]!;
  if (bits < 32) for (let i = 0; i < len; i++) out[i] = out[i]! & ((2 ** bits - 1) >>> 0);
  return out;
}

/** Client stages at which a member can drop (it sends nothing from that stage on). */
export const DROP_STAGES = ['advertise-keys', 'share-keys', 'masked-input', 'consistency', 'unmask'] as const;
export type DropStage = (typeof DROP_STAGES)[number];

export interface RunResult {
  readonly result?: MaskingResult;
  readonly error?: string;
  readonly inputs: Map<string, Uint32Array>;
}

/**
 * Runs one honest round with members dropping at the given stages; returns the server's result
 * or the typed error code that ended the round (server side).
 */
export function runRound(fed: Federation, config: MaskingConfig, drops: ReadonlyMap<string, DropStage> = new Map()): RunResult {
  const server = new MaskingServer(config, fed.roster);
  const clients = makeClients(fed, config);
  const inputs = new Map(fed.ids.map((id) => [id, inputOf(fed.ids, id, config.vectorLength, config.bits)]));
  const gone = new Set<string>();
  const dropAt = (id: string, stage: DropStage): boolean => {
    if (drops.get(id) === stage) gone.add(id);
    return gone.has(id);
  };
  try {
    let out: Outgoing[] = [];
    for (const [id, c] of clients) {
      if (dropAt(id, 'advertise-keys')) continue;
      out = out.concat(server.receive(c.advertiseKeys()));
    }
    if (server.stage === 'advertise-keys') out = server.closeStage();
    const next: Record<string, DropStage> = { keys: 'share-keys', shares: 'masked-input', 'consistency-request': 'consistency', 'unmask-request': 'unmask' };
    while (out.length > 0) {
      const stageBefore = server.stage;
      let replies: Outgoing[] = [];
      for (const o of out) {
        if (dropAt(o.to, next[o.message.stage]!)) continue;
        const reply: ClientMessage = clients.get(o.to)!.receive(o.message, inputs.get(o.to));
        replies = replies.concat(server.receive(reply));
      }
      if (server.stage === stageBefore) replies = server.closeStage();
      out = replies;
    }
    return { result: server.result(), inputs };
  } catch (e) {
    if (isFedsecError(e)) return { error: e.code, inputs };
    throw e;
  }
}

/** Captures the typed error code of `f` (or 'none' / 'untyped'). */
export function codeOf(f: () => unknown): string {
  try {
    f();
    return 'none';
  } catch (e) {
    return isFedsecError(e) ? e.code : `untyped: ${String(e)}`;
  }
}

/**
 * Step-by-step honest round for adversarial tests: the test plays (or replaces) the server
 * between stages. Messages pass through structuredClone, as over a real transport.
 */
export class Stepper {
  readonly server: MaskingServer;
  readonly clients: Map<string, MaskingClient>;
  readonly inputs: Map<string, Uint32Array>;
  constructor(readonly fed: Federation, readonly config: MaskingConfig, rngSeed = 9) {
    this.server = new MaskingServer(config, fed.roster);
    this.clients = makeClients(fed, config, seededRandomSource(new Uint8Array(32).fill(rngSeed)));
    this.inputs = new Map(fed.ids.map((id) => [id, inputOf(fed.ids, id, config.vectorLength, config.bits)]));
  }
  /** All clients advertise; returns their messages. */
  advertise(skip: ReadonlySet<string> = new Set()): AdvertiseKeysMessage[] {
    return [...this.clients].filter(([id]) => !skip.has(id)).map(([, c]) => c.advertiseKeys());
  }
  /** Delivers server messages to clients; returns the clients' replies. */
  toClients(out: readonly Outgoing[], skip: ReadonlySet<string> = new Set()): ClientMessage[] {
    return out.filter((o) => !skip.has(o.to)).map((o) => this.clients.get(o.to)!.receive(structuredClone(o.message), this.inputs.get(o.to)));
  }
  /** Feeds replies to the honest server, closing the stage if it did not close by itself. */
  toServer(replies: readonly ClientMessage[]): Outgoing[] {
    const before = this.server.stage;
    let out: Outgoing[] = [];
    for (const m of replies) out = out.concat(this.server.receive(structuredClone(m)));
    return this.server.stage === before ? this.server.closeStage() : out;
  }
}
