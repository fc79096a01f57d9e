import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AggregatorStore } from '../../aggregator/store.ts';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'fedsec-store-'));
  dirs.push(d);
  return d;
}
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('aggregator store', () => {
  it('persists completed rounds and aborts running ones on reopen', async () => {
    const dir = tmp();
    const s = await AggregatorStore.open(dir);
    s.createExperiment('exp1', 'researcher-1', { rounds: 3 });
    const r0 = s.beginRound('exp1', 0, 'train', ['n1', 'n2', 'n3']);
    expect(r0.tag).toBe('exp1/r0/a1');
    const h = s.putBlob(Uint8Array.of(1, 2, 3), 'aggregator');
    s.completeRound(r0.tag, { resultHash: h, contributors: ['n1', 'n2', 'n3'], metrics: { loss: 0.5 } });
    const r1 = s.beginRound('exp1', 1, 'train', ['n1', 'n2', 'n3']);
    expect(() => s.beginRound('exp1', 1, 'train', [])).toThrow(expect.objectContaining({ code: 'ERR_AGG_ROUND_BUSY' }));
    expect(() => s.beginRound('exp1', 0, 'train', [])).toThrow(expect.objectContaining({ code: 'ERR_AGG_ROUND_DONE' }));
    // No close(): simulate a crash by opening the on-disk state afresh.
    const t = await AggregatorStore.open(dir);
    expect(t.recovered.map((r) => r.tag)).toEqual([r1.tag]);
    const rounds = t.listRounds('exp1');
    expect(rounds.map((r) => [r.tag, r.status])).toEqual([['exp1/r0/a1', 'completed'], ['exp1/r1/a1', 'aborted']]);
    expect(rounds[0]!.metrics).toEqual({ loss: 0.5 });
    expect(t.getBlob(h)).toEqual(Uint8Array.of(1, 2, 3));
    const retry = t.beginRound('exp1', 1, 'train', ['n1', 'n2']);
    expect(retry.tag).toBe('exp1/r1/a2');
    expect(retry.seq).toBe(3);
    s.close();
    t.close();
  });

  it('a member uploading bytes already stored becomes an owner too (and only uploaders and result owners may read)', async () => {
    const dir = tmp();
    const s = await AggregatorStore.open(dir);
    const h = s.putBlob(Uint8Array.of(9, 9, 9), 'alice');
    expect(s.researcherMayRead(h, 'alice')).toBe(true);
    expect(s.researcherMayRead(h, 'bob')).toBe(false);
    expect(s.putBlob(Uint8Array.of(9, 9, 9), 'bob')).toBe(h);
    expect(s.researcherMayRead(h, 'bob')).toBe(true);
    expect(s.researcherMayRead(h, 'carol')).toBe(false);
    s.close();
    const t = await AggregatorStore.open(dir);
    expect(t.researcherMayRead(h, 'bob')).toBe(true);
    t.close();
  });

  it('survives a hard kill of the writing process after a completed round', async () => {
    const dir = tmp();
    const script = `
      import { AggregatorStore } from ${JSON.stringify(join(process.cwd(), 'aggregator/store.ts'))};
      const s = await AggregatorStore.open(${JSON.stringify(dir)});
      s.createExperiment('e', 'r', {});
      const r = s.beginRound('e', 0, 'train', ['a', 'b', 'c']);
      s.completeRound(r.tag, { resultHash: s.putBlob(new Uint8Array(8), 'agg'), contributors: ['a', 'b', 'c'], metrics: {} });
      s.beginRound('e', 1, 'train', ['a', 'b', 'c']);
      process.kill(process.pid, 'SIGKILL');
    `;
    try {
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'pipe', timeout: 60_000 });
    } catch (e) {
      expect((e as { signal?: string }).signal).toBe('SIGKILL');
    }
    const s = await AggregatorStore.open(dir);
    expect(s.listRounds('e').map((r) => r.status)).toEqual(['completed', 'aborted']);
    s.close();
  });

  it('rejects unknown experiments and unstored results', async () => {
    const s = await AggregatorStore.open(tmp());
    expect(() => s.beginRound('nope', 0, 'train', [])).toThrow(expect.objectContaining({ code: 'ERR_AGG_EXPERIMENT_UNKNOWN' }));
    s.createExperiment('e', 'r', {});
    expect(() => s.createExperiment('e', 'r', {})).toThrow(expect.objectContaining({ code: 'ERR_AGG_EXPERIMENT_EXISTS' }));
    const r = s.beginRound('e', 0, 'train', []);
    expect(() => s.completeRound(r.tag, { resultHash: 'f'.repeat(64), contributors: [], metrics: {} })).toThrow(expect.objectContaining({ code: 'ERR_AGG_BLOB_UNKNOWN' }));
    s.close();
  });
});
