import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('fedsec demo', () => {
  it('trains a private model across three nodes and ends with the --json summary line', async () => {
    const { stdout, stderr } = await run(process.execPath, ['bin/fedsec.js', 'demo', '--rounds', '4', '--json'], { timeout: 120_000 });
    const last = stdout.trim().split('\n').at(-1)!;
    const r = JSON.parse(last) as Record<string, unknown>;
    expect(r).toMatchObject({ secagg: 'masking', dp: 'distributed', rounds: 4, delta: 1e-5 });
    for (const k of ['accuracy', 'baselineAccuracy', 'epsilon', 'seconds']) expect(typeof r[k]).toBe('number');
    expect(r['accuracy']).toBeGreaterThan(0.85);
    expect(r['epsilon']).toBeGreaterThan(0);
    expect(stderr).toContain('central non-private baseline');
  });
});
