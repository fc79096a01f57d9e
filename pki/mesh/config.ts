/**
 * WireGuard configuration files in wg-quick's format (`[Interface]` with Address, `[Peer]`
 * sections), rendered by `fedsec mesh plan` and parsed by `fedsec mesh up`. The files hold no
 * private key: `mesh up` has `wg` read it from the member's own wireguard.key. Each peer is
 * preceded by a `# member: <id> <role>` comment naming it.
 */
import { isIPv4 } from 'node:net';
import type { Role } from '../../crypto/roster.ts';
import { MeshError } from '../errors.ts';
import { parseWireguardKey } from '../keys.ts';
import { parseEndpoint } from './net.ts';

/** One peer of an interface. */
export interface WgPeerConfig {
  /** Member id and role from the `# member:` comment, when present. */
  readonly id?: string;
  readonly role?: Role;
  readonly publicKey: string;
  readonly allowedIps: readonly string[];
  readonly endpoint?: string;
  readonly persistentKeepalive?: number;
}

/** A whole interface configuration. */
export interface WgConfig {
  /** Member this configuration is for (from the header comment). */
  readonly member?: string;
  /** Interface address with prefix, e.g. 10.77.0.2/24. */
  readonly address: string;
  readonly listenPort?: number;
  /** Only if the file carries one (fedsec's plans never do). */
  readonly privateKey?: string;
  readonly peers: readonly WgPeerConfig[];
}

function bad(msg: string): never {
  throw new MeshError('ERR_MESH_BAD_CONFIG', msg);
}

function checkCidr(v: string, what: string): string {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(v);
  if (!m || !isIPv4(m[1]!) || Number(m[2]) > 32) bad(`${what}: expected IPv4 CIDR, got ${v.slice(0, 60)}`);
  return v;
}

/** Renders a configuration as text (wg-quick compatible once a PrivateKey line is added). */
export function renderConfig(c: WgConfig, header: readonly string[] = []): string {
  const out: string[] = [...header.map((h) => `# ${h}`)];
  if (c.member !== undefined) out.push(`# fedsec-member: ${c.member}`);
  out.push('[Interface]', `Address = ${c.address}`);
  if (c.listenPort !== undefined) out.push(`ListenPort = ${c.listenPort}`);
  if (c.privateKey !== undefined) out.push(`PrivateKey = ${c.privateKey}`);
  for (const p of c.peers) {
    out.push('', ...(p.id !== undefined ? [`# member: ${p.id} ${p.role ?? ''}`.trimEnd()] : []), '[Peer]', `PublicKey = ${p.publicKey}`, `AllowedIPs = ${p.allowedIps.join(', ')}`);
    if (p.endpoint !== undefined) out.push(`Endpoint = ${p.endpoint}`);
    if (p.persistentKeepalive !== undefined) out.push(`PersistentKeepalive = ${p.persistentKeepalive}`);
  }
  return out.join('\n') + '\n';
}

/** Parses a configuration (ERR_MESH_BAD_CONFIG on anything unexpected). */
export function parseConfig(text: string): WgConfig {
  let section: 'none' | 'interface' | 'peer' = 'none';
  let member: string | undefined;
  let address: string | undefined;
  let listenPort: number | undefined;
  let privateKey: string | undefined;
  const peers: WgPeerConfig[] = [];
  let cur: { id?: string; role?: Role; publicKey?: string; allowedIps?: string[]; endpoint?: string; persistentKeepalive?: number } | undefined;
  let pendingName: { id: string; role?: Role } | undefined;
  const flush = (): void => {
    if (cur) {
      if (!cur.publicKey || !cur.allowedIps) bad('a [Peer] lacks PublicKey or AllowedIPs');
      peers.push({ ...cur, publicKey: cur.publicKey, allowedIps: cur.allowedIps });
    }
    cur = undefined;
  };
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const fm = /^#\s*fedsec-member:\s*(\S+)$/.exec(line);
      if (fm) member = fm[1];
      const pm = /^#\s*member:\s*(\S+)(?:\s+(node|aggregator|researcher))?$/.exec(line);
      if (pm) pendingName = { id: pm[1]!, ...(pm[2] ? { role: pm[2] as Role } : {}) };
      continue;
    }
    if (/^\[Interface\]$/i.test(line)) {
      flush();
      section = 'interface';
      continue;
    }
    if (/^\[Peer\]$/i.test(line)) {
      flush();
      section = 'peer';
      cur = { ...(pendingName ?? {}) };
      pendingName = undefined;
      continue;
    }
    const kv = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(line);
    if (!kv) bad(`line ${i + 1}: expected Key = Value`);
    const key = kv[1]!.toLowerCase();
    const val = kv[2]!.trim();
    if (section === 'interface') {
      if (key === 'address') address = checkCidr(val, 'Address');
      else if (key === 'listenport') {
        listenPort = Number(val);
        if (!Number.isInteger(listenPort) || listenPort < 1 || listenPort > 65535) bad('ListenPort out of range');
      } else if (key === 'privatekey') {
        try {
          parseWireguardKey(val, 'PrivateKey');
        } catch {
          bad('PrivateKey is not a WireGuard key');
        }
        privateKey = val;
      } else bad(`line ${i + 1}: unsupported [Interface] key ${kv[1]}`);
    } else if (section === 'peer' && cur) {
      if (key === 'publickey') {
        try {
          parseWireguardKey(val, 'PublicKey');
        } catch {
          bad('PublicKey is not a WireGuard key');
        }
        cur.publicKey = val;
      } else if (key === 'allowedips') cur.allowedIps = val.split(',').map((s) => checkCidr(s.trim(), 'AllowedIPs'));
      else if (key === 'endpoint') cur.endpoint = parseEndpoint(val);
      else if (key === 'persistentkeepalive') {
        const n = Number(val);
        if (!Number.isInteger(n) || n < 0 || n > 65535) bad('PersistentKeepalive out of range');
        cur.persistentKeepalive = n;
      } else bad(`line ${i + 1}: unsupported [Peer] key ${kv[1]}`);
    } else bad(`line ${i + 1}: key outside a section`);
  }
  flush();
  if (address === undefined) bad('[Interface] has no Address');
  return { ...(member !== undefined ? { member } : {}), address, ...(listenPort !== undefined ? { listenPort } : {}), ...(privateKey !== undefined ? { privateKey } : {}), peers };
}
