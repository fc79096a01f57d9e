/**
 * Benchmark of the pairwise-masking engine: one full in-memory round with real clients and a
 * real server (no transport), timing the client's setup and masking, the server's unmasking
 * with dropouts, and, in the same run, the raw PRG bound: the time to expand the same number
 * of mask bytes with AES-256-CTR alone, which no masking scheme can beat.
 */
import { InvalidArgumentError } from '../common/errors.ts';
import { assertInt } from '../common/validate.ts';
import { generateSigningKeyPair } from '../crypto/ed25519.ts';
import { aesCtrKeystream } from '../crypto/prg.ts';
import { randomBytes, systemRandom } from '../crypto/random.ts';
import { Roster, type RosterMember } from '../crypto/roster.ts';
import { MaskingClient } from '../crypto/masking/client.ts';
import { MaskingServer } from '../crypto/masking/server.ts';
import { expandKeystreamOnly, maskBytesPerWord } from '../crypto/masking/masks.ts';
import { SIMD_ENABLED } from '../crypto/masking/simd.ts';
import type { MaskingConfig } from '../crypto/masking/config.ts';
import type { ClientMessage, MaskedInputMessage, Outgoing } from '../crypto/masking/messages.ts';

/** Options of {@link runMaskingBench}. */
export interface MaskingBenchOptions {
  /** Model parameters (vector length). */
  readonly params: number;
  /** Number of nodes. */
  readonly nodes: number;
  /** Neighbour count k (default: all-to-all, nodes - 1). */
  readonly neighbours?: number;
  /** Nodes that drop after sharing keys, before uploading their masked input (default 0). */
  readonly dropouts?: number;
  /** Ring width in bits (default 32). */
  readonly bits?: number;
  /** Shamir threshold (default ⌊2(k+1)/3⌋ + 1). */
  readonly threshold?: number;
  /** Rounds to run (fresh keys and inputs each); figures are medians over them (default 3). */
  readonly repeats?: number;
}

/** The figures {@link runMaskingBench} reports (times in milliseconds; per-client figures are medians over all clients of all rounds). */
export interface MaskingBenchResult {
  readonly scheme: 'masking';
  readonly params: number;
  readonly nodes: number;
  readonly neighbours: number;
  readonly dropouts: number;
  readonly threshold: number;
  readonly bits: number;
  readonly repeats: number;
  /** Per client: fresh keys, advertisement, verifying neighbours' keys, Shamir split and share encryption. */
  readonly clientSetupMs: number;
  /** Per client: decrypting shares, key agreements and computing the masked input. */
  readonly clientMaskMs: number;
  /**
   * Per client, in the same run: the raw PRG bound, the faster of {@link prgStreamedMs} and
   * {@link prgOneShotMs} for the same (k + 1) × 4 × params mask bytes (the client's masks).
   */
  readonly prgBoundMs: number;
  /** Raw keystream for the same bytes streamed in the engine's blocks, no arithmetic. */
  readonly prgStreamedMs: number;
  /** The same expansions as one-shot `aesCtrKeystream` calls of 4 × params bytes each (as `expandMask` does). */
  readonly prgOneShotMs: number;
  /** Whether the WebAssembly SIMD kernel did the word arithmetic. */
  readonly simd: boolean;
  /** clientMaskMs / prgBoundMs. */
  readonly clientMaskOverPrg: number;
  /** Server: summing all masked inputs as they arrive. */
  readonly serverAggregateMs: number;
  /** Server: accepting the unmask answers, reconstructing secrets and removing the masks (median over rounds). */
  readonly serverUnmaskMs: number;
  /** serverUnmaskMs of each round, to show the spread. */
  readonly serverUnmaskMsRuns: readonly number[];
  /** Masks the server expands to unmask: one self mask per survivor, one pairwise mask per (dropped, surviving neighbour) pair. */
  readonly serverMasks: number;
  /** In the same run: the raw keystream of those masks (the bound for serverUnmaskMs). */
  readonly serverPrgBoundMs: number;
  /** Bytes of masked input uploaded per parameter. */
  readonly uploadBytesPerParam: number;
  /** All bytes a client sends in the round (keys, shares, masked input, signature, unmask) per parameter. */
  readonly totalClientUploadBytesPerParam: number;
  /** True when the server's sum equals the plain sum of the survivors' inputs. */
  readonly exact: boolean;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Rough wire size of a message: the bytes of its binary fields plus its strings. */
function wireBytes(m: unknown): number {
  if (m instanceof Uint8Array || m instanceof Uint32Array) return m.byteLength;
  if (typeof m === 'string') return m.length;
  if (typeof m === 'number') return 8;
  if (Array.isArray(m)) return m.reduce((a: number, x) => a + wireBytes(x), 0);
  if (typeof m === 'object' && m !== null) return Object.values(m).reduce((a: number, x) => a + wireBytes(x), 0);
  return 0;
}

/** Runs `repeats` complete rounds and returns the measured figures (medians). Throws `ERR_INVALID_ARGUMENT` for bad options. */
export function runMaskingBench(opts: MaskingBenchOptions): MaskingBenchResult {
  assertInt('params', opts.params, 1, 2 ** 27);
  assertInt('nodes', opts.nodes, 2, 1000);
  const n = opts.nodes;
  const k = opts.neighbours ?? n - 1;
  assertInt('neighbours', k, 1, n - 1);
  const dropouts = opts.dropouts ?? 0;
  assertInt('dropouts', dropouts, 0, n - 2);
  const bits = opts.bits ?? 32;
  assertInt('bits', bits, 1, 32);
  const threshold = opts.threshold ?? Math.floor((2 * (k + 1)) / 3) + 1;
  const repeats = opts.repeats ?? 3;
  assertInt('repeats', repeats, 1, 100);
  if (dropouts > k + 1 - threshold) throw new InvalidArgumentError('dropouts', `at most k + 1 - threshold = ${k + 1 - threshold} dropouts can be tolerated with k = ${k}, threshold = ${threshold}`);

  const members: RosterMember[] = [];
  const secrets = new Map<string, Uint8Array>();
  const ids = Array.from({ length: n }, (_, i) => `node-${String(i).padStart(4, '0')}`);
  for (const id of ids) {
    const kp = generateSigningKeyPair();
    members.push({ id, role: 'node', identityKey: kp.publicKey });
    secrets.set(id, kp.secretKey);
  }
  members.push({ id: 'aggregator', role: 'aggregator', identityKey: generateSigningKeyPair().publicKey });
  const roster = new Roster('bench-fed', members);
  const runs: RoundSample[] = [];
  for (let round = 1; round <= repeats; round++) runs.push(oneRound(roster, secrets, ids, round, opts.params, k, threshold, bits, dropouts));
  const all = (f: (r: RoundSample) => number[]): number[] => runs.flatMap(f);
  const clientMaskMs = median(all((r) => r.mask));
  const prgStreamedMs = median(all((r) => r.prg));
  const prgOneShotMs = median(all((r) => r.oneShot));
  // The bound is the faster of the two raw ways of expanding the same bytes.
  const prgBoundMs = Math.min(prgStreamedMs, prgOneShotMs);
  const unmaskRuns = runs.map((r) => r.unmask);
  return {
    scheme: 'masking',
    params: opts.params,
    nodes: n,
    neighbours: k,
    dropouts,
    threshold,
    bits,
    repeats,
    clientSetupMs: round2(median(all((r) => r.setup))),
    clientMaskMs: round2(clientMaskMs),
    prgBoundMs: round2(prgBoundMs),
    clientMaskOverPrg: round2(clientMaskMs / prgBoundMs),
    prgStreamedMs: round2(prgStreamedMs),
    prgOneShotMs: round2(prgOneShotMs),
    simd: SIMD_ENABLED,
    serverAggregateMs: round2(median(runs.map((r) => r.aggregate))),
    serverUnmaskMs: round2(median(unmaskRuns)),
    serverUnmaskMsRuns: unmaskRuns.map(round2),
    serverMasks: runs[0]!.serverMasks,
    serverPrgBoundMs: round2(median(runs.map((r) => r.serverPrg))),
    uploadBytesPerParam: runs[0]!.uploadBytesPerParam,
    totalClientUploadBytesPerParam: runs[0]!.totalUploadBytesPerParam,
    exact: runs.every((r) => r.exact),
  };
}

interface RoundSample {
  readonly setup: number[];
  readonly mask: number[];
  readonly prg: number[];
  readonly oneShot: number[];
  readonly aggregate: number;
  readonly unmask: number;
  readonly serverPrg: number;
  readonly serverMasks: number;
  readonly uploadBytesPerParam: number;
  readonly totalUploadBytesPerParam: number;
  readonly exact: boolean;
}

/** One complete round with fresh keys and inputs; raw timings. */
function oneRound(roster: Roster, secrets: Map<string, Uint8Array>, ids: string[], round: number, params: number, k: number, threshold: number, bits: number, dropouts: number): RoundSample {
  const n = ids.length;
  const opts = { params };
  const config: MaskingConfig = { federation: 'bench-fed', round, aggregator: 'aggregator', participants: ids, threshold, neighbours: k, vectorLength: opts.params, bits };
  const server = new MaskingServer(config, roster);
  const clients = new Map(ids.map((id) => [id, new MaskingClient({ config, roster, id, identitySecretKey: secrets.get(id)!, rng: systemRandom })]));
  const mod = bits === 32 ? 0 : (2 ** bits - 1) >>> 0;
  const inputs = new Map(ids.map((id) => {
    const x = new Uint32Array(randomBytes(4 * opts.params).buffer);
    if (bits < 32) for (let i = 0; i < x.length; i++) x[i] = x[i]! & mod;
    return [id, x] as const;
  }));
  const dropped = new Set(ids.slice(1, 1 + dropouts));
  const sent = new Map(ids.map((id) => [id, 0]));
  const record = (m: ClientMessage): ClientMessage => {
    sent.set(m.sender, sent.get(m.sender)! + wireBytes(m));
    return m;
  };
  const feed = (msgs: ClientMessage[]): Outgoing[] => {
    const before = server.stage;
    let out: Outgoing[] = [];
    for (const m of msgs) out = out.concat(server.receive(m));
    return server.stage === before ? server.closeStage() : out;
  };

  // Setup: advertise + share keys, timed per client.
  const setup = new Map<string, number>();
  const adv: ClientMessage[] = [];
  for (const [id, c] of clients) {
    const t0 = performance.now();
    adv.push(record(c.advertiseKeys()));
    setup.set(id, performance.now() - t0);
  }
  const keys = feed(adv);
  const sk: ClientMessage[] = [];
  for (const o of keys) {
    const t0 = performance.now();
    sk.push(record(clients.get(o.to)!.shareKeys(o.message)));
    setup.set(o.to, setup.get(o.to)! + performance.now() - t0);
  }
  const shares = feed(sk);

  // Masking, with the raw PRG bound measured right after each client, under the same load.
  const maskMs: number[] = [];
  const prgMs: number[] = [];
  const oneShotMs: number[] = [];
  const masked: MaskedInputMessage[] = [];
  const prgKey = randomBytes(32);
  const iv = new Uint8Array(16);
  for (const o of shares) {
    if (dropped.has(o.to)) continue;
    const c = clients.get(o.to)!;
    const t0 = performance.now();
    const m = c.maskInput(o.message, inputs.get(o.to)!);
    maskMs.push(performance.now() - t0);
    masked.push(record(m) as MaskedInputMessage);
    const expansions = (o.message.stage === 'shares' ? o.message.shares.length : 0) + 1;
    const t1 = performance.now();
    expandKeystreamOnly(expansions, opts.params, prgKey, maskBytesPerWord(bits));
    prgMs.push(performance.now() - t1);
    const t2 = performance.now();
    for (let e = 0; e < expansions; e++) aesCtrKeystream(prgKey, iv, maskBytesPerWord(bits) * opts.params);
    oneShotMs.push(performance.now() - t2);
  }
  const ta = performance.now();
  let cons: Outgoing[] = [];
  for (const m of masked) cons = cons.concat(server.receive(m));
  if (server.stage === 'masked-input') cons = server.closeStage();
  const serverAggregateMs = performance.now() - ta;
  const unmaskReq = feed(cons.map((o) => record(clients.get(o.to)!.receive(o.message))));
  const answers = unmaskReq.map((o) => record(clients.get(o.to)!.receive(o.message)));
  const tu = performance.now();
  feed(answers);
  const serverUnmaskMs = performance.now() - tu;

  const result = server.result();
  // In the same conditions: the raw keystream of the masks the server had to expand.
  const serverMasks = result.survivors.length + result.dropped.reduce((a, v) => a + result.survivors.filter((u) => server.round.areNeighbours(u, v)).length, 0);
  const tb = performance.now();
  expandKeystreamOnly(serverMasks, opts.params, prgKey, maskBytesPerWord(bits));
  const serverPrgBoundMs = performance.now() - tb;
  const expect = new Uint32Array(opts.params);
  for (const id of result.survivors) {
    const x = inputs.get(id)!;
    for (let i = 0; i < x.length; i++) expect[i] = expect[i]! + x[i]!;
  }
  if (bits < 32) for (let i = 0; i < expect.length; i++) expect[i] = expect[i]! & mod;
  let exact = result.survivors.length === n - dropouts;
  for (let i = 0; i < expect.length && exact; i++) exact = expect[i] === result.sum[i];
  const survivorsSent = result.survivors.map((id) => sent.get(id)!);

  return {
    setup: [...setup.values()],
    mask: maskMs,
    prg: prgMs,
    oneShot: oneShotMs,
    aggregate: serverAggregateMs,
    unmask: serverUnmaskMs,
    serverPrg: serverPrgBoundMs,
    serverMasks,
    uploadBytesPerParam: masked[0]!.words.byteLength / params,
    totalUploadBytesPerParam: Math.round((median(survivorsSent) / params) * 1e4) / 1e4,
    exact,
  };
}
