/**
 * Round benchmark: real federated rounds over loopback mutual TLS on synthetic data. A local
 * federation (throwaway CA, aggregator, n nodes, researcher) trains an MLP plan of about N
 * parameters; after one untimed warm-up round (ONNX sessions, plan downloads), it times
 * protected rounds (the chosen secure aggregation and DP mode) and plain rounds (no secure
 * aggregation, no DP) in the same run, alternating for `repeats` pairs, and reports the fastest
 * of each. Wall time runs from the researcher's RunRound call to the released aggregate:
 * model download, local training, DP, encoding, masking and uploads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AggregatorService } from '../aggregator/service.ts';
import { AggregatorStore } from '../aggregator/store.ts';
import { createLocalFederation } from '../aggregator/localfed.ts';
import { assertInt } from '../common/validate.ts';
import { seededRandomSource, systemRandom } from '../crypto/random.ts';
import { NodeAgent } from '../node/agent.ts';
import { AuditLog } from '../node/audit.ts';
import type { TabularDataset } from '../node/datasets/index.ts';
import { PlanStore } from '../node/plans.ts';
import { parsePolicy } from '../node/policy.ts';
import { ledgerGuard } from '../node/privacy.ts';
import { PrivacyLedger } from '../node/ledger/index.ts';
import { OnnxTrainer } from '../node/trainer.ts';
import { PlanSessionCache } from '../node/training/index.ts';
import { f64ToBytes } from '../proto/chunks.ts';
import { FederationClient } from '../proto/client.ts';
import { distributedCodecSpec } from '../proto/secagg.ts';
import { trainContributionLength, type DpMode } from '../proto/work.ts';
import { encodePlan, mlpPlan } from '../researcher/plans/index.ts';

/** Options of {@link runRoundBench}. */
export interface RoundBenchOptions {
  /** Target parameter count (the MLP's actual count is reported). */
  readonly params: number;
  readonly nodes: number;
  readonly secagg: 'masking' | 'off';
  readonly dp: DpMode;
  /** Synthetic training rows per node (default 8). */
  readonly rows?: number;
  /** Timed rounds of each kind, alternating; the fastest of each is reported (default 2). */
  readonly repeats?: number;
  readonly progress?: (line: string) => void;
}

/** Figures of {@link runRoundBench}. */
export interface RoundBenchResult {
  readonly params: number;
  readonly requestedParams: number;
  readonly nodes: number;
  readonly secagg: string;
  readonly dp: string;
  readonly rowsPerNode: number;
  readonly protectedRoundS: number;
  readonly plainRoundS: number;
  readonly ratio: number;
  readonly warmupS: number;
  readonly repeats: number;
  /** Every timed round (the reported figures are the fastest of each kind). */
  readonly protectedRoundsS: readonly number[];
  readonly plainRoundsS: readonly number[];
}

/** MLP shape with about `n` parameters: P = H·(F + 2) + 1. */
export function mlpShapeFor(n: number): { features: number; hidden: number } {
  const hidden = Math.max(2, Math.min(1024, Math.floor(Math.sqrt(n))));
  const features = Math.max(1, Math.min(4096, Math.round((n - 1) / hidden) - 2));
  return { features, hidden };
}

function syntheticRows(seedByte: number, rows: number, features: number): TabularDataset {
  const rng = seededRandomSource(new Uint8Array(32).fill(seedByte));
  const raw = new Uint32Array(rows * features);
  rng.fill(new Uint8Array(raw.buffer));
  const x = new Float64Array(rows * features);
  for (let i = 0; i < x.length; i++) x[i] = raw[i]! / 2 ** 32 - 0.5;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) y[r] = x[r * features]! > 0 ? 1 : 0;
  return { rows, features, x, y, target: 'y', labels: { positive: '1', negative: '0' }, featureNames: Array.from({ length: features }, (_, j) => `x${j}`) };
}

/** Runs the benchmark (see module comment). */
export async function runRoundBench(o: RoundBenchOptions): Promise<RoundBenchResult> {
  assertInt('params', o.params, 10, 1 << 22);
  assertInt('nodes', o.nodes, 3, 32);
  const rows = o.rows ?? 8;
  assertInt('rows', rows, 2, 4096);
  const say = o.progress ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'fedsec-bench-round-'));
  const closers: Array<() => unknown> = [];
  try {
    const ids = Array.from({ length: o.nodes }, (_, i) => `node-${i + 1}`);
    const fed = await createLocalFederation(join(dir, 'pki'), { federation: 'bench', nodes: ids });
    const store = await AggregatorStore.open(join(dir, 'aggregator'));
    closers.push(() => store.close());
    const agg = new AggregatorService({ store, tls: fed.members.get('aggregator')!.tls, verifier: await fed.verifier(), roster: () => fed.roster(), minParticipants: 3 });
    const port = await agg.start('127.0.0.1', 0);
    closers.unshift(() => agg.stop());
    const shape = mlpShapeFor(o.params);
    const plan = mlpPlan({ features: shape.features, hidden: shape.hidden, name: 'bench-mlp' });
    const planBytes = encodePlan(plan);
    const P = plan.parameterCount;
    say(`federation up: ${o.nodes} nodes over loopback mTLS; MLP ${shape.features}→${shape.hidden}→1 with ${P} parameters`);
    const sessions = new PlanSessionCache({ intraOpNumThreads: 1 });
    for (const [i, id] of ids.entries()) {
      const ndir = join(dir, 'nodes', id);
      const audit = new AuditLog(join(ndir, 'audit.jsonl'));
      const plans = new PlanStore(join(ndir, 'plans'), audit);
      plans.approve(plans.receive(planBytes, 'researcher').hash);
      const policy = parsePolicy({ schemes: ['masking', 'off'], requireSecureAggregation: false, requireDp: false, minNoiseMultiplier: 0, budgets: { synthetic: { epsilon: 1e6, delta: 1e-5 } } });
      const ledger = PrivacyLedger.open(join(ndir, 'privacy.ledger'));
      closers.push(() => ledger.close());
      const data = { train: syntheticRows(i + 1, rows, shape.features), test: syntheticRows(100 + i, 2, shape.features) };
      const m = fed.members.get(id)!;
      const agent = new NodeAgent({
        address: `127.0.0.1:${port}`, tls: m.tls, verifier: await fed.verifier(), identitySecretKey: m.identitySecretKey,
        plans, audit, policy: () => policy, datasets: { tags: () => ['synthetic'], load: async () => data },
        trainer: new OnnxTrainer({ sessions, rng: systemRandom }), privacy: ledgerGuard(ledger, () => ({ epsilon: 1e6, delta: 1e-5 })),
      });
      await agent.start();
      closers.unshift(() => agent.close());
    }
    const client = new FederationClient({ address: `127.0.0.1:${port}`, tls: fed.members.get('researcher')!.tls, verifier: await fed.verifier() });
    closers.unshift(() => client.close());
    const hash = await client.uploadBlob(planBytes);
    await client.call('CreateExperiment', { id: 'bench', plans: [hash] });
    const model = await client.uploadBlob(f64ToBytes(Float64Array.from(plan.initialParameters)));
    let round = 0;
    const timed = async (secagg: 'masking' | 'off', dp: DpMode): Promise<number> => {
      const t = performance.now();
      await client.runRound({
        experiment: 'bench', round: round++, kind: 'train', tag: 'synthetic', plan: hash, model,
        args: { learningRate: 0.05, epochs: 1, batchSize: rows }, secagg,
        dp: dp === 'off' ? { mode: 'off', noiseMultiplier: 0, clipNorm: 1, delta: 1e-5 } : { mode: dp, noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 },
        minParticipants: 3, vectorLength: trainContributionLength(P), stageTimeoutMs: 300_000,
        codec: secagg !== 'off' && dp === 'distributed'
          ? distributedCodecSpec({ clip: 1e4, sensitivity: 0.05 * 1, noiseMultiplier: 1, minHonest: 3, dimension: P, maxNodes: o.nodes })
          : { type: 'fixed', bits: 32, clip: 1e4 },
      });
      return (performance.now() - t) / 1000;
    };
    const warmupS = await timed('off', 'off');
    say(`warm-up round: ${warmupS.toFixed(2)} s`);
    const repeats = o.repeats ?? 2;
    assertInt('repeats', repeats, 1, 10);
    const prot: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < repeats; i++) {
      prot.push(await timed(o.secagg, o.dp));
      say(`protected round (secagg ${o.secagg}, DP ${o.dp}): ${prot.at(-1)!.toFixed(2)} s`);
      plain.push(await timed('off', 'off'));
      say(`plain round (no secure aggregation, no DP): ${plain.at(-1)!.toFixed(2)} s`);
    }
    const protectedRoundS = Math.min(...prot);
    const plainRoundS = Math.min(...plain);
    return { params: P, requestedParams: o.params, nodes: o.nodes, secagg: o.secagg, dp: o.dp, rowsPerNode: rows, repeats, protectedRoundS, plainRoundS, ratio: protectedRoundS / plainRoundS, warmupS, protectedRoundsS: prot, plainRoundsS: plain };
  } finally {
    for (const c of closers) await c();
    rmSync(dir, { recursive: true, force: true });
  }
}
