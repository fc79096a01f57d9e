/**
 * The signed federation roster: who is enrolled (id, role, certificate serial), with which
 * Ed25519 identity key (secure aggregation), WireGuard key and mesh address. The CA signs it;
 * every party verifies it against the CA certificate and turns it into the engines' `Roster`.
 *
 * The signature covers a canonical `encodeTuple` encoding of every field, not the JSON text, so
 * whitespace or key order cannot change what is signed. `version` grows with every signing:
 * parties remember the highest version seen and refuse older rosters (`minVersion`).
 */
import { isIP } from 'node:net';
import { verify as nodeVerify } from 'node:crypto';
import { assertString, ID_PATTERN } from '../common/validate.ts';
import { encodeTuple, fromBase64, toBase64 } from '../crypto/bytes.ts';
import { Roster, ROLES, type Role } from '../crypto/roster.ts';
import type { CertificateAuthority } from './ca.ts';
import { parseCertificate } from './certinfo.ts';
import { PkiError } from './errors.ts';
import { algorithmOf, publicKeyObject } from './x509.ts';
import type { CrlState } from './verifier.ts';

/** One member entry of the roster. */
export interface RosterEntry {
  readonly id: string;
  readonly role: Role;
  /** Serial of the member's current certificate. */
  readonly serial: string;
  /** Ed25519 identity public key, base64 (32 bytes). */
  readonly identityKey: string;
  /** WireGuard public key, base64 (32 bytes). */
  readonly wireguardKey: string;
  /** Mesh address (IPv4/IPv6, no prefix), when a mesh plan assigned one. */
  readonly meshAddress?: string;
  /** Public WireGuard endpoint (host:port), for members others connect to. */
  readonly endpoint?: string;
}

/** The signed roster document (JSON). */
export interface SignedRosterDocument {
  readonly format: 'fedsec-roster/1';
  readonly federation: string;
  readonly version: number;
  readonly issuedAt: string;
  /** SHA-256 fingerprint of the CA certificate that signed it. */
  readonly caFingerprint256: string;
  readonly members: readonly RosterEntry[];
  readonly signature: { readonly algorithm: 'ecdsa-p256-sha256' | 'ed25519'; readonly value: string };
}

function signedBytes(d: Omit<SignedRosterDocument, 'signature'>, algorithm: string): Uint8Array {
  const items: Array<string | number> = ['fedsec/roster/v1', algorithm, d.federation, d.version, d.issuedAt, d.caFingerprint256, d.members.length];
  for (const m of d.members) items.push(m.id, m.role, m.serial, m.identityKey, m.wireguardKey, m.meshAddress ?? '', m.endpoint ?? '');
  return encodeTuple(items);
}

/**
 * Signs a roster of the CA's active members (sorted by id) with the unlocked CA key.
 * `mesh` supplies mesh addresses and endpoints by member id.
 */
export async function signRoster(ca: CertificateAuthority, opts: { mesh?: ReadonlyMap<string, { address?: string; endpoint?: string }>; now?: Date } = {}): Promise<SignedRosterDocument> {
  const now = opts.now ?? new Date();
  const members = (await ca.activeMembers({ now }))
    .map((r): RosterEntry => {
      const m = opts.mesh?.get(r.id);
      return {
        id: r.id,
        role: r.role,
        serial: r.serial,
        identityKey: r.identityKey,
        wireguardKey: r.wireguardKey,
        ...(m?.address !== undefined ? { meshAddress: m.address } : {}),
        ...(m?.endpoint !== undefined ? { endpoint: m.endpoint } : {}),
      };
    })
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const algorithm = ca.config.algorithm === 'ed25519' ? 'ed25519' : 'ecdsa-p256-sha256';
  const body = { format: 'fedsec-roster/1' as const, federation: ca.federation, version: await ca.nextRosterVersion(), issuedAt: now.toISOString(), caFingerprint256: ca.certificate.fingerprint256, members };
  const value = toBase64(ca.signBytes(signedBytes(body, algorithm)));
  return { ...body, signature: { algorithm, value } };
}

function bad(msg: string): never {
  throw new PkiError('ERR_PKI_BAD_ROSTER', msg);
}

/** A roster whose signature verified. */
export class VerifiedRoster {
  readonly document: SignedRosterDocument;
  private constructor(doc: SignedRosterDocument) {
    this.document = doc;
  }

  /** @internal */
  static fromVerified(doc: SignedRosterDocument): VerifiedRoster {
    return new VerifiedRoster(doc);
  }

  /** The federation name. */
  get federation(): string {
    return this.document.federation;
  }

  /** The monotonic roster version. */
  get version(): number {
    return this.document.version;
  }

  /** The members. */
  get members(): readonly RosterEntry[] {
    return this.document.members;
  }

  /** The secure-aggregation engines' view (crypto/roster.ts): ids, roles, Ed25519 identity keys. */
  toRoster(): Roster {
    return new Roster(this.document.federation, this.document.members.map((m) => ({ id: m.id, role: m.role, identityKey: fromBase64(m.identityKey) })));
  }
}

/**
 * Parses and verifies a signed roster (JSON text or object) against the CA certificate:
 * shape, CA fingerprint, signature. With `crl`, members whose serial is revoked make it fail
 * (the roster predates a revocation); with `minVersion`, older rosters are refused.
 * Throws ERR_PKI_BAD_ROSTER / ERR_PKI_REVOKED.
 */
export function verifyRoster(input: string | unknown, caCert: string | Uint8Array, opts: { crl?: CrlState; minVersion?: number } = {}): VerifiedRoster {
  let d: SignedRosterDocument;
  try {
    d = (typeof input === 'string' ? JSON.parse(input) : input) as SignedRosterDocument;
  } catch {
    bad('the roster is not JSON');
  }
  if (typeof d !== 'object' || d === null || d.format !== 'fedsec-roster/1') bad('not a fedsec roster');
  try {
    assertString('federation', d.federation, 128, ID_PATTERN);
  } catch {
    bad('malformed federation');
  }
  if (!Number.isSafeInteger(d.version) || d.version < 1) bad('malformed version');
  if (typeof d.issuedAt !== 'string' || Number.isNaN(Date.parse(d.issuedAt))) bad('malformed issuedAt');
  if (!Array.isArray(d.members)) bad('malformed members');
  const seen = new Set<string>();
  for (const m of d.members) {
    if (typeof m !== 'object' || m === null || typeof m.id !== 'string' || !ID_PATTERN.test(m.id)) bad('malformed member id');
    if (seen.has(m.id)) bad(`member ${m.id} appears twice`);
    seen.add(m.id);
    if (!ROLES.includes(m.role)) bad(`member ${m.id}: unknown role`);
    if (typeof m.serial !== 'string' || !/^[0-9a-f]{1,40}$/.test(m.serial)) bad(`member ${m.id}: malformed serial`);
    for (const k of [m.identityKey, m.wireguardKey]) {
      try {
        if (fromBase64(k).length !== 32) throw new Error('len');
      } catch {
        bad(`member ${m.id}: malformed key`);
      }
    }
    if (m.meshAddress !== undefined && (typeof m.meshAddress !== 'string' || isIP(m.meshAddress) === 0)) bad(`member ${m.id}: malformed mesh address`);
    if (m.endpoint !== undefined && (typeof m.endpoint !== 'string' || m.endpoint.length > 300)) bad(`member ${m.id}: malformed endpoint`);
  }
  const ca = parseCertificate(caCert);
  if (d.caFingerprint256 !== ca.fingerprint256) bad('the roster was signed by another CA');
  const key = publicKeyObject(ca.spki);
  const alg = algorithmOf(key);
  const expectedAlg = alg === 'ed25519' ? 'ed25519' : 'ecdsa-p256-sha256';
  if (typeof d.signature !== 'object' || d.signature === null || d.signature.algorithm !== expectedAlg) bad('unexpected signature algorithm');
  let sig: Uint8Array;
  try {
    sig = fromBase64(d.signature.value);
  } catch {
    bad('malformed signature');
  }
  const { signature: _sig, ...body } = d;
  let ok = false;
  try {
    ok = nodeVerify(alg === 'ed25519' ? null : 'sha256', signedBytes(body, expectedAlg), key, sig);
  } catch {
    ok = false;
  }
  if (!ok) bad('the roster signature does not verify against the federation CA');
  if (opts.minVersion !== undefined && d.version < opts.minVersion) bad(`roster version ${d.version} is older than ${opts.minVersion}`);
  if (opts.crl) {
    for (const m of d.members) if (opts.crl.revoked.has(m.serial)) throw new PkiError('ERR_PKI_REVOKED', `roster member ${m.id} has a revoked certificate; fetch a newer roster`);
  }
  return VerifiedRoster.fromVerified(d);
}
