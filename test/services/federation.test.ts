import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStats, statsVectorLength } from '../../node/agent.ts';
import { f64FromBytes } from '../../proto/chunks.ts';
import type { FederationClient } from '../../proto/client.ts';
import { encodePlanBundle } from '../../proto/plan.ts';
import { wideExponent } from '../../proto/widecodec.ts';
import { FederationClient as Client } from '../../proto/client.ts';
import { memoryDatasets, startHarness, syntheticTable, type Harness } from './helpers.ts';

type Hook = (stage: string) => void | Promise<void>;
const hooks = new Map<string, Hook>();
async function startNode(id: string, policy: Record<string, unknown> = {}): Promise<void> {
  await h.startNode(id, memoryDatasets('cohort', tables.get(id)!), policy, { onStage: (stage) => hooks.get(id)?.(stage) });
  approve(id);
}
async function asNode(id: string): Promise<Client> {
  return new Client({ address: `127.0.0.1:${h.port}`, tls: h.fed.members.get(id)!.tls, verifier: await h.fed.verifier() });
}

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
  for (const id of NODES.slice(0, 3)) await h.startNode(id, memoryDatasets('cohort', tables.get(id)!), {}, { onStage: (stage) => hooks.get(id)?.(stage) });
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

describe('refusals, dropouts, bad input, revocation, restart', () => {
  it('a node whose policy forbids the request refuses with a reason the researcher sees', async () => {
    await startNode('h4', { requireSecureAggregation: true, schemes: ['masking'] });
    await alice.call('CreateExperiment', { id: 'pol', plans: [planHash] });
    const refusals: Array<Record<string, unknown>> = [];
    const res = await alice.runRound(statsRound('pol', 0, 'off'), (t, b) => { if (t === 'refusal') refusals.push(b); });
    expect(refusals).toEqual([expect.objectContaining({ node: 'h4', code: 'ERR_NODE_POLICY_SCHEME' })]);
    expect(res['contributors']).toEqual(['h1', 'h2', 'h3']);
  });

  it('masking: a node dropping mid-round within the threshold completes the round; below it aborts', async () => {
    await alice.call('CreateExperiment', { id: 'drop', plans: [planHash] });
    // h4 (policy now allows masking) crashes after key sharing: 3 of 4 survive, threshold 3.
    hooks.set('h4', (stage) => {
      if (stage === 'masking-shares') { h.agents.get('h4')!.close(); throw new Error('simulated crash'); }
    });
    const dropouts: unknown[] = [];
    const res = await alice.runRound(statsRound('drop', 0, 'masking', { stageTimeoutMs: 1_500 }), (t, b) => { if (t === 'dropout') dropouts.push(b['node']); });
    expect(res['contributors']).toEqual(['h1', 'h2', 'h3']);
    expect(dropouts).toContain('h4');
    const sum = await resultVector(alice, res['resultHash'] as string);
    const want = expectedStats(['h1', 'h2', 'h3']);
    for (let i = 0; i < want.length; i++) expect(Math.abs(sum[i]! - want[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want[i]!)));
    hooks.delete('h4');
    // Now only h1..h3 are connected; h3 crashes the same way: 2 survivors < 3, nothing released.
    hooks.set('h3', (stage) => {
      if (stage === 'masking-shares') { h.agents.get('h3')!.close(); throw new Error('simulated crash'); }
    });
    const err = await alice.runRound(statsRound('drop', 1, 'masking', { stageTimeoutMs: 1_500 })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_SECAGG_BELOW_THRESHOLD' });
    hooks.delete('h3');
    await startNode('h3');
    await startNode('h4');
    const rounds = h.store.listRounds('drop');
    expect(rounds.map((r) => [r.round, r.status])).toEqual([[0, 'completed'], [1, 'aborted']]);
    expect(rounds[1]!.result).toBeUndefined();
  });

  it('bad input at the RPCs answers with typed codes and leaves the aggregator working', async () => {
    const node = await asNode('h1');
    // Wrong role: a node cannot act as researcher, nor a researcher as node.
    await expect(node.call('CreateExperiment', { id: 'x', plans: [planHash] })).rejects.toMatchObject({ code: 'ERR_AUTH_ROLE', grpcCode: 7 });
    await expect(alice.uploadUpdate('stats1/r0/a1', new Float64Array(3))).rejects.toMatchObject({ code: 'ERR_AUTH_ROLE', grpcCode: 7 });
    // Unknown round tag.
    await expect(node.uploadUpdate('nope/r0/a1', new Float64Array(3))).rejects.toMatchObject({ code: 'ERR_AGG_ROUND_UNKNOWN', grpcCode: 5 });
    // Wrong round number, unknown experiment, someone else's experiment, malformed JSON fields.
    await alice.call('CreateExperiment', { id: 'bad', plans: [planHash] });
    await expect(alice.runRound(statsRound('bad', 3, 'off'))).rejects.toMatchObject({ code: 'ERR_AGG_ROUND_ORDER', grpcCode: 3 });
    await expect(alice.runRound(statsRound('ghost', 0, 'off'))).rejects.toMatchObject({ code: 'ERR_AGG_EXPERIMENT_UNKNOWN' });
    const bob = await h.researcher('bob');
    await expect(bob.runRound(statsRound('bad', 0, 'off'))).rejects.toMatchObject({ code: 'ERR_AGG_NOT_OWNER', grpcCode: 7 });
    // Bob cannot read Alice's released aggregates, even knowing their hash.
    const aliceResult = h.store.listRounds('stats1').find((r) => r.status === 'completed')!.result!;
    await expect(alice.download(aliceResult)).resolves.toBeInstanceOf(Uint8Array);
    await expect(bob.download(aliceResult)).rejects.toMatchObject({ code: 'ERR_AGG_BLOB_UNKNOWN' });
    // Nor make nodes use them: a plan only Alice uploaded cannot go into Bob's experiment, and
    // Alice's result cannot be the model of Bob's round.
    const alicePrivate = await alice.uploadBlob(encodePlanBundle({ name: 'alice-private', kind: 'stats', numParams: COLS, meta: {}, sections: {} }));
    await expect(bob.call('CreateExperiment', { id: 'bob-steal', plans: [alicePrivate] })).rejects.toMatchObject({ code: 'ERR_AGG_BLOB_UNKNOWN' });
    // Uploading the same bytes makes Bob an owner too: he may use and read the identical plan.
    expect(await bob.uploadBlob(statsPlan)).toBe(planHash);
    await expect(bob.download(planHash)).resolves.toEqual(statsPlan);
    await bob.call('CreateExperiment', { id: 'bob-own', plans: [planHash] });
    await expect(bob.runRound({ ...statsRound('bob-own', 5, 'off'), model: aliceResult })).rejects.toMatchObject({ code: 'ERR_AGG_BLOB_UNKNOWN' });
    await expect(bob.runRound(statsRound('bob-own', 5, 'off'))).rejects.toMatchObject({ code: 'ERR_AGG_ROUND_ORDER' });
    await expect(alice.runRound({ ...statsRound('bad', 0, 'off'), vectorLength: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_MESSAGE', grpcCode: 3 });
    await expect(alice.call('CreateExperiment', { id: 'bad2', plans: ['0'.repeat(64)] })).rejects.toMatchObject({ code: 'ERR_AGG_BLOB_UNKNOWN' });
    // Downloads: malformed hash, unknown blob, and a node asking for a blob no round references.
    await expect(alice.download('xyz')).rejects.toMatchObject({ code: 'ERR_INVALID_MESSAGE', grpcCode: 3 });
    await expect(alice.download('0'.repeat(64))).rejects.toMatchObject({ code: 'ERR_AGG_BLOB_UNKNOWN', grpcCode: 5 });
    const secret = await alice.uploadBlob(Uint8Array.of(9, 9, 9));
    await expect(node.download(secret)).rejects.toMatchObject({ code: 'ERR_AGG_BLOB_UNKNOWN' });
    // A node cannot upload blobs; a blob whose bytes do not match the announced hash is refused.
    await expect(node.uploadBlob(Uint8Array.of(1))).rejects.toMatchObject({ code: 'ERR_AUTH_ROLE', grpcCode: 7 });
    // Session: a researcher may not open one; a node's unknown or out-of-round messages get typed error envelopes.
    const rs = alice.session();
    const rsErr = await new Promise<{ code: number }>((resolve) => { rs.on('error', (e: { code: number }) => resolve(e)); rs.on('data', () => undefined); });
    expect(rsErr.code).toBe(7);
    const m9 = await h.fed.enroll('h9', 'node');
    const node9 = new Client({ address: `127.0.0.1:${h.port}`, tls: m9.tls, verifier: await h.fed.verifier() });
    const ns = node9.session();
    ns.on('error', () => undefined);
    const replies: Array<{ type: string; json: string }> = [];
    const gotThree = new Promise<void>((resolve) => ns.on('data', (e: { type: string; json: string }) => { replies.push(e); if (replies.length === 3) resolve(); }));
    ns.write({ type: 'hello', round_tag: '', json: JSON.stringify({ datasets: [] }), payload: new Uint8Array(0) });
    ns.write({ type: 'bogus', round_tag: 'x', json: '{}', payload: new Uint8Array(0) });
    ns.write({ type: 'accept', round_tag: 'nope/r0/a1', json: '{}', payload: new Uint8Array(0) });
    await gotThree;
    expect(replies.map((r) => r.type)).toEqual(['welcome', 'error', 'error']);
    expect(replies.slice(1).map((r) => (JSON.parse(r.json) as { code: string }).code)).toEqual(['ERR_AGG_ROUND_UNKNOWN', 'ERR_AGG_ROUND_UNKNOWN']);
    ns.end();
    ns.cancel();
    node9.close();
    // During a live round h1 first sends malformed uploads, then its real one.
    const n = statsVectorLength(COLS);
    const seen: Array<{ code: string; grpcCode: number }> = [];
    hooks.set('h1', async () => {
      const tag = 'bad/r0/a1';
      const base = { round_tag: tag, offset: 0, total: n, elem: 'f64', hash: '' };
      const f = (v: number[]): Uint8Array => new Uint8Array(Float64Array.from(v).buffer);
      const attempts = [
        [{ ...base, data: new Uint8Array(300 * 1024) }], // oversized chunk
        [{ ...base, total: n + 1, data: f(new Array(n + 1).fill(0)) }], // wrong vector length
        [{ ...base, data: f([NaN, ...new Array(n - 1).fill(0)]) }], // NaN
        [{ ...base, data: f([Infinity, ...new Array(n - 1).fill(0)]) }], // Infinity
        [{ ...base, elem: 'u32', data: new Uint8Array(4 * n) }], // wrong element type
        [{ ...base, data: new Uint8Array(8 * n - 3) }], // not whole elements
        [{ ...base, round_tag: 'bad/r7/a1', data: f(new Array(n).fill(0)) }], // wrong round
      ];
      for (const chunks of attempts) {
        await node.uploadRawChunks(chunks).then(() => seen.push({ code: 'OK', grpcCode: 0 }), (e: { code: string; grpcCode: number }) => seen.push({ code: e.code, grpcCode: e.grpcCode }));
      }
      hooks.delete('h1');
    });
    const res = await alice.runRound(statsRound('bad', 0, 'off'));
    expect(seen).toEqual([
      { code: 'ERR_LIMIT', grpcCode: 8 },
      { code: 'ERR_INVALID_MESSAGE', grpcCode: 3 },
      { code: 'ERR_INVALID_MESSAGE', grpcCode: 3 },
      { code: 'ERR_INVALID_MESSAGE', grpcCode: 3 },
      { code: 'ERR_INVALID_MESSAGE', grpcCode: 3 },
      { code: 'ERR_INVALID_MESSAGE', grpcCode: 3 },
      { code: 'ERR_AGG_ROUND_UNKNOWN', grpcCode: 5 },
    ]);
    const sum = await resultVector(alice, res['resultHash'] as string);
    const want = expectedStats(res['contributors'] as string[]);
    for (let i = 0; i < want.length; i++) expect(sum[i]).toBeCloseTo(want[i]!, 6);
    // A truncated upload (first chunk accepted, then the stream ends) cannot be taken out of the
    // running sum: the attempt aborts with ERR_AGG_UPLOAD, and the retry succeeds.
    hooks.set('h2', async () => {
      hooks.delete('h2');
      const c = await asNode('h2');
      await expect(c.uploadRawChunks([{ round_tag: 'bad/r1/a1', offset: 0, total: n, elem: 'f64', hash: '', data: f1(4) }])).rejects.toMatchObject({ code: 'ERR_INVALID_MESSAGE' });
      c.close();
    });
    await expect(alice.runRound(statsRound('bad', 1, 'off'))).rejects.toMatchObject({ code: 'ERR_AGG_UPLOAD' });
    const retry = await alice.runRound(statsRound('bad', 1, 'off'));
    expect(retry['tag']).toBe('bad/r1/a2');
    node.close();
  });

  it('a node cannot relay into the aggregator\'s own stages (e.g. mark itself uploaded in a plain round)', async () => {
    await alice.call('CreateExperiment', { id: 'relay-guard', plans: [planHash] });
    const m = await h.fed.enroll('h10', 'node');
    const raw = new Client({ address: `127.0.0.1:${h.port}`, tls: m.tls, verifier: await h.fed.verifier() });
    const ns = raw.session();
    ns.on('error', () => undefined);
    const answer = new Promise<{ code: string }>((resolve) => ns.on('data', (e: { type: string; round_tag: string; json: string }) => {
      if (e.type === 'work') {
        ns.write({ type: 'accept', round_tag: e.round_tag, json: '{}', payload: new Uint8Array(0) });
      } else if (e.type === 'begin') {
        ns.write({ type: 'relay', round_tag: e.round_tag, json: JSON.stringify({ stage: 'uploaded' }), payload: new TextEncoder().encode('true') });
      } else if (e.type === 'error') {
        resolve(JSON.parse(e.json) as { code: string });
      }
    }));
    const welcomed = new Promise<void>((resolve) => ns.once('data', () => resolve()));
    ns.write({ type: 'hello', round_tag: '', json: JSON.stringify({ datasets: ['cohort'] }), payload: new Uint8Array(0) });
    await welcomed;
    const res = await alice.runRound(statsRound('relay-guard', 0, 'off', { nodes: ['h1', 'h2', 'h3', 'h10'], stageTimeoutMs: 1_500 }));
    expect(await answer).toMatchObject({ code: 'ERR_INVALID_MESSAGE' });
    expect(res['contributors']).toEqual(['h1', 'h2', 'h3']);
    ns.end();
    ns.cancel();
    raw.close();
  });

  it('a release receipt is recorded with the round only by its typed fields', async () => {
    await alice.call('CreateExperiment', { id: 'receipt', plans: [planHash] });
    const m = await h.fed.enroll('h11', 'node');
    const raw = new Client({ address: `127.0.0.1:${h.port}`, tls: m.tls, verifier: await h.fed.verifier() });
    const ns = raw.session();
    ns.on('error', () => undefined);
    ns.on('data', (e: { type: string; round_tag: string }) => {
      if (e.type === 'work') ns.write({ type: 'accept', round_tag: e.round_tag, json: '{}', payload: new Uint8Array(0) });
      if (e.type === 'begin') {
        void raw.uploadUpdate(e.round_tag, new Float64Array(statsVectorLength(COLS))).then(() => {
          const forged = { epsilon: 0.5, delta: 1e-5, dataset: 'cohort', auditHead: 'forged', note: 'x'.repeat(4000) };
          ns.write({ type: 'release', round_tag: e.round_tag, json: JSON.stringify(forged), payload: new Uint8Array(0) });
        });
      }
    });
    const welcomed = new Promise<void>((resolve) => ns.once('data', () => resolve()));
    ns.write({ type: 'hello', round_tag: '', json: JSON.stringify({ datasets: ['cohort'] }), payload: new Uint8Array(0) });
    await welcomed;
    const res = await alice.runRound(statsRound('receipt', 0, 'off', { nodes: ['h1', 'h2', 'h3', 'h11'] }));
    expect(res['contributors']).toEqual(['h1', 'h11', 'h2', 'h3']);
    const nodes = h.store.getRound(res['tag'] as string)!.metrics['nodes'] as Record<string, Record<string, unknown>>;
    expect(nodes['h11']).toEqual({ epsilon: 0.5, delta: 1e-5, dataset: 'cohort' });
    ns.end();
    ns.cancel();
    raw.close();
  });

  it('a node downloads the model of a running round only if it is invited to it', async () => {
    await alice.call('CreateExperiment', { id: 'model-acl', plans: [planHash] });
    const model = await alice.uploadBlob(new Uint8Array(new Float64Array([1.5, -2, 3]).buffer));
    const got: Record<string, unknown> = {};
    hooks.set('h1', async (stage) => {
      if (stage !== 'compute') return;
      hooks.delete('h1');
      for (const id of ['h2', 'h4']) {
        const c = await asNode(id);
        got[id] = await c.download(model).then((b) => b.length, (e: { code: string }) => e.code);
        c.close();
      }
    });
    await alice.runRound(statsRound('model-acl', 0, 'off', { nodes: ['h1', 'h2', 'h3'], model }));
    expect(got).toEqual({ h2: 24, h4: 'ERR_AGG_BLOB_UNKNOWN' });
  });

  it('killing and restarting the aggregator between rounds loses no completed round', async () => {
    await alice.call('CreateExperiment', { id: 'restart', plans: [planHash] });
    const r0 = await alice.runRound(statsRound('restart', 0, 'masking'));
    await h.restartAggregator();
    for (const a of h.agents.values()) await a.waitConnected();
    const info = await alice.call('GetExperiment', { id: 'restart' });
    expect((info['rounds'] as Array<Record<string, unknown>>).map((r) => [r['round'], r['status'], r['result']])).toEqual([[0, 'completed', r0['resultHash']]]);
    const r1 = await alice.runRound(statsRound('restart', 1, 'masking'));
    expect(r1['round']).toBe(1);
  });

  it('a revoked node is cut off on its next call and message', async () => {
    await h.fed.revoke('h3');
    await h.aggregator.refreshCrl();
    const c = await asNode('h3');
    await expect(c.uploadUpdate('restart/r2/a1', new Float64Array(3))).rejects.toMatchObject({ code: 'ERR_PKI_REVOKED', grpcCode: 16 });
    c.close();
    await alice.call('CreateExperiment', { id: 'rev', plans: [planHash] });
    const refusals: Array<Record<string, unknown>> = [];
    const res = await alice.runRound(statsRound('rev', 0, 'off', { stageTimeoutMs: 1_500 }), (t, b) => { if (t === 'refusal') refusals.push(b); });
    expect(res['contributors']).not.toContain('h3');
    // h3's idle session is re-checked before the invitation: the researcher sees why it is missing.
    expect(refusals).toEqual([expect.objectContaining({ node: 'h3', code: 'ERR_PKI_REVOKED' })]);
  });
});

function f1(k: number): Uint8Array {
  return new Uint8Array(new Float64Array(k).buffer);
}

describe('audit log tampering', () => {
  it('a node whose audit log was tampered with refuses to start (fail closed)', async () => {
    const { readFileSync: read, writeFileSync: write } = await import('node:fs');
    const path = h.audits.get('h2')!.path;
    h.agents.get('h2')!.close();
    const lines = read(path, 'utf8').split('\n');
    lines[0] = lines[0]!.replace('"plan-received"', '"plan-approved"');
    write(path, lines.join('\n'));
    // Restart h2 on the same state directory: fresh audit-log and plan-store instances.
    h.audits.delete('h2');
    h.plans.delete('h2');
    await expect(h.startNode('h2', memoryDatasets('cohort', tables.get('h2')!))).rejects.toMatchObject({ code: 'ERR_NODE_AUDIT_TAMPERED' });
  });
});
