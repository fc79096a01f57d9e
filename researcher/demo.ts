/**
 * `fedsec demo`: a whole federation on one machine over loopback mutual TLS.
 *
 * Creates a throwaway CA, enrolls an aggregator, three hospital nodes and a researcher through
 * real CSRs, splits data/wdbc.csv across the nodes non-identically (label skew) with a held-out
 * split at each node, has each node's data manager approve the logistic-regression plan by its
 * SHA-256, and runs a private experiment (default: pairwise masking + distributed DP):
 * federated standardization, training rounds, final federated evaluation. The same run trains a
 * central non-private baseline on the pooled rows for comparison.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AggregatorService } from '../aggregator/service.ts';
import { AggregatorStore } from '../aggregator/store.ts';
import { createLocalFederation } from '../aggregator/localfed.ts';
import { systemRandom } from '../crypto/random.ts';
import { toHex } from '../crypto/bytes.ts';
import { generateModulus } from '../crypto/jl/index.ts';
import { NodeAgent } from '../node/agent.ts';
import { AuditLog } from '../node/audit.ts';
import { concatDatasets, labelSkewSplit, parseTabular, standardize, trainTestSplit, localStatsVector, sumStatsVectors, standardizationFromSums } from '../node/datasets/index.ts';
import { PlanStore } from '../node/plans.ts';
import { parsePolicy } from '../node/policy.ts';
import { ledgerGuard } from '../node/privacy.ts';
import { PrivacyLedger } from '../node/ledger/index.ts';
import { OnnxTrainer } from '../node/trainer.ts';
import { PlanSessionCache, trainCentralBaseline } from '../node/training/index.ts';
import { FederationClient } from '../proto/client.ts';
import type { DpMode, DpRequest } from '../proto/work.ts';
import { Experiment, type RoundSummary } from './experiment.ts';
import { encodePlan, logisticRegressionPlan } from './plans/index.ts';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  readonly secagg?: 'masking' | 'jl' | 'off';
  readonly dp?: DpMode;
  /** Training rounds (default 15). */
  readonly rounds?: number;
  /** Working directory (default: a fresh temporary directory, removed afterwards). */
  readonly dir?: string;
  /** Progress lines (stderr in the CLI). */
  readonly progress?: (line: string) => void;
  /** Noise multiplier σ (default 4). */
  readonly noiseMultiplier?: number;
}

/** Outcome of {@link runDemo}. */
export interface DemoResult {
  readonly accuracy: number;
  readonly baselineAccuracy: number;
  readonly epsilon: number;
  readonly delta: number;
  readonly seconds: number;
  readonly secagg: string;
  readonly dp: string;
  readonly rounds: number;
  readonly nodes: readonly string[];
  readonly history: readonly RoundSummary[];
}

const NODES = ['hospital-a', 'hospital-b', 'hospital-c'];
const TAG = 'breast-cancer';

/** Path of the bundled wdbc.csv. */
export function wdbcPath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'data', 'wdbc.csv');
}

/** Runs the demo end to end and returns its figures. */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const t0 = Date.now();
  const secagg = opts.secagg ?? 'masking';
  const dpMode = opts.dp ?? 'distributed';
  const rounds = opts.rounds ?? 15;
  const say = opts.progress ?? (() => undefined);
  const own = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'fedsec-demo-'));
  const closers: Array<() => Promise<void> | void> = [];
  try {
    say(`creating a throwaway CA and enrolling aggregator, ${NODES.join(', ')} and a researcher`);
    const fed = await createLocalFederation(join(dir, 'pki'), { federation: 'demo', nodes: NODES, researchers: ['researcher'] });
    const store = await AggregatorStore.open(join(dir, 'aggregator'));
    closers.push(() => store.close());
    // Joye-Libert needs a public modulus whose factors nobody keeps: a throwaway ceremony here.
    const jlModulus = secagg === 'jl' ? generateModulus(2048) : undefined;
    if (jlModulus !== undefined) say(`Joye-Libert modulus: 2048 bits, fingerprint ${toHex(jlModulus.fingerprint).slice(0, 16)}… (factors wiped)`);
    const aggregator = new AggregatorService({
      store, tls: fed.members.get('aggregator')!.tls, verifier: await fed.verifier(), roster: () => fed.roster(), minParticipants: 3,
      ...(jlModulus === undefined ? {} : { jlModulus }),
    });
    const port = await aggregator.start('127.0.0.1', 0);
    closers.unshift(() => aggregator.stop());
    say(`aggregator listening on 127.0.0.1:${port} (mutual TLS, client certificates required)`);

    const all = parseTabular(readFileSync(wdbcPath(), 'utf8'), { target: 'diagnosis', positive: 'M', negative: 'B' });
    const parts = labelSkewSplit(all, { parts: NODES.length, skew: 0.6, rng: systemRandom });
    const splits = parts.map((p) => trainTestSplit(p, { testFraction: 0.2, rng: systemRandom }));
    say(`split wdbc (${all.rows} rows, ${all.features} features) non-identically: ${splits.map((s, i) => `${NODES[i]} ${s.train.rows}+${s.test.rows} rows, ${Math.round((100 * sum(s.train.y)) / s.train.rows)}% malignant`).join('; ')}`);

    const plan = logisticRegressionPlan({ features: all.features, name: 'wdbc-logreg' });
    const planBytes = encodePlan(plan);
    const sessions = new PlanSessionCache({ intraOpNumThreads: 1 });
    const dp: DpRequest | false = dpMode === 'off' ? false : { mode: dpMode, noiseMultiplier: opts.noiseMultiplier ?? 4, clipNorm: 1, delta: 1e-5 };
    for (const [i, id] of NODES.entries()) {
      const ndir = join(dir, 'nodes', id);
      const audit = new AuditLog(join(ndir, 'audit.jsonl'));
      const plans = new PlanStore(join(ndir, 'plans'), audit);
      const rec = plans.receive(planBytes, 'researcher');
      plans.approve(rec.hash, `${id}-data-manager`);
      const policy = parsePolicy({
        schemes: [secagg], requireSecureAggregation: secagg !== 'off', requireDp: dpMode !== 'off', dpModes: ['local', 'distributed', 'central'],
        minNoiseMultiplier: 1, minParticipants: 3, outOfRange: 'refuse',
        trainingArgs: { learningRate: { min: 1e-3, max: 5 }, epochs: { min: 1, max: 5 }, batchSize: { min: 8, max: 512 } },
        budgets: { [TAG]: { epsilon: 10, delta: 1e-5 } },
      });
      const ledger = PrivacyLedger.open(join(ndir, 'privacy.ledger'));
      closers.push(() => ledger.close());
      const m = fed.members.get(id)!;
      const data = splits[i]!;
      const agent = new NodeAgent({
        address: `127.0.0.1:${port}`, tls: m.tls, verifier: await fed.verifier(), identitySecretKey: m.identitySecretKey,
        plans, audit, policy: () => policy, datasets: { tags: () => [TAG], load: async () => data },
        trainer: new OnnxTrainer({ sessions }), privacy: ledgerGuard(ledger, (t) => policy.budgets[t] ?? policy.defaultBudget),
        ...(jlModulus === undefined ? {} : { jlModulusFingerprint: toHex(jlModulus.fingerprint) }),
      });
      await agent.start();
      closers.unshift(() => agent.close());
      say(`${id}: approved plan ${rec.hash.slice(0, 16)}… and connected (dial-out only)`);
    }

    const researcher = new FederationClient({ address: `127.0.0.1:${port}`, tls: fed.members.get('researcher')!.tls, verifier: await fed.verifier() });
    closers.unshift(() => researcher.close());
    const exp = new Experiment({
      id: 'wdbc-demo', plan, tags: [TAG], rounds, secagg: secagg === 'off' ? false : secagg, dp, minNodes: 3,
      trainingArgs: dpMode === 'local' ? { learningRate: 0.5, epochs: 1, batchSize: 64 } : { learningRate: 1, epochs: 1, batchSize: 64 },
      stageTimeoutMs: 30_000,
    });
    say(`experiment: secure aggregation ${secagg}, DP ${dpMode}${dp ? ` (σ = ${dp.noiseMultiplier}, C = ${dp.clipNorm}, δ = ${dp.delta})` : ''}, ${rounds} rounds`);
    const rm = fed.members.get('researcher')!;
    const result = await exp.run(researcher, {
      onRound: (r) => say(progressLine(r, exp.totalRounds)),
      jl: { identity: { id: rm.id, secretKey: rm.identitySecretKey }, caCert: fed.caPem, ...(jlModulus === undefined ? {} : { modulusFingerprint: toHex(jlModulus.fingerprint) }) },
    });

    // Central non-private baseline on the pooled rows, standardized with the pooled statistics.
    const pooledTrain = concatDatasets(splits.map((s) => s.train));
    const pooledTest = concatDatasets(splits.map((s) => s.test));
    const st = standardizationFromSums(sumStatsVectors(splits.map((s) => localStatsVector(s.train))), all.features);
    const baseline = await trainCentralBaseline({
      plan, train: standardize(pooledTrain, st), test: standardize(pooledTest, st),
      trainingArgs: { learningRate: 0.1, epochs: 30, batchSize: 32 }, rng: systemRandom, sessions,
    });
    const seconds = (Date.now() - t0) / 1000;
    return {
      accuracy: result.accuracy, baselineAccuracy: baseline.test.accuracy, epsilon: result.epsilon, delta: result.delta, seconds,
      secagg, dp: dpMode, rounds, nodes: NODES, history: result.history,
    };
  } finally {
    for (const c of closers) await c();
    if (own) rmSync(dir, { recursive: true, force: true });
  }
}

function sum(a: Float64Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s;
}

/** One progress line: a bar and the round's figures. */
export function progressLine(r: RoundSummary, total: number): string {
  const width = 20;
  const done = Math.round(((r.round + 1) / total) * width);
  const bar = `[${'#'.repeat(done)}${'.'.repeat(width - done)}]`;
  const eps = r.epsilon ? Math.max(...Object.values(r.epsilon)) : undefined;
  const figures = r.kind === 'stats'
    ? `federated standardization over ${r.testRows} rows`
    : `${r.kind === 'eval' ? 'final evaluation' : `train loss ${r.trainLoss?.toFixed(4)}`}, test accuracy ${((r.accuracy ?? 0) * 100).toFixed(1)}%${eps !== undefined ? `, ε ${eps.toFixed(2)}` : ''}`;
  return `${bar} round ${r.round + 1}/${total} (${r.kind}, ${r.participants.length} nodes, ${r.seconds.toFixed(1)} s): ${figures}`;
}
