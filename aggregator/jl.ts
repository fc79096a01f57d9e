/**
 * Joye-Libert secure aggregation on the aggregator side (crypto/jl). The aggregator holds no
 * key: it relays the dealer-free key setup between the nodes and the researcher (the first JL
 * round of a setup id runs it with the accepted nodes), multiplies the nodes' ciphertexts into
 * the product as submissions arrive, proposes the survivor set to the researcher, relays the
 * researcher's signed unmask request and the nodes' responses, and releases the aggregate
 * (product + responses), which only the researcher can decrypt.
 */
import { InvalidMessageError } from '../common/errors.ts';
import {
  JlAggregatorRound, JlSetupRelay, type JlModulus, type JlSetupAdvertise, type JlSetupShares, type JlSetupSum,
  type JlSubmission, type JlUnmaskRequest, type JlUnmaskResponse, modulusToJson,
} from '../crypto/jl/index.ts';
import { encodeEngineMessage } from '../proto/envelope.ts';
import { AggregatorError } from './errors.ts';
import type { RoundContext, SchemeEnv, SchemeResult, SchemeServer, UploadSink } from './schemes.ts';

/** Ring width of the values the nodes encrypt (the fixed-point / wide codecs' words). */
export const JL_VALUE_BITS = 32;

/** A completed key setup, remembered across rounds. */
export interface JlSetupRecord {
  readonly setupId: string;
  readonly nodes: readonly string[];
  readonly threshold: number;
  readonly researcher: string;
}

/** What the JL scheme needs beyond {@link SchemeEnv}. */
export interface JlEnv {
  readonly modulus: JlModulus;
  /** Setups completed in this aggregator process, by id. */
  readonly setups: Map<string, JlSetupRecord>;
  /** The researcher who owns the experiment. */
  readonly researcher: string;
  /** Sends an engine message to the researcher (RunRound event). */
  readonly toResearcher: (msg: { stage: string }) => void;
  /** The CA-signed roster, forwarded so the researcher can verify the nodes' identity keys. */
  readonly rosterDoc: () => unknown;
}

/** JL threshold for n setup nodes: a majority, and never below the round's minimum. */
export function jlThreshold(n: number, minParticipants: number): number {
  return Math.min(n, Math.max(Math.floor(n / 2) + 1, minParticipants));
}

/** The JL scheme's aggregator side. */
export class JlSchemeServer implements SchemeServer {
  readonly #ctx: RoundContext;
  readonly #env: SchemeEnv;
  readonly #jl: JlEnv;
  #relay: JlSetupRelay | undefined;
  #round: JlAggregatorRound | undefined;

  constructor(ctx: RoundContext, env: SchemeEnv, jl: JlEnv) {
    this.#ctx = ctx;
    this.#env = env;
    this.#jl = jl;
  }

  openUpload(): UploadSink {
    throw new AggregatorError('ERR_AGG_UPLOAD', 'Joye-Libert submissions travel on the Session stream');
  }

  /** Engine messages from nodes. */
  onRelay(from: string, msg: unknown): void {
    const m = msg as { stage?: unknown; from?: unknown };
    if (typeof m !== 'object' || m === null || m.from !== from) throw new InvalidMessageError('from', 'engine message sender differs from the authenticated node');
    switch (m.stage) {
      case 'jl/setup/advertise': this.#liveRelay().addAdvertisement(msg as JlSetupAdvertise); break;
      case 'jl/setup/shares': this.#liveRelay().addShares(msg as JlSetupShares); break;
      case 'jl/setup/sum': this.#liveRelay().addSum(msg as JlSetupSum); break;
      case 'jl/round/submit': this.#liveRound().receive(msg as JlSubmission); break;
      case 'jl/round/unmask-response': this.#liveRound().receiveResponse(msg as JlUnmaskResponse); break;
      default: throw new InvalidMessageError('stage', 'not a Joye-Libert node message');
    }
    this.#ctx.stage(String(m.stage)).deliver(from, true);
  }

  /** Engine messages from the researcher (its setup advertisement, its signed unmask request). */
  onResearcher(msg: unknown): void {
    const m = msg as { stage?: unknown };
    if (typeof m !== 'object' || m === null) throw new InvalidMessageError('payload', 'expected an engine message');
    if (m.stage === 'jl/setup/advertise') {
      if ((msg as JlSetupAdvertise).from !== this.#jl.researcher) throw new InvalidMessageError('from', 'advertisement is not the researcher\'s');
      this.#liveRelay().addAdvertisement(msg as JlSetupAdvertise);
      this.#ctx.stage('jl/setup/advertise').deliver(this.#jl.researcher, true);
      return;
    }
    if (m.stage === 'jl/round/unmask-request') {
      this.#liveRound().accept(msg as JlUnmaskRequest);
      this.#ctx.stage('jl/round/unmask-request').deliver(this.#jl.researcher, true);
      return;
    }
    throw new InvalidMessageError('stage', 'not a Joye-Libert researcher message');
  }

  async aggregate(accepted: readonly string[]): Promise<SchemeResult> {
    const req = this.#ctx.request;
    const setupId = String(req.codec['jlSetup'] ?? '');
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(setupId)) throw new AggregatorError('ERR_AGG_CONFIG', 'a Joye-Libert round needs codec.jlSetup, the key-setup id');
    let setup = this.#jl.setups.get(setupId);
    if (setup === undefined) {
      setup = await this.#runSetup(setupId, accepted);
      this.#jl.setups.set(setupId, setup);
    } else if (setup.researcher !== this.#jl.researcher) {
      throw new AggregatorError('ERR_AGG_CONFIG', `key setup ${setupId} belongs to another researcher`);
    }
    const tag = { federation: this.#env.federation, experiment: req.experiment, round: req.round, attempt: this.#ctx.attempt };
    const round = new JlAggregatorRound({
      roster: this.#env.roster(), modulus: this.#jl.modulus, setupId, nodes: setup.nodes, researcher: setup.researcher,
      threshold: setup.threshold, tag, valueCount: req.vectorLength, valueBits: JL_VALUE_BITS,
    });
    this.#round = round;
    const members = accepted.filter((n) => setup.nodes.includes(n));
    this.#ctx.progress('jl-submit', `Joye-Libert: collecting ciphertexts from ${members.length} node(s)`);
    for (const n of members) this.#ctx.send(n, 'relay', { stage: 'jl/round/go' }, encodeEngineMessage({ stage: 'jl/round/go', setupId, tag }));
    await this.#ctx.stage('jl/round/submit').all(members, this.#ctx.timeoutMs, this.#ctx.signal);
    this.#abortIfNeeded();
    const proposal = round.close();
    for (const d of proposal.dropped) this.#ctx.dropout(d, 'jl/round/submit');
    this.#jl.toResearcher(proposal);
    this.#ctx.progress('jl-approve', 'Joye-Libert: waiting for the researcher\'s signed unmask request');
    const approved = await this.#ctx.stage('jl/round/unmask-request').all([setup.researcher], this.#ctx.timeoutMs, this.#ctx.signal);
    this.#abortIfNeeded();
    if (!approved.has(setup.researcher)) throw new AggregatorError('ERR_AGG_STAGE_TIMEOUT', 'the researcher did not approve the unmask request in time');
    for (const n of proposal.survivors) {
      const input = round.inputFor(n);
      this.#ctx.send(n, 'relay', { stage: 'jl/round/unmask-input' }, encodeEngineMessage({ stage: 'jl/round/unmask-input', ...input }));
    }
    await this.#ctx.stage('jl/round/unmask-response').all(proposal.survivors, this.#ctx.timeoutMs, this.#ctx.signal);
    this.#abortIfNeeded();
    const agg = round.aggregate();
    return {
      sum: new Float64Array(0), blob: encodeEngineMessage(agg), contributors: [...proposal.survivors],
      metrics: { scheme: 'jl', setupId, threshold: setup.threshold, dropped: [...proposal.dropped] },
    };
  }

  async #runSetup(setupId: string, accepted: readonly string[]): Promise<JlSetupRecord> {
    const nodes = [...accepted].sort();
    const threshold = jlThreshold(nodes.length, this.#ctx.request.minParticipants);
    const record: JlSetupRecord = { setupId, nodes, threshold, researcher: this.#jl.researcher };
    this.#relay = new JlSetupRelay({ roster: this.#env.roster(), modulus: this.#jl.modulus, setupId, nodes, researcher: record.researcher, threshold });
    const start = { stage: 'jl/setup/start', setupId, nodes, threshold, researcher: record.researcher, modulus: modulusToJson(this.#jl.modulus) };
    this.#ctx.progress('jl-setup', `Joye-Libert: dealer-free key setup ${setupId} with ${nodes.length} node(s), threshold ${threshold}`);
    for (const n of nodes) this.#ctx.send(n, 'relay', { stage: start.stage }, encodeEngineMessage(start));
    this.#jl.toResearcher({ ...start, roster: this.#jl.rosterDoc() } as { stage: string });
    const everyone = [...nodes, record.researcher];
    await this.#ctx.stage('jl/setup/advertise').all(everyone, this.#ctx.timeoutMs, this.#ctx.signal);
    this.#abortIfNeeded();
    const ads = this.#relay.advertisements();
    const adsMsg = { stage: 'jl/setup/ads', setupId, ads };
    for (const n of nodes) this.#ctx.send(n, 'relay', { stage: adsMsg.stage }, encodeEngineMessage(adsMsg));
    this.#jl.toResearcher(adsMsg);
    await this.#ctx.stage('jl/setup/shares').all(nodes, this.#ctx.timeoutMs, this.#ctx.signal);
    this.#abortIfNeeded();
    for (const n of nodes) {
      const m = { stage: 'jl/setup/shares-for', setupId, shares: this.#relay.sharesFor(n) };
      this.#ctx.send(n, 'relay', { stage: m.stage }, encodeEngineMessage(m));
    }
    const sums = await this.#ctx.stage('jl/setup/sum').all(nodes, this.#ctx.timeoutMs, this.#ctx.signal);
    this.#abortIfNeeded();
    if (sums.size !== nodes.length) throw new AggregatorError('ERR_AGG_STAGE_TIMEOUT', `key setup ${setupId}: ${nodes.length - sums.size} node(s) did not finish; every node must deal (retry the round)`);
    this.#jl.toResearcher({ stage: 'jl/setup/sums', setupId, sums: this.#relay.sums() } as { stage: string });
    this.#relay = undefined;
    return record;
  }

  #abortIfNeeded(): void {
    if (this.#ctx.signal.aborted) throw new AggregatorError('ERR_AGG_ABORTED', `round attempt ${this.#ctx.tag} was aborted`);
  }

  #liveRelay(): JlSetupRelay {
    if (this.#relay === undefined) throw new AggregatorError('ERR_AGG_ROUND_UNKNOWN', 'no Joye-Libert key setup is running');
    return this.#relay;
  }

  #liveRound(): JlAggregatorRound {
    if (this.#round === undefined) throw new AggregatorError('ERR_AGG_ROUND_UNKNOWN', 'no Joye-Libert round is collecting');
    return this.#round;
  }
}
