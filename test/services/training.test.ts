import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandomSource } from '../../crypto/random.ts';
import { labelSkewSplit, localStatsVector, parseTabular, standardizationFromSums, sumStatsVectors, trainTestSplit } from '../../node/datasets/index.ts';
import { ledgerGuard } from '../../node/privacy.ts';
import { PrivacyLedger } from '../../node/ledger/index.ts';
import { OnnxTrainer, type DatasetSplits } from '../../node/trainer.ts';
import { parsePolicy } from '../../node/policy.ts';
import { f64FromBytes, f64ToBytes } from '../../proto/chunks.ts';
import type { FederationClient } from '../../proto/client.ts';
import { decodePlanBundle } from '../../proto/plan.ts';
import { trainContributionLength, type WorkRequest } from '../../proto/work.ts';
import { Experiment } from '../../researcher/experiment.ts';
import { encodePlan, logisticRegressionPlan } from '../../researcher/plans/index.ts';
import { wdbcPath } from '../../researcher/demo.ts';
import { parseModulus } from '../../crypto/jl/index.ts';
import { startHarness, type Harness } from './helpers.ts';

const NODES = ['n1', 'n2', 'n3'];
const TAG = 'wdbc';
const seed = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const all = parseTabular(readFileSync(wdbcPath(), 'utf8'), { target: 'diagnosis', positive: 'M', negative: 'B' });
const parts = labelSkewSplit(all, { parts: 3, skew: 0.6, rng: seededRandomSource(seed(7)) });
const splits: DatasetSplits[] = parts.map((p, i) => trainTestSplit(p, { testFraction: 0.2, rng: seededRandomSource(seed(10 + i)) }));
const plan = logisticRegressionPlan({ features: all.features, name: 'wdbc-logreg' });
const planBytes = encodePlan(plan);
const ARGS = { learningRate: 0.5, epochs: 1, batchSize: 64 };

let dir: string;
let h: Harness;
let alice: FederationClient;
const ledgers = new Map<string, PrivacyLedger>();


async function startTrainingNode(i: number, id: string): Promise<void> {
  const policy = parsePolicy({
    schemes: ['masking', 'jl', 'off'], requireSecureAggregation: false, requireDp: false, minNoiseMultiplier: 0.5,
    // n3 has a tight budget: DP rounds exhaust it quickly.
    budgets: { [TAG]: { epsilon: id === 'n3' ? 15 : 100, delta: 1e-5 } },
  });
  let ledger = ledgers.get(id);
  if (ledger === undefined) {
    ledger = PrivacyLedger.open(join(dir, `${id}.ledger`));
    ledgers.set(id, ledger);
  }
  await h.startNode(id, { tags: () => [TAG], load: async () => splits[i]! }, policy, {
    trainer: new OnnxTrainer({ rng: seededRandomSource(seed(40 + i)) }), privacy: ledgerGuard(ledger, (t) => policy.budgets[t] ?? policy.defaultBudget),
    jlStateDir: join(dir, `${id}-jl`),
  });
  const store = h.plans.get(id)!;
  if (store.receive(planBytes, 'alice').status !== 'approved') store.approve(store.receive(planBytes, 'alice').hash);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fedsec-train-'));
  h = await startHarness(dir, NODES, { minParticipants: 3, jlModulus: parseModulus(readFileSync('test/fixtures/jl/modulus-2048.json', 'utf8')) });
  for (const [i, id] of NODES.entries()) await startTrainingNode(i, id);
  alice = await h.researcher('alice');
});

afterAll(async () => {
  await h?.close();
  for (const l of ledgers.values()) l.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('training over the federation', () => {
  it('the released sum equals the plain weighted sum of the node updates (noise off), plain and masked', async () => {
    const hash = await alice.uploadBlob(planBytes);
    await alice.call('CreateExperiment', { id: 'sum', plans: [hash] });
    const params = Float64Array.from(plan.initialParameters);
    const model = await alice.uploadBlob(f64ToBytes(params));
    const P = plan.parameterCount;
    const st = standardizationFromSums(sumStatsVectors(splits.map((x) => localStatsVector(x.train))), all.features);
    const standardize = { mean: [...st.mean], std: [...st.std] };
    const body = (round: number, secagg: 'off' | 'masking'): Record<string, unknown> => ({
      experiment: 'sum', round, kind: 'train', tag: TAG, plan: hash, model, args: ARGS, secagg,
      dp: { mode: 'off', noiseMultiplier: 0, clipNorm: 1, delta: 1e-5 }, vectorLength: trainContributionLength(P),
      codec: { type: 'fixed', bits: 32, clip: 1e5 }, stageTimeoutMs: 20_000, standardize,
    });
    // Reference: the same trainers (same seeds, same call order) run locally.
    const refs = NODES.map((_, i) => new OnnxTrainer({ rng: seededRandomSource(seed(40 + i)) }));
    const bundle = decodePlanBundle(planBytes);
    const expected = async (): Promise<Float64Array> => {
      const out = new Float64Array(trainContributionLength(P));
      for (const [i] of NODES.entries()) {
        const work = { dp: { mode: 'off' }, minParticipants: 3, standardize } as unknown as WorkRequest;
        const r = await refs[i]!.train({ bundle, data: splits[i]!, params, work, args: ARGS });
        for (let j = 0; j < P; j++) out[j]! += r.weight * r.update[j]!;
        out[P]! += r.weight;
        out[P + 1]! += r.weight * r.loss;
      }
      return out;
    };
    const plain = await alice.runRound(body(0, 'off'));
    const gotPlain = f64FromBytes(await alice.download(String(plain['resultHash'])));
    const want0 = await expected();
    for (let j = 0; j <= P + 1; j++) expect(gotPlain[j]).toBeCloseTo(want0[j]!, 6);
    const masked = await alice.runRound(body(1, 'masking'));
    const gotMasked = f64FromBytes(await alice.download(String(masked['resultHash'])));
    const want1 = await expected();
    // Fixed point at clip 1e5 for 3 parties: scale 2^12, so each value is exact to 3 · 2^-12.
    for (let j = 0; j <= P + 1; j++) expect(Math.abs(gotMasked[j]! - want1[j]!)).toBeLessThan(3 * 2 ** -12 + 1e-9);
  });

  const combos: Array<['masking' | 'jl' | false, 'off' | 'local' | 'distributed' | 'central']> = [
    [false, 'off'], ['masking', 'off'], ['masking', 'distributed'], ['masking', 'local'], ['masking', 'central'], [false, 'local'],
    ['jl', 'distributed'], ['jl', 'local'],
  ];
  for (const [secagg, mode] of combos) {
    it(`experiment with secagg ${secagg || 'off'} and DP ${mode} learns wdbc`, async () => {
      const exp = new Experiment({
        id: `exp-${secagg || 'off'}-${mode}`, plan, tags: [TAG], rounds: 3, secagg,
        dp: mode === 'off' ? false : { mode, noiseMultiplier: 4, clipNorm: 1, delta: 1e-5 },
        trainingArgs: mode === 'local' ? ARGS : { ...ARGS, learningRate: 1 }, stageTimeoutMs: 20_000,
      });
      const res = await exp.run(alice, { jl: { identity: { id: 'alice', secretKey: h.fed.members.get('alice')!.identitySecretKey }, caCert: h.fed.caPem } });
      expect(res.history.map((r) => r.kind)).toEqual(['stats', 'train', 'train', 'train', 'eval']);
      expect(res.history.every((r) => r.participants.length === 3)).toBe(true);
      expect(res.accuracy).toBeGreaterThan(0.85);
      if (mode === 'off') expect(res.epsilon).toBe(0);
      else expect(res.epsilon).toBeGreaterThan(0);
    });
  }
});

describe('privacy budget', () => {
  it('a node refuses once its dataset budget would be exceeded, and says so to the researcher', async () => {
    const events: Array<Record<string, unknown>> = [];
    const exp = new Experiment({
      id: 'budget', plan, tags: [TAG], rounds: 40, secagg: 'masking', dp: { mode: 'distributed', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 },
      trainingArgs: { ...ARGS, learningRate: 1 }, stageTimeoutMs: 20_000, standardize: false,
    });
    const err = await exp.run(alice, { onEvent: (_r, t, b) => { if (t === 'refusal') events.push(b); } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_AGG_TOO_FEW_NODES' });
    expect(events).toContainEqual(expect.objectContaining({ node: 'n3', code: 'ERR_DP_BUDGET_EXCEEDED' }));
    const st = ledgers.get('n3')!.status(TAG);
    expect(st.spentEpsilon).toBeLessThanOrEqual(15);
    expect(st.budget).toEqual({ maxEpsilon: 15, delta: 1e-5 });
    expect(exp.history.length).toBeGreaterThan(0);
  });
});

describe('checkpoint and resume', () => {
  it('an interrupted experiment resumes from its checkpoint and finishes', async () => {
    const checkpoint = join(dir, 'resume.ckpt.json');
    const config = { id: 'resume', plan, tags: [TAG], rounds: 3, secagg: 'masking' as const, dp: false as const, trainingArgs: { ...ARGS, learningRate: 1 }, stageTimeoutMs: 20_000 };
    const first = new Experiment(config);
    const err = await first.run(alice, { checkpoint, onRound: (r) => { if (r.round === 2) throw new Error('researcher laptop closed'); } }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('researcher laptop closed');
    const second = new Experiment(config).resume(checkpoint);
    expect(second.history.map((r) => r.round)).toEqual([0, 1, 2]);
    const res = await second.run(alice, { checkpoint });
    expect(res.history.map((r) => r.round)).toEqual([0, 1, 2, 3, 4]);
    expect(res.accuracy).toBeGreaterThan(0.85);
    // A third run after completion has nothing left to do.
    const third = new Experiment(config).resume(checkpoint);
    expect((await third.run(alice)).history).toHaveLength(5);
  });
});

describe('Joye-Libert dropouts', () => {
  it('a node that stops before submitting is dropped and the researcher still decrypts the survivors\' sum', async () => {
    // A fourth node joins (it holds a copy of n1's data); the key setup in round 0 includes it.
    let crash = false;
    await h.fed.enroll('n4', 'node');
    const policy = parsePolicy({ schemes: ['masking', 'jl', 'off'], requireSecureAggregation: false, requireDp: false });
    const agent = await h.startNode('n4', { tags: () => [TAG], load: async () => splits[0]! }, policy, {
      trainer: new OnnxTrainer(),
      onStage: (stage) => {
        if (stage === 'jl-submit' && crash) { h.agents.get('n4')!.close(); throw new Error('simulated crash'); }
      },
    });
    const store = h.plans.get('n4')!;
    store.approve(store.receive(planBytes, 'alice').hash);
    const dropouts: unknown[] = [];
    const exp = new Experiment({ id: 'jl-drop', plan, tags: [TAG], rounds: 2, secagg: 'jl', dp: false, trainingArgs: { ...ARGS, learningRate: 1 }, stageTimeoutMs: 3_000 });
    const res = await exp.run(alice, {
      jl: { identity: { id: 'alice', secretKey: h.fed.members.get('alice')!.identitySecretKey }, caCert: h.fed.caPem },
      onRound: (r) => { if (r.round === 0) crash = true; },
      onEvent: (_r, t, b) => { if (t === 'dropout') dropouts.push(b['node']); },
    });
    expect(res.history[0]!.participants).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(res.history[1]!.participants).toEqual(['n1', 'n2', 'n3']);
    expect(dropouts).toContain('n4');
    expect(res.accuracy).toBeGreaterThan(0.85);
    agent.close();
  });
});

describe('Joye-Libert node restart', () => {
  it('a node restarted between rounds reloads its key material and takes part in the next round', async () => {
    const jlOpts = { identity: { id: 'alice', secretKey: h.fed.members.get('alice')!.identitySecretKey }, caCert: h.fed.caPem };
    const exp = new Experiment({ id: 'jl-restart', plan, tags: [TAG], rounds: 2, secagg: 'jl', dp: false, trainingArgs: { ...ARGS, learningRate: 1 }, stageTimeoutMs: 5_000 });
    const res = await exp.run(alice, {
      jl: jlOpts,
      onRound: async (r) => {
        if (r.round !== 1) return;
        h.agents.get('n1')!.close();
        await startTrainingNode(0, 'n1');
      },
    });
    expect(res.history.map((r) => r.participants.length)).toEqual([3, 3, 3, 3]);
    expect(res.accuracy).toBeGreaterThan(0.85);
  });
});
