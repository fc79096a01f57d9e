import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../node/audit.ts';
import { PlanStore } from '../../node/plans.ts';
import { DEFAULT_POLICY, evaluatePolicy, parsePolicy } from '../../node/policy.ts';
import { decodePlanBundle, encodePlanBundle, planHash } from '../../proto/plan.ts';
import type { WorkRequest } from '../../proto/work.ts';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'fedsec-gov-'));
  dirs.push(d);
  return d;
}
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function bundle(n = 3): Uint8Array {
  return encodePlanBundle({ name: 'logreg-wdbc', kind: 'logreg', numParams: n, meta: { features: 30 }, sections: { 'step.onnx': Uint8Array.of(1, 2, 3), 'infer.onnx': Uint8Array.of(4, 5) } });
}

describe('audit log', () => {
  it('chains entries and verifies', () => {
    const log = new AuditLog(join(tmp(), 'audit.jsonl'));
    log.append('request', { experiment: 'e1', round: 0 });
    log.append('release', { experiment: 'e1', round: 0, bytes: 24 });
    const v = log.verify();
    expect(v).toMatchObject({ ok: true, entries: 2 });
    expect(v.head).toEqual(log.head());
    // A fresh instance reads the same chain and continues it.
    const again = new AuditLog(log.path);
    again.append('refusal', { code: 'ERR_NODE_POLICY_NOISE' });
    expect(again.verify().entries).toBe(3);
  });

  it('detects an edited entry and refuses to append after it', () => {
    const log = new AuditLog(join(tmp(), 'audit.jsonl'));
    log.append('request', { round: 0 });
    log.append('release', { round: 0, epsilon: 0.5 });
    log.append('request', { round: 1 });
    const lines = readFileSync(log.path, 'utf8').split('\n');
    lines[1] = lines[1]!.replace('0.5', '0.1');
    writeFileSync(log.path, lines.join('\n'));
    const v = new AuditLog(log.path).verify();
    expect(v.ok).toBe(false);
    expect(v.badSeq).toBe(2);
    expect(() => new AuditLog(log.path).append('request', {})).toThrow(expect.objectContaining({ code: 'ERR_NODE_AUDIT_TAMPERED' }));
  });

  it('detects deleted entries and truncation against an anchored head', () => {
    const log = new AuditLog(join(tmp(), 'audit.jsonl'));
    for (let i = 0; i < 4; i++) log.append('request', { round: i });
    const anchored = log.head();
    const lines = readFileSync(log.path, 'utf8').split('\n').filter((l) => l);
    writeFileSync(log.path, [lines[0], lines[2], lines[3]].join('\n') + '\n');
    expect(new AuditLog(log.path).verify().ok).toBe(false);
    writeFileSync(log.path, lines.slice(0, 3).join('\n') + '\n');
    expect(new AuditLog(log.path).verify().ok).toBe(true); // a truncated chain is self-consistent...
    expect(new AuditLog(log.path).verify(anchored)).toMatchObject({ ok: false, badSeq: 4 }); // ...but not against the anchor
  });
});

describe('plan bundles and approval', () => {
  it('round-trips canonically and rejects altered or non-canonical bytes', () => {
    const b = bundle();
    const d = decodePlanBundle(b);
    expect(d.name).toBe('logreg-wdbc');
    expect(planHash(encodePlanBundle(d))).toBe(planHash(b));
    const truncated = b.slice(0, b.length - 1);
    expect(() => decodePlanBundle(truncated)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_MESSAGE' }));
    const bad = Uint8Array.from(b);
    bad[0] = 0x58;
    expect(() => decodePlanBundle(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_MESSAGE' }));
  });

  it('never runs an unapproved, rejected or altered plan', () => {
    const dir = tmp();
    const audit = new AuditLog(join(dir, 'audit.jsonl'));
    const store = new PlanStore(join(dir, 'plans'), audit);
    const b = bundle();
    const rec = store.receive(b, 'researcher-1');
    expect(rec.status).toBe('pending');
    expect(store.list()).toHaveLength(1);
    expect(() => store.requireApproved(rec.hash)).toThrow(expect.objectContaining({ code: 'ERR_NODE_PLAN_NOT_APPROVED' }));
    expect(() => store.requireApproved('ab'.repeat(32))).toThrow(expect.objectContaining({ code: 'ERR_NODE_PLAN_UNKNOWN' }));
    store.approve(rec.hash.slice(0, 12));
    expect(store.requireApproved(rec.hash).kind).toBe('logreg');
    // Alter the stored graph: the approved hash no longer matches, so it will not run.
    const f = join(dir, 'plans', `${rec.hash}.plan`);
    const bytes = readFileSync(f);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(f, bytes);
    expect(() => store.requireApproved(rec.hash)).toThrow(expect.objectContaining({ code: 'ERR_NODE_PLAN_ALTERED' }));
    const other = store.receive(bundle(4), 'researcher-1');
    store.reject(other.hash, 'too many parameters');
    expect(() => store.requireApproved(other.hash)).toThrow(expect.objectContaining({ code: 'ERR_NODE_PLAN_REJECTED' }));
    const types = audit.entries().map((e) => e.type);
    expect(types).toEqual(['plan-received', 'plan-approved', 'plan-received', 'plan-rejected']);
    expect(audit.verify().ok).toBe(true);
  });
});

describe('node policy', () => {
  const req: WorkRequest = {
    experiment: 'e1', round: 0, attempt: 1, tag: 'breast-cancer', kind: 'train', plan: 'a'.repeat(64), model: 'b'.repeat(64),
    args: { learningRate: 0.1, epochs: 2, batchSize: 32 }, secagg: 'masking',
    dp: { mode: 'distributed', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 }, participants: ['n1', 'n2', 'n3'], minParticipants: 3,
  };

  it('accepts a conforming request', () => {
    expect(evaluatePolicy(DEFAULT_POLICY, req)).toMatchObject({ args: req.args, overrides: [] });
  });

  it('refuses with a typed reason', () => {
    const cases: Array<[Partial<WorkRequest>, string]> = [
      [{ secagg: 'off' }, 'ERR_NODE_POLICY_SCHEME'],
      [{ dp: { ...req.dp, mode: 'off' } }, 'ERR_NODE_POLICY_DP_REQUIRED'],
      [{ dp: { ...req.dp, noiseMultiplier: 0.1 } }, 'ERR_NODE_POLICY_NOISE'],
      [{ args: { ...req.args, learningRate: 5 } }, 'ERR_NODE_POLICY_ARGS'],
      [{ minParticipants: 2 }, 'ERR_NODE_POLICY_PARTICIPANTS'],
    ];
    for (const [patch, code] of cases) {
      expect(() => evaluatePolicy(DEFAULT_POLICY, { ...req, ...patch })).toThrow(expect.objectContaining({ code }));
    }
    const plainOk = parsePolicy({ schemes: ['masking', 'off'] });
    expect(() => evaluatePolicy(plainOk, { ...req, secagg: 'off' })).toThrow(expect.objectContaining({ code: 'ERR_NODE_POLICY_SECAGG_REQUIRED' }));
    // Central DP under Joye-Libert: nobody could noise the sum the researcher decrypts.
    expect(() => evaluatePolicy(DEFAULT_POLICY, { ...req, secagg: 'jl', dp: { ...req.dp, mode: 'central' } })).toThrow(expect.objectContaining({ code: 'ERR_NODE_POLICY_DP_MODE' }));
    expect(evaluatePolicy(DEFAULT_POLICY, { ...req, secagg: 'masking', dp: { ...req.dp, mode: 'central' } }).overrides).toEqual([]);
    const localOnly = parsePolicy({ dpModes: ['local'] });
    expect(() => evaluatePolicy(localOnly, req)).toThrow(expect.objectContaining({ code: 'ERR_NODE_POLICY_DP_MODE' }));
  });

  it('clamps out-of-range arguments when told to', () => {
    const p = parsePolicy({ outOfRange: 'clamp', trainingArgs: { epochs: { min: 1, max: 3 } } });
    const d = evaluatePolicy(p, { ...req, args: { ...req.args, epochs: 10 } });
    expect(d.args.epochs).toBe(3);
    expect(d.overrides).toEqual(['epochs 10 clamped to 3']);
  });

  it('never clamps the learning rate under central or distributed DP (the noise is scaled to the requested rate)', () => {
    const p = parsePolicy({ outOfRange: 'clamp', trainingArgs: { learningRate: { min: 0.01, max: 1 } } });
    const tiny = { ...req.args, learningRate: 1e-6 };
    for (const mode of ['central', 'distributed'] as const) {
      expect(() => evaluatePolicy(p, { ...req, dp: { ...req.dp, mode }, args: tiny })).toThrow(expect.objectContaining({ code: 'ERR_NODE_POLICY_ARGS' }));
    }
    // Local DP adds the noise at the node after clipping, so clamping stays safe there.
    expect(evaluatePolicy(p, { ...req, dp: { ...req.dp, mode: 'local' }, args: tiny }).args.learningRate).toBe(0.01);
  });

  it('validates policy files', () => {
    expect(() => parsePolicy({ schemes: ['rot13'] })).toThrow(expect.objectContaining({ code: 'ERR_NODE_POLICY_INVALID' }));
    expect(() => parsePolicy({ trainingArgs: { epochs: { min: 5, max: 1 } } })).toThrow(expect.objectContaining({ code: 'ERR_NODE_POLICY_INVALID' }));
    expect(parsePolicy({ budgets: { 'breast-cancer': { epsilon: 3, delta: 1e-5 } } }).budgets['breast-cancer']?.epsilon).toBe(3);
  });
});
