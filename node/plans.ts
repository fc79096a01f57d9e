/**
 * Training-plan approval store of a node. Incoming plan bundles (proto/plan.ts) are kept as
 * `<sha256>.plan` files with a status index; the data manager lists, inspects, approves or
 * rejects them by SHA-256. {@link PlanStore.requireApproved} re-hashes the bytes it is about to
 * run, so an unapproved, rejected or altered plan never reaches the training engine.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertString } from '../common/validate.ts';
import { writeFileDurable } from '../proto/durable.ts';
import { decodePlanBundle, planHash, type PlanBundle } from '../proto/plan.ts';
import type { AuditLog } from './audit.ts';
import { NodeError } from './errors.ts';

/** Approval status of a plan. */
export type PlanStatus = 'pending' | 'approved' | 'rejected';

/** One plan as listed to the data manager. */
export interface PlanRecord {
  readonly hash: string;
  readonly name: string;
  readonly kind: string;
  readonly numParams: number;
  readonly meta: Readonly<Record<string, string | number>>;
  readonly sections: readonly { readonly name: string; readonly bytes: number }[];
  readonly status: PlanStatus;
  readonly receivedAt: string;
  /** Who submitted it (researcher id from the client certificate, or `local`). */
  readonly from: string;
  readonly decidedAt?: string;
  readonly reason?: string;
}

const HASH_RE = /^[0-9a-f]{64}$/;

/** Plans stored under `dir`, decisions recorded in the node's audit log. */
export class PlanStore {
  readonly dir: string;
  readonly #audit: AuditLog;

  constructor(dir: string, audit: AuditLog) {
    assertString('dir', dir, 4096);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.dir = dir;
    this.#audit = audit;
  }

  /** Stores an incoming plan as pending (idempotent: a known hash keeps its status). Returns its record. */
  receive(encoded: Uint8Array, from: string): PlanRecord {
    const bundle = decodePlanBundle(encoded);
    const hash = planHash(encoded);
    const existing = this.#index()[hash];
    if (existing !== undefined) return existing;
    writeFileDurable(this.#file(hash), encoded, 0o600);
    const rec: PlanRecord = {
      hash, name: bundle.name, kind: bundle.kind, numParams: bundle.numParams, meta: bundle.meta,
      sections: Object.entries(bundle.sections).map(([name, b]) => ({ name, bytes: b.length })),
      status: 'pending', receivedAt: new Date().toISOString(), from,
    };
    this.#writeIndex({ ...this.#index(), [hash]: rec });
    this.#audit.append('plan-received', { hash, name: rec.name, kind: rec.kind, from });
    return rec;
  }

  /** All plans, newest first. */
  list(): PlanRecord[] {
    return Object.values(this.#index()).sort((a, b) => (a.receivedAt < b.receivedAt ? 1 : a.receivedAt > b.receivedAt ? -1 : 0));
  }

  /** The record of `hash` (a unique prefix of at least 8 hex digits is accepted). */
  get(hashOrPrefix: string): PlanRecord {
    return this.#resolve(hashOrPrefix);
  }

  /** The decoded bundle of a stored plan, re-verified against its hash. */
  show(hashOrPrefix: string): { record: PlanRecord; bundle: PlanBundle } {
    const record = this.#resolve(hashOrPrefix);
    return { record, bundle: decodePlanBundle(this.#readVerified(record.hash)) };
  }

  /** Approves a plan by hash; audited. */
  approve(hashOrPrefix: string, by = 'data-manager'): PlanRecord {
    return this.#decide(hashOrPrefix, 'approved', by, undefined);
  }

  /** Rejects a plan by hash with a reason; audited. */
  reject(hashOrPrefix: string, reason: string, by = 'data-manager'): PlanRecord {
    assertString('reason', reason, 1024);
    return this.#decide(hashOrPrefix, 'rejected', by, reason);
  }

  /**
   * The bundle of an approved plan, read from disk and re-hashed: throws
   * ERR_NODE_PLAN_UNKNOWN / _NOT_APPROVED / _REJECTED / _ALTERED otherwise.
   */
  requireApproved(hash: string): PlanBundle {
    if (!HASH_RE.test(hash)) throw new NodeError('ERR_NODE_PLAN_UNKNOWN', 'plan hash must be 64 lower-case hex digits');
    const rec = this.#index()[hash];
    if (rec === undefined) throw new NodeError('ERR_NODE_PLAN_UNKNOWN', `plan ${hash.slice(0, 16)}… is not known to this node`, { plan: hash });
    if (rec.status === 'rejected') throw new NodeError('ERR_NODE_PLAN_REJECTED', `plan ${hash.slice(0, 16)}… was rejected by the data manager${rec.reason ? `: ${rec.reason}` : ''}`, { plan: hash });
    if (rec.status !== 'approved') throw new NodeError('ERR_NODE_PLAN_NOT_APPROVED', `plan ${hash.slice(0, 16)}… (${rec.name}) awaits approval by the data manager`, { plan: hash });
    return decodePlanBundle(this.#readVerified(hash));
  }

  #decide(hashOrPrefix: string, status: 'approved' | 'rejected', by: string, reason: string | undefined): PlanRecord {
    const rec = this.#resolve(hashOrPrefix);
    this.#readVerified(rec.hash);
    const next: PlanRecord = { ...rec, status, decidedAt: new Date().toISOString(), ...(reason === undefined ? {} : { reason }) };
    this.#writeIndex({ ...this.#index(), [rec.hash]: next });
    this.#audit.append(status === 'approved' ? 'plan-approved' : 'plan-rejected', { hash: rec.hash, name: rec.name, by, ...(reason === undefined ? {} : { reason }) });
    return next;
  }

  #readVerified(hash: string): Uint8Array {
    const f = this.#file(hash);
    if (!existsSync(f)) throw new NodeError('ERR_NODE_PLAN_ALTERED', `plan file for ${hash.slice(0, 16)}… is missing`, { plan: hash });
    const bytes = new Uint8Array(readFileSync(f));
    if (planHash(bytes) !== hash) throw new NodeError('ERR_NODE_PLAN_ALTERED', `plan ${hash.slice(0, 16)}… on disk no longer matches its approved hash; it will not run`, { plan: hash });
    return bytes;
  }

  #resolve(hashOrPrefix: string): PlanRecord {
    assertString('hash', hashOrPrefix, 64, /^[0-9a-f]{8,64}$/);
    const idx = this.#index();
    const hits = Object.keys(idx).filter((h) => h.startsWith(hashOrPrefix));
    if (hits.length !== 1) {
      throw new NodeError('ERR_NODE_PLAN_UNKNOWN', hits.length === 0 ? `no plan with hash ${hashOrPrefix}` : `hash prefix ${hashOrPrefix} is ambiguous`, { prefix: hashOrPrefix });
    }
    return idx[hits[0]!]!;
  }

  #file(hash: string): string {
    return join(this.dir, `${hash}.plan`);
  }

  #index(): Record<string, PlanRecord> {
    const f = join(this.dir, 'index.json');
    if (!existsSync(f)) return {};
    return JSON.parse(readFileSync(f, 'utf8')) as Record<string, PlanRecord>;
  }

  #writeIndex(idx: Record<string, PlanRecord>): void {
    writeFileDurable(join(this.dir, 'index.json'), JSON.stringify(idx, null, 1), 0o600);
  }
}
