/**
 * A rogue aggregator for node tests: a real gRPC server holding the aggregator's certificate
 * from a local federation, scripted by the test, and a node agent (n1) dialling it.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { LocalFederation } from '../../aggregator/localfed.ts';
import { AuditLog } from '../../node/audit.ts';
import { NodeAgent } from '../../node/agent.ts';
import { PlanStore } from '../../node/plans.ts';
import { parsePolicy } from '../../node/policy.ts';
import { CHANNEL_OPTIONS, federationService, serverCredentials, type ChunkMsg, type Envelope, type UploadAckMsg } from '../../proto/rpc.ts';
import { memoryDatasets, syntheticTable } from '../services/helpers.ts';

/** Sends one envelope on the node's Session stream. */
export type SendEnvelope = (type: string, json: Record<string, unknown>, payload?: Uint8Array) => void;

/** What a rogue-aggregator test gets back. */
export interface RogueRun {
  readonly audit: AuditLog;
  /** Number of UploadUpdate calls the node made. */
  uploads(): number;
  close(): void;
}

/**
 * Starts the rogue server (each Session message from the node goes to `script`) and the node
 * `n1`, with an approved `plan`, the dataset tag `cohort` and the given policy.
 */
export async function startRogueRound(
  fed: LocalFederation,
  dir: string,
  plan: Uint8Array,
  policy: Record<string, unknown>,
  script: (env: Envelope, send: SendEnvelope) => void,
  roundTag: string,
): Promise<RogueRun> {
  let uploads = 0;
  const server = new grpc.Server({ ...CHANNEL_OPTIONS });
  server.addService(federationService(), {
    Session: (call: grpc.ServerDuplexStream<Envelope, Envelope>) => {
      const send: SendEnvelope = (type, json, payload = new Uint8Array(0)) => {
        call.write({ type, round_tag: type === 'welcome' ? '' : roundTag, json: JSON.stringify(json), payload: new Uint8Array(payload) });
      };
      call.on('data', (env: Envelope) => script(env, send));
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
    policy: () => parsePolicy(policy),
    datasets: memoryDatasets('cohort', syntheticTable(3, 12, 3)),
  });
  await agent.start();
  return {
    audit,
    uploads: () => uploads,
    close: () => {
      agent.close();
      server.forceShutdown();
    },
  };
}

/**
 * Resolves with `code: message` of the first refusal in the audit log, or with whatever
 * `other()` returns first (e.g. 'release' or 'advertised').
 */
export function firstOutcome(audit: AuditLog, other: () => string | undefined): Promise<string> {
  return new Promise<string>((resolve) => {
    const poll = setInterval(() => {
      const o = other();
      if (o !== undefined) { clearInterval(poll); resolve(o); return; }
      const refusal = audit.entries().find((e) => e.type === 'refusal');
      if (refusal !== undefined) { clearInterval(poll); resolve(`${String(refusal.data['code'])}: ${String(refusal.data['message'])}`); }
    }, 20);
  });
}
