/** Shared set-up of the end-to-end service tests: a real local federation over loopback mTLS. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AggregatorService } from '../../aggregator/service.ts';
import { AggregatorStore } from '../../aggregator/store.ts';
import { createLocalFederation, type LocalFederation } from '../../aggregator/localfed.ts';
import { seededRandomSource } from '../../crypto/random.ts';
import { AuditLog } from '../../node/audit.ts';
import { NodeAgent, type DatasetSource, type NodeAgentOptions } from '../../node/agent.ts';
import type { TabularDataset } from '../../node/datasets/index.ts';
import { PlanStore } from '../../node/plans.ts';
import { parsePolicy, type NodePolicy } from '../../node/policy.ts';
import { FederationClient } from '../../proto/client.ts';
import type { JlModulus } from '../../crypto/jl/index.ts';

/** A deterministic numeric table (values spread over several magnitudes). */
export function syntheticTable(seedByte: number, rows: number, cols: number): TabularDataset {
  const seed = new Uint8Array(32).fill(seedByte);
  const rng = seededRandomSource(seed);
  const raw = new Uint32Array(rows * cols + rows);
  rng.fill(new Uint8Array(raw.buffer));
  const features = new Float64Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) features[i] = (raw[i]! / 2 ** 32 - 0.3) * 10 ** ((i % cols) - 1);
  const labels = new Float64Array(rows);
  for (let r = 0; r < rows; r++) labels[r] = raw[rows * cols + r]! % 2;
  return { rows, features: cols, x: features, y: labels, target: 'y', labels: { positive: '1', negative: '0' }, featureNames: Array.from({ length: cols }, (_, j) => `f${j}`) };
}

/** An in-memory dataset source for one tag (train split `t`, held-out split `test` or `t`). */
export function memoryDatasets(tag: string, t: TabularDataset, test: TabularDataset = t): DatasetSource {
  return { tags: () => [tag], load: async () => ({ train: t, test }) };
}

/** A running aggregator plus helpers. */
export interface Harness {
  readonly fed: LocalFederation;
  readonly dir: string;
  aggregator: AggregatorService;
  store: AggregatorStore;
  port: number;
  readonly agents: Map<string, NodeAgent>;
  readonly plans: Map<string, PlanStore>;
  readonly audits: Map<string, AuditLog>;
  researcher(id?: string): Promise<FederationClient>;
  startNode(id: string, datasets: DatasetSource, policy?: Partial<NodePolicy>, extra?: Partial<NodeAgentOptions>): Promise<NodeAgent>;
  restartAggregator(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a federation with the given nodes (not yet connected). */
export async function startHarness(dir: string, nodes: readonly string[], opts: { minParticipants?: number; stageTimeoutMs?: number; jlModulus?: JlModulus } = {}): Promise<Harness> {
  const fed = await createLocalFederation(dir, { nodes, researchers: ['alice', 'bob'] });
  const aggMember = fed.members.get('aggregator')!;
  const clients: FederationClient[] = [];
  const h: Harness = {
    fed, dir, agents: new Map(), plans: new Map(), audits: new Map(),
    aggregator: undefined as unknown as AggregatorService, store: undefined as unknown as AggregatorStore, port: 0,
    async researcher(id = 'alice') {
      const c = new FederationClient({ address: `127.0.0.1:${h.port}`, tls: fed.members.get(id)!.tls, verifier: await fed.verifier() });
      clients.push(c);
      return c;
    },
    async startNode(id, datasets, policy = {}, extra = {}) {
      const ndir = join(dir, 'nodes', id);
      mkdirSync(ndir, { recursive: true });
      const audit = h.audits.get(id) ?? new AuditLog(join(ndir, 'audit.jsonl'));
      const plans = h.plans.get(id) ?? new PlanStore(join(ndir, 'plans'), audit);
      h.audits.set(id, audit);
      h.plans.set(id, plans);
      const m = fed.members.get(id)!;
      const pol = parsePolicy({ schemes: ['masking', 'jl', 'off'], requireSecureAggregation: false, requireDp: false, ...policy });
      const agent = new NodeAgent({
        address: `127.0.0.1:${h.port}`, tls: m.tls, verifier: await fed.verifier(), identitySecretKey: m.identitySecretKey,
        plans, audit, policy: () => pol, datasets, ...(process.env['FEDSEC_TEST_LOG'] ? { log: (l: string) => process.stderr.write(l + '\n') } : {}), ...extra,
      });
      h.agents.set(id, agent);
      await agent.start();
      return agent;
    },
    async restartAggregator() {
      await h.aggregator.stop();
      h.store.close();
      h.store = await AggregatorStore.open(join(dir, 'aggregator'));
      h.aggregator = new AggregatorService({ store: h.store, tls: aggMember.tls, verifier: await fed.verifier(), roster: () => fed.roster(), ...opts });
      await h.aggregator.start('127.0.0.1', h.port);
    },
    async close() {
      for (const c of clients) c.close();
      for (const a of h.agents.values()) a.close();
      await h.aggregator.stop();
      h.store.close();
    },
  };
  h.store = await AggregatorStore.open(join(dir, 'aggregator'));
  h.aggregator = new AggregatorService({ store: h.store, tls: aggMember.tls, verifier: await fed.verifier(), roster: () => fed.roster(), ...opts });
  h.port = await h.aggregator.start('127.0.0.1', 0);
  return h;
}
