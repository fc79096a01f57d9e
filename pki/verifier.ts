/**
 * Peer verification for the federation services. grpc-js (and node:tls clients) only check the
 * chain to the CA; they have no CRL option on the server side, no notion of roles and no CRL
 * reload. A {@link PeerVerifier} does the whole check in one synchronous call, usable from a
 * TLS `secureConnection` handler, a gRPC call handler (`call.getAuthContext().sslPeerCertificate`)
 * or a client's `checkServerIdentity`:
 *
 *   chain to the federation CA (signature + issuer), validity window, leaf (not a CA),
 *   federation and role from the SAN URI urn:fedsec:<federation>:<role>:<id>,
 *   revocation against the loaded CRL (fail closed when the CRL is missing or past nextUpdate).
 *
 * The CRL is loaded from a file and reloaded without a restart: {@link PeerVerifier.refresh}
 * re-reads it when the file changed (cheap enough to call per connection), and
 * {@link PeerVerifier.startAutoRefresh} polls in the background. A new CRL must verify against
 * the CA key and carry a CRL number not lower than the current one (no rollback); a bad CRL
 * file is rejected and the previous CRL stays in force.
 */
import { createHash, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { PeerCertificate } from 'node:tls';
import { ROLES, type Role } from '../crypto/roster.ts';
import { parseCertificate, type CertificateInfo } from './certinfo.ts';
import { parseDerInteger } from './der.ts';
import { PkiError } from './errors.ts';
import { fromPem, normalizeSerial, OID_CRL_NUMBER, x509 } from './x509.ts';

/** How many verified certificates a PeerVerifier keeps parsed. */
const CACHE_SIZE = 4096;

/** What a successful verification established about a peer. */
export interface VerifiedPeer {
  readonly federation: string;
  readonly role: Role;
  readonly id: string;
  readonly serial: string;
  readonly notAfter: Date;
  readonly fingerprint256: string;
  /** Ed25519 identity key from the certificate (32 bytes). */
  readonly identityKey: Uint8Array | null;
  /** WireGuard public key from the certificate (32 bytes). */
  readonly wireguardKey: Uint8Array | null;
}

/** A certificate as services may have it: DER bytes, PEM text, or a node:tls peer certificate. */
export type PeerCertificateInput = Uint8Array | string | Pick<PeerCertificate, 'raw'>;

/** Options of {@link PeerVerifier.create}. */
export interface PeerVerifierOptions {
  /** The federation CA certificate (PEM or DER). */
  readonly caCert: string | Uint8Array;
  /** The expected federation (default: taken from the CA certificate's O attribute). */
  readonly federation?: string;
  /** Path of the CRL file to load now and on every {@link PeerVerifier.refresh}. */
  readonly crlFile?: string;
  /** A CRL given directly (PEM or DER), instead of or before `crlFile`. */
  readonly crl?: string | Uint8Array;
  /** Roles accepted by default (default: all). */
  readonly roles?: readonly Role[];
  /**
   * Require a CRL (default true): without one every verification fails with ERR_PKI_CRL_MISSING.
   * Turning it off disables revocation checking; never do that in production.
   */
  readonly requireCrl?: boolean;
  /** Accept a CRL past its nextUpdate (default false: fail closed with ERR_PKI_CRL_STALE). */
  readonly allowStaleCrl?: boolean;
  /** Clock, for tests. */
  readonly now?: () => Date;
}

/** The CRL currently in force. */
export interface CrlState {
  readonly number: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly revoked: ReadonlySet<string>;
}

/** Checks peers' certificates against the federation CA, roles and a reloadable CRL. */
export class PeerVerifier {
  readonly federation: string;
  readonly ca: CertificateInfo;
  readonly #caNode: NodeX509;
  readonly #caKey: KeyObject;
  readonly #opts: PeerVerifierOptions;
  #crl: CrlState | undefined;
  #crlStamp = '';
  readonly #cache = new Map<string, CertificateInfo>();

  private constructor(ca: CertificateInfo, federation: string, opts: PeerVerifierOptions) {
    this.ca = ca;
    this.federation = federation;
    this.#caNode = new NodeX509(ca.der);
    this.#caKey = this.#caNode.publicKey;
    this.#opts = opts;
  }

  /** Builds a verifier and loads the CRL (ERR_PKI_BAD_CRL if the given CRL is invalid). */
  static async create(opts: PeerVerifierOptions): Promise<PeerVerifier> {
    const ca = parseCertificate(opts.caCert);
    if (!ca.isCa) throw new PkiError('ERR_PKI_UNTRUSTED', 'the trust anchor is not a CA certificate');
    const federation = opts.federation ?? ca.parsed.subjectName.getField('O')[0];
    if (!federation) throw new PkiError('ERR_PKI_BAD_CERT', 'the CA certificate names no federation (O); pass `federation`');
    for (const r of opts.roles ?? []) if (!ROLES.includes(r)) throw new PkiError('ERR_PKI_WRONG_ROLE', `unknown role ${String(r)}`);
    const v = new PeerVerifier(ca, federation, opts);
    if (opts.crl !== undefined) await v.loadCrl(opts.crl);
    if (opts.crlFile !== undefined) await v.refresh();
    return v;
  }

  /** Loads a CA certificate and CRL from files. */
  static async fromFiles(opts: Omit<PeerVerifierOptions, 'caCert' | 'crl'> & { caFile: string }): Promise<PeerVerifier> {
    const caCert = await readFile(opts.caFile, 'utf8').catch(() => {
      throw new PkiError('ERR_PKI_NOT_FOUND', `CA certificate not found: ${opts.caFile}`);
    });
    return PeerVerifier.create({ ...opts, caCert });
  }

  #now(): Date {
    return this.#opts.now ? this.#opts.now() : new Date();
  }

  /** The CRL in force, if any. */
  get crl(): CrlState | undefined {
    return this.#crl;
  }

  /**
   * Verifies and installs a CRL: signed by the CA key, issued by the CA, thisUpdate not in the
   * future, CRL number not lower than the current one. Throws ERR_PKI_BAD_CRL /
   * ERR_PKI_CRL_ROLLBACK and keeps the previous CRL on failure.
   */
  async loadCrl(input: string | Uint8Array): Promise<CrlState> {
    let crl: x509.X509Crl;
    try {
      crl = new x509.X509Crl(fromPem(input, 'X509 CRL', 'ERR_PKI_BAD_CRL'));
    } catch (e) {
      if (e instanceof PkiError) throw e;
      throw new PkiError('ERR_PKI_BAD_CRL', 'not a parseable CRL', { cause: e });
    }
    let ok = false;
    try {
      ok = await crl.verify({ publicKey: this.ca.parsed.publicKey });
    } catch {
      ok = false;
    }
    if (!ok) throw new PkiError('ERR_PKI_BAD_CRL', 'the CRL signature does not verify against the federation CA key');
    if (crl.issuerName.toString() !== this.ca.parsed.subjectName.toString()) throw new PkiError('ERR_PKI_BAD_CRL', 'the CRL issuer is not the federation CA');
    const now = this.#now();
    if (crl.thisUpdate.getTime() > now.getTime() + 5 * 60_000) throw new PkiError('ERR_PKI_BAD_CRL', 'the CRL thisUpdate lies in the future');
    const numExt = crl.extensions.find((e) => e.type === OID_CRL_NUMBER);
    if (!numExt) throw new PkiError('ERR_PKI_BAD_CRL', 'the CRL has no CRL number');
    const number = parseDerInteger(new Uint8Array(numExt.value), 'crlNumber');
    if (this.#crl && number < this.#crl.number) {
      throw new PkiError('ERR_PKI_CRL_ROLLBACK', `CRL number ${number} is older than the one in force (${this.#crl.number})`);
    }
    const revoked = new Set(crl.entries.map((e) => normalizeSerial(e.serialNumber)));
    this.#crl = { number, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, revoked };
    return this.#crl;
  }

  /**
   * Reloads the CRL file if it changed since the last look (by inode, size and mtime). Returns
   * true if a new CRL was installed. A rejected file is reported once (thrown) and then ignored
   * until it changes again; the previous CRL stays in force. Services calling this per
   * connection should log the error and go on verifying against the CRL in force.
   */
  async refresh(): Promise<boolean> {
    const file = this.#opts.crlFile;
    if (file === undefined) return false;
    let s;
    try {
      s = await stat(file);
    } catch {
      if (this.#crl) return false;
      throw new PkiError('ERR_PKI_CRL_MISSING', `CRL file not found: ${file}`);
    }
    const stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    if (stamp === this.#crlStamp) return false;
    const text = await readFile(file);
    this.#crlStamp = stamp;
    await this.loadCrl(new Uint8Array(text));
    return true;
  }

  /**
   * Polls the CRL file every `intervalMs` (timer unref'd, so it never keeps the process alive).
   * Failed reloads go to `onError` and leave the previous CRL in force. Returns a stop function.
   */
  startAutoRefresh(intervalMs = 10_000, onError: (e: unknown) => void = () => undefined): () => void {
    const t = setInterval(() => {
      this.refresh().catch(onError);
    }, intervalMs);
    t.unref();
    return () => clearInterval(t);
  }

  /**
   * Verifies a peer certificate synchronously. Throws a {@link PkiError}: ERR_PKI_BAD_CERT,
   * ERR_PKI_UNTRUSTED, ERR_PKI_EXPIRED, ERR_PKI_NOT_YET_VALID, ERR_PKI_WRONG_FEDERATION,
   * ERR_PKI_WRONG_ROLE, ERR_PKI_WRONG_IDENTITY, ERR_PKI_REVOKED, ERR_PKI_CRL_MISSING,
   * ERR_PKI_CRL_STALE.
   */
  verify(input: PeerCertificateInput, opts: { roles?: readonly Role[]; id?: string; at?: Date } = {}): VerifiedPeer {
    const cert = this.#trustedCertificate(input);
    const now = opts.at ?? this.#now();
    for (const c of [cert, this.ca]) {
      if (now.getTime() < c.notBefore.getTime()) throw new PkiError('ERR_PKI_NOT_YET_VALID', `${c === cert ? 'the certificate' : 'the CA certificate'} is not valid before ${c.notBefore.toISOString()}`);
      if (now.getTime() > c.notAfter.getTime()) throw new PkiError('ERR_PKI_EXPIRED', `${c === cert ? 'the certificate' : 'the CA certificate'} expired at ${c.notAfter.toISOString()}`);
    }
    if (cert.isCa) throw new PkiError('ERR_PKI_UNTRUSTED', 'a CA certificate cannot identify a member');
    const m = cert.member;
    if (!m) throw cert.memberError ?? new PkiError('ERR_PKI_WRONG_IDENTITY', 'the certificate carries no fedsec member URI');
    if (m.federation !== this.federation) throw new PkiError('ERR_PKI_WRONG_FEDERATION', `the certificate is for federation ${m.federation}, expected ${this.federation}`);
    const roles = opts.roles ?? this.#opts.roles;
    if (roles !== undefined && !roles.includes(m.role)) throw new PkiError('ERR_PKI_WRONG_ROLE', `peer ${m.id} has role ${m.role}; allowed: ${roles.join(', ')}`);
    if (opts.id !== undefined && m.id !== opts.id) throw new PkiError('ERR_PKI_WRONG_IDENTITY', `peer is ${m.id}, expected ${opts.id}`);
    this.#checkRevocation(cert.serial, now);
    return {
      federation: m.federation,
      role: m.role,
      id: m.id,
      serial: cert.serial,
      notAfter: cert.notAfter,
      fingerprint256: cert.fingerprint256,
      identityKey: cert.identityKey,
      wireguardKey: cert.wireguardKey,
    };
  }

  /**
   * Parses the certificate and checks it is signed and issued by the CA. Both results depend
   * only on the bytes, so certificates that pass are cached by their SHA-256 (bounded, oldest
   * evicted first); parsing dominates the cost of a verification. Time-, role- and
   * revocation-dependent checks are never cached.
   */
  #trustedCertificate(input: PeerCertificateInput): CertificateInfo {
    const raw = typeof input === 'string' || input instanceof Uint8Array ? input : input.raw;
    if (raw === undefined || raw === null) throw new PkiError('ERR_PKI_BAD_CERT', 'the peer presented no certificate');
    const der = fromPem(raw instanceof Buffer ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) : raw, 'CERTIFICATE', 'ERR_PKI_BAD_CERT');
    const key = createHash('sha256').update(der).digest('hex');
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const cert = parseCertificate(der);
    let node: NodeX509;
    try {
      node = new NodeX509(cert.der);
    } catch (e) {
      throw new PkiError('ERR_PKI_BAD_CERT', 'not a parseable X.509 certificate', { cause: e });
    }
    if (!node.checkIssued(this.#caNode) || !node.verify(this.#caKey)) throw new PkiError('ERR_PKI_UNTRUSTED', 'the certificate is not issued by the federation CA');
    if (this.#cache.size >= CACHE_SIZE) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(key, cert);
    return cert;
  }

  #checkRevocation(serial: string, now: Date): void {
    const crl = this.#crl;
    if (!crl) {
      if (this.#opts.requireCrl === false) return;
      throw new PkiError('ERR_PKI_CRL_MISSING', 'no CRL loaded: cannot check revocation');
    }
    if (crl.revoked.has(serial)) throw new PkiError('ERR_PKI_REVOKED', `certificate ${serial} is revoked`);
    if (!this.#opts.allowStaleCrl && crl.nextUpdate !== undefined && now.getTime() > crl.nextUpdate.getTime()) {
      throw new PkiError('ERR_PKI_CRL_STALE', `the CRL expired at ${crl.nextUpdate.toISOString()}; publish a fresh one (fedsec pki crl)`);
    }
  }

  /**
   * A `checkServerIdentity` for node:tls / grpc-js clients: instead of host-name matching, the
   * server must present a valid, unrevoked certificate of one of `roles` (and `id`, if given).
   * Returns the error rather than throwing, as node:tls expects.
   */
  checkServerIdentity(roles: readonly Role[] = ['aggregator'], id?: string): (host: string, cert: PeerCertificate) => Error | undefined {
    return (_host, cert) => {
      try {
        this.verify(cert, { roles, ...(id !== undefined ? { id } : {}) });
        return undefined;
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    };
  }
}
