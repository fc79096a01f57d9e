/**
 * The node as a long-running service, assembled from its state directory:
 *
 *   <dir>/member/      PKI member directory (keys, cert.pem, ca.pem) from `fedsec pki request|install`
 *   <dir>/datasets/    dataset registry (`fedsec node dataset add`)
 *   <dir>/plans/       plan approval store (`fedsec node plan ...`)
 *   <dir>/audit.jsonl  tamper-evident audit log (`fedsec node audit verify`)
 *   <dir>/policy.json  node policy (`fedsec node policy ...`; defaults when absent)
 *   <dir>/privacy.ledger  node/ledger's write-ahead privacy-budget ledger
 *   <dir>/jl/          Joye-Libert key material per setup (0600) and used tags
 */
import { join } from 'node:path';
import { loadIdentityKey, loadTlsCredentials } from '../pki/member.ts';
import { PeerVerifier } from '../pki/verifier.ts';
import { NodeAgent, identitySecretFromKeyObject, type DatasetSource } from './agent.ts';
import { AuditLog } from './audit.ts';
import { DatasetRegistry } from './datasets/index.ts';
import { PlanStore } from './plans.ts';
import { loadPolicy } from './policy.ts';
import { ledgerGuard } from './privacy.ts';
import { PrivacyLedger } from './ledger/index.ts';
import { OnnxTrainer } from './trainer.ts';
import { PlanSessionCache } from './training/index.ts';

/** Paths inside a node state directory. */
export function nodePaths(dir: string): { member: string; datasets: string; plans: string; audit: string; policy: string; ledger: string } {
  return {
    member: join(dir, 'member'), datasets: join(dir, 'datasets'), plans: join(dir, 'plans'),
    audit: join(dir, 'audit.jsonl'), policy: join(dir, 'policy.json'), ledger: join(dir, 'privacy.ledger'),
  };
}

/** The registry as the agent's dataset source (train / held-out splits as registered). */
export function registryDatasets(reg: DatasetRegistry): DatasetSource {
  return {
    tags: () => reg.list().map((r) => r.tag),
    load: async (tag) => {
      const d = reg.load(tag);
      return { train: d.train, test: d.test };
    },
  };
}

/** Options of {@link startNodeService}. */
export interface NodeServiceOptions {
  readonly dir: string;
  /** Aggregator `host:port`. */
  readonly aggregator: string;
  /** CRL file (reloaded periodically). */
  readonly crlFile: string;
  /** Member directory (default `<dir>/member`). */
  readonly memberDir?: string;
  /** onnxruntime intra-op threads (default 1). */
  readonly threads?: number;
  /** Pinned Joye-Libert modulus fingerprint (hex). */
  readonly jlFingerprint?: string;
  readonly log?: (line: string) => void;
}

/** Starts the node agent from its state directory; resolves once connected. */
export async function startNodeService(o: NodeServiceOptions): Promise<{ agent: NodeAgent; stop: () => void }> {
  const p = nodePaths(o.dir);
  const memberDir = o.memberDir ?? p.member;
  const tls = await loadTlsCredentials(memberDir);
  const identitySecretKey = identitySecretFromKeyObject((await loadIdentityKey(memberDir)).privateKey);
  const verifier = await PeerVerifier.create({ caCert: tls.ca, crlFile: o.crlFile });
  const stopCrl = verifier.startAutoRefresh(10_000, (e) => o.log?.(`CRL refresh failed: ${(e as Error).message}`));
  const audit = new AuditLog(p.audit);
  const plans = new PlanStore(p.plans, audit);
  const ledger = PrivacyLedger.open(p.ledger);
  const budgets = (tag: string): { epsilon: number; delta: number } => {
    const pol = loadPolicy(p.policy);
    return pol.budgets[tag] ?? pol.defaultBudget;
  };
  const agent = new NodeAgent({
    address: o.aggregator, tls, verifier, identitySecretKey, plans, audit,
    policy: () => loadPolicy(p.policy),
    datasets: registryDatasets(new DatasetRegistry(p.datasets)),
    trainer: new OnnxTrainer({ sessions: new PlanSessionCache({ intraOpNumThreads: o.threads ?? 1 }) }),
    privacy: ledgerGuard(ledger, budgets),
    ...(o.log === undefined ? {} : { log: o.log }),
    ...(o.jlFingerprint === undefined ? {} : { jlModulusFingerprint: o.jlFingerprint }),
    jlStateDir: join(o.dir, 'jl'),
  });
  await agent.start();
  return { agent, stop: () => { stopCrl(); agent.close(); ledger.close(); } };
}
