/**
 * `fedsec mesh plan`: allocate mesh addresses to the CA's active members (stable across
 * re-plans, recorded in <ca>/mesh.json; addresses of departed members are retired, never
 * reused), sign the roster with those addresses, and write one WireGuard configuration per
 * member: hub-and-spoke through the aggregator by default, full mesh on request. Revoked and
 * expired members are dropped, so a re-plan after a revocation removes them from every peer list.
 */
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { assertInt } from '../../common/validate.ts';
import type { Role } from '../../crypto/roster.ts';
import type { CertificateAuthority, CertificateListing } from '../ca.ts';
import { MeshError, PkiError } from '../errors.ts';
import { PUBLIC_MODE, readText, writeFileAtomic } from '../files.ts';
import { signRoster, type SignedRosterDocument } from '../roster.ts';
import { renderConfig, type WgConfig, type WgPeerConfig } from './config.ts';
import { hosts, inRange, parseEndpoint, parseRange } from './net.ts';

/** Mesh topology. */
export type Topology = 'hub' | 'full';

/** The allocation state kept in <ca>/mesh.json. */
export interface MeshAllocations {
  readonly format: 'fedsec-mesh/1';
  range: string;
  topology: Topology;
  hub?: string;
  /** Local UDP port of members with an endpoint, when it differs from the endpoint's port (NAT). */
  listenPort?: number;
  members: Record<string, { address: string; endpoint?: string }>;
  /** Addresses of departed members; never handed out again. */
  retired: string[];
}

/** Options of {@link planMesh}. */
export interface MeshPlanOptions {
  /** Address range (IPv4 CIDR, default 10.77.0.0/24, or the range already recorded). */
  readonly range?: string;
  readonly topology?: Topology;
  /** Hub member id (default: the only aggregator). */
  readonly hub?: string;
  /** Public endpoints (host:port) by member id; the hub needs one. Merged into recorded ones. */
  readonly endpoints?: Readonly<Record<string, string>>;
  /**
   * Local UDP port for members with an endpoint (default: the endpoint's own port); set it when a
   * NAT forwards the public port to a different local one.
   */
  readonly listenPort?: number;
  /** PersistentKeepalive for peers behind NAT connecting out (default 25 s). */
  readonly keepalive?: number;
  readonly now?: Date;
}

/** The result of a plan. */
export interface MeshPlan {
  readonly allocations: MeshAllocations;
  readonly roster: SignedRosterDocument;
  readonly configs: ReadonlyArray<{ readonly id: string; readonly role: Role; readonly config: WgConfig; readonly text: string }>;
}

const MESH_FILE = 'mesh.json';

/** Reads <caDir>/mesh.json, or an empty allocation if there is none yet. */
export async function loadMeshAllocations(caDir: string): Promise<MeshAllocations> {
  let text: string;
  try {
    text = await readText(join(caDir, MESH_FILE), 'mesh allocations');
  } catch (e) {
    if (e instanceof PkiError && e.code === 'ERR_PKI_NOT_FOUND') return { format: 'fedsec-mesh/1', range: '10.77.0.0/24', topology: 'hub', members: {}, retired: [] };
    throw e;
  }
  try {
    const j = JSON.parse(text) as MeshAllocations;
    if (j.format !== 'fedsec-mesh/1' || typeof j.members !== 'object' || !Array.isArray(j.retired)) throw new Error('shape');
    parseRange(j.range);
    return j;
  } catch (e) {
    throw new MeshError('ERR_MESH_BAD_CONFIG', `${join(caDir, MESH_FILE)} is not a valid mesh allocation file`, { cause: e });
  }
}

/**
 * Plans the mesh from the CA's active members; with `outDir`, writes `<id>.conf` for each member
 * and the signed `roster.json` there. Needs the CA unlocked (the roster is signed).
 */
export async function planMesh(ca: CertificateAuthority, opts: MeshPlanOptions = {}, outDir?: string): Promise<MeshPlan> {
  const now = opts.now ?? new Date();
  const prev = await loadMeshAllocations(ca.dir);
  const rangeText = opts.range ?? prev.range;
  const range = parseRange(rangeText);
  const topology = opts.topology ?? prev.topology;
  if (topology !== 'hub' && topology !== 'full') throw new MeshError('ERR_MESH_BAD_CONFIG', 'topology must be hub or full');
  const listenPort = opts.listenPort ?? prev.listenPort;
  if (listenPort !== undefined) assertInt('listenPort', listenPort, 1, 65535);
  const keepalive = opts.keepalive ?? 25;
  assertInt('keepalive', keepalive, 0, 3600);
  const members = (await ca.activeMembers({ now })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const ids = new Set(members.map((m) => m.id));
  for (const id of Object.keys(opts.endpoints ?? {})) if (!ids.has(id)) throw new MeshError('ERR_MESH_BAD_CONFIG', `endpoint given for ${id}, which is not an active member`);

  // Stable allocation: keep addresses of members still present and in range; retire the rest.
  const changedRange = range.cidr !== parseRange(prev.range).cidr;
  const alloc: MeshAllocations = { format: 'fedsec-mesh/1', range: range.cidr, topology, ...(listenPort !== undefined ? { listenPort } : {}), members: {}, retired: changedRange ? [] : [...prev.retired] };
  const used = new Set<string>(alloc.retired);
  for (const [id, m] of Object.entries(prev.members)) {
    if (ids.has(id) && !changedRange && inRange(range, m.address)) {
      alloc.members[id] = { ...m };
      used.add(m.address);
    } else if (!changedRange) {
      alloc.retired.push(m.address);
      used.add(m.address);
    }
  }
  for (const [id, ep] of Object.entries(opts.endpoints ?? {})) {
    parseEndpoint(ep);
    alloc.members[id] = { ...(alloc.members[id] ?? { address: '' }), endpoint: ep };
  }
  const free = hosts(range);
  for (const m of members) {
    const cur = alloc.members[m.id];
    if (cur && cur.address !== '') continue;
    let addr: string | undefined;
    for (let r = free.next(); !r.done; r = free.next()) {
      if (!used.has(r.value)) {
        addr = r.value;
        break;
      }
    }
    if (addr === undefined) throw new MeshError('ERR_MESH_ADDRESS_EXHAUSTED', `mesh range ${range.cidr} has no free address for ${m.id}; choose a larger --range`);
    used.add(addr);
    alloc.members[m.id] = { ...(cur ?? {}), address: addr };
  }

  let hub: CertificateListing | undefined;
  if (topology === 'hub') {
    const hubId = opts.hub ?? prev.hub;
    if (hubId !== undefined) {
      hub = members.find((m) => m.id === hubId);
      if (!hub) throw new MeshError('ERR_MESH_NO_HUB', `hub ${hubId} is not an active member`);
    } else {
      const aggs = members.filter((m) => m.role === 'aggregator');
      if (aggs.length !== 1) throw new MeshError('ERR_MESH_NO_HUB', `hub-and-spoke needs exactly one aggregator or --hub <id> (found ${aggs.length} aggregators)`);
      hub = aggs[0];
    }
    if (!alloc.members[hub!.id]!.endpoint) throw new MeshError('ERR_MESH_NO_HUB', `the hub ${hub!.id} needs a public endpoint: --endpoint ${hub!.id}=<host>:<port>`);
    alloc.hub = hub!.id;
  }

  const roster = await signRoster(ca, { mesh: new Map(Object.entries(alloc.members).map(([id, m]) => [id, { address: m.address, ...(m.endpoint ? { endpoint: m.endpoint } : {}) }])), now });

  const peerOf = (m: CertificateListing, allowed: string[], keepaliveOut: boolean): WgPeerConfig => {
    const a = alloc.members[m.id]!;
    return {
      id: m.id,
      role: m.role,
      publicKey: m.wireguardKey,
      allowedIps: allowed,
      ...(a.endpoint ? { endpoint: a.endpoint } : {}),
      ...(keepaliveOut && a.endpoint && keepalive > 0 ? { persistentKeepalive: keepalive } : {}),
    };
  };
  const configs = members.map((m) => {
    const a = alloc.members[m.id]!;
    let peers: WgPeerConfig[];
    if (topology === 'hub') {
      peers = m.id === hub!.id
        ? members.filter((o) => o.id !== m.id).map((o) => peerOf(o, [`${alloc.members[o.id]!.address}/32`], false))
        : [peerOf(hub!, [range.cidr], true)];
    } else {
      peers = members.filter((o) => o.id !== m.id).map((o) => peerOf(o, [`${alloc.members[o.id]!.address}/32`], true));
    }
    const config: WgConfig = { member: m.id, address: `${a.address}/${range.prefix}`, ...(a.endpoint ? { listenPort: listenPort ?? Number(a.endpoint.split(':').pop()) } : {}), peers };
    const text = renderConfig(config, [
      `fedsec mesh configuration for ${m.id} (${m.role}), federation ${ca.federation}, roster version ${roster.version}, ${topology === 'hub' ? `hub-and-spoke via ${hub!.id}` : 'full mesh'}`,
      `Bring it up with: fedsec mesh up --config ${m.id}.conf --key <member-dir>/wireguard.key --interface <name>`,
      'No private key here: `mesh up` reads it from the member\'s wireguard.key.',
    ]);
    return { id: m.id, role: m.role, config, text };
  });

  if (outDir !== undefined) {
    await mkdir(outDir, { recursive: true });
    for (const c of configs) await writeFileAtomic(join(outDir, `${c.id}.conf`), c.text, PUBLIC_MODE);
    await writeFileAtomic(join(outDir, 'roster.json'), JSON.stringify(roster, null, 2) + '\n', PUBLIC_MODE);
  }
  await writeFileAtomic(join(ca.dir, MESH_FILE), JSON.stringify(alloc, null, 2) + '\n', PUBLIC_MODE);
  return { allocations: alloc, roster, configs };
}
