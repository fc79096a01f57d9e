/**
 * `fedsec mesh up|down|status`: drive `ip`, `wg` and a WireGuard implementation (the kernel
 * module, or the userspace `wireguard-go` where there is none) through execa, each call with a
 * timeout. Missing tools, missing privileges and failing commands become typed MeshErrors with a
 * hint; the private key never appears on a command line or in any file other than the member's
 * own wireguard.key (`wg set <if> private-key <that file>` reads it there).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { MeshError } from '../errors.ts';
import { parseWireguardKey, wireguardPublicKey } from '../keys.ts';
import type { WgConfig } from './config.ts';
import { parseRange, inRange } from './net.ts';

/** Which WireGuard implementation to use. */
export type Implementation = 'auto' | 'kernel' | 'userspace';

/** Options shared by the mesh commands. */
export interface WgRunOptions {
  /** Per-command timeout, ms (default 10 s). */
  readonly timeoutMs?: number;
  /** Extra environment for the tools (e.g. WG_HIDE_KEYS). */
  readonly env?: Readonly<Record<string, string>>;
}

const IFNAME = /^[A-Za-z0-9_=+.-]{1,15}$/;

/** Validates a Linux interface name (at most 15 characters). */
export function assertInterfaceName(name: string): void {
  if (typeof name !== 'string' || !IFNAME.test(name)) throw new MeshError('ERR_MESH_BAD_CONFIG', 'interface name must be 1-15 characters of letters, digits, _ = + . -');
}

const HINTS: Record<string, string> = {
  'ip': 'install iproute2 (apt-get install iproute2)',
  'wg': 'install wireguard-tools (apt-get install wireguard-tools)',
  'wireguard-go': 'install wireguard-go (apt-get install wireguard-go) or load the wireguard kernel module',
};

/** Runs a tool; maps ENOENT, EPERM-like stderr, timeouts and failures to MeshErrors. */
export async function run(cmd: string, args: readonly string[], opts: WgRunOptions & { input?: string } = {}): Promise<string> {
  let r;
  try {
    r = await execa(cmd, [...args], {
      timeout: opts.timeoutMs ?? 10_000,
      reject: false,
      ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
      env: { LC_ALL: 'C', ...opts.env },
      stripFinalNewline: true,
    });
  } catch (e) {
    throw new MeshError('ERR_MESH_COMMAND_FAILED', `could not run ${cmd}`, { cause: e });
  }
  if (r.timedOut) throw new MeshError('ERR_MESH_TIMEOUT', `${cmd} ${args[0] ?? ''} did not finish within ${opts.timeoutMs ?? 10_000} ms`);
  const code = (r as { code?: string }).code;
  if (code === 'ENOENT' || (r.failed && /ENOENT/.test(String((r as { message?: string }).message ?? '')) && r.exitCode === undefined)) {
    throw new MeshError('ERR_MESH_TOOL_MISSING', `${cmd} is not installed: ${HINTS[cmd] ?? 'install it'}`, { details: { tool: cmd } });
  }
  if (r.exitCode !== 0) {
    const stderr = String(r.stderr ?? '').trim().slice(0, 500);
    if (/Operation not permitted|Permission denied|must be run as root|Access denied/i.test(stderr)) {
      throw new MeshError('ERR_MESH_PRIVILEGE', `${cmd} needs root or CAP_NET_ADMIN: ${stderr}`, { details: { tool: cmd } });
    }
    throw new MeshError('ERR_MESH_COMMAND_FAILED', `${cmd} ${args.slice(0, 3).join(' ')} failed (exit ${r.exitCode ?? 'signal'}): ${stderr}`, { details: { tool: cmd, exitCode: r.exitCode } });
  }
  return String(r.stdout ?? '');
}

async function linkExists(name: string, opts: WgRunOptions): Promise<boolean> {
  try {
    await run('ip', ['link', 'show', 'dev', name], opts);
    return true;
  } catch (e) {
    if (e instanceof MeshError && e.code === 'ERR_MESH_COMMAND_FAILED') return false;
    throw e;
  }
}

/** Result of {@link meshUp}. */
export interface UpResult {
  readonly interface: string;
  readonly implementation: 'kernel' | 'userspace';
  readonly address: string;
  readonly publicKey: string;
  readonly peers: number;
}

/**
 * Creates interface `name` (kernel WireGuard, else wireguard-go), loads the configuration with
 * the private key, assigns the address, brings it up and adds routes for AllowedIPs outside the
 * interface subnet. `forward` enables IPv4 forwarding for packets arriving on this interface
 * only (what a hub needs to relay spoke-to-spoke traffic). On failure, whatever was created is
 * removed again.
 */
export async function meshUp(
  config: WgConfig,
  privateKeyFile: string,
  name: string,
  opts: WgRunOptions & { implementation?: Implementation; forward?: boolean } = {},
): Promise<UpResult> {
  assertInterfaceName(name);
  const privateKey = (await readFile(privateKeyFile, 'utf8').catch(() => {
    throw new MeshError('ERR_MESH_NOT_FOUND', `WireGuard key file not found: ${privateKeyFile}`);
  })).trim();
  parseWireguardKey(privateKey, 'private key file');
  if (await linkExists(name, opts)) throw new MeshError('ERR_MESH_INTERFACE_EXISTS', `interface ${name} already exists; run \`fedsec mesh down --interface ${name}\` first`);
  const impl = opts.implementation ?? 'auto';
  let used: 'kernel' | 'userspace';
  if (impl === 'userspace') {
    await run('wireguard-go', [name], opts);
    used = 'userspace';
  } else {
    try {
      await run('ip', ['link', 'add', 'dev', name, 'type', 'wireguard'], opts);
      used = 'kernel';
    } catch (e) {
      if (impl === 'kernel' || !(e instanceof MeshError) || e.code !== 'ERR_MESH_COMMAND_FAILED') throw e;
      await run('wireguard-go', [name], opts);
      used = 'userspace';
    }
  }
  try {
    await run('wg', wgSetArgs(name, config, privateKeyFile), opts);
    await run('ip', ['address', 'add', config.address, 'dev', name], opts);
    await run('ip', ['link', 'set', 'mtu', '1420', 'up', 'dev', name], opts);
    const subnet = parseRange(subnetOf(config.address));
    for (const p of config.peers) {
      for (const a of p.allowedIps) {
        const [ip, bits] = a.split('/') as [string, string];
        if (Number(bits) >= subnet.prefix && inRange(subnet, ip)) continue;
        await run('ip', ['route', 'replace', a, 'dev', name], opts);
      }
    }
    if (opts.forward) await writeFile(`/proc/sys/net/ipv4/conf/${name}/forwarding`, '1\n');
  } catch (e) {
    await run('ip', ['link', 'del', 'dev', name], opts).catch(() => undefined);
    throw e;
  }
  return { interface: name, implementation: used, address: config.address, publicKey: wireguardPublicKey(privateKey), peers: config.peers.length };
}

/** `wg set` arguments for a configuration: public values only, the private key by file path. */
export function wgSetArgs(name: string, c: WgConfig, privateKeyFile: string): string[] {
  const args = ['set', name, 'private-key', privateKeyFile];
  if (c.listenPort !== undefined) args.push('listen-port', String(c.listenPort));
  for (const p of c.peers) {
    args.push('peer', p.publicKey, 'allowed-ips', p.allowedIps.join(','));
    if (p.endpoint !== undefined) args.push('endpoint', p.endpoint);
    if (p.persistentKeepalive !== undefined) args.push('persistent-keepalive', String(p.persistentKeepalive));
  }
  return args;
}

function subnetOf(cidr: string): string {
  const [ip, bits] = cidr.split('/') as [string, string];
  const prefix = Number(bits);
  const n = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255].join('.')}/${Math.max(8, Math.min(prefix, 30))}`;
}

/** Where userspace WireGuard implementations put their control sockets. */
export const WG_SOCKET_DIR = '/var/run/wireguard';

/**
 * Removes interface `name`. With wireguard-go, which exits on its own once its interface is
 * gone, waits (up to the timeout) until its control socket has disappeared, so a following
 * `mesh up` with the same name cannot race the old process. ERR_MESH_NOT_FOUND if absent,
 * ERR_MESH_TIMEOUT if wireguard-go does not exit in time.
 */
export async function meshDown(name: string, opts: WgRunOptions = {}): Promise<void> {
  assertInterfaceName(name);
  if (!(await linkExists(name, opts))) throw new MeshError('ERR_MESH_NOT_FOUND', `interface ${name} does not exist`);
  const sock = join(WG_SOCKET_DIR, `${name}.sock`);
  const userspace = existsSync(sock);
  await run('ip', ['link', 'del', 'dev', name], opts);
  if (!userspace) return;
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  while (existsSync(sock)) {
    if (Date.now() > deadline) throw new MeshError('ERR_MESH_TIMEOUT', `wireguard-go for ${name} did not exit after its interface was removed`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** One peer as `wg show <if> dump` reports it. */
export interface PeerStatus {
  readonly publicKey: string;
  /** Member id, when the configuration names it. */
  readonly id?: string;
  readonly endpoint: string | null;
  readonly allowedIps: readonly string[];
  /** Unix seconds of the latest handshake, null if none yet. */
  readonly latestHandshake: number | null;
  /** Seconds since the latest handshake, null if none yet. */
  readonly handshakeAgeSeconds: number | null;
  readonly rxBytes: number;
  readonly txBytes: number;
  readonly persistentKeepalive: number | null;
}

/** Status of one interface. */
export interface InterfaceStatus {
  readonly interface: string;
  readonly publicKey: string;
  readonly listenPort: number;
  readonly peers: readonly PeerStatus[];
}

/** Parses `wg show <if> dump` output (ERR_MESH_COMMAND_FAILED if it is not in that format). */
export function parseDump(name: string, dump: string, now: Date = new Date(), names: ReadonlyMap<string, string> = new Map()): InterfaceStatus {
  const lines = dump.split('\n').filter((l) => l.length > 0);
  const head = lines[0]?.split('\t');
  if (!head || head.length !== 4) throw new MeshError('ERR_MESH_COMMAND_FAILED', 'unexpected `wg show dump` output');
  const peers = lines.slice(1).map((l): PeerStatus => {
    const f = l.split('\t');
    if (f.length !== 8) throw new MeshError('ERR_MESH_COMMAND_FAILED', 'unexpected `wg show dump` peer line');
    const hs = Number(f[4]);
    const id = names.get(f[0]!);
    return {
      publicKey: f[0]!,
      ...(id !== undefined ? { id } : {}),
      endpoint: f[2] === '(none)' ? null : f[2]!,
      allowedIps: f[3] === '(none)' ? [] : f[3]!.split(','),
      latestHandshake: hs > 0 ? hs : null,
      handshakeAgeSeconds: hs > 0 ? Math.max(0, Math.round(now.getTime() / 1000 - hs)) : null,
      rxBytes: Number(f[5]),
      txBytes: Number(f[6]),
      persistentKeepalive: f[7] === 'off' ? null : Number(f[7]),
    };
  });
  return { interface: name, publicKey: head[1]!, listenPort: Number(head[2]), peers };
}

/** Runs `wg show <if> dump` and parses it; `config` names the peers. */
export async function meshStatus(name: string, opts: WgRunOptions & { config?: WgConfig } = {}): Promise<InterfaceStatus> {
  assertInterfaceName(name);
  if (!(await linkExists(name, opts))) throw new MeshError('ERR_MESH_NOT_FOUND', `interface ${name} does not exist`);
  const dump = await run('wg', ['show', name, 'dump'], opts);
  const names = new Map((opts.config?.peers ?? []).filter((p) => p.id !== undefined).map((p) => [p.publicKey, p.id!]));
  return parseDump(name, dump, new Date(), names);
}
