/**
 * Tamper-evident audit log of a node: an append-only JSON-lines file in which every entry
 * carries the SHA-256 of its predecessor, so editing, reordering or deleting any entry breaks
 * the chain at that point. Appending truncated tails is caught against an anchored head
 * (`expectHead`), which the node also reports to the aggregator with each release so the chain
 * head is recorded outside the node.
 *
 * Entry hash = SHA-256(encodeTuple(['fedsec/audit/v1', seq, time, type, canonicalJSON(data), prev])).
 */
import { existsSync, readFileSync } from 'node:fs';
import { FedsecError } from '../common/errors.ts';
import { assertString } from '../common/validate.ts';
import { encodeTuple, toHex } from '../crypto/bytes.ts';
import { sha256Digest } from '../crypto/hkdf.ts';
import { appendLineDurable, canonicalJson } from '../proto/durable.ts';
import { NodeError } from './errors.ts';

/** Kinds of audited events. */
export type AuditType =
  | 'plan-received' | 'plan-approved' | 'plan-rejected'
  | 'dataset-added' | 'policy-set'
  | 'request' | 'refusal' | 'release' | 'budget-spend' | 'round-aborted';

/** One audit entry as stored. */
export interface AuditEntry {
  readonly seq: number;
  /** ISO-8601 time of the append. */
  readonly time: string;
  readonly type: AuditType;
  readonly data: Readonly<Record<string, unknown>>;
  /** Hash of the previous entry (64 zeros for the first). */
  readonly prev: string;
  readonly hash: string;
}

/** Position of the chain's last entry. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

/** Result of {@link AuditLog.verify}. */
export interface AuditVerification {
  readonly ok: boolean;
  readonly entries: number;
  readonly head: AuditHead;
  /** Sequence number (1-based line) of the first bad entry, when not ok. */
  readonly badSeq?: number;
  readonly reason?: string;
}

const GENESIS = '0'.repeat(64);

function entryHash(seq: number, time: string, type: string, data: unknown, prev: string): string {
  return toHex(sha256Digest(encodeTuple(['fedsec/audit/v1', seq, time, type, canonicalJson(data), prev])));
}

/** The node's audit log at `path` (created on first append). Single writer per file. */
export class AuditLog {
  readonly path: string;
  #head: AuditHead | undefined;

  constructor(path: string) {
    assertString('path', path, 4096);
    this.path = path;
  }

  /**
   * Appends an entry and fsyncs it. Refuses to extend a chain that no longer verifies
   * (ERR_NODE_AUDIT_TAMPERED), so tampering cannot be hidden by later entries.
   */
  append(type: AuditType, data: Record<string, unknown>, now: Date = new Date()): AuditEntry {
    const head = this.#head ?? this.#verifiedHead();
    const seq = head.seq + 1;
    const time = now.toISOString();
    const hash = entryHash(seq, time, type, data, head.hash);
    const entry: AuditEntry = { seq, time, type, data, prev: head.hash, hash };
    appendLineDurable(this.path, canonicalJson(entry));
    this.#head = { seq, hash };
    return entry;
  }

  /** The current head (verifying the file on first use). */
  head(): AuditHead {
    return this.#head ?? this.#verifiedHead();
  }

  /** Reads every entry without verifying (use {@link verify} for that). */
  entries(): AuditEntry[] {
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as AuditEntry);
  }

  /**
   * Recomputes the chain. With `expectHead` (an anchored head recorded elsewhere), also detects
   * truncation or a rewritten tail.
   */
  verify(expectHead?: AuditHead): AuditVerification {
    let prev = GENESIS;
    let seq = 0;
    if (!existsSync(this.path)) {
      const head = { seq: 0, hash: GENESIS };
      return expectHead !== undefined && expectHead.seq !== 0
        ? { ok: false, entries: 0, head, badSeq: 1, reason: 'log is missing but an anchored head exists' }
        : { ok: true, entries: 0, head };
    }
    const lines = readFileSync(this.path, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    for (const line of lines) {
      seq++;
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return { ok: false, entries: seq - 1, head: { seq: seq - 1, hash: prev }, badSeq: seq, reason: 'entry is not JSON' };
      }
      const bad = (reason: string): AuditVerification => ({ ok: false, entries: seq - 1, head: { seq: seq - 1, hash: prev }, badSeq: seq, reason });
      if (e['seq'] !== seq) return bad(`sequence number ${String(e['seq'])} where ${seq} was expected`);
      if (e['prev'] !== prev) return bad('link to the previous entry is broken');
      if (typeof e['time'] !== 'string' || typeof e['type'] !== 'string' || typeof e['data'] !== 'object' || e['data'] === null) return bad('malformed entry');
      let h: string;
      try {
        h = entryHash(seq, e['time'], e['type'], e['data'], prev);
      } catch {
        return bad('entry data is not canonical JSON');
      }
      if (e['hash'] !== h) return bad('entry content does not match its hash');
      prev = h;
    }
    const head = { seq, hash: prev };
    if (expectHead !== undefined) {
      if (expectHead.seq > seq) return { ok: false, entries: seq, head, badSeq: seq + 1, reason: `log ends at entry ${seq} but the anchored head is entry ${expectHead.seq} (truncated)` };
      const at = expectHead.seq === 0 ? GENESIS : (JSON.parse(lines[expectHead.seq - 1]!) as AuditEntry).hash;
      if (at !== expectHead.hash) return { ok: false, entries: seq, head, badSeq: expectHead.seq, reason: 'entry at the anchored head differs (rewritten)' };
    }
    return { ok: true, entries: seq, head };
  }

  #verifiedHead(): AuditHead {
    const v = this.verify();
    if (!v.ok) {
      throw new NodeError('ERR_NODE_AUDIT_TAMPERED', `audit log ${this.path} fails verification at entry ${v.badSeq}: ${v.reason}`, { badSeq: v.badSeq });
    }
    this.#head = v.head;
    return v.head;
  }
}

/** True if `e` is the audit-tampering error. */
export function isAuditTampered(e: unknown): boolean {
  return e instanceof FedsecError && e.code === 'ERR_NODE_AUDIT_TAMPERED';
}
