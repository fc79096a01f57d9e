import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { planMesh, parseConfig, renderConfig, parseDump, parseRange, wgSetArgs, verifyRoster, meshUp, meshStatus, wireguardGenerateKey, type CertificateAuthority, type MeshError } from '../../pki/index.ts';
import { enroll, tempDir, testCa } from '../pki/helpers.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(async () => cleanup());

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as MeshError).code ?? String(e);
  }
  return 'no error';
}

describe('mesh plan', () => {
  let ca: CertificateAuthority;
  beforeAll(async () => {
    ca = await testCa(join(dir, 'p'));
    await enroll(ca, join(dir, 'p'), 'aggregator', 'agg');
    for (const id of ['h1', 'h2', 'h3']) await enroll(ca, join(dir, 'p'), 'node', id);
    await enroll(ca, join(dir, 'p'), 'researcher', 'alice');
  });

  it('needs a hub endpoint, then writes hub-and-spoke configurations and a signed roster', async () => {
    expect(await code(planMesh(ca, {}))).toBe('ERR_MESH_NO_HUB');
    const out = join(dir, 'p', 'mesh');
    const plan = await planMesh(ca, { range: '10.80.0.0/29', endpoints: { agg: 'agg.example.org:51820' } }, out);
    expect((await readdir(out)).sort()).toEqual(['agg.conf', 'alice.conf', 'h1.conf', 'h2.conf', 'h3.conf', 'roster.json']);
    const byId = Object.fromEntries(plan.configs.map((c) => [c.id, c.config]));
    expect(byId['agg']!.address).toBe('10.80.0.1/29');
    expect(byId['agg']!.listenPort).toBe(51820);
    expect(byId['agg']!.peers.map((p) => p.allowedIps[0])).toEqual(['10.80.0.2/32', '10.80.0.3/32', '10.80.0.4/32', '10.80.0.5/32']);
    expect(byId['h1']!.peers).toEqual([expect.objectContaining({ id: 'agg', endpoint: 'agg.example.org:51820', allowedIps: ['10.80.0.0/29'], persistentKeepalive: 25 })]);
    const text = await readFile(join(out, 'h1.conf'), 'utf8');
    expect(text).not.toMatch(/PrivateKey/);
    expect(parseConfig(text)).toEqual(byId['h1']);
    const roster = verifyRoster(await readFile(join(out, 'roster.json'), 'utf8'), ca.certificatePem);
    expect(roster.members.map((m) => [m.id, m.meshAddress])).toEqual([['agg', '10.80.0.1'], ['alice', '10.80.0.2'], ['h1', '10.80.0.3'], ['h2', '10.80.0.4'], ['h3', '10.80.0.5']]);
  });

  it('keeps addresses stable, drops revoked members and never reuses their addresses', async () => {
    await ca.revoke('h2', 'key-compromise');
    const plan = await planMesh(ca, {});
    const addr = Object.fromEntries(plan.configs.map((c) => [c.id, c.config.address]));
    expect(addr).toEqual({ agg: '10.80.0.1/29', alice: '10.80.0.2/29', h1: '10.80.0.3/29', h3: '10.80.0.5/29' });
    const hub = plan.configs.find((c) => c.id === 'agg')!.config;
    expect(hub.peers.map((p) => p.id)).toEqual(['alice', 'h1', 'h3']);
    await enroll(ca, join(dir, 'p'), 'node', 'h4');
    const p2 = await planMesh(ca, {});
    expect(p2.configs.find((c) => c.id === 'h4')!.config.address).toBe('10.80.0.6/29');
    expect(p2.allocations.retired).toContain('10.80.0.4');
    // A /29 has 6 hosts; with one retired, a seventh member does not fit.
    await enroll(ca, join(dir, 'p'), 'node', 'h5');
    expect(await code(planMesh(ca, {}))).toBe('ERR_MESH_ADDRESS_EXHAUSTED');
    await ca.revoke('h5', 'cessation-of-operation');
  });

  it('full mesh: every member peers with every other by /32', async () => {
    const plan = await planMesh(ca, { topology: 'full', endpoints: { h1: 'h1.example.org:51821' } });
    const h3 = plan.configs.find((c) => c.id === 'h3')!.config;
    expect(h3.peers.map((p) => p.id)).toEqual(['agg', 'alice', 'h1', 'h4']);
    expect(h3.peers.every((p) => p.allowedIps.length === 1 && p.allowedIps[0]!.endsWith('/32'))).toBe(true);
    expect(h3.peers.find((p) => p.id === 'h1')!.endpoint).toBe('h1.example.org:51821');
  });

  it('rejects bad ranges, endpoints and unknown members', async () => {
    expect(() => parseRange('10.0.0.1/24')).toThrow(expect.objectContaining({ code: 'ERR_MESH_BAD_RANGE' }));
    expect(() => parseRange('10.0.0.0/31')).toThrow(expect.objectContaining({ code: 'ERR_MESH_BAD_RANGE' }));
    expect(await code(planMesh(ca, { endpoints: { nobody: 'x:1' } }))).toBe('ERR_MESH_BAD_CONFIG');
    expect(await code(planMesh(ca, { endpoints: { agg: 'no-port' } }))).toBe('ERR_MESH_BAD_CONFIG');
    expect(() => parseConfig('[Interface]\nAddress = 10.0.0.1/24\nTable = off\n')).toThrow(expect.objectContaining({ code: 'ERR_MESH_BAD_CONFIG' }));
    expect(() => parseConfig('[Peer]\nPublicKey = abc\n')).toThrow(expect.objectContaining({ code: 'ERR_MESH_BAD_CONFIG' }));
  });
});

describe('wg plumbing', () => {
  it('renders, parses and turns configurations into `wg set` arguments without the private key', () => {
    const pub = 'LBBFz/rN5CjjB/0C0NQSpDuGFOQzXlGMdpaSnzNZqlA=';
    const c = { member: 'h1', address: '10.77.0.2/24', peers: [{ id: 'agg', role: 'aggregator' as const, publicKey: pub, allowedIps: ['10.77.0.0/24'], endpoint: '198.18.0.1:51820', persistentKeepalive: 25 }] };
    expect(parseConfig(renderConfig(c))).toEqual(c);
    expect(wgSetArgs('wg0', c, '/m/wireguard.key')).toEqual(['set', 'wg0', 'private-key', '/m/wireguard.key', 'peer', pub, 'allowed-ips', '10.77.0.0/24', 'endpoint', '198.18.0.1:51820', 'persistent-keepalive', '25']);
  });

  it('parses `wg show dump` output', () => {
    const now = new Date(1_800_000_100_000);
    const dump = 'cHJpdg==\tPUB=\t51820\toff\nPEER1=\t(none)\t172.31.1.2:4000\t10.77.0.2/32\t1800000090\t1200\t3400\toff\nPEER2=\t(none)\t(none)\t10.77.0.3/32,10.77.1.0/24\t0\t0\t0\t25\n';
    const st = parseDump('wg0', dump, now, new Map([['PEER1=', 'h1']]));
    expect(st.listenPort).toBe(51820);
    expect(st.peers[0]).toEqual({ publicKey: 'PEER1=', id: 'h1', endpoint: '172.31.1.2:4000', allowedIps: ['10.77.0.2/32'], latestHandshake: 1800000090, handshakeAgeSeconds: 10, rxBytes: 1200, txBytes: 3400, persistentKeepalive: null });
    expect(st.peers[1]).toMatchObject({ endpoint: null, latestHandshake: null, handshakeAgeSeconds: null, allowedIps: ['10.77.0.3/32', '10.77.1.0/24'], persistentKeepalive: 25 });
    expect(() => parseDump('wg0', 'garbage')).toThrow(expect.objectContaining({ code: 'ERR_MESH_COMMAND_FAILED' }));
  });

  it('reports a missing tool and a missing interface as typed errors', async () => {
    const c = parseConfig('[Interface]\nAddress = 10.77.0.2/24\n');
    // PATH without ip/wg: the tool is missing.
    const saved = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    try {
      expect(await code(meshStatus('fstnope0'))).toBe('ERR_MESH_TOOL_MISSING');
    } finally {
      process.env['PATH'] = saved;
    }
    expect(await code(meshUp(c, join(dir, 'no-such.key'), 'fstnope0'))).toBe('ERR_MESH_NOT_FOUND');
    expect(await code(meshUp(c, join(dir, 'no-such.key'), 'this-name-is-too-long'))).toBe('ERR_MESH_BAD_CONFIG');
    const haveIp = await execa('ip', ['-V'], { reject: false }).then((r) => r.exitCode === 0, () => false);
    if (haveIp) {
      expect(await code(meshStatus('fstnope0'))).toBe('ERR_MESH_NOT_FOUND');
      // An existing interface is never taken over (checked before anything is created).
      const keyFile = join(dir, 'wg.key');
      await writeFile(keyFile, wireguardGenerateKey() + '\n', { mode: 0o600 });
      expect(await code(meshUp(c, keyFile, 'lo'))).toBe('ERR_MESH_INTERFACE_EXISTS');
    }
  });
});
