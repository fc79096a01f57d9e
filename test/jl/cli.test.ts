import { describe, expect, it, vi, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';
import { parseModulus } from '../../crypto/jl/modulus.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
  return { out, err };
}

describe('fedsec secagg modulus (ceremony)', () => {
  afterEach(() => vi.restoreAllMocks());

  it('writes only N and its fingerprint, prints the fingerprint, refuses to overwrite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jl-cli-'));
    const out = join(dir, 'modulus.json');
    const io = capture();
    expect(await main(['node', 'fedsec', 'secagg', 'modulus', '--bits', '2048', '--out', out, '--json'])).toBe(0);
    const text = readFileSync(out, 'utf8');
    const obj = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(obj).sort()).toEqual(['bits', 'fingerprint', 'format', 'n']);
    const m = parseModulus(text, { expectedFingerprint: obj['fingerprint'] as string });
    expect(m.bits).toBe(2048);
    const summary = JSON.parse(io.out.at(-1)!) as { fingerprint: string; bits: number };
    expect(summary).toMatchObject({ bits: 2048, fingerprint: obj['fingerprint'] });
    // Nothing printed is a large hex number other than the fingerprint (no factor leaks to the terminal).
    const printed = io.out.join('') + io.err.join('');
    for (const h of printed.match(/[0-9a-f]{64,}/g) ?? []) expect(h).toBe(obj['fingerprint']);
    expect(statSync(out).mode & 0o777).toBe(0o644);
    expect(await main(['node', 'fedsec', 'secagg', 'modulus', '--bits', '2048', '--out', out])).toBe(1);
    expect(io.err.join('')).toContain('ERR_INVALID_ARGUMENT');
  });

  it('refuses moduli below 2048 bits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jl-cli-'));
    const io = capture();
    expect(await main(['node', 'fedsec', 'secagg', 'modulus', '--bits', '1024', '--out', join(dir, 'm.json')])).toBe(1);
    expect(io.err.join('')).toContain('ERR_INVALID_ARGUMENT');
  });
});
