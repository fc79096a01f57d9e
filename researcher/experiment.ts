/**
 * The researcher SDK: an {@link Experiment} trains a plan across the federation.
 *
 *   const exp = new Experiment({ id: 'wdbc-1', plan, tags: ['breast-cancer'], rounds: 20,
 *     secagg: 'masking', dp: { mode: 'distributed', noiseMultiplier: 4, clipNorm: 1, delta: 1e-5 },
 *     minNodes: 3, trainingArgs: { learningRate: 1, epochs: 1, batchSize: 64 } });
 *   const result = await exp.run(client, { onRound: (r) => console.log(r.round, r.accuracy) });
 *
 * Round 0 is federated preprocessing (secure sums of feature counts, sums and sums of squares →
 * global means and standard deviations, no site's statistics revealed); rounds 1..R train
 * (each node evaluates the incoming model on its held-out rows inside the same secure sum);
 * a last round evaluates the final model. Server-side optimizer: FedAvg of the released sum.
 *
 * Checkpoints are written atomically after every round; {@link Experiment.resume} continues
 * from the checkpoint and replays any round the aggregator completed after it (the aggregator's
 * store is the source of truth for released sums).
 */
import { existsSync, readFileSync } from 'node:fs';
import { FedsecError, InvalidArgumentError } from '../common/errors.ts';
import { assertInt, assertString, ID_PATTERN } from '../common/validate.ts';
import { f64FromBytes, f64ToBytes } from '../proto/chunks.ts';
import type { FederationClient } from '../proto/client.ts';
import { writeFileDurable } from '../proto/durable.ts';
import { decodePlanBundle, encodePlanBundle, planHash, type PlanBundle } from '../proto/plan.ts';
import { decodeVectorSum, distributedCodecSpec, encodedLength } from '../proto/secagg.ts';
import { decodeEngineMessage, encodeEngineMessage } from '../proto/envelope.ts';
import { JlResearcher, JlSetupResearcher, parseModulus, type JlAggregate, type JlModulus, type JlSetupAdvertise, type JlSetupSum, type JlUnmaskProposal } from '../crypto/jl/index.ts';
import type { Roster } from '../crypto/roster.ts';
import { verifyRoster } from '../pki/roster.ts';
import { toHex } from '../crypto/bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { wideExponent } from '../proto/widecodec.ts';
import { EVAL_LENGTH, TRAIN_TAIL, trainContributionLength, validateArgs, validateDp, type DpRequest, type SecAggScheme, type TrainingArgs } from '../proto/work.ts';
import { planFromBundle, planToBundle, type TrainingPlan } from './plans/index.ts';

/** Experiment configuration (also the JSON of `fedsec experiment run`). */
export interface ExperimentConfig {
  readonly id: string;
  /** The plan (builder output) or an encoded plan bundle. */
  readonly plan: TrainingPlan | Uint8Array;
  /** Dataset tags; nodes holding the first tag take part. */
  readonly tags: readonly string[];
  /** Training rounds. */
  readonly rounds: number;
  readonly secagg: 'masking' | 'jl' | false;
  readonly dp: DpRequest | false;
  /** Minimum number of nodes in every released sum (default 3; the aggregator's floor applies too). */
  readonly minNodes?: number;
  readonly trainingArgs: TrainingArgs;
  /** Run federated standardization first (default true). */
  readonly standardize?: boolean;
  /** Stage timeout per round (ms, default 60 000). */
  readonly stageTimeoutMs?: number;
  /** Largest |value| of any contribution coordinate (fixed-point codec clip, default 1e5). */
  readonly codecClip?: number;
  /** Bound on |Σ| of one site's feature statistics (wide codec range, default 1e12). */
  readonly statsBound?: number;
  /** Attempts per round before giving up (default 3). */
  readonly maxAttempts?: number;
  /** Most nodes a round may invite (sizes the codec for distributed DP; default 16). */
  readonly maxNodes?: number;
}

/** One round of the history. */
export interface RoundSummary {
  readonly round: number;
  readonly kind: 'stats' | 'train' | 'eval';
  readonly tag: string;
  readonly attempt: number;
  readonly participants: readonly string[];
  /** Mean training loss over contributors (train rounds). */
  readonly trainLoss?: number;
  /** Accuracy on the nodes' held-out rows of the model entering this round (train, eval rounds). */
  readonly accuracy?: number;
  readonly testLoss?: number;
  readonly testRows?: number;
  /** Cumulative ε per node dataset after this round (DP rounds). */
  readonly epsilon?: Readonly<Record<string, number>>;
  readonly trainingArgs?: TrainingArgs;
  readonly seconds: number;
}

/** Outcome of {@link Experiment.run}. */
export interface ExperimentResult {
  readonly id: string;
  readonly plan: string;
  readonly params: Float64Array;
  readonly history: readonly RoundSummary[];
  /** Federated test accuracy of the final model. */
  readonly accuracy: number;
  readonly testLoss: number;
  /** Largest cumulative ε over the node datasets (0 without DP). */
  readonly epsilon: number;
  readonly delta: number;
  readonly standardization?: { readonly mean: readonly number[]; readonly std: readonly number[] };
}

/** Options of {@link Experiment.run}. */
export interface RunOptions {
  /** Called after each round; may return new training arguments for the next rounds (within the nodes' ranges). */
  readonly onRound?: (r: RoundSummary, params: Float64Array) => void | Partial<TrainingArgs> | Promise<void | Partial<TrainingArgs>>;
  /** Every aggregator event (progress, refusal, dropout). */
  readonly onEvent?: (round: number, type: string, body: Record<string, unknown>) => void;
  /** Checkpoint file written after every round. */
  readonly checkpoint?: string;
  /** Joye-Libert (secagg 'jl'): the researcher's identity and the CA that signed the roster. */
  readonly jl?: JlResearcherOptions;
}

/** What the researcher needs for Joye-Libert rounds. */
export interface JlResearcherOptions {
  /** This researcher's member id and raw Ed25519 identity secret (32 bytes). */
  readonly identity: { readonly id: string; readonly secretKey: Uint8Array };
  /** Federation CA certificate, to verify the relayed roster. */
  readonly caCert: string | Uint8Array;
  /** Pinned modulus fingerprint (hex); without it any modulus of at least 2048 bits is accepted. */
  readonly modulusFingerprint?: string;
}

interface Checkpoint {
  readonly format: 'fedsec-experiment-checkpoint/1';
  readonly id: string;
  readonly plan: string;
  readonly nextRound: number;
  readonly params: string;
  readonly history: RoundSummary[];
  readonly args: TrainingArgs;
  readonly standardization?: { mean: number[]; std: number[] };
}

const RETRYABLE = new Set(['ERR_AGG_UPLOAD', 'ERR_AGG_STAGE_TIMEOUT', 'ERR_SECAGG_INCOMPLETE_UPLOAD', 'ERR_AGG_ABORTED']);

/** A federated training experiment. */
export class Experiment {
  readonly config: ExperimentConfig;
  readonly bundle: PlanBundle;
  readonly encodedPlan: Uint8Array;
  readonly planHash: string;
  #args: TrainingArgs;
  #params: Float64Array;
  #history: RoundSummary[] = [];
  #standardization: { mean: number[]; std: number[] } | undefined;
  #nextRound = 0;
  /** Joye-Libert key-setup id of this run (a fresh setup per process). */
  readonly #jlSetupId: string;
  readonly #jl = new Map<string, { setup?: JlSetupResearcher; engine?: JlResearcher; modulus: JlModulus; roster: Roster }>();

  constructor(config: ExperimentConfig) {
    assertString('id', config.id, 128, ID_PATTERN);
    assertInt('rounds', config.rounds, 1, 10_000);
    if (!Array.isArray(config.tags) || config.tags.length < 1) throw new InvalidArgumentError('tags', 'name at least one dataset tag');
    for (const [i, t] of config.tags.entries()) assertString(`tags[${i}]`, t, 128, ID_PATTERN);
    if (config.secagg !== false && config.secagg !== 'masking' && config.secagg !== 'jl') throw new InvalidArgumentError('secagg', "expected 'masking', 'jl' or false");
    if (config.dp !== false) validateDp(config.dp, 'argument');
    if (config.minNodes !== undefined) assertInt('minNodes', config.minNodes, 1, 1024);
    this.config = config;
    this.#args = validateArgs(config.trainingArgs, 'argument', 'trainingArgs');
    this.encodedPlan = config.plan instanceof Uint8Array ? config.plan : encodePlanBundle(planToBundle(config.plan));
    this.bundle = decodePlanBundle(this.encodedPlan);
    this.planHash = planHash(this.encodedPlan);
    this.#params = Float64Array.from(planFromBundle(this.bundle).initialParameters);
    this.#jlSetupId = `${config.id.slice(0, 100)}-jl-${toHex(randomBytes(6))}`;
  }

  /** Current global parameters. */
  get params(): Float64Array {
    return Float64Array.from(this.#params);
  }

  /** History so far. */
  get history(): readonly RoundSummary[] {
    return this.#history;
  }

  /** Changes the training arguments used from the next round on. */
  setTrainingArgs(args: Partial<TrainingArgs>): void {
    this.#args = validateArgs({ ...this.#args, ...args }, 'argument', 'trainingArgs');
  }

  /** Loads a checkpoint written by {@link run} (same id and plan); the next run continues from it. */
  resume(path: string): this {
    if (!existsSync(path)) return this;
    const c = JSON.parse(readFileSync(path, 'utf8')) as Checkpoint;
    if (c.format !== 'fedsec-experiment-checkpoint/1' || c.id !== this.config.id || c.plan !== this.planHash) {
      throw new InvalidArgumentError('checkpoint', `${path} belongs to another experiment or plan`);
    }
    this.#nextRound = c.nextRound;
    this.#params = f64FromBytes(new Uint8Array(Buffer.from(c.params, 'base64')));
    this.#history = [...c.history];
    this.#args = c.args;
    if (c.standardization !== undefined) this.#standardization = c.standardization;
    return this;
  }

  /** Total rounds of the experiment: preprocessing, training, final evaluation. */
  get totalRounds(): number {
    return (this.#doStats() ? 1 : 0) + this.config.rounds + 1;
  }

  /** Runs (or continues) the experiment to the end. */
  async run(client: FederationClient, opts: RunOptions = {}): Promise<ExperimentResult> {
    const uploaded = await client.uploadBlob(this.encodedPlan);
    if (uploaded !== this.planHash) throw new FedsecError('ERR_TRANSPORT', 'the aggregator stored the plan under another hash');
    let known: Array<Record<string, unknown>> = [];
    try {
      const info = await client.call('GetExperiment', { id: this.config.id });
      known = info['rounds'] as Array<Record<string, unknown>>;
    } catch (e) {
      if (!(e instanceof FedsecError) || e.code !== 'ERR_AGG_EXPERIMENT_UNKNOWN') throw e;
      await client.call('CreateExperiment', { id: this.config.id, plans: [this.planHash], rounds: this.config.rounds, tags: this.config.tags });
    }
    const total = this.totalRounds;
    for (let r = this.#nextRound; r < total; r++) {
      const kind = this.#kindOf(r);
      const t0 = Date.now();
      const done = known.find((k) => k['round'] === r && k['status'] === 'completed');
      const res = done !== undefined
        ? { tag: done['tag'], attempt: done['attempt'], contributors: done['contributors'], resultHash: done['result'], metrics: done['metrics'] } as Record<string, unknown>
        : await this.#runWithRetries(client, r, kind, opts);
      const blob = await client.download(String(res['resultHash']));
      const sum = res['encrypted'] === true ? await this.#jlDecrypt(blob, kind, res) : f64FromBytes(blob);
      const summary = this.#apply(r, kind, res, sum, (Date.now() - t0) / 1000);
      this.#history.push(summary);
      this.#nextRound = r + 1;
      if (opts.checkpoint !== undefined) this.#saveCheckpoint(opts.checkpoint);
      const change = await opts.onRound?.(summary, this.params);
      if (change) this.setTrainingArgs(change);
    }
    const last = this.#history.at(-1)!;
    const epsilons = this.#history.flatMap((h) => Object.values(h.epsilon ?? {}));
    return {
      id: this.config.id, plan: this.planHash, params: this.params, history: this.#history,
      accuracy: last.accuracy ?? Number.NaN, testLoss: last.testLoss ?? Number.NaN,
      epsilon: epsilons.length === 0 ? 0 : Math.max(...epsilons), delta: this.config.dp === false ? 0 : this.config.dp.delta,
      ...(this.#standardization === undefined ? {} : { standardization: this.#standardization }),
    };
  }

  #doStats(): boolean {
    return this.config.standardize !== false;
  }

  #kindOf(r: number): 'stats' | 'train' | 'eval' {
    if (this.#doStats() && r === 0) return 'stats';
    return r === this.totalRounds - 1 ? 'eval' : 'train';
  }

  async #runWithRetries(client: FederationClient, round: number, kind: 'stats' | 'train' | 'eval', opts: RunOptions): Promise<Record<string, unknown>> {
    const attempts = this.config.maxAttempts ?? 3;
    for (let a = 1; ; a++) {
      try {
        const model = kind === 'stats' ? undefined : await client.uploadBlob(f64ToBytes(this.#params));
        let tag = '';
        let chain: Promise<void> = Promise.resolve();
        let jlError: unknown;
        const res = await client.runRound(this.#roundBody(round, kind, model), (t, b) => {
          if (t === 'progress' && typeof b['tag'] === 'string') tag = b['tag'];
          if (t === 'relay') {
            chain = chain.then(() => this.#onJlMessage(client, tag, b, opts)).catch((e: unknown) => { jlError ??= e; });
            return;
          }
          opts.onEvent?.(round, t, b);
        });
        await chain;
        if (jlError !== undefined) throw jlError;
        return res;
      } catch (e) {
        if (a >= attempts || !(e instanceof FedsecError) || !RETRYABLE.has(e.code)) throw e;
        opts.onEvent?.(round, 'retry', { code: e.code, message: e.message, attempt: a + 1 });
      }
    }
  }

  /** Handles a Joye-Libert engine message relayed by the aggregator. */
  async #onJlMessage(client: FederationClient, tag: string, b: Record<string, unknown>, opts: RunOptions): Promise<void> {
    const jl = opts.jl;
    if (jl === undefined) throw new InvalidArgumentError('jl', 'a Joye-Libert round needs RunOptions.jl (identity and CA certificate)');
    const msg = decodeEngineMessage(new Uint8Array(Buffer.from(String(b['payload'] ?? ''), 'base64'))) as Record<string, unknown>;
    const reply = (m: unknown): Promise<void> => client.roundReply(tag, encodeEngineMessage(m));
    const setupId = String(msg['setupId'] ?? '');
    if (setupId !== this.#jlSetupId) throw new InvalidArgumentError('setupId', 'the aggregator relayed a message of another key setup');
    switch (msg['stage']) {
      case 'jl/setup/start': {
        if (msg['researcher'] !== jl.identity.id) throw new InvalidArgumentError('researcher', 'the key setup names another researcher');
        const modulus = parseModulus(msg['modulus'], jl.modulusFingerprint === undefined ? {} : { expectedFingerprint: jl.modulusFingerprint });
        const roster = verifyRoster(msg['roster'], jl.caCert).toRoster();
        const setup = new JlSetupResearcher({ roster, modulus, setupId, nodes: msg['nodes'] as string[], researcher: jl.identity.id, threshold: Number(msg['threshold']) }, jl.identity);
        this.#jl.set(setupId, { setup, modulus, roster });
        await reply(setup.advertise());
        return;
      }
      case 'jl/setup/ads':
        this.#jlState(setupId).setup!.accept(msg['ads'] as JlSetupAdvertise[]);
        return;
      case 'jl/setup/sums': {
        const st = this.#jlState(setupId);
        for (const s of msg['sums'] as JlSetupSum[]) st.setup!.receive(s);
        st.engine = new JlResearcher(st.setup!.keys(), st.modulus, jl.identity, st.roster);
        st.setup = undefined;
        return;
      }
      case 'jl/round/unmask-proposal': {
        const engine = this.#jlState(setupId).engine;
        if (engine === undefined) throw new InvalidArgumentError('setup', 'Joye-Libert key setup did not complete');
        const p = msg as unknown as JlUnmaskProposal;
        await engine.precompute(p.tag, p.valueCount, p.valueBits);
        await reply(engine.approve(p));
        return;
      }
      default:
        throw new InvalidArgumentError('stage', 'unexpected Joye-Libert message');
    }
  }

  #jlState(setupId: string): { setup?: JlSetupResearcher; engine?: JlResearcher; modulus: JlModulus; roster: Roster } {
    const st = this.#jl.get(setupId);
    if (st === undefined) throw new InvalidArgumentError('setupId', 'no Joye-Libert key setup in this run');
    return st;
  }

  /** Decrypts a Joye-Libert aggregate into the real-valued sum. */
  async #jlDecrypt(blob: Uint8Array, kind: 'stats' | 'train' | 'eval', res: Record<string, unknown>): Promise<Float64Array> {
    const engine = this.#jl.get(this.#jlSetupId)?.engine;
    if (engine === undefined) throw new FedsecError('ERR_JL_ROUND', 'this encrypted aggregate belongs to a key setup of another run; it cannot be replayed');
    const agg = decodeEngineMessage(blob) as JlAggregate;
    const out = await engine.finalize(agg);
    const codec = this.#codecFor(kind);
    return decodeVectorSum(codec, out.ring, Number(res['invited'] ?? out.survivors.length), out.survivors.length);
  }

  #codecFor(kind: 'stats' | 'train' | 'eval'): Record<string, unknown> {
    const c = this.config;
    if (kind === 'stats') return { type: 'wide', exp: wideExponent(c.statsBound ?? 1e12) };
    const clip = c.codecClip ?? 1e5;
    if (kind !== 'train' || c.dp === false || c.dp.mode !== 'distributed' || c.secagg === false) return { type: 'fixed', bits: 32, clip };
    return distributedCodecSpec({
      clip, sensitivity: this.#args.learningRate * c.dp.clipNorm, noiseMultiplier: c.dp.noiseMultiplier,
      minHonest: c.minNodes ?? 3, dimension: this.bundle.numParams, maxNodes: c.maxNodes ?? 16,
    });
  }

  #roundBody(round: number, kind: 'stats' | 'train' | 'eval', model: string | undefined): Record<string, unknown> {
    const c = this.config;
    const secagg: SecAggScheme = c.secagg === false ? 'off' : c.secagg;
    const dp: DpRequest = c.dp === false || kind !== 'train' ? { mode: 'off', noiseMultiplier: 0, clipNorm: 1, delta: c.dp === false ? 1e-5 : c.dp.delta } : c.dp;
    const F = Number(this.bundle.meta['features'] ?? 0);
    const real = kind === 'stats' ? 1 + 2 * F : kind === 'eval' ? EVAL_LENGTH : trainContributionLength(this.bundle.numParams);
    const codec = { ...this.#codecFor(kind), ...(secagg === 'jl' ? { jlSetup: this.#jlSetupId } : {}) };
    return {
      experiment: c.id, round, kind, tag: c.tags[0], plan: this.planHash, ...(model === undefined ? {} : { model }),
      args: this.#args, secagg, dp, minParticipants: c.minNodes ?? 3,
      vectorLength: secagg === 'off' ? real : encodedLength(codec, real), codec,
      stageTimeoutMs: c.stageTimeoutMs ?? 60_000,
      ...(this.#standardization === undefined || kind === 'stats' ? {} : { standardize: this.#standardization }),
    };
  }

  #apply(round: number, kind: 'stats' | 'train' | 'eval', res: Record<string, unknown>, sum: Float64Array, seconds: number): RoundSummary {
    const base = { round, kind, tag: String(res['tag']), attempt: Number(res['attempt']), participants: (res['contributors'] as string[]) ?? [], seconds };
    const metrics = (res['metrics'] ?? {}) as Record<string, unknown>;
    const nodes = (metrics['nodes'] ?? {}) as Record<string, Record<string, unknown>>;
    const epsilon: Record<string, number> = {};
    for (const [n, m] of Object.entries(nodes)) if (typeof m['epsilon'] === 'number') epsilon[n] = m['epsilon'];
    if (kind === 'stats') {
      const F = (sum.length - 1) / 2;
      const count = Math.round(sum[0]!);
      const mean: number[] = [];
      const std: number[] = [];
      for (let j = 0; j < F; j++) {
        const m = sum[1 + j]! / count;
        const v = Math.max(0, sum[1 + F + j]! / count - m * m);
        mean.push(m);
        std.push(Math.sqrt(v) > 1e-12 * Math.max(1, Math.abs(m)) ? Math.sqrt(v) : 1);
      }
      this.#standardization = { mean, std };
      return { ...base, testRows: count };
    }
    if (kind === 'eval') {
      return { ...base, accuracy: sum[0]! / Math.max(sum[1]!, 1), testLoss: sum[2]! / Math.max(sum[1]!, 1), testRows: Math.round(sum[1]!) };
    }
    const P = this.bundle.numParams;
    if (sum.length !== P + TRAIN_TAIL) throw new FedsecError('ERR_INVALID_MESSAGE', `aggregate has ${sum.length} values, expected ${P + TRAIN_TAIL}`);
    const w = sum[P]!;
    if (!(w > 0)) throw new FedsecError('ERR_INVALID_MESSAGE', 'aggregate weight is not positive');
    for (let i = 0; i < P; i++) this.#params[i]! += sum[i]! / w;
    return {
      ...base, trainLoss: sum[P + 1]! / w, accuracy: sum[P + 2]! / Math.max(sum[P + 3]!, 1), testLoss: sum[P + 4]! / Math.max(sum[P + 3]!, 1),
      testRows: Math.round(sum[P + 3]!), trainingArgs: { ...this.#args }, ...(Object.keys(epsilon).length > 0 ? { epsilon } : {}),
    };
  }

  #saveCheckpoint(path: string): void {
    const c: Checkpoint = {
      format: 'fedsec-experiment-checkpoint/1', id: this.config.id, plan: this.planHash, nextRound: this.#nextRound,
      params: Buffer.from(f64ToBytes(this.#params)).toString('base64'), history: this.#history, args: this.#args,
      ...(this.#standardization === undefined ? {} : { standardization: this.#standardization }),
    };
    writeFileDurable(path, JSON.stringify(c), 0o600);
  }
}
