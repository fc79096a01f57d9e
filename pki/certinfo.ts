/** Synchronous parsing of certificates into the fields fedsec checks. */
import { createHash } from 'node:crypto';
import { PkiError } from './errors.ts';
import { altNames, fromPem, keyExtension, memberNameFromSan, OID_IDENTITY_KEY, OID_WIREGUARD_KEY, normalizeSerial, toPem, x509, type MemberName } from './x509.ts';

/** The fields of a parsed certificate. */
export interface CertificateInfo {
  readonly pem: string;
  readonly der: Uint8Array;
  /** Normalized lowercase hex serial. */
  readonly serial: string;
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 of the DER certificate, hex. */
  readonly fingerprint256: string;
  /** DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  readonly isCa: boolean;
  /** The fedsec member URI, or null for certificates without one (e.g. the CA). */
  readonly member: MemberName | null;
  /** Why a fedsec member URI present in the certificate was refused (e.g. an unknown role). */
  readonly memberError?: PkiError;
  readonly identityKey: Uint8Array | null;
  readonly wireguardKey: Uint8Array | null;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly parsed: x509.X509Certificate;
}

/**
 * Parses a PEM or DER certificate (ERR_PKI_BAD_CERT if it does not parse). A fedsec URI with an
 * unknown role or malformed name leaves `member` null and is reported in `memberError`, so that
 * callers check the signature before trusting (or reporting) anything the certificate says.
 */
export function parseCertificate(input: string | Uint8Array): CertificateInfo {
  const der = fromPem(input, 'CERTIFICATE', 'ERR_PKI_BAD_CERT');
  let c: x509.X509Certificate;
  try {
    c = new x509.X509Certificate(der);
  } catch (e) {
    throw new PkiError('ERR_PKI_BAD_CERT', 'not a parseable X.509 certificate', { cause: e });
  }
  const exts = c.extensions;
  const sanExt = exts.find((e) => e.type === '2.5.29.17');
  let member: MemberName | null = null;
  let memberError: PkiError | undefined;
  if (sanExt) {
    try {
      member = memberNameFromSan(sanExt);
    } catch (e) {
      memberError = e instanceof PkiError ? e : new PkiError('ERR_PKI_WRONG_IDENTITY', 'unreadable subjectAltName', { cause: e });
    }
  }
  const bc = exts.find((e) => e.type === '2.5.29.19');
  const isCa = bc ? new x509.BasicConstraintsExtension(bc.rawData).ca : false;
  const sans = altNames(sanExt);
  return {
    pem: toPem(der, 'CERTIFICATE'),
    der,
    serial: normalizeSerial(c.serialNumber),
    subject: c.subject,
    issuer: c.issuer,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    fingerprint256: createHash('sha256').update(der).digest('hex'),
    spki: new Uint8Array(c.publicKey.rawData),
    isCa,
    member,
    ...(memberError !== undefined ? { memberError } : {}),
    identityKey: keyExtension(exts, OID_IDENTITY_KEY, 32, 'identity key', 'ERR_PKI_BAD_CERT'),
    wireguardKey: keyExtension(exts, OID_WIREGUARD_KEY, 32, 'WireGuard key', 'ERR_PKI_BAD_CERT'),
    dnsNames: sans.dns,
    ipAddresses: sans.ip,
    parsed: c,
  };
}
