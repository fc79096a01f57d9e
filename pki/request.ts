/**
 * Certificate signing requests. A member builds its CSR locally: the TLS key signs it (PKCS#10),
 * and it carries, as requested extensions, the SAN URI `urn:fedsec:<federation>:<role>:<id>`,
 * the Ed25519 identity public key, the WireGuard public key, and an Ed25519 proof of possession
 * of the identity key over all of them. The CSR signature thereby binds the WireGuard and
 * identity keys to the member's name; the proof shows the identity private key is held too.
 */
import { isIP } from 'node:net';
import type { KeyObject } from 'node:crypto';
import { assertString, ID_PATTERN } from '../common/validate.ts';
import { ROLES } from '../crypto/roster.ts';
import { InvalidArgumentError } from '../common/errors.ts';
import { derOctetString } from './der.ts';
import { PkiError } from './errors.ts';
import { ed25519Sign, ed25519Verify, identityPopMessage, parseWireguardKey } from './keys.ts';
import {
  altNames, fromPem, keyExtension, memberNameFromSan, memberUri, OID_IDENTITY_KEY, OID_IDENTITY_POP, OID_WIREGUARD_KEY,
  publicKeyObject, toWebPrivateKey, toWebPublicKey, x509, type MemberName,
} from './x509.ts';

/** What a CSR asks for. */
export interface RequestSubject extends MemberName {
  /** Extra DNS names for TLS server certificates (e.g. the aggregator's host name). */
  readonly dnsNames?: readonly string[];
  /** Extra IP addresses for TLS server certificates (e.g. the aggregator's mesh address). */
  readonly ipAddresses?: readonly string[];
}

const DNS_PATTERN = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Validates federation, role, id and optional SANs (ERR_INVALID_ARGUMENT / ERR_PKI_WRONG_ROLE). */
export function validateSubject(s: RequestSubject): void {
  assertString('federation', s.federation, 128, ID_PATTERN);
  assertString('id', s.id, 128, ID_PATTERN);
  if (!(ROLES as readonly string[]).includes(s.role)) throw new PkiError('ERR_PKI_WRONG_ROLE', `role must be one of ${ROLES.join(', ')}`);
  for (const d of s.dnsNames ?? []) if (typeof d !== 'string' || !DNS_PATTERN.test(d)) throw new InvalidArgumentError('dnsNames', 'not a DNS name');
  for (const ip of s.ipAddresses ?? []) if (typeof ip !== 'string' || isIP(ip) === 0) throw new InvalidArgumentError('ipAddresses', 'not an IP address');
}

/** Builds and signs a CSR with the member's keys. */
export async function buildCsr(
  subject: RequestSubject,
  keys: { tlsPrivateKey: KeyObject; tlsPublicKey: KeyObject; identityPrivateKey: KeyObject; identityPublicKey: Uint8Array; wireguardPublicKey: string },
): Promise<string> {
  validateSubject(subject);
  const wg = parseWireguardKey(keys.wireguardPublicKey, 'wireguardPublicKey');
  const tlsSpki = new Uint8Array(keys.tlsPublicKey.export({ type: 'spki', format: 'der' }));
  const pop = ed25519Sign(keys.identityPrivateKey, identityPopMessage({ ...subject, tlsSpki, identityKey: keys.identityPublicKey, wireguardKey: wg }));
  const san = [
    { type: 'url' as const, value: memberUri(subject) },
    ...(subject.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(subject.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [subject.id] }, { O: [subject.federation] }, { OU: [subject.role] }],
    keys: { privateKey: await toWebPrivateKey(keys.tlsPrivateKey, 'ecdsa-p256'), publicKey: await toWebPublicKey(keys.tlsPublicKey, 'ecdsa-p256') } as unknown as CryptoKeyPairLike,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]['signingAlgorithm'],
    extensions: [
      new x509.SubjectAlternativeNameExtension(san, false),
      new x509.Extension(OID_IDENTITY_KEY, false, derOctetString(keys.identityPublicKey)),
      new x509.Extension(OID_WIREGUARD_KEY, false, derOctetString(wg)),
      new x509.Extension(OID_IDENTITY_POP, false, derOctetString(pop)),
    ],
  });
  return csr.toString('pem');
}

type CryptoKeyPairLike = Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]['keys'];

/** A CSR whose signature and identity proof have been verified. */
export interface VerifiedRequest {
  readonly name: MemberName;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  /** The TLS public key (ECDSA P-256) the certificate will certify. */
  readonly tlsPublicKey: KeyObject;
  readonly tlsSpki: Uint8Array;
  readonly identityKey: Uint8Array;
  readonly wireguardKey: Uint8Array;
  /** The TLS public key in @peculiar/x509 form, for the certificate generator. */
  readonly publicKey: x509.PublicKey;
}

/**
 * Parses and verifies a CSR (PEM or DER): PKCS#10 signature (ERR_PKI_BAD_SIGNATURE), an
 * ECDSA P-256 key, exactly one fedsec member URI matching the subject CN, the identity and
 * WireGuard keys, and the identity proof of possession (ERR_PKI_BAD_SIGNATURE).
 */
export async function verifyCsr(input: string | Uint8Array): Promise<VerifiedRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(fromPem(input, 'CERTIFICATE REQUEST', 'ERR_PKI_BAD_CSR'));
  } catch (e) {
    if (e instanceof PkiError) throw e;
    throw new PkiError('ERR_PKI_BAD_CSR', 'not a parseable PKCS#10 certificate request', { cause: e });
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch {
    ok = false;
  }
  if (!ok) throw new PkiError('ERR_PKI_BAD_SIGNATURE', 'the CSR signature does not verify (forged or corrupted request)');
  try {
    return checkVerifiedCsr(csr);
  } catch (e) {
    if (e instanceof PkiError || e instanceof InvalidArgumentError) throw e;
    throw new PkiError('ERR_PKI_BAD_CSR', 'malformed content in the CSR', { cause: e });
  }
}

function checkVerifiedCsr(csr: x509.Pkcs10CertificateRequest): VerifiedRequest {
  let tlsPublicKey: KeyObject;
  try {
    tlsPublicKey = publicKeyObject(csr.publicKey.rawData);
  } catch (e) {
    throw new PkiError('ERR_PKI_BAD_CSR', 'unreadable public key in the CSR', { cause: e });
  }
  if (tlsPublicKey.asymmetricKeyType !== 'ec' || tlsPublicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new PkiError('ERR_PKI_BAD_CSR', 'the CSR key must be ECDSA P-256');
  }
  const exts = csr.extensions;
  let name: MemberName;
  try {
    name = memberNameFromSan(exts.find((e) => e.type === '2.5.29.17'));
  } catch (e) {
    if (e instanceof PkiError) throw e;
    throw new PkiError('ERR_PKI_BAD_CSR', 'unreadable subjectAltName in the CSR', { cause: e });
  }
  const cn = csr.subjectName.getField('CN');
  if (cn.length !== 1 || cn[0] !== name.id) throw new PkiError('ERR_PKI_WRONG_IDENTITY', 'the CSR subject CN does not match the member URI');
  const identityKey = keyExtension(exts, OID_IDENTITY_KEY, 32, 'identity key', 'ERR_PKI_BAD_CSR');
  const wireguardKey = keyExtension(exts, OID_WIREGUARD_KEY, 32, 'WireGuard key', 'ERR_PKI_BAD_CSR');
  const pop = keyExtension(exts, OID_IDENTITY_POP, 64, 'identity proof', 'ERR_PKI_BAD_CSR');
  if (!identityKey || !wireguardKey || !pop) throw new PkiError('ERR_PKI_BAD_CSR', 'the CSR lacks the identity key, WireGuard key or identity proof extension');
  const tlsSpki = new Uint8Array(tlsPublicKey.export({ type: 'spki', format: 'der' }));
  if (!ed25519Verify(identityKey, identityPopMessage({ ...name, tlsSpki, identityKey, wireguardKey }), pop)) {
    throw new PkiError('ERR_PKI_BAD_SIGNATURE', 'the identity-key proof of possession does not verify');
  }
  const sans = altNames(exts.find((e) => e.type === '2.5.29.17'));
  validateSubject({ ...name, dnsNames: sans.dns, ipAddresses: sans.ip });
  return { name, dnsNames: sans.dns, ipAddresses: sans.ip, tlsPublicKey, tlsSpki, identityKey, wireguardKey, publicKey: csr.publicKey };
}
