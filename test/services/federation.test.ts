import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStats, statsVectorLength } from '../../node/agent.ts';
import { f64FromBytes } from '../../proto/chunks.ts';
import type { FederationClient } from '../../proto/client.ts';
import { encodePlanBundle } from '../../proto/plan.ts';
import { wideExponent } from '../../proto/widecodec.ts';
import { memoryDatasets, startHarness, syntheticTable, type Harness } from './helpers.ts';

const COLS = 4;
const NODES = ['h1', 'h2', 'h3', 'h4'];
const tables = new Map(NODES.map((id, i) => [id, syntheticTable(i + 1, 20 + 7 * i, COLS)]));
const statsPlan = encodePlanBundle({ name: 'feature-stats', kind: 'stats', numParams: COLS, meta: {}, sections: {} });
const DP_OFF = { mode: 'off', noiseMultiplier: 0, clipNorm: 1, delta: 1e-5 };
const ARGS = { learningRate: 0.1, epochs: 1, batchSize: 32 };

let dir: string;
let h: Harness;
let alice: FederationClient;
let planHash: string;

function expectedStats(ids: readonly string[]): Float64Array {
  const out = new Float64Array(statsVectorLength(COLS));
  for (const id of ids) {
    const s = localStats(tables.get(id)!);
    for (let i = 0; i < out.length; i++) out[i]! += s[i]!;
  }
  return out;
}

function statsRound(experiment: string, round: number, secagg: 'off' | 'masking', extra: Record<string, unknown> = {}): Record<string, unknown> {
  const n = statsVectorLength(COLS);
  return secagg === 'off'
    ? { experiment, round, kind: 'stats', tag: 'cohort', plan: planHash, args: ARGS, secagg, dp: DP_OFF, vectorLength: n, stageTimeoutMs: 5_000, ...extra }
    : { experiment, round, kind: 'stats', tag: 'cohort', plan: planHash, args: ARGS, secagg, dp: DP_OFF, vectorLength: 3 * n, codec: { type: 'wide', exp: wideExponent(1e9) }, stageTimeoutMs: 5_000, ...extra };
}

function approve(id: string): void {
  const store = h.plans.get(id)!;
  if (store.receive(statsPlan, 'alice').status !== 'approved') store.approve(planHash);
}

async function resultVector(c: FederationClient, hash: string): Promise<Float64Array> {
  return f64FromBytes(await c.download(hash));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fedsec-fed-'));
  h = await startHarness(dir, NODES, { minParticipants: 3 });
  for (const id of NODES.slice(0, 3)) await h.startNode(id, memoryDatasets('cohort', tables.get(id)!));
  alice = await h.researcher('alice');
  planHash = await alice.uploadBlob(statsPlan);
});

afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('federation over mutual-TLS gRPC', () => {
  it('refuses an unapproved plan with the node\'s reason, then runs once approved', async () => {
    await alice.call('CreateExperiment', { id: 'stats1', plans: [planHash] });
    const events: Array<[string, Record<string, unknown>]> = [];
    const err = await alice.runRound(statsRound('stats1', 0, 'off'), (t, b) => events.push([t, b])).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_AGG_TOO_FEW_NODES' });
    expect((err as Error).message).toContain('ERR_NODE_PLAN_NOT_APPROVED');
    expect(events.filter(([t]) => t === 'refusal').map(([, b]) => b['code'])).toEqual(['ERR_NODE_PLAN_NOT_APPROVED', 'ERR_NODE_PLAN_NOT_APPROVED', 'ERR_NODE_PLAN_NOT_APPROVED']);
    for (const id of NODES.slice(0, 3)) h.plans.get(id)!.approve(planHash);
    // The failed attempt is recorded; the round is retried under a new attempt.
    const res = await alice.runRound(statsRound('stats1', 0, 'off'));
    expect(res['tag']).toBe('stats1/r0/a2');
    expect(res['contributors']).toEqual(['h1', 'h2', 'h3']);
    const sum = await resultVector(alice, res['resultHash'] as string);
    const want = expectedStats(['h1', 'h2', 'h3']);
    for (let i = 0; i < want.length; i++) expect(sum[i]).toBeCloseTo(want[i]!, 6);
    for (const id of NODES.slice(0, 3)) {
      const types = h.audits.get(id)!.entries().map((e) => e.type);
      expect(types).toContain('refusal');
      expect(types).toContain('release');
      expect(h.audits.get(id)!.verify().ok).toBe(true);
    }
  });

  it('masking: the researcher gets exactly the plain sum, the aggregator only masked words', async () => {
    for (const id of NODES.slice(0, 3)) approve(id);
    await alice.call('CreateExperiment', { id: 'stats2', plans: [planHash] });
    const res = await alice.runRound(statsRound('stats2', 0, 'masking'));
    expect(res['contributors']).toEqual(['h1', 'h2', 'h3']);
    const sum = await resultVector(alice, res['resultHash'] as string);
    const want = expectedStats(['h1', 'h2', 'h3']);
    for (let i = 0; i < want.length; i++) expect(Math.abs(sum[i]! - want[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want[i]!)));
  });
});
