import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { loadFixture, rel } from './fixtures.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
  return { out, err, json: () => JSON.parse(out.join('').trim().split('\n').at(-1)!) as Record<string, unknown> };
}

describe('fedsec dp', () => {
  afterEach(() => vi.restoreAllMocks());

  it('dp epsilon --json: one JSON object with epsilon, order, accountant and the inputs', async () => {
    const io = capture();
    const args = ['--sampling-rate', '0.01', '--noise-multiplier', '1', '--steps', '1000', '--delta', '1e-5', '--json'];
    expect(await main(['node', 'fedsec', 'dp', 'epsilon', ...args])).toBe(0);
    const j = io.json();
    expect(j).toMatchObject({ accountant: 'rdp', samplingRate: 0.01, noiseMultiplier: 1, steps: 1000, delta: 1e-5 });
    const ref = loadFixture('rdp_reference.json').cases.find((c: { id: string }) => c.id === 'q0.01_s1.0_T1000_d1e-05');
    // Our default orders are a superset around the optimum: at most the dp_accounting value, close to Opacus.
    expect(j['epsilon'] as number).toBeLessThanOrEqual(ref.dp_accounting_rdp.eps);
    expect(rel(j['epsilon'] as number, ref.opacus_rdp.eps)).toBeLessThan(1e-3);
    expect(typeof j['order']).toBe('number');
  });

  it('dp epsilon --accountant pld', async () => {
    const io = capture();
    expect(await main(['node', 'fedsec', 'dp', 'epsilon', '--sampling-rate', '0.01', '--noise-multiplier', '3', '--steps', '100', '--delta', '1e-5', '--accountant', 'pld', '--json'])).toBe(0);
    const ref = loadFixture('rdp_reference.json').cases.find((c: { id: string }) => c.id === 'q0.01_s3.0_T100_d1e-05');
    expect(rel(io.json()['epsilon'] as number, ref.dp_accounting_pld.eps)).toBeLessThan(0.01);
    expect(io.json()['accountant']).toBe('pld');
  });

  it('dp calibrate --json: noiseMultiplier meets the target', async () => {
    const io = capture();
    expect(await main(['node', 'fedsec', 'dp', 'calibrate', '--target-epsilon', '1', '--delta', '1e-5', '--sampling-rate', '1', '--steps', '1', '--json'])).toBe(0);
    const j = io.json();
    const inv = loadFixture('inverse_noise.json').cases.find((c: { q: number; T: number; target_epsilon: number; delta: number }) => c.q === 1 && c.T === 1 && c.target_epsilon === 1 && c.delta === 1e-5);
    expect(Math.abs((j['noiseMultiplier'] as number) - inv.dp_accounting_rdp.sigma_continuous_root)).toBeLessThan(1e-4);
    expect(j['epsilon'] as number).toBeLessThanOrEqual(1);
    expect(j).toMatchObject({ targetEpsilon: 1, delta: 1e-5, samplingRate: 1, steps: 1, accountant: 'rdp' });
  });

  it('bad parameters exit 1 with a typed error naming the parameter', async () => {
    const cases: Array<[string[], string]> = [
      [['epsilon', '--sampling-rate', '0', '--noise-multiplier', '1', '--steps', '10', '--delta', '1e-5'], 'samplingRate'],
      [['epsilon', '--sampling-rate', '0.1', '--noise-multiplier', 'NaN', '--steps', '10', '--delta', '1e-5'], 'noise-multiplier'],
      [['epsilon', '--sampling-rate', '0.1', '--noise-multiplier', '1', '--steps', '10', '--delta', '1'], 'delta'],
      [['epsilon', '--sampling-rate', '0.1', '--noise-multiplier', '1', '--steps', '10', '--delta', '1e-5', '--accountant', 'x'], 'accountant'],
      [['calibrate', '--target-epsilon', '-1', '--delta', '1e-5', '--sampling-rate', '0.1', '--steps', '10'], 'targetEpsilon'],
    ];
    for (const [args, field] of cases) {
      const io = capture();
      expect(await main(['node', 'fedsec', 'dp', ...args])).toBe(1);
      expect(io.err.join('')).toContain('ERR_INVALID_ARGUMENT');
      expect(io.err.join('')).toContain(field);
      vi.restoreAllMocks();
    }
  });

  it('dp budget set / show against a ledger file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-dp-cli-'));
    try {
      const ledger = join(dir, 'ledger.log');
      let io = capture();
      expect(await main(['node', 'fedsec', 'dp', 'budget', 'set', '--ledger', ledger, '--dataset', 'wdbc', '--max-epsilon', '3', '--delta', '1e-6', '--json'])).toBe(0);
      expect(io.json()).toMatchObject({ dataset: 'wdbc', budget: { maxEpsilon: 3, delta: 1e-6 }, spentEpsilon: 0, remainingEpsilon: 3 });
      vi.restoreAllMocks();
      io = capture();
      expect(await main(['node', 'fedsec', 'dp', 'budget', 'show', '--ledger', ledger, '--dataset', 'wdbc', '--json'])).toBe(0);
      expect(io.json()).toMatchObject({ spends: 0, remainingEpsilon: 3 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
