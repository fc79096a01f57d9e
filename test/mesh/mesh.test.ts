/**
 * Integration test of a real WireGuard mesh: three network namespaces (aggregator hub and two
 * hospital nodes) joined only by veth links to the hub, each interface brought up by
 * `fedsec mesh up` (the real CLI, real `ip`/`wg`, kernel WireGuard or wireguard-go) with
 * configurations from `fedsec mesh plan`; then TCP over the mesh addresses, `fedsec mesh status`
 * showing handshakes, no route between members except through the mesh, and `mesh down`.
 * Everything it creates (namespaces, veths, interfaces, processes, sockets) is removed in afterAll.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { main } from '../../cli/main.ts';
import { join } from 'node:path';
import { execa } from 'execa';
import { createMemberRequest, installCertificate, verifyRoster, type CertificateAuthority } from '../../pki/index.ts';
import { PASS, tempDir, testCa } from '../pki/helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const FEDSEC = join(ROOT, 'bin', 'fedsec.js');

async function have(tool: string, args: string[]): Promise<boolean> {
  return execa(tool, args, { reject: false, timeout: 5000 }).then((r) => r.exitCode === 0, () => false);
}
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const tools = isRoot && (await have('ip', ['-V'])) && (await have('wg', ['--version'])) && (await have('wireguard-go', ['--version']));
const skipReason = !isRoot ? 'not root (mesh integration test needs network namespaces)' : !tools ? 'ip, wg or wireguard-go missing (apt-get install iproute2 wireguard-tools wireguard-go)' : '';
if (skipReason) console.warn(`SKIP mesh integration test: ${skipReason}`);

const sfx = randomBytes(3).toString('hex');
const NS = { agg: `fst-${sfx}-agg`, n1: `fst-${sfx}-n1`, n2: `fst-${sfx}-n2` } as const;
const IF = { agg: `fst${sfx}a`, n1: `fst${sfx}1`, n2: `fst${sfx}2` } as const;
const VETH = [`fst${sfx}v1`, `fst${sfx}w1`, `fst${sfx}v2`, `fst${sfx}w2`];
const HUB_PUBLIC = '198.18.0.1';

async function sh(cmd: string, args: string[], opts: { reject?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa(cmd, args, { reject: false, timeout: 30_000, stdin: 'ignore' });
  const out = { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  if (opts.reject !== false && out.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${out.code}): ${out.stderr.slice(0, 400)}`);
  return out;
}
const inNs = (ns: string, cmd: string, args: string[], opts: { reject?: boolean } = {}) => sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
const fedsec = (ns: string, args: string[], opts: { reject?: boolean } = {}) => inNs(ns, process.execPath, [FEDSEC, ...args], opts);

/** A one-shot TCP echo server inside `ns`; resolves once it listens, with a promise of its exit code. */
async function echoServer(ns: string, host: string, port: number): Promise<{ exited: Promise<number | null> }> {
  const script = `const s=require('net').createServer(c=>{c.on('data',d=>{c.end('echo:'+d);s.close();});});s.listen(${port},'${host}',()=>console.log('listening'));setTimeout(()=>process.exit(3),20000).unref();`;
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(p);
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => {
    children.delete(p);
    resolve(code);
  }));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: p.stdout }).on('line', (l) => (l.includes('listening') ? resolve() : undefined));
    void exited.then((c) => reject(new Error(`echo server exited (${c})`)));
  });
  return { exited };
}
const children = new Set<ChildProcess>();
/** TCP client inside `ns`: sends `msg`, prints the reply or the error code. */
async function tcpSend(ns: string, host: string, port: number, msg: string): Promise<string> {
  const script = `const c=require('net').connect({host:'${host}',port:${port},timeout:15000},()=>c.write('${msg}'));let b='';c.on('data',d=>b+=d);c.on('end',()=>{console.log(b);process.exit(0)});c.on('timeout',()=>{console.log('TIMEOUT');process.exit(0)});c.on('error',e=>{console.log(e.code);process.exit(0)});`;
  return (await inNs(ns, process.execPath, ['-e', script])).stdout.trim();
}

let dir = '';
let cleanupDir: () => Promise<void> = async () => undefined;
let ca: CertificateAuthority;

beforeAll(async () => {
  if (skipReason) return;
  ({ dir, cleanup: cleanupDir } = await tempDir());
  // Underlay: agg <-> n1 and agg <-> n2 only; the hub's public address lives on its loopback.
  for (const ns of Object.values(NS)) {
    await sh('ip', ['netns', 'add', ns]);
    await inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
  }
  await inNs(NS.agg, 'ip', ['address', 'add', `${HUB_PUBLIC}/32`, 'dev', 'lo']);
  const links: Array<[string, string, string, string]> = [
    [VETH[0]!, VETH[1]!, NS.n1, '172.31.1'],
    [VETH[2]!, VETH[3]!, NS.n2, '172.31.2'],
  ];
  for (const [a, b, ns, net] of links) {
    await sh('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    await sh('ip', ['link', 'set', a, 'netns', NS.agg]);
    await sh('ip', ['link', 'set', b, 'netns', ns]);
    await inNs(NS.agg, 'ip', ['address', 'add', `${net}.1/30`, 'dev', a]);
    await inNs(NS.agg, 'ip', ['link', 'set', a, 'up']);
    await inNs(ns, 'ip', ['address', 'add', `${net}.2/30`, 'dev', b]);
    await inNs(ns, 'ip', ['link', 'set', b, 'up']);
    await inNs(ns, 'ip', ['route', 'add', `${HUB_PUBLIC}/32`, 'via', `${net}.1`]);
  }

  // PKI: aggregator, two nodes, and a node revoked before planning (must be dropped).
  ca = await testCa(dir);
  for (const [role, id] of [['aggregator', 'agg'], ['node', 'n1'], ['node', 'n2'], ['node', 'gone']] as const) {
    const req = await createMemberRequest({ federation: 'fed1', role, id, dir: join(dir, id) });
    const issued = await ca.sign(req.csrPem, { expectRole: role, expectId: id });
    await installCertificate(join(dir, id), issued.certPem, issued.caPem);
  }
  await ca.revoke('gone', 'key-compromise');
}, 120_000);

afterAll(async () => {
  if (skipReason) return;
  for (const c of children) c.kill('SIGKILL');
  for (const ns of Object.values(NS)) {
    const pids = await sh('ip', ['netns', 'pids', ns], { reject: false });
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sh('ip', ['netns', 'del', ns], { reject: false });
  }
  for (const v of VETH) await sh('ip', ['link', 'del', v], { reject: false });
  for (const i of Object.values(IF)) await rm(`/var/run/wireguard/${i}.sock`, { force: true });
  await cleanupDir();
}, 60_000);

describe.skipIf(skipReason !== '')('WireGuard mesh in network namespaces', () => {
  it('plans, brings up, carries TCP only through the mesh, reports handshakes, and comes down', async () => {
    try {
      await scenario();
    } catch (e) {
      // Attach the state of the mesh to the failure, for CI logs.
      const diag: string[] = [];
      for (const ns of Object.values(NS)) {
        diag.push(`--- ${ns}`, (await inNs(ns, 'ip', ['-br', 'addr'], { reject: false })).stdout, (await inNs(ns, 'ip', ['route'], { reject: false })).stdout);
      }
      diag.push('--- wg show', (await sh('wg', ['show', 'all'], { reject: false })).stdout);
      (e as Error).message += `\n${diag.join('\n')}`;
      throw e;
    }
  });
});

/** The mesh scenario; the test wraps it to attach diagnostics to a failure. */
async function scenario(): Promise<void> {
  const meshDir = join(dir, 'mesh');
  // The admin's step runs in-process through the CLI's main (no namespace needed).
  const passFile = join(dir, 'pass.txt');
  await writeFile(passFile, PASS, { mode: 0o600 });
  expect(await main(['node', 'fedsec', 'mesh', 'plan', '--ca', join(dir, 'ca'), '--out', meshDir, '--range', '10.77.0.0/24', '--endpoint', `agg=${HUB_PUBLIC}:51820`, '--passphrase-file', passFile])).toBe(0);
  const roster = verifyRoster(await readFile(join(meshDir, 'roster.json'), 'utf8'), ca.certificatePem);
  const addr = Object.fromEntries(roster.members.map((m) => [m.id, m.meshAddress!]));
  expect(Object.keys(addr).sort()).toEqual(['agg', 'n1', 'n2']);
  expect(existsSync(join(meshDir, 'gone.conf'))).toBe(false);

  // Before the mesh: no route from n1 to the hub's mesh address or to n2 at all.
  expect(await tcpSend(NS.n1, addr['agg']!, 7001, 'x')).toBe('ENETUNREACH');
  expect(await tcpSend(NS.n1, '172.31.2.2', 7001, 'x')).toBe('ENETUNREACH');

  await fedsec(NS.agg, ['mesh', 'up', '--config', join(meshDir, 'agg.conf'), '--member', join(dir, 'agg'), '--interface', IF.agg, '--forward']);
  await Promise.all([
    fedsec(NS.n1, ['mesh', 'up', '--config', join(meshDir, 'n1.conf'), '--member', join(dir, 'n1'), '--interface', IF.n1]),
    fedsec(NS.n2, ['mesh', 'up', '--config', join(meshDir, 'n2.conf'), '--member', join(dir, 'n2'), '--interface', IF.n2, '--json']),
  ]);

  // node -> aggregator over the mesh
  const s1 = await echoServer(NS.agg, addr['agg']!, 7000);
  expect(await tcpSend(NS.n1, addr['agg']!, 7000, 'hello-from-n1')).toBe('echo:hello-from-n1');
  expect(await s1.exited).toBe(0);
  // the other node -> aggregator (the hub learns each spoke's endpoint from its traffic)
  const s3 = await echoServer(NS.agg, addr['agg']!, 7003);
  expect(await tcpSend(NS.n2, addr['agg']!, 7003, 'hello-from-n2')).toBe('echo:hello-from-n2');
  expect(await s3.exited).toBe(0);
  // node -> node, relayed by the hub
  const s2 = await echoServer(NS.n2, addr['n2']!, 7002);
  expect(await tcpSend(NS.n1, addr['n2']!, 7002, 'n1-to-n2')).toBe('echo:n1-to-n2');
  expect(await s2.exited).toBe(0);
  // Mesh addresses route through the WireGuard interface; the other hospital's underlay stays unreachable.
  expect((await inNs(NS.n1, 'ip', ['route', 'get', addr['n2']!])).stdout).toContain(`dev ${IF.n1}`);
  expect(await tcpSend(NS.n1, '172.31.2.2', 7001, 'x')).toBe('ENETUNREACH');

  const [stOut, hubOut] = await Promise.all([
    fedsec(NS.n1, ['mesh', 'status', '--interface', IF.n1, '--config', join(meshDir, 'n1.conf'), '--json']),
    fedsec(NS.agg, ['mesh', 'status', '--interface', IF.agg, '--config', join(meshDir, 'agg.conf')]),
  ]);
  const st = JSON.parse(stOut.stdout.trim().split('\n').pop()!) as {
    peers: Array<{ id?: string; endpoint: string | null; latestHandshake: number | null; handshakeAgeSeconds: number | null; rxBytes: number; txBytes: number }>;
  };
  expect(st.peers).toHaveLength(1);
  expect(st.peers[0]).toMatchObject({ id: 'agg', endpoint: `${HUB_PUBLIC}:51820` });
  expect(st.peers[0]!.latestHandshake).not.toBeNull();
  expect(st.peers[0]!.rxBytes).toBeGreaterThan(0);
  expect(st.peers[0]!.txBytes).toBeGreaterThan(0);
  const hubText = hubOut.stdout;
  expect(hubText).toMatch(/n1\t172\.31\.1\.2:\d+\t\d+s ago/);
  expect(hubText).toMatch(/n2\t172\.31\.2\.2:\d+\t\d+s ago/);

  // Down removes the interfaces (and wireguard-go exits with them).
  await Promise.all(Object.entries(NS).map(([k, ns]) => fedsec(ns, ['mesh', 'down', '--interface', IF[k as keyof typeof IF]])));
  for (const [k, ns] of Object.entries(NS)) {
    expect((await inNs(ns, 'ip', ['link', 'show', 'dev', IF[k as keyof typeof IF]], { reject: false })).code).not.toBe(0);
  }
  expect(await tcpSend(NS.n1, addr['agg']!, 7000, 'x')).toBe('ENETUNREACH');
  expect(existsSync(`/var/run/wireguard/${IF.n1}.sock`)).toBe(false);
}
