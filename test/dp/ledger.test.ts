import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { computeEpsilon, type DpEvent } from '../../crypto/dp/index.ts';
import { PrivacyLedger } from '../../node/ledger/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fedsec-ledger-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `l${n++}.log`);
const ev = (steps: number): DpEvent => ({ kind: 'poissonGaussian', samplingRate: 0.01, noiseMultiplier: 1.1, steps });

describe('privacy ledger', () => {
  it('creates a 0600 file, composes spends with the accountant and refuses over budget with the remaining budget', () => {
    const p = fresh();
    const l = PrivacyLedger.open(p);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    l.setBudget('icu', { maxEpsilon: 1.5, delta: 1e-6 });
    const r1 = l.spend('icu', ev(100), 'u1');
    const want1 = computeEpsilon([ev(100)], 1e-6).epsilon;
    expect(r1.totalEpsilon).toBeCloseTo(want1, 12);
    const r2 = l.spend('icu', ev(100), 'u2');
    expect(r2.totalEpsilon).toBeCloseTo(computeEpsilon([ev(200)], 1e-6).epsilon, 12);
    expect(r2.totalEpsilon).toBeLessThan(2 * want1); // RDP composition beats naive summation
    let err: unknown;
    try {
      l.spend('icu', ev(100000), 'u3');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_DP_BUDGET_EXCEEDED', dataset: 'icu' });
    const msg = (err as Error).message;
    expect(msg).toContain('remaining');
    expect((err as { remainingEpsilon: number }).remainingEpsilon).toBeCloseTo(1.5 - r2.totalEpsilon, 9);
    expect(l.status('icu').spends).toBe(2);
    l.close();
    // Survives reopen with the same totals.
    const l2 = PrivacyLedger.open(p);
    expect(l2.status('icu')).toMatchObject({ spends: 2, releaseIds: ['u1', 'u2'] });
    expect(l2.status('icu').spentEpsilon).toBeCloseTo(r2.totalEpsilon, 12);
    l2.close();
  });

  it('a refused spend writes nothing; lowering the budget below the spent amount leaves 0 remaining', () => {
    const p = fresh();
    const l = PrivacyLedger.open(p);
    l.setBudget('ds', { maxEpsilon: 2, delta: 1e-6 });
    l.spend('ds', ev(100), 'a');
    const size = statSync(p).size;
    expect(() => l.spend('ds', ev(1_000_000), 'b')).toThrow(expect.objectContaining({ code: 'ERR_DP_BUDGET_EXCEEDED' }));
    expect(statSync(p).size).toBe(size);
    l.setBudget('ds', { maxEpsilon: 0.01, delta: 1e-6 });
    expect(l.status('ds').remainingEpsilon).toBe(0);
    expect(() => l.spend('ds', ev(1), 'c')).toThrow(expect.objectContaining({ code: 'ERR_DP_BUDGET_EXCEEDED', remainingEpsilon: 0 }));
    l.close();
    expect(() => l.spend('ds', ev(1), 'd')).toThrow(expect.objectContaining({ code: 'ERR_DP_LEDGER_CLOSED' }));
    expect(() => PrivacyLedger.open(join(root, 'no', 'such', 'dir', 'x.log'))).toThrow(expect.objectContaining({ code: 'ERR_DP_LEDGER_IO' }));
  });

  it('one writer per ledger: a second open fails while held; a crashed owner\'s lock is taken over', () => {
    const p = fresh();
    const a = PrivacyLedger.open(p);
    expect(statSync(`${p}.lock`).mode & 0o777).toBe(0o600);
    expect(() => PrivacyLedger.open(p)).toThrow(expect.objectContaining({ code: 'ERR_DP_LEDGER_LOCKED' }));
    a.close();
    const b = PrivacyLedger.open(p);
    b.close();
    // A lock left by a process that no longer exists.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(`${p}.lock`, `${dead}\n`);
    const c = PrivacyLedger.open(p);
    expect(readFileSync(`${p}.lock`, 'latin1')).toBe(`${process.pid}\n`);
    c.close();
    expect(() => statSync(`${p}.lock`)).toThrow();
  });

  it('with the PLD accountant, spends compose tightly (below the RDP total)', () => {
    const l = PrivacyLedger.open(fresh(), { accountant: 'pld' });
    l.setBudget('ds', { maxEpsilon: 5, delta: 1e-5 });
    const e: DpEvent = { kind: 'poissonGaussian', samplingRate: 0.01, noiseMultiplier: 3, steps: 50 };
    l.spend('ds', e, 'a');
    const r = l.spend('ds', e, 'b');
    const pld = computeEpsilon([{ ...e, steps: 100 }], 1e-5, { accountant: 'pld' }).epsilon;
    expect(r.totalEpsilon).toBeCloseTo(pld, 10);
    expect(r.totalEpsilon).toBeLessThan(computeEpsilon([{ ...e, steps: 100 }], 1e-5).epsilon);
    l.close();
  });

  it('refuses spends without a budget, and bad inputs with typed errors naming the field', () => {
    const l = PrivacyLedger.open(fresh());
    expect(() => l.spend('ds', ev(1), 'x')).toThrow(expect.objectContaining({ code: 'ERR_DP_NO_BUDGET' }));
    expect(() => l.setBudget('', { maxEpsilon: 1, delta: 1e-6 })).toThrow(expect.objectContaining({ field: 'dataset' }));
    expect(() => l.setBudget('ds', { maxEpsilon: NaN, delta: 1e-6 })).toThrow(expect.objectContaining({ field: 'maxEpsilon' }));
    expect(() => l.setBudget('ds', { maxEpsilon: 1, delta: 1 })).toThrow(expect.objectContaining({ field: 'delta' }));
    l.setBudget('ds', { maxEpsilon: 1, delta: 1e-6 });
    expect(() => l.spend('ds', [], 'x')).toThrow(expect.objectContaining({ field: 'events' }));
    expect(() => l.spend('ds', { kind: 'poissonGaussian', samplingRate: 0, noiseMultiplier: 1, steps: 1 }, 'x')).toThrow(
      expect.objectContaining({ field: 'events[0].samplingRate' }),
    );
    l.spend('ds', ev(1), 'ok');
    expect(() => l.setBudget('ds', { maxEpsilon: 1, delta: 1e-5 })).toThrow(expect.objectContaining({ field: 'delta' }));
    l.close();
  });

  it('detects a torn final record (never silently read) and repairs it only on request', () => {
    const p = fresh();
    const l = PrivacyLedger.open(p);
    l.setBudget('ds', { maxEpsilon: 10, delta: 1e-6 });
    l.spend('ds', ev(10), 'a');
    l.spend('ds', ev(10), 'b');
    l.close();
    const full = readFileSync(p);
    for (const cut of [1, 5, 20, 40]) {
      writeFileSync(p, full.subarray(0, full.length - cut));
      expect(() => PrivacyLedger.open(p)).toThrow(expect.objectContaining({ code: 'ERR_DP_LEDGER_TORN_TAIL' }));
    }
    // Appended garbage is a torn tail too.
    writeFileSync(p, full);
    appendFileSync(p, Buffer.from([0, 0, 0, 9, 1, 2]));
    expect(() => PrivacyLedger.open(p)).toThrow(expect.objectContaining({ code: 'ERR_DP_LEDGER_TORN_TAIL' }));
    // Repair keeps the tail aside and the valid records.
    const r = PrivacyLedger.open(p, { repairTornTail: true });
    expect(r.status('ds').releaseIds).toEqual(['a', 'b']);
    r.close();
    expect(readdirSync(dirname(p)).some((f) => f.startsWith(`${p.split('/').pop()}.torn-`))).toBe(true);
    expect(PrivacyLedger.open(p).status('ds').spends).toBe(2);
  });

  it('a flipped byte before the final record is corruption, never repaired', () => {
    const p = fresh();
    const l = PrivacyLedger.open(p);
    l.setBudget('ds', { maxEpsilon: 10, delta: 1e-6 });
    l.spend('ds', ev(10), 'a');
    l.spend('ds', ev(10), 'b');
    l.close();
    const full = readFileSync(p);
    const bad = Buffer.from(full);
    bad[20] = bad[20]! ^ 0x01; // inside the first record's payload
    writeFileSync(p, bad);
    expect(() => PrivacyLedger.open(p)).toThrow(expect.objectContaining({ code: 'ERR_DP_LEDGER_CORRUPT' }));
    expect(() => PrivacyLedger.open(p, { repairTornTail: true })).toThrow(expect.objectContaining({ code: 'ERR_DP_LEDGER_CORRUPT' }));
    writeFileSync(p, Buffer.concat([Buffer.from('NOTALEDG'), full.subarray(8)]));
    expect(() => PrivacyLedger.open(p)).toThrow(expect.objectContaining({ code: 'ERR_DP_LEDGER_CORRUPT' }));
    // A flipped byte in the final record is a damaged tail.
    const tail = Buffer.from(full);
    tail[tail.length - 3] = tail[tail.length - 3]! ^ 0x80;
    writeFileSync(p, tail);
    expect(() => PrivacyLedger.open(p)).toThrow(expect.objectContaining({ code: 'ERR_DP_LEDGER_TORN_TAIL' }));
    truncateSync(p, 0);
    expect(PrivacyLedger.open(p).datasets()).toEqual([]);
  });

  it('SIGKILL at random points never leaves a released update unrecorded', async () => {
    const p = fresh();
    const setup = PrivacyLedger.open(p);
    setup.setBudget('icu', { maxEpsilon: 50, delta: 1e-6 });
    setup.close();
    const released = new Map<string, number>();
    const rounds = 4;
    let next = 0;
    let killedMidRun = 0;
    for (let round = 0; round < rounds; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'ledger-child.ts'), p, 'icu', String(next)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let buf = '';
      let ready = false;
      const lines: string[] = [];
      const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
          if (lines[lines.length - 1] === 'ready') ready = true;
        }
      });
      // Kill at a random instant after the child is running (Math.random: test-only randomness).
      while (!ready) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 250));
      if (child.kill('SIGKILL')) killedMidRun++;
      await done;
      for (const line of lines) {
        const [kind, id, eps] = line.split(' ');
        if (kind === 'released') released.set(id!, Number(eps));
      }
      // Restart: every released update must be in the ledger, and the total must cover them.
      let l: PrivacyLedger;
      try {
        l = PrivacyLedger.open(p);
      } catch (e) {
        expect(e).toMatchObject({ code: 'ERR_DP_LEDGER_TORN_TAIL' });
        l = PrivacyLedger.open(p, { repairTornTail: true });
      }
      const st = l.status('icu');
      const recorded = new Set(st.releaseIds);
      for (const [id, eps] of released) {
        expect(recorded.has(id), `released ${id} missing after restart`).toBe(true);
        expect(st.spentEpsilon).toBeGreaterThanOrEqual(eps);
      }
      const releasedEvents: DpEvent[] = [...released.keys()].map((id) => {
        const i = Number(id.slice(1));
        return { kind: 'poissonGaussian', samplingRate: 0.02, noiseMultiplier: 1.3, steps: 3 + (i % 5) };
      });
      expect(st.spentEpsilon).toBeGreaterThanOrEqual(computeEpsilon(releasedEvents, 1e-6).epsilon * (1 - 1e-12));
      expect(st.spentEpsilon).toBeLessThanOrEqual(50);
      next = Math.max(next, ...st.releaseIds.map((id) => Number(id.slice(1)) + 1));
      l.close();
    }
    expect(killedMidRun).toBe(rounds);
    process.stderr.write(`ledger kill test: ${released.size} releases over ${rounds} SIGKILLs\n`);
    expect(released.size).toBeGreaterThan(rounds);
  });
});
