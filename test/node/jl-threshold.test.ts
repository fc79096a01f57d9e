/**
 * A node facing a rogue aggregator (a real gRPC server with the aggregator's certificate) that
 * starts a Joye-Libert key setup whose decryption threshold is below the node's participant
 * floor: with threshold t the researcher could decrypt sums over any t nodes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalFederation } from '../../aggregator/localfed.ts';
import { AuditLog } from '../../node/audit.ts';
import { NodeAgent, statsVectorLength } from '../../node/agent.ts';
import { PlanStore } from '../../node/plans.ts';
import { parsePolicy } from '../../node/policy.ts';
import { encodePlanBundle, planHash } from '../../proto/plan.ts';
import { encodeEngineMessage } from '../../proto/envelope.ts';
import { CHANNEL_OPTIONS, federationService, serverCredentials, type ChunkMsg, type Envelope, type UploadAckMsg } from '../../proto/rpc.ts';
import { memoryDatasets, syntheticTable } from '../services/helpers.ts';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

async function runSetup(threshold: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'fedsec-jlthr-'));
  dirs.push(dir);
  const fed = await createLocalFederation(dir, { nodes: ['n1', 'n2', 'n3'], researchers: ['alice'] });
  const plan = encodePlanBundle({ name: 'feature-stats', kind: 'stats', numParams: 3, meta: {}, sections: {} });
  const table = syntheticTable(3, 12, 3);
  const work = {
    experiment: 'e', round: 0, attempt: 1, tag: 'cohort', kind: 'stats', plan: planHash(plan), args: { learningRate: 0.1, epochs: 1, batchSize: 8 },
    secagg: 'jl', dp: { mode: 'off', noiseMultiplier: 0, clipNorm: 1, delta: 1e-5 }, participants: ['n1', 'n2', 'n3'], minParticipants: 3,
  };
  const tag = 'e/r0/a1';
  const modulus = JSON.parse(readFileSync('test/fixtures/jl/modulus-2048.json', 'utf8')) as unknown;
  const server = new grpc.Server({ ...CHANNEL_OPTIONS });
  let advertised = false;
  server.addService(federationService(), {
    Session: (call: grpc.ServerDuplexStream<Envelope, Envelope>) => {
      const send = (type: string, json: Record<string, unknown>, payload: Uint8Array = new Uint8Array(0)): void => {
        call.write({ type, round_tag: type === 'welcome' ? '' : tag, json: JSON.stringify(json), payload: new Uint8Array(payload) });
      };
      call.on('data', (env: Envelope) => {
        if (env.type === 'hello') {
          send('welcome', { aggregator: 'aggregator' });
          send('work', { work, seq: 1, vectorLength: statsVectorLength(3), codec: { clip: 1000 }, aggregator: 'aggregator', roster: fed.roster() });
        } else if (env.type === 'accept') {
          send('begin', { participants: ['n1', 'n2', 'n3'] });
          const start = { stage: 'jl/setup/start', setupId: 's1', nodes: ['n1', 'n2', 'n3'], threshold, researcher: 'alice', modulus };
          send('relay', { stage: start.stage }, encodeEngineMessage(start));
        } else if (env.type === 'relay') {
          advertised = true;
        }
      });
      call.on('error', () => undefined);
    },
    UploadUpdate: (call: grpc.ServerReadableStream<ChunkMsg, UploadAckMsg>, cb: grpc.sendUnaryData<UploadAckMsg>) => {
      call.on('data', () => undefined);
      call.on('end', () => cb(null, { hash: '', elements: 0 }));
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', serverCredentials(fed.members.get('aggregator')!.tls), (e, p) => (e ? reject(e) : resolve(p)));
  });
  const audit = new AuditLog(join(dir, 'n1-audit.jsonl'));
  const plans = new PlanStore(join(dir, 'n1-plans'), audit);
  plans.approve(plans.receive(plan, 'alice').hash);
  const m = fed.members.get('n1')!;
  const agent = new NodeAgent({
    address: `127.0.0.1:${port}`, tls: m.tls, verifier: await fed.verifier(), identitySecretKey: m.identitySecretKey, plans, audit,
    policy: () => parsePolicy({ schemes: ['jl'], requireSecureAggregation: true, requireDp: false, minParticipants: 3 }),
    datasets: memoryDatasets('cohort', table),
  });
  try {
    await agent.start();
    // Either the node refuses the setup (audited) or it takes part and advertises its setup keys.
    return await new Promise<string>((resolve) => {
      const poll = setInterval(() => {
        if (advertised) { clearInterval(poll); resolve('advertised'); }
        const refusal = audit.entries().find((e) => e.type === 'refusal');
        if (refusal !== undefined) { clearInterval(poll); resolve(`${String(refusal.data['code'])}: ${String(refusal.data['message'])}`); }
      }, 20);
    });
  } finally {
    agent.close();
    server.forceShutdown();
  }
}

describe('node agent against a rogue Joye-Libert key setup', () => {
  it('refuses a setup threshold below its participant floor and audits the refusal', async () => {
    const outcome = await runSetup(1);
    expect(outcome).toMatch(/^ERR_NODE_POLICY_PARTICIPANTS: .*threshold 1/);
  });
  it('takes part in a setup whose threshold meets the floor', async () => {
    expect(await runSetup(3)).toBe('advertised');
  });
});
