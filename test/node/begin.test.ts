/**
 * A node facing a rogue aggregator (a real gRPC server with the aggregator's certificate) that
 * names the same participant several times in `begin` to get past the node's participant floor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
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
import { CHANNEL_OPTIONS, federationService, serverCredentials, type ChunkMsg, type Envelope, type UploadAckMsg } from '../../proto/rpc.ts';
import { memoryDatasets, syntheticTable } from '../services/helpers.ts';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('node agent against a rogue aggregator', () => {
  it('refuses a begin that repeats a participant to reach its participant floor (nothing is uploaded)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-begin-'));
    dirs.push(dir);
    const fed = await createLocalFederation(dir, { nodes: ['n1', 'n2', 'n3'], researchers: ['alice'] });
    const plan = encodePlanBundle({ name: 'feature-stats', kind: 'stats', numParams: 3, meta: {}, sections: {} });
    const table = syntheticTable(3, 12, 3);
    const work = {
      experiment: 'e', round: 0, attempt: 1, tag: 'cohort', kind: 'stats', plan: planHash(plan), args: { learningRate: 0.1, epochs: 1, batchSize: 8 },
      secagg: 'off', dp: { mode: 'off', noiseMultiplier: 0, clipNorm: 1, delta: 1e-5 }, participants: ['n1', 'n2', 'n3'], minParticipants: 3,
    };
    const tag = 'e/r0/a1';
    let uploads = 0;
    const server = new grpc.Server({ ...CHANNEL_OPTIONS });
    server.addService(federationService(), {
      Session: (call: grpc.ServerDuplexStream<Envelope, Envelope>) => {
        const send = (type: string, json: Record<string, unknown>): void => { call.write({ type, round_tag: type === 'welcome' ? '' : tag, json: JSON.stringify(json), payload: new Uint8Array(0) }); };
        call.on('data', (env: Envelope) => {
          if (env.type === 'hello') {
            send('welcome', { aggregator: 'aggregator' });
            send('work', { work, seq: 1, vectorLength: statsVectorLength(3), codec: {}, aggregator: 'aggregator' });
          } else if (env.type === 'accept') {
            send('begin', { participants: ['n1', 'n1', 'n1'] });
          }
        });
        call.on('error', () => undefined);
      },
      UploadUpdate: (call: grpc.ServerReadableStream<ChunkMsg, UploadAckMsg>, cb: grpc.sendUnaryData<UploadAckMsg>) => {
        uploads++;
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
      policy: () => parsePolicy({ schemes: ['off'], requireSecureAggregation: false, requireDp: false, minParticipants: 3 }),
      datasets: memoryDatasets('cohort', table),
    });
    try {
      await agent.start();
      // The node either refuses (audited) or goes on to release its statistics: wait for whichever comes first.
      const outcome = await new Promise<string>((resolve) => {
        const poll = setInterval(() => {
          const types = audit.entries().map((e) => e.type);
          if (types.includes('release')) { clearInterval(poll); resolve('release'); }
          const refusal = audit.entries().find((e) => e.type === 'refusal');
          if (refusal !== undefined) { clearInterval(poll); resolve(String(refusal.data['message'])); }
        }, 20);
      });
      expect(outcome).toContain('duplicate');
      expect(uploads).toBe(0);
    } finally {
      agent.close();
      server.forceShutdown();
    }
  });
});
