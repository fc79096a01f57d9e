import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerDatasetCommands } from '../../cli/dataset.ts';
import { formatError } from '../../cli/output.ts';
import { FedsecError } from '../../common/errors.ts';

/** Runs the dataset commands as cli/main.ts does (exit 0, or 1 with `error [CODE]` on stderr), isolated from other groups. */
async function main(argv: string[]): Promise<number> {
  const program = new Command('fedsec').exitOverride();
  registerDatasetCommands(program);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    process.stderr.write(formatError(e) + '\n');
    return e instanceof FedsecError ? 1 : 70;
  }
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
  return { out, err };
}

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('fedsec node dataset', () => {
  it('add (the issue\'s command line), list, show and remove', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-cli-ds-'));
    dirs.push(dir);
    const io = capture();
    expect(await main(['node', 'fedsec', 'node', 'dataset', 'add', 'data/wdbc.csv', '--tag', 'breast-cancer', '--target', 'diagnosis', '--dir', dir, '--json'])).toBe(0);
    const rec = JSON.parse(io.out.at(-1)!) as { tag: string; rows: number; positive: string; negative: string };
    expect(rec).toMatchObject({ tag: 'breast-cancer', rows: 569, positive: 'M', negative: 'B' });
    expect(await main(['node', 'fedsec', 'node', 'dataset', 'list', '--dir', dir, '--json'])).toBe(0);
    expect((JSON.parse(io.out.at(-1)!) as { datasets: { tag: string }[] }).datasets.map((d) => d.tag)).toEqual(['breast-cancer']);
    expect(await main(['node', 'fedsec', 'node', 'dataset', 'show', 'breast-cancer', '--dir', dir, '--json'])).toBe(0);
    expect(JSON.parse(io.out.at(-1)!)).toMatchObject({ trainRows: 456, testRows: 113 });
    expect(await main(['node', 'fedsec', 'node', 'dataset', 'remove', 'breast-cancer', '--dir', dir])).toBe(0);
    expect(await main(['node', 'fedsec', 'node', 'dataset', 'show', 'breast-cancer', '--dir', dir])).toBe(1);
    expect(io.err.join('')).toContain('ERR_DATASET_UNKNOWN');
  });

  it('lists every invalid cell by row and column and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-cli-ds-'));
    dirs.push(dir);
    const csv = join(dir, 'bad.csv');
    writeFileSync(csv, 'a,b,y\n1,2,0\n,3,1\n4,x,0\n');
    const io = capture();
    expect(await main(['node', 'fedsec', 'node', 'dataset', 'add', csv, '--tag', 'bad', '--target', 'y', '--dir', dir])).toBe(1);
    const err = io.err.join('');
    expect(err).toContain('ERR_DATASET_SCHEMA');
    expect(err).toContain("row 2 (line 3), column 'a' (#1): missing");
    expect(err).toContain("row 3 (line 4), column 'b' (#2): non-numeric");
  });
});
