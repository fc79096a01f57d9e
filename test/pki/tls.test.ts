/**
 * Mutual TLS between two real Node processes with certificates from the fedsec CA: succeeds for
 * an enrolled node, fails once the client is revoked (CRL reloaded by the running server), expired,
 * of the wrong role, or issued by another CA.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { installCertificate, type CertificateAuthority } from '../../pki/index.ts';
import { enroll, tempDir, testCa } from './helpers.ts';

const FIX = join(import.meta.dirname, 'fixtures');
const NODE_ARGS = ['--import', 'tsx'];

let dir: string;
let cleanup: () => Promise<void>;
let ca: CertificateAuthority;
let server: ResultPromise | undefined;
let port = 0;
const events: Array<Record<string, unknown>> = [];
let crlFile: string;

async function member(c: CertificateAuthority, role: 'node' | 'aggregator' | 'researcher', id: string, extra: Parameters<typeof enroll>[4] = {}): Promise<string> {
  const m = await enroll(c, dir, role, id, extra);
  await installCertificate(m.memberDir, m.certPem, m.caPem);
  return m.memberDir;
}

async function client(memberDir: string): Promise<{ ok: boolean; reply?: string; error?: string }> {
  const r = await execa(process.execPath, [...NODE_ARGS, join(FIX, 'tls-client.ts'), String(port), memberDir, crlFile], { timeout: 30_000, reject: false });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as { ok: boolean };
  } catch {
    throw new Error(`client failed: ${r.stderr.slice(0, 500)}`);
  }
}

async function nextEvent(): Promise<Record<string, unknown>> {
  for (let i = 0; i < 800 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
  const e = events.shift();
  if (!e) throw new Error('no server event');
  return e;
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  ca = await testCa(dir);
  crlFile = join(dir, 'published-crl.pem');
  await copyFile(ca.crlPath, crlFile);
  const aggDir = await member(ca, 'aggregator', 'agg');
  server = execa(process.execPath, [...NODE_ARGS, join(FIX, 'tls-server.ts'), aggDir, crlFile], { timeout: 120_000, reject: false });
  const rl = createInterface({ input: server.stdout! });
  const listening = new Promise<number>((resolve, reject) => {
    rl.on('line', (line) => {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (e['event'] === 'listening') resolve(e['port'] as number);
      else events.push(e);
    });
    void server!.then((r) => reject(new Error(`server exited: ${String(r.stderr).slice(0, 500)}`)));
  });
  port = await listening;
});

afterAll(async () => {
  if (server && server.exitCode === undefined) {
    server.kill('SIGTERM');
    await server;
  }
  await cleanup();
});

describe('mutual TLS with fedsec certificates (two processes)', () => {
  it('admits an enrolled node, then refuses it once revoked, without restarting the server', async () => {
    const nodeDir = await member(ca, 'node', 'hospital-a');
    expect(await client(nodeDir)).toEqual({ ok: true, reply: 'OK hospital-a' });
    expect(await nextEvent()).toEqual({ event: 'accepted', id: 'hospital-a', role: 'node' });

    await ca.revoke('hospital-a', 'key-compromise');
    await copyFile(ca.crlPath, crlFile);
    expect((await client(nodeDir)).ok).toBe(false);
    expect(await nextEvent()).toEqual({ event: 'denied', code: 'ERR_PKI_REVOKED' });
  });

  it('refuses a researcher where only nodes are allowed', async () => {
    const rDir = await member(ca, 'researcher', 'alice');
    expect((await client(rDir)).ok).toBe(false);
    expect(await nextEvent()).toEqual({ event: 'denied', code: 'ERR_PKI_WRONG_ROLE' });
  });

  it('refuses an expired node certificate', async () => {
    const eDir = await member(ca, 'node', 'hospital-old', { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    expect((await client(eDir)).ok).toBe(false);
    expect(await nextEvent()).toEqual({ event: 'denied', tls: 'CERT_HAS_EXPIRED', code: 'ERR_PKI_EXPIRED' });
  });

  it('refuses a node certificate from another CA', async () => {
    const other = await testCa(dir, { federation: 'evil' });
    const fDir = await member(other, 'node', 'intruder');
    // The intruder trusts our CA for the server, so only its own certificate is foreign.
    await copyFile(join(dir, 'ca', 'ca.crt.pem'), join(fDir, 'ca.pem'));
    expect((await client(fDir)).ok).toBe(false);
    const e = await nextEvent();
    expect(e).toMatchObject({ event: 'denied', code: 'ERR_PKI_UNTRUSTED' });
    expect(String(e['tls'])).toMatch(/ISSUER|SELF_SIGNED|UNABLE/);
  });
});
