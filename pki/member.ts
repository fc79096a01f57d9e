/**
 * The member side of enrollment: generate keys and a CSR locally (`fedsec pki request`), install
 * the signed certificate (`fedsec pki install`), and load credentials for services: TLS key +
 * certificate + CA certificate for gRPC, the Ed25519 identity key, the WireGuard key.
 *
 * Member directory layout (private keys 0600, directory 0700):
 *   member.json        federation, role, id and public keys
 *   tls.key.pem        ECDSA P-256 TLS private key (PKCS#8)
 *   identity.key.pem   Ed25519 identity private key (PKCS#8)
 *   wireguard.key      WireGuard private key (base64, as `wg genkey` prints it)
 *   request.csr.pem    the CSR to send to the PKI admin
 *   cert.pem, ca.pem   after `install`: the member certificate and the federation CA certificate
 */
import { createPublicKey, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fromBase64, toBase64, equalBytes } from '../crypto/bytes.ts';
import { systemRandom, type RandomSource } from '../crypto/random.ts';
import type { Role } from '../crypto/roster.ts';
import { PkiError } from './errors.ts';
import { PUBLIC_MODE, readText, SECRET_MODE, writeDirAtomic, writeFileAtomic } from './files.ts';
import { generateMemberKeys, loadPrivateKeyPem, parseWireguardKey, rawEd25519Public, wireguardPublicKey } from './keys.ts';
import { buildCsr, validateSubject, type RequestSubject } from './request.ts';
import { parseCertificate, type CertificateInfo } from './certinfo.ts';

/** Public description of a member, stored as member.json. */
export interface MemberInfo {
  readonly federation: string;
  readonly role: Role;
  readonly id: string;
  /** Ed25519 identity public key, base64 (32 bytes). */
  readonly identityKey: string;
  /** WireGuard public key, base64. */
  readonly wireguardKey: string;
  readonly createdAt: string;
}

/** File names inside a member directory. */
export const MEMBER_FILES = {
  info: 'member.json',
  tlsKey: 'tls.key.pem',
  identityKey: 'identity.key.pem',
  wireguardKey: 'wireguard.key',
  csr: 'request.csr.pem',
  cert: 'cert.pem',
  ca: 'ca.pem',
} as const;

/** Result of {@link createMemberRequest}. */
export interface MemberRequest {
  readonly info: MemberInfo;
  /** PEM CSR to hand to the PKI admin. */
  readonly csrPem: string;
  /** Directory written, when one was given. */
  readonly dir?: string;
}

/**
 * Generates a member's TLS, identity and WireGuard keys and its CSR. With `dir`, writes the
 * member directory all or nothing (it must not exist or be empty: keys are never overwritten).
 */
export async function createMemberRequest(subject: RequestSubject & { dir?: string }, rng: RandomSource = systemRandom): Promise<MemberRequest> {
  validateSubject(subject);
  const keys = generateMemberKeys(rng);
  const csrPem = await buildCsr(subject, { ...keys, wireguardPublicKey: keys.wireguard.publicKey });
  const info: MemberInfo = {
    federation: subject.federation,
    role: subject.role,
    id: subject.id,
    identityKey: toBase64(keys.identityPublicKey),
    wireguardKey: keys.wireguard.publicKey,
    createdAt: new Date().toISOString(),
  };
  if (subject.dir !== undefined) {
    await writeDirAtomic(subject.dir, [
      { name: MEMBER_FILES.info, data: JSON.stringify(info, null, 2) + '\n', mode: PUBLIC_MODE },
      { name: MEMBER_FILES.tlsKey, data: keys.tlsPrivateKey.export({ type: 'pkcs8', format: 'pem' }), mode: SECRET_MODE },
      { name: MEMBER_FILES.identityKey, data: keys.identityPrivateKey.export({ type: 'pkcs8', format: 'pem' }), mode: SECRET_MODE },
      { name: MEMBER_FILES.wireguardKey, data: keys.wireguard.privateKey + '\n', mode: SECRET_MODE },
      { name: MEMBER_FILES.csr, data: csrPem, mode: PUBLIC_MODE },
    ]);
    return { info, csrPem, dir: subject.dir };
  }
  return { info, csrPem };
}

/** Reads member.json (ERR_PKI_NOT_FOUND / ERR_PKI_CORRUPT_STATE). */
export async function loadMemberInfo(dir: string): Promise<MemberInfo> {
  const text = await readText(join(dir, MEMBER_FILES.info), 'member.json');
  let j: MemberInfo;
  try {
    j = JSON.parse(text) as MemberInfo;
    validateSubject(j);
    if (fromBase64(j.identityKey).length !== 32) throw new Error('identity key');
    parseWireguardKey(j.wireguardKey);
  } catch (e) {
    throw new PkiError('ERR_PKI_CORRUPT_STATE', `${join(dir, MEMBER_FILES.info)} is not a valid member description`, { cause: e });
  }
  return j;
}

/** Loads the TLS private key of a member directory (ERR_PKI_CORRUPT_KEY if damaged). */
export async function loadTlsKey(dir: string): Promise<KeyObject> {
  return loadPrivateKeyPem(await readText(join(dir, MEMBER_FILES.tlsKey), 'TLS private key'), 'ec', MEMBER_FILES.tlsKey);
}

/** Loads the Ed25519 identity private key, checking it matches member.json. */
export async function loadIdentityKey(dir: string): Promise<{ privateKey: KeyObject; publicKey: Uint8Array }> {
  const info = await loadMemberInfo(dir);
  const privateKey = loadPrivateKeyPem(await readText(join(dir, MEMBER_FILES.identityKey), 'identity private key'), 'ed25519', MEMBER_FILES.identityKey);
  const publicKey = rawEd25519Public(createPublicKey(privateKey));
  if (!equalBytes(publicKey, fromBase64(info.identityKey))) throw new PkiError('ERR_PKI_KEY_MISMATCH', 'identity.key.pem does not match member.json');
  return { privateKey, publicKey };
}

/** Loads the WireGuard private key (base64), checking it matches member.json. */
export async function loadWireguardPrivateKey(dir: string): Promise<string> {
  const info = await loadMemberInfo(dir);
  const text = (await readText(join(dir, MEMBER_FILES.wireguardKey), 'WireGuard private key')).trim();
  let pub: string;
  try {
    pub = wireguardPublicKey(text);
  } catch (e) {
    throw new PkiError('ERR_PKI_CORRUPT_KEY', `${MEMBER_FILES.wireguardKey} is corrupted`, { cause: e });
  }
  if (pub !== info.wireguardKey) throw new PkiError('ERR_PKI_KEY_MISMATCH', 'wireguard.key does not match member.json');
  return text;
}

/**
 * Installs a signed certificate and the CA certificate into a member directory after checking
 * that the certificate is issued by that CA, certifies this member's TLS key, names this member
 * and carries its identity and WireGuard keys (ERR_PKI_KEY_MISMATCH / ERR_PKI_UNTRUSTED).
 */
export async function installCertificate(dir: string, certPem: string, caPem: string): Promise<CertificateInfo> {
  const info = await loadMemberInfo(dir);
  const cert = parseCertificate(certPem);
  const ca = parseCertificate(caPem);
  const nodeCert = new NodeX509(cert.der);
  if (!nodeCert.checkIssued(new NodeX509(ca.der)) || !nodeCert.verify(new NodeX509(ca.der).publicKey)) {
    throw new PkiError('ERR_PKI_UNTRUSTED', 'the certificate is not signed by the given CA certificate');
  }
  const tlsKey = await loadTlsKey(dir);
  const spki = createPublicKey(tlsKey).export({ type: 'spki', format: 'der' });
  if (!Buffer.from(cert.spki).equals(spki)) throw new PkiError('ERR_PKI_KEY_MISMATCH', 'the certificate does not certify this member\'s TLS key');
  const n = cert.member;
  if (!n || n.federation !== info.federation || n.role !== info.role || n.id !== info.id) throw new PkiError('ERR_PKI_KEY_MISMATCH', 'the certificate names a different member');
  if (!cert.identityKey || toBase64(cert.identityKey) !== info.identityKey || !cert.wireguardKey || toBase64(cert.wireguardKey) !== info.wireguardKey) {
    throw new PkiError('ERR_PKI_KEY_MISMATCH', 'the certificate carries different identity or WireGuard keys');
  }
  await writeFileAtomic(join(dir, MEMBER_FILES.ca), ca.pem, PUBLIC_MODE);
  await writeFileAtomic(join(dir, MEMBER_FILES.cert), cert.pem, PUBLIC_MODE);
  return cert;
}

/** TLS material for gRPC / node:tls: `grpc.credentials.createSsl(ca, key, cert)` and `createSsl`-style servers. */
export interface TlsCredentials {
  /** The member's TLS private key (PEM). */
  readonly key: Buffer;
  /** The member certificate chain (PEM; fedsec issues directly from the root, so one certificate). */
  readonly cert: Buffer;
  /** The federation CA certificate (PEM), the only trust anchor. */
  readonly ca: Buffer;
  readonly member: MemberInfo;
}

/** Loads a member's TLS key, certificate and CA certificate (ERR_PKI_NOT_FOUND before `install`). */
export async function loadTlsCredentials(dir: string): Promise<TlsCredentials> {
  const member = await loadMemberInfo(dir);
  await loadTlsKey(dir);
  const read = async (f: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(join(dir, f));
    } catch {
      throw new PkiError('ERR_PKI_NOT_FOUND', `${what} not found in ${dir}; run \`fedsec pki install\` first`);
    }
  };
  return { key: await read(MEMBER_FILES.tlsKey, 'TLS key'), cert: await read(MEMBER_FILES.cert, 'certificate'), ca: await read(MEMBER_FILES.ca, 'CA certificate'), member };
}

/**
 * Enrolls a member in-process, for demos and tests where admin and member share a machine:
 * generates the member's keys in `dir`, has `ca` (unlocked) sign the request for exactly that
 * role and id, and installs the certificate. Equivalent to `pki request`, `pki sign`, `pki install`;
 * if signing fails, the member directory is removed again.
 */
export async function enrollLocally(
  ca: { federation: string; sign(csr: string, opts: { expectRole: Role; expectId: string }): Promise<{ certPem: string; caPem: string; record: { serial: string; notAfter: string } }> },
  subject: Omit<RequestSubject, 'federation'> & { dir: string },
  rng: RandomSource = systemRandom,
): Promise<{ info: MemberInfo; dir: string; serial: string; notAfter: string }> {
  const req = await createMemberRequest({ ...subject, federation: ca.federation }, rng);
  let issued;
  try {
    issued = await ca.sign(req.csrPem, { expectRole: subject.role, expectId: subject.id });
    await installCertificate(subject.dir, issued.certPem, issued.caPem);
  } catch (e) {
    // The directory was created by this call (it had to be absent or empty): leave nothing behind.
    await rm(subject.dir, { recursive: true, force: true });
    throw e;
  }
  return { info: req.info, dir: subject.dir, serial: issued.record.serial, notAfter: issued.record.notAfter };
}
