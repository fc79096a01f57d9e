/** IPv4 CIDR arithmetic for mesh address allocation. */
import { isIPv4 } from 'node:net';
import { MeshError } from '../errors.ts';

/** A parsed IPv4 range. */
export interface Ipv4Range {
  readonly network: number;
  readonly prefix: number;
  /** Canonical `a.b.c.d/n`. */
  readonly cidr: string;
}

/** Dotted quad to unsigned 32-bit integer. */
export function ipToInt(ip: string): number {
  if (!isIPv4(ip)) throw new MeshError('ERR_MESH_BAD_RANGE', `not an IPv4 address: ${ip.slice(0, 60)}`);
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
}

/** Unsigned 32-bit integer to dotted quad. */
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses `a.b.c.d/n` (n in [8, 30]); the address must be the network address. */
export function parseRange(cidr: string): Ipv4Range {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new MeshError('ERR_MESH_BAD_RANGE', `mesh range must look like 10.77.0.0/24, got ${cidr.slice(0, 60)}`);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) throw new MeshError('ERR_MESH_BAD_RANGE', 'mesh range prefix must be between /8 and /30');
  const network = ipToInt(m[1]!);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((network & mask) >>> 0 !== network) throw new MeshError('ERR_MESH_BAD_RANGE', `${cidr} is not a network address (host bits set)`);
  return { network, prefix, cidr: `${intToIp(network)}/${prefix}` };
}

/** True if `ip` lies in `r`. */
export function inRange(r: Ipv4Range, ip: string): boolean {
  const mask = (0xffffffff << (32 - r.prefix)) >>> 0;
  return (ipToInt(ip) & mask) >>> 0 === r.network;
}

/** Usable host addresses of `r` (network and broadcast excluded), in order. */
export function* hosts(r: Ipv4Range): Generator<string> {
  const size = 2 ** (32 - r.prefix);
  for (let i = 1; i < size - 1; i++) yield intToIp(r.network + i);
}

/** Validates a WireGuard endpoint `host:port` or `[v6]:port`. */
export function parseEndpoint(ep: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(ep);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new MeshError('ERR_MESH_BAD_CONFIG', `endpoint must be host:port, got ${ep.slice(0, 80)}`);
  return ep;
}
