/**
 * The `fedsec pki` CLI end to end, as the help text describes it: init, request, sign, install,
 * list, revoke, verify, roster; typed failures with exit code 1 and nothing left behind.
 * Most steps call the CLI's `main` in-process (same code path, no process start-up cost);
 * the help text and one failure run as real processes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { main } from '../../cli/main.ts';
import { PeerVerifier, verifyRoster } from '../../pki/index.ts';
import { PASS, tempDir } from './helpers.ts';

const FEDSEC = join(import.meta.dirname, '..', '..', 'bin', 'fedsec.js');
let dir: string;
let cleanup: () => Promise<void>;
let passFile: string;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  passFile = join(dir, 'pass.txt');
  await writeFile(passFile, PASS + '\n', { mode: 0o600 });
});
afterAll(async () => cleanup());

const run = (...args: string[]): Promise<number> => main(['node', 'fedsec', ...args]);

describe('fedsec pki CLI', () => {
  it('help text walks an admin through enrolling a node', async () => {
    const r = await execa(process.execPath, [FEDSEC, 'pki', '--help'], { timeout: 30_000 });
    for (const step of ['pki init', 'pki request', 'pki sign', 'pki install', 'FEDSEC_CA_PASSPHRASE', 'revoke', 'crl']) expect(r.stdout).toContain(step);
  });

  it('enrolls a node end to end, lists, revokes and verifies', async () => {
    const ca = join(dir, 'ca');
    const member = join(dir, 'hospital-a');
    const cert = join(dir, 'hospital-a.cert.pem');
    expect(await run('pki', 'init', '--ca', ca, '--federation', 'fed1', '--passphrase-file', passFile)).toBe(0);
    expect(await run('pki', 'request', '--federation', 'fed1', '--role', 'node', '--id', 'hospital-a', '--out', member)).toBe(0);
    expect((await stat(join(member, 'tls.key.pem'))).mode & 0o777).toBe(0o600);
    expect(await run('pki', 'sign', join(member, 'request.csr.pem'), '--ca', ca, '--role', 'node', '--id', 'hospital-a', '--out', cert, '--passphrase-file', passFile)).toBe(0);
    expect(await run('pki', 'install', '--dir', member, '--cert', cert, '--ca-cert', join(ca, 'ca.crt.pem'))).toBe(0);
    expect(await run('pki', 'verify', cert, '--ca-cert', join(ca, 'ca.crt.pem'), '--crl', join(ca, 'crl.pem'), '--role', 'node')).toBe(0);
    expect(await run('pki', 'roster', '--ca', ca, '--out', join(dir, 'roster.json'), '--passphrase-file', passFile)).toBe(0);
    const roster = verifyRoster(await readFile(join(dir, 'roster.json'), 'utf8'), await readFile(join(ca, 'ca.crt.pem'), 'utf8'));
    expect(roster.toRoster().require('hospital-a', 'node').identityKey).toHaveLength(32);

    // Signing for another role than the CSR asks is refused, and writes nothing.
    const other = join(dir, 'alice');
    expect(await run('pki', 'request', '--federation', 'fed1', '--role', 'researcher', '--id', 'alice', '--out', other)).toBe(0);
    expect(await run('pki', 'sign', join(other, 'request.csr.pem'), '--ca', ca, '--role', 'node', '--id', 'alice', '--out', join(dir, 'alice.cert.pem'), '--passphrase-file', passFile)).toBe(1);
    expect((await readdir(dir)).includes('alice.cert.pem')).toBe(false);

    expect(await run('pki', 'revoke', 'hospital-a', '--ca', ca, '--reason', 'key-compromise', '--passphrase-file', passFile)).toBe(0);
    expect(await run('pki', 'verify', cert, '--ca-cert', join(ca, 'ca.crt.pem'), '--crl', join(ca, 'crl.pem'))).toBe(1);
    const v = await PeerVerifier.fromFiles({ caFile: join(ca, 'ca.crt.pem'), crlFile: join(ca, 'crl.pem') });
    expect(() => v.verify(cert)).toThrow();
    expect(await run('pki', 'list', '--ca', ca, '--json')).toBe(0);
    expect(await run('pki', 'crl', '--ca', ca, '--passphrase-file', passFile)).toBe(0);
    expect(await run('pki', 'revoke', 'hospital-a', '--ca', ca, '--reason', 'made-up', '--passphrase-file', passFile)).toBe(1);
  });

  it('a wrong passphrase fails with ERR_PKI_BAD_PASSPHRASE and exit code 1 (real process)', async () => {
    const r = await execa(process.execPath, [FEDSEC, 'pki', 'crl', '--ca', join(dir, 'ca')], { env: { FEDSEC_CA_PASSPHRASE: 'not the passphrase' }, reject: false, timeout: 30_000 });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('ERR_PKI_BAD_PASSPHRASE');
    expect(r.stderr).not.toContain('not the passphrase');
  });
});
