/**
 * The federation certificate authority: a directory holding the CA certificate, its private key
 * encrypted under a passphrase, a JSON database of issued certificates and the current CRL.
 *
 * CA directory layout:
 *   ca.json        federation, algorithm, validity settings
 *   ca.crt.pem     CA certificate (self-signed; BasicConstraints CA, pathLen 0)
 *   ca.key.enc     CA private key, scrypt + AES-256-GCM (0600)
 *   db.json        issued certificates, revocations, CRL and roster counters
 *   certs/<serial>.pem
 *   crl.pem        the current CRL
 *
 * Mutations take an exclusive lock, re-read the database, validate everything, then write
 * atomically; a rejected request leaves no file behind.
 */
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import { generateEd25519KeyPair, generateP256KeyPair } from './keys.ts';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../common/errors.ts';
import { assertInt, assertString, ID_PATTERN } from '../common/validate.ts';
import { toBase64, toHex } from '../crypto/bytes.ts';
import { randomBytes, systemRandom, type RandomSource } from '../crypto/random.ts';
import { ROLES, type Role } from '../crypto/roster.ts';
import { parseCertificate, type CertificateInfo } from './certinfo.ts';
import { derInteger } from './der.ts';
import { PkiError } from './errors.ts';
import { PUBLIC_MODE, readText, SECRET_MODE, withLock, writeDirAtomic, writeFileAtomic } from './files.ts';
import { assertPassphrase, decryptKey, DEFAULT_SCRYPT, encryptKey, parseEncryptedKeyFile, type ScryptParams } from './keystore.ts';
import { verifyCsr, type VerifiedRequest } from './request.ts';
import { memberUri, normalizeSerial, OID_CRL_NUMBER, OID_IDENTITY_KEY, OID_WIREGUARD_KEY, toPem, toWebPrivateKey, toWebPublicKey, webAlgorithm, x509, type CaAlgorithm } from './x509.ts';
import { derOctetString } from './der.ts';

/** CA settings stored in ca.json. */
export interface CaConfig {
  readonly format: 'fedsec-ca/1';
  readonly federation: string;
  readonly algorithm: CaAlgorithm;
  readonly createdAt: string;
  /** Default validity of member certificates, days. */
  readonly memberValidityDays: number;
  /** Validity of each CRL (nextUpdate - thisUpdate), hours. */
  readonly crlValidityHours: number;
}

/** Revocation reasons (RFC 5280 CRLReason), in CLI spelling. */
export type RevocationReason = 'unspecified' | 'key-compromise' | 'affiliation-changed' | 'superseded' | 'cessation-of-operation' | 'privilege-withdrawn';

/** The accepted revocation reasons. */
export const REVOCATION_REASONS: readonly RevocationReason[] = ['unspecified', 'key-compromise', 'affiliation-changed', 'superseded', 'cessation-of-operation', 'privilege-withdrawn'];

const REASON_CODE: Record<RevocationReason, number> = {
  'unspecified': 0,
  'key-compromise': 1,
  'affiliation-changed': 3,
  'superseded': 4,
  'cessation-of-operation': 5,
  'privilege-withdrawn': 9,
};

/** One issued certificate as the CA database records it. */
export interface CertificateRecord {
  readonly serial: string;
  readonly id: string;
  readonly role: Role;
  readonly issuedAt: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly fingerprint256: string;
  /** SHA-256 of the TLS SubjectPublicKeyInfo, hex (detects key reuse across members). */
  readonly tlsKeySha256: string;
  readonly identityKey: string;
  readonly wireguardKey: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly revoked?: { readonly at: string; readonly reason: RevocationReason };
  /** Serial of the certificate that replaced this one on renewal. */
  readonly supersededBy?: string;
}

/** Lifecycle status of a certificate at a given time. */
export type CertificateStatus = 'active' | 'not-yet-valid' | 'expired' | 'revoked' | 'superseded';

/** A record with its computed status. */
export interface CertificateListing extends CertificateRecord {
  readonly status: CertificateStatus;
}

interface CaDb {
  format: 'fedsec-ca-db/1';
  crlNumber: number;
  rosterVersion: number;
  certificates: CertificateRecord[];
}

/** An issued certificate. */
export interface IssuedCertificate {
  readonly record: CertificateRecord;
  readonly certPem: string;
  /** The CA certificate, to hand to the member along with its certificate. */
  readonly caPem: string;
}

/** Options of {@link initCa}. */
export interface InitCaOptions {
  readonly federation: string;
  readonly passphrase: string;
  readonly algorithm?: CaAlgorithm;
  /** CA certificate validity, days (default 3650). */
  readonly validityDays?: number;
  /** Default member certificate validity, days (default 365, at most 825). */
  readonly memberValidityDays?: number;
  /** CRL validity, hours (default 168 = 7 days). */
  readonly crlValidityHours?: number;
  /** scrypt cost for the key file (default N=2^15, r=8, p=1). */
  readonly scrypt?: ScryptParams;
  readonly now?: Date;
  readonly rng?: RandomSource;
}

/** Options of {@link CertificateAuthority.sign}. */
export interface SignOptions {
  /** The role the admin expects; a CSR asking for another role is ERR_PKI_WRONG_ROLE. */
  readonly expectRole?: Role;
  /** The id the admin expects; a CSR for another id is ERR_PKI_WRONG_IDENTITY. */
  readonly expectId?: string;
  /** Validity in days (default: the CA's memberValidityDays; at most 825). */
  readonly validityDays?: number;
  /** Explicit validity window (overrides validityDays; for tests and planned rollovers). */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly now?: Date;
}

const FILES = { config: 'ca.json', cert: 'ca.crt.pem', key: 'ca.key.enc', db: 'db.json', crl: 'crl.pem', certs: 'certs' } as const;
const MAX_MEMBER_DAYS = 825;
const DAY = 86_400_000;
const CLOCK_SKEW_MS = 60_000;
const EKU_SERVER = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT = '1.3.6.1.5.5.7.3.2';

function newSerial(rng: RandomSource): string {
  const b = randomBytes(16, rng);
  b[0] = (b[0]! & 0x3f) | 0x40; // positive, no leading zero byte: always 16 bytes in DER
  return toHex(b);
}

function statusOf(r: CertificateRecord, now: Date): CertificateStatus {
  if (r.revoked) return 'revoked';
  if (r.supersededBy) return 'superseded';
  if (now.getTime() < Date.parse(r.notBefore)) return 'not-yet-valid';
  if (now.getTime() > Date.parse(r.notAfter)) return 'expired';
  return 'active';
}

/** Builds and signs a CRL listing the revoked records of `db` with CRL number `number`. */
async function buildCrl(caCert: x509.X509Certificate, key: KeyObject, config: CaConfig, db: CaDb, number: number, now: Date): Promise<string> {
  const alg = config.algorithm;
  const caSki = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subjectName,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + config.crlValidityHours * 3_600_000),
    signingAlgorithm: webAlgorithm(alg).signParams as Parameters<typeof x509.X509CrlGenerator.create>[0]['signingAlgorithm'],
    signingKey: (await toWebPrivateKey(key, alg)) as unknown as Parameters<typeof x509.X509CrlGenerator.create>[0]['signingKey'],
    entries: db.certificates
      .filter((r) => r.revoked)
      .map((r) => ({ serialNumber: r.serial, revocationDate: new Date(r.revoked!.at), reason: REASON_CODE[r.revoked!.reason] })),
    extensions: [
      ...(caSki ? [new x509.AuthorityKeyIdentifierExtension(caSki.keyId)] : []),
      new x509.Extension(OID_CRL_NUMBER, false, derInteger(BigInt(number))),
    ],
  });
  return toPem(new Uint8Array(crl.rawData), 'X509 CRL');
}

/** Creates a new CA in `dir` (which must not exist or be empty). */
export async function initCa(dir: string, opts: InitCaOptions): Promise<CertificateAuthority> {
  assertString('federation', opts.federation, 128, ID_PATTERN);
  assertPassphrase(opts.passphrase);
  const algorithm = opts.algorithm ?? 'ecdsa-p256';
  if (algorithm !== 'ecdsa-p256' && algorithm !== 'ed25519') throw new InvalidArgumentError('algorithm', 'must be ecdsa-p256 or ed25519');
  const validityDays = opts.validityDays ?? 3650;
  assertInt('validityDays', validityDays, 1, 36500);
  const memberValidityDays = opts.memberValidityDays ?? 365;
  assertInt('memberValidityDays', memberValidityDays, 1, MAX_MEMBER_DAYS);
  const crlValidityHours = opts.crlValidityHours ?? 168;
  assertInt('crlValidityHours', crlValidityHours, 1, 24 * 365);
  const rng = opts.rng ?? systemRandom;
  const now = opts.now ?? new Date();

  const kp = algorithm === 'ecdsa-p256' ? generateP256KeyPair(rng) : generateEd25519KeyPair(rng);
  const web = { privateKey: await toWebPrivateKey(kp.privateKey, algorithm), publicKey: await toWebPublicKey(kp.publicKey, algorithm) };
  const ski = await x509.SubjectKeyIdentifierExtension.create(web.publicKey as unknown as Parameters<typeof x509.SubjectKeyIdentifierExtension.create>[0]);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(rng),
    name: [{ CN: [`fedsec federation CA ${opts.federation}`] }, { O: [opts.federation] }],
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + validityDays * DAY),
    keys: web as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    signingAlgorithm: webAlgorithm(algorithm).signParams as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['signingAlgorithm'],
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      ski,
      new x509.AuthorityKeyIdentifierExtension(ski.keyId),
    ],
  });
  const config: CaConfig = { format: 'fedsec-ca/1', federation: opts.federation, algorithm, createdAt: now.toISOString(), memberValidityDays, crlValidityHours };
  const pkcs8 = new Uint8Array(kp.privateKey.export({ type: 'pkcs8', format: 'der' }));
  const enc = await encryptKey(pkcs8, opts.passphrase, opts.scrypt ?? DEFAULT_SCRYPT, rng);
  pkcs8.fill(0);
  const db: CaDb = { format: 'fedsec-ca-db/1', crlNumber: 1, rosterVersion: 0, certificates: [] };
  const crlPem = await buildCrl(caCert, kp.privateKey, config, db, 1, now);
  // Everything in one atomic step: a failed init leaves no CA directory behind.
  await writeDirAtomic(dir, [
    { name: FILES.config, data: JSON.stringify(config, null, 2) + '\n', mode: PUBLIC_MODE },
    { name: FILES.cert, data: toPem(new Uint8Array(caCert.rawData), 'CERTIFICATE'), mode: PUBLIC_MODE },
    { name: FILES.key, data: JSON.stringify(enc, null, 2) + '\n', mode: SECRET_MODE },
    { name: FILES.db, data: JSON.stringify(db, null, 2) + '\n', mode: PUBLIC_MODE },
    { name: FILES.crl, data: crlPem, mode: PUBLIC_MODE },
  ]);
  const ca = await CertificateAuthority.open(dir);
  ca.adoptKey(kp.privateKey);
  return ca;
}

/** An opened CA directory. Reading needs no passphrase; signing needs {@link CertificateAuthority.unlock}. */
export class CertificateAuthority {
  readonly dir: string;
  readonly config: CaConfig;
  readonly certificate: CertificateInfo;
  #key: KeyObject | undefined;
  readonly #rng: RandomSource;

  private constructor(dir: string, config: CaConfig, certificate: CertificateInfo, rng: RandomSource) {
    this.dir = dir;
    this.config = config;
    this.certificate = certificate;
    this.#rng = rng;
  }

  /** Opens an existing CA directory (ERR_PKI_NOT_FOUND / ERR_PKI_CORRUPT_STATE). */
  static async open(dir: string, rng: RandomSource = systemRandom): Promise<CertificateAuthority> {
    const text = await readText(join(dir, FILES.config), 'CA configuration (ca.json)');
    let config: CaConfig;
    try {
      config = JSON.parse(text) as CaConfig;
      if (config.format !== 'fedsec-ca/1') throw new Error('format');
      assertString('federation', config.federation, 128, ID_PATTERN);
      if (config.algorithm !== 'ecdsa-p256' && config.algorithm !== 'ed25519') throw new Error('algorithm');
      assertInt('memberValidityDays', config.memberValidityDays, 1, MAX_MEMBER_DAYS);
      assertInt('crlValidityHours', config.crlValidityHours, 1, 24 * 365);
    } catch (e) {
      throw new PkiError('ERR_PKI_CORRUPT_STATE', `${join(dir, FILES.config)} is not a valid CA configuration`, { cause: e });
    }
    const cert = parseCertificate(await readText(join(dir, FILES.cert), 'CA certificate'));
    if (!cert.isCa) throw new PkiError('ERR_PKI_CORRUPT_STATE', 'ca.crt.pem is not a CA certificate');
    return new CertificateAuthority(dir, config, cert, rng);
  }

  /** The federation name. */
  get federation(): string {
    return this.config.federation;
  }

  /** The CA certificate, PEM. */
  get certificatePem(): string {
    return this.certificate.pem;
  }

  /** Path of the current CRL file. */
  get crlPath(): string {
    return join(this.dir, FILES.crl);
  }

  /** True once {@link unlock} succeeded. */
  get unlocked(): boolean {
    return this.#key !== undefined;
  }

  /** @internal Used by initCa, which already holds the fresh key. */
  adoptKey(key: KeyObject): void {
    this.#checkKeyMatches(key);
    this.#key = key;
  }

  /**
   * Decrypts the CA private key with `passphrase` (ERR_PKI_BAD_PASSPHRASE if wrong,
   * ERR_PKI_CORRUPT_KEY if the key file is damaged or does not match the CA certificate).
   */
  async unlock(passphrase: string): Promise<void> {
    const file = parseEncryptedKeyFile(await readText(join(this.dir, FILES.key), 'CA key file (ca.key.enc)'));
    const der = await decryptKey(file, passphrase);
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
    } catch (e) {
      throw new PkiError('ERR_PKI_CORRUPT_KEY', 'the decrypted CA key does not parse', { cause: e });
    } finally {
      der.fill(0);
    }
    this.#checkKeyMatches(key);
    this.#key = key;
  }

  /** Forgets the decrypted key. */
  lock(): void {
    this.#key = undefined;
  }

  #checkKeyMatches(key: KeyObject): void {
    const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
    if (!Buffer.from(this.certificate.spki).equals(spki)) throw new PkiError('ERR_PKI_CORRUPT_KEY', 'the CA key does not match the CA certificate');
  }

  #requireKey(): KeyObject {
    if (!this.#key) throw new PkiError('ERR_PKI_BAD_PASSPHRASE', 'the CA key is locked; unlock it with the CA passphrase first');
    return this.#key;
  }

  /** Signs arbitrary bytes with the CA key (ECDSA P-256/SHA-256 DER, or Ed25519). Used for rosters. */
  signBytes(data: Uint8Array): Uint8Array {
    const key = this.#requireKey();
    return new Uint8Array(nodeSign(this.config.algorithm === 'ed25519' ? null : 'sha256', data, key));
  }

  async #readDb(): Promise<CaDb> {
    const text = await readText(join(this.dir, FILES.db), 'CA database (db.json)');
    try {
      const db = JSON.parse(text) as CaDb;
      if (db.format !== 'fedsec-ca-db/1' || !Array.isArray(db.certificates) || !Number.isSafeInteger(db.crlNumber) || !Number.isSafeInteger(db.rosterVersion)) throw new Error('shape');
      return db;
    } catch (e) {
      throw new PkiError('ERR_PKI_CORRUPT_STATE', `${join(this.dir, FILES.db)} is not a valid CA database`, { cause: e });
    }
  }

  async #writeDb(db: CaDb): Promise<void> {
    await writeFileAtomic(join(this.dir, FILES.db), JSON.stringify(db, null, 2) + '\n', PUBLIC_MODE);
  }

  /** Every issued certificate with its status at `now`, oldest first. */
  async list(opts: { now?: Date } = {}): Promise<CertificateListing[]> {
    const now = opts.now ?? new Date();
    const db = await this.#readDb();
    return db.certificates.map((r) => ({ ...r, status: statusOf(r, now) }));
  }

  /** Current (neither revoked, superseded nor expired) certificates: the federation's members. */
  async activeMembers(opts: { now?: Date } = {}): Promise<CertificateListing[]> {
    return (await this.list(opts)).filter((r) => r.status === 'active');
  }

  /** The PEM of an issued certificate (ERR_PKI_NOT_FOUND). */
  async certificateBySerial(serial: string): Promise<string> {
    return readText(join(this.dir, FILES.certs, `${normalizeSerial(serial)}.pem`), `certificate ${serial}`);
  }

  /** Resolves an id or serial to records (all of the id's certificates, or the one serial). */
  #resolve(db: CaDb, ref: string): CertificateRecord[] {
    const byId = db.certificates.filter((r) => r.id === ref);
    if (byId.length > 0) return byId;
    let serial: string | undefined;
    try {
      serial = normalizeSerial(ref);
    } catch {
      serial = undefined;
    }
    const bySerial = db.certificates.filter((r) => r.serial === serial);
    if (bySerial.length === 0) throw new PkiError('ERR_PKI_NOT_FOUND', `no certificate for member id or serial ${JSON.stringify(ref.slice(0, 140))}`);
    return bySerial;
  }

  /**
   * Verifies a CSR and issues the member certificate: role and identity in the SAN URI, key
   * usages for the role, identity and WireGuard keys copied as extensions, bounded validity.
   * Rejects a wrong federation or role, and a duplicate identity (an id with a current
   * certificate, or keys already enrolled for another member): use {@link renew} for those.
   */
  async sign(csr: string | Uint8Array, opts: SignOptions = {}): Promise<IssuedCertificate> {
    this.#requireKey();
    const req = await verifyCsr(csr);
    this.#checkRequest(req, opts);
    return withLock(this.dir, async () => {
      const db = await this.#readDb();
      const now = opts.now ?? new Date();
      this.#checkDuplicates(db, req, now, undefined);
      return this.#issue(db, req, opts, now);
    });
  }

  #checkRequest(req: VerifiedRequest, opts: SignOptions): void {
    if (req.name.federation !== this.federation) {
      throw new PkiError('ERR_PKI_WRONG_FEDERATION', `the CSR is for federation ${req.name.federation}, this CA is ${this.federation}`);
    }
    if (opts.expectRole !== undefined) {
      if (!(ROLES as readonly string[]).includes(opts.expectRole)) throw new PkiError('ERR_PKI_WRONG_ROLE', `expected role must be one of ${ROLES.join(', ')}`);
      if (req.name.role !== opts.expectRole) throw new PkiError('ERR_PKI_WRONG_ROLE', `the CSR asks for role ${req.name.role}, the admin expected ${opts.expectRole}`);
    }
    if (opts.expectId !== undefined && req.name.id !== opts.expectId) {
      throw new PkiError('ERR_PKI_WRONG_IDENTITY', `the CSR is for member ${req.name.id}, the admin expected ${opts.expectId}`);
    }
  }

  #checkDuplicates(db: CaDb, req: VerifiedRequest, now: Date, renewing: string | undefined): void {
    const tlsKeySha256 = createHash('sha256').update(req.tlsSpki).digest('hex');
    const ik = toBase64(req.identityKey);
    const wk = toBase64(req.wireguardKey);
    for (const r of db.certificates) {
      const st = statusOf(r, now);
      if (r.id === req.name.id) {
        if (renewing === undefined && (st === 'active' || st === 'not-yet-valid')) {
          throw new PkiError('ERR_PKI_DUPLICATE_IDENTITY', `member ${r.id} already holds a current certificate (serial ${r.serial}); renew or revoke it instead`, { details: { id: r.id, serial: r.serial } });
        }
        continue;
      }
      if (r.tlsKeySha256 === tlsKeySha256 || r.identityKey === ik || r.wireguardKey === wk) {
        throw new PkiError('ERR_PKI_DUPLICATE_IDENTITY', `the request reuses keys already enrolled for member ${r.id}`, { details: { id: r.id } });
      }
    }
    if (req.name.role === 'aggregator' && req.dnsNames.length + req.ipAddresses.length > 8) {
      throw new PkiError('ERR_PKI_BAD_CSR', 'too many DNS/IP names');
    }
  }

  async #issue(db: CaDb, req: VerifiedRequest, opts: SignOptions, now: Date): Promise<IssuedCertificate> {
    const key = this.#requireKey();
    const days = opts.validityDays ?? this.config.memberValidityDays;
    assertInt('validityDays', days, 1, MAX_MEMBER_DAYS);
    const notBefore = opts.notBefore ?? new Date(now.getTime() - CLOCK_SKEW_MS);
    const notAfter = opts.notAfter ?? new Date(now.getTime() + days * DAY);
    if (!(notAfter.getTime() > notBefore.getTime())) throw new InvalidArgumentError('notAfter', 'must be after notBefore');
    if (notAfter.getTime() - notBefore.getTime() > MAX_MEMBER_DAYS * DAY) throw new InvalidArgumentError('validity', `at most ${MAX_MEMBER_DAYS} days`);
    if (notAfter.getTime() > this.certificate.notAfter.getTime()) throw new InvalidArgumentError('notAfter', 'a member certificate cannot outlive the CA certificate');
    const serial = newSerial(this.#rng);
    const alg = this.config.algorithm;
    const ski = new x509.SubjectKeyIdentifierExtension(createHash('sha1').update(req.tlsSpki).digest('hex'));
    const caSki = this.certificate.parsed.getExtension(x509.SubjectKeyIdentifierExtension);
    const san: Array<{ type: 'url' | 'dns' | 'ip'; value: string }> = [
      { type: 'url', value: memberUri(req.name) },
      ...req.dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...req.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ];
    const eku = req.name.role === 'aggregator' ? [EKU_SERVER, EKU_CLIENT] : [EKU_CLIENT];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: [{ CN: [req.name.id] }, { OU: [req.name.role] }, { O: [this.federation] }],
      issuer: this.certificate.parsed.subjectName,
      notBefore,
      notAfter,
      publicKey: req.publicKey,
      signingKey: (await toWebPrivateKey(key, alg)) as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[0] extends { signingKey: infer K } ? K : never,
      signingAlgorithm: webAlgorithm(alg).signParams as Parameters<typeof x509.X509CertificateGenerator.create>[0]['signingAlgorithm'],
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(eku, false),
        new x509.SubjectAlternativeNameExtension(san, false),
        ski,
        ...(caSki ? [new x509.AuthorityKeyIdentifierExtension(caSki.keyId)] : []),
        new x509.Extension(OID_IDENTITY_KEY, false, derOctetString(req.identityKey)),
        new x509.Extension(OID_WIREGUARD_KEY, false, derOctetString(req.wireguardKey)),
      ],
    } as Parameters<typeof x509.X509CertificateGenerator.create>[0]);
    const certPem = toPem(new Uint8Array(cert.rawData), 'CERTIFICATE');
    const info = parseCertificate(certPem);
    const record: CertificateRecord = {
      serial: info.serial,
      id: req.name.id,
      role: req.name.role,
      issuedAt: now.toISOString(),
      notBefore: info.notBefore.toISOString(),
      notAfter: info.notAfter.toISOString(),
      fingerprint256: info.fingerprint256,
      tlsKeySha256: createHash('sha256').update(req.tlsSpki).digest('hex'),
      identityKey: toBase64(req.identityKey),
      wireguardKey: toBase64(req.wireguardKey),
      dnsNames: req.dnsNames,
      ipAddresses: req.ipAddresses,
    };
    await mkdir(join(this.dir, FILES.certs), { recursive: true, mode: 0o755 });
    await writeFileAtomic(join(this.dir, FILES.certs, `${record.serial}.pem`), certPem, PUBLIC_MODE);
    db.certificates.push(record);
    await this.#writeDb(db);
    return { record, certPem, caPem: this.certificatePem };
  }

  /**
   * Renews the current certificate of member `ref` (id or serial) before it expires: with a new
   * CSR (key rotation; same id and role required) or, without one, for the same keys. The old
   * certificate becomes `superseded`; with `revokeOld` it is also revoked (reason superseded).
   */
  async renew(ref: string, opts: { csr?: string | Uint8Array; validityDays?: number; revokeOld?: boolean; now?: Date } = {}): Promise<IssuedCertificate> {
    this.#requireKey();
    const now = opts.now ?? new Date();
    const fromCsr = opts.csr !== undefined ? await verifyCsr(opts.csr) : undefined;
    const issued = await withLock(this.dir, async () => {
      const db = await this.#readDb();
      const current = this.#resolve(db, ref).filter((r) => {
        const st = statusOf(r, now);
        return st === 'active' || st === 'not-yet-valid';
      });
      if (current.length === 0) {
        const all = this.#resolve(db, ref);
        const st = statusOf(all[all.length - 1]!, now);
        if (st === 'revoked') throw new PkiError('ERR_PKI_REVOKED', `the certificate of ${ref} is revoked; enroll the member again with a new request`);
        throw new PkiError('ERR_PKI_EXPIRED', `${ref} has no current certificate (${st}); enroll again with a new request`);
      }
      const old = current[current.length - 1]!;
      let req: VerifiedRequest;
      if (fromCsr) {
        this.#checkRequest(fromCsr, { expectId: old.id, expectRole: old.role });
        req = fromCsr;
      } else {
        const oldInfo = parseCertificate(await this.certificateBySerial(old.serial));
        req = await this.#requestFromCertificate(oldInfo);
      }
      this.#checkDuplicates(db, req, now, old.id);
      const result = await this.#issue(db, req, { validityDays: opts.validityDays }, now);
      const db2 = await this.#readDb();
      db2.certificates = db2.certificates.map((r) =>
        r.serial === old.serial
          ? { ...r, supersededBy: result.record.serial, ...(opts.revokeOld ? { revoked: { at: now.toISOString(), reason: 'superseded' as const } } : {}) }
          : r,
      );
      if (opts.revokeOld) await this.#publishCrl(db2, now);
      else await this.#writeDb(db2);
      return result;
    });
    return issued;
  }

  async #requestFromCertificate(c: CertificateInfo): Promise<VerifiedRequest> {
    if (!c.member || !c.identityKey || !c.wireguardKey) throw new PkiError('ERR_PKI_CORRUPT_STATE', 'stored certificate lacks fedsec fields');
    const pub = createPublicKey({ key: Buffer.from(c.spki), format: 'der', type: 'spki' });
    return {
      name: c.member,
      dnsNames: c.dnsNames,
      ipAddresses: c.ipAddresses,
      tlsPublicKey: pub,
      tlsSpki: c.spki,
      identityKey: c.identityKey,
      wireguardKey: c.wireguardKey,
      publicKey: c.parsed.publicKey,
    };
  }

  /**
   * Revokes the certificate with serial `ref`, or every unrevoked certificate of member `ref`,
   * and publishes a new CRL. Returns the revoked records and the CRL (PEM).
   */
  async revoke(ref: string, reason: RevocationReason, opts: { now?: Date } = {}): Promise<{ revoked: CertificateRecord[]; crlPem: string }> {
    this.#requireKey();
    if (!REVOCATION_REASONS.includes(reason)) throw new InvalidArgumentError('reason', `must be one of ${REVOCATION_REASONS.join(', ')}`);
    const now = opts.now ?? new Date();
    const revoked = await withLock(this.dir, async (): Promise<{ revoked: CertificateRecord[]; crlPem: string }> => {
      const db = await this.#readDb();
      const targets = new Set(this.#resolve(db, ref).filter((r) => !r.revoked).map((r) => r.serial));
      if (targets.size === 0) throw new PkiError('ERR_PKI_REVOKED', `${ref} is already revoked`);
      const out: CertificateRecord[] = [];
      db.certificates = db.certificates.map((r) => {
        if (!targets.has(r.serial)) return r;
        const n = { ...r, revoked: { at: now.toISOString(), reason } };
        out.push(n);
        return n;
      });
      const crlPem = await this.#publishCrl(db, now);
      return { revoked: out, crlPem };
    });
    return revoked;
  }

  /** Issues a fresh CRL (thisUpdate now, nextUpdate now + crlValidityHours, next CRL number) and writes crl.pem. */
  async issueCrl(opts: { now?: Date } = {}): Promise<string> {
    this.#requireKey();
    const now = opts.now ?? new Date();
    return withLock(this.dir, async () => this.#publishCrl(await this.#readDb(), now));
  }

  /** With the lock held: signs the CRL for `db` with the next number, writes crl.pem, then db.json. */
  async #publishCrl(db: CaDb, now: Date): Promise<string> {
    const key = this.#requireKey();
    db.crlNumber += 1;
    const pem = await buildCrl(this.certificate.parsed, key, this.config, db, db.crlNumber, now);
    await writeFileAtomic(join(this.dir, FILES.crl), pem, PUBLIC_MODE);
    await this.#writeDb(db);
    return pem;
  }

  /** The current CRL (PEM). */
  async currentCrl(): Promise<string> {
    return readText(this.crlPath, 'CRL');
  }

  /** Increments and returns the roster version (monotonic, so parties can refuse rollbacks). */
  async nextRosterVersion(): Promise<number> {
    return withLock(this.dir, async () => {
      const db = await this.#readDb();
      db.rosterVersion += 1;
      await this.#writeDb(db);
      return db.rosterVersion;
    });
  }
}
