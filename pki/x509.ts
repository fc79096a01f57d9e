/**
 * X.509 plumbing on top of @peculiar/x509 (WebCrypto-based: issues ECDSA and Ed25519
 * certificates, parses and verifies PKCS#10 CSRs, produces CRLs). This module configures the
 * library once, defines fedsec's private extensions and the member URI, and converts between
 * node:crypto KeyObjects and WebCrypto keys.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { ROLES, type Role } from '../crypto/roster.ts';
import { ID_PATTERN } from '../common/validate.ts';
import { PkiError } from './errors.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** A WebCrypto key (node:crypto's webcrypto implementation). */
export type WebKey = webcrypto.CryptoKey;

export { x509 };

/**
 * Private OID arc of fedsec, minted without registration from the random UUID
 * 9c6631cf-204a-4902-a65c-1d185a162998 under Microsoft's UUID arc 1.2.840.113556.1.8000.2554
 * (the UUID split into 16/16/16/16/16/24/24-bit decimal components). The ITU 2.25.<uuid> form
 * would be the textbook choice, but its 128-bit arc is mis-encoded by asn1js (under
 * @peculiar/x509), so it cannot be used.
 */
export const FEDSEC_OID_ARC = '1.2.840.113556.1.8000.2554.40038.12751.8266.18690.42588.1906778.1452440';
/** Extension: the member's Ed25519 identity public key (OCTET STRING, 32 bytes). */
export const OID_IDENTITY_KEY = `${FEDSEC_OID_ARC}.1`;
/** Extension: the member's WireGuard (X25519) public key (OCTET STRING, 32 bytes). */
export const OID_WIREGUARD_KEY = `${FEDSEC_OID_ARC}.2`;
/** CSR-only extension: Ed25519 proof of possession of the identity key (OCTET STRING, 64 bytes). */
export const OID_IDENTITY_POP = `${FEDSEC_OID_ARC}.3`;
/** X.509 CRL number extension. */
export const OID_CRL_NUMBER = '2.5.29.20';

/** Signature algorithm of the CA key. */
export type CaAlgorithm = 'ecdsa-p256' | 'ed25519';

/** WebCrypto parameters (import, sign) for a CA algorithm. */
export function webAlgorithm(alg: CaAlgorithm): { importParams: webcrypto.EcKeyImportParams | webcrypto.Algorithm; signParams: webcrypto.EcdsaParams | webcrypto.Algorithm } {
  return alg === 'ecdsa-p256'
    ? { importParams: { name: 'ECDSA', namedCurve: 'P-256' } as webcrypto.EcKeyImportParams, signParams: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams }
    : { importParams: { name: 'Ed25519' }, signParams: { name: 'Ed25519' } };
}

/** Imports a node:crypto private KeyObject as a non-extractable WebCrypto signing key. */
export async function toWebPrivateKey(key: KeyObject, alg: CaAlgorithm): Promise<WebKey> {
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return (await webcrypto.subtle.importKey('pkcs8', der, webAlgorithm(alg).importParams, false, ['sign'])) as WebKey;
}

/** Imports a node:crypto public KeyObject as a WebCrypto verification key. */
export async function toWebPublicKey(key: KeyObject, alg: CaAlgorithm): Promise<WebKey> {
  const der = key.export({ type: 'spki', format: 'der' });
  return (await webcrypto.subtle.importKey('spki', der, webAlgorithm(alg).importParams, true, ['verify'])) as WebKey;
}

/** Which CA algorithm a public key belongs to (ERR_PKI_BAD_CERT for anything else). */
export function algorithmOf(key: KeyObject): CaAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  throw new PkiError('ERR_PKI_BAD_CERT', `unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`);
}

/** The identity a member certificate asserts. */
export interface MemberName {
  readonly federation: string;
  readonly role: Role;
  readonly id: string;
}

/** `urn:fedsec:<federation>:<role>:<id>`: the SAN URI naming a member. */
export function memberUri(n: MemberName): string {
  return `urn:fedsec:${n.federation}:${n.role}:${n.id}`;
}

/**
 * Parses a member URI; null if it is not a fedsec URI at all. A fedsec URI with an unknown role
 * is ERR_PKI_WRONG_ROLE; malformed federation or id is ERR_PKI_WRONG_IDENTITY.
 */
export function parseMemberUri(uri: string): MemberName | null {
  if (!uri.startsWith('urn:fedsec:')) return null;
  const parts = uri.slice('urn:fedsec:'.length).split(':');
  if (parts.length !== 3) throw new PkiError('ERR_PKI_WRONG_IDENTITY', 'malformed fedsec member URI');
  const [federation, role, id] = parts as [string, string, string];
  if (!ID_PATTERN.test(federation) || !ID_PATTERN.test(id)) throw new PkiError('ERR_PKI_WRONG_IDENTITY', 'malformed federation or member id in the member URI');
  if (!(ROLES as readonly string[]).includes(role)) throw new PkiError('ERR_PKI_WRONG_ROLE', `unknown role ${JSON.stringify(role.slice(0, 40))} in the member URI`);
  return { federation, role: role as Role, id };
}

/** Extracts the single fedsec member name from SAN entries (ERR_PKI_WRONG_IDENTITY if none or several). */
export function memberNameFromSan(ext: x509.Extension | null | undefined): MemberName {
  if (!ext) throw new PkiError('ERR_PKI_WRONG_IDENTITY', 'no subjectAltName with a fedsec member URI');
  const san = ext instanceof x509.SubjectAlternativeNameExtension ? ext : new x509.SubjectAlternativeNameExtension(ext.rawData);
  const names = san.names.items.filter((n) => n.type === 'url').map((n) => parseMemberUri(n.value)).filter((n): n is MemberName => n !== null);
  if (names.length !== 1) throw new PkiError('ERR_PKI_WRONG_IDENTITY', `expected exactly one fedsec member URI, found ${names.length}`);
  return names[0]!;
}

/** DNS and IP SAN entries (for TLS hostname checks). */
export function altNames(ext: x509.Extension | null | undefined): { dns: string[]; ip: string[] } {
  if (!ext) return { dns: [], ip: [] };
  const san = ext instanceof x509.SubjectAlternativeNameExtension ? ext : new x509.SubjectAlternativeNameExtension(ext.rawData);
  return {
    dns: san.names.items.filter((n) => n.type === 'dns').map((n) => n.value),
    ip: san.names.items.filter((n) => n.type === 'ip').map((n) => n.value),
  };
}

/** PEM-encodes DER bytes under `label`. */
export function toPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/** Decodes the first PEM block with `label` (or DER bytes as they are). Throws `code` on failure. */
export function fromPem(input: string | Uint8Array, label: string, code: 'ERR_PKI_BAD_CERT' | 'ERR_PKI_BAD_CSR' | 'ERR_PKI_BAD_CRL'): Uint8Array {
  if (input instanceof Uint8Array) {
    const head = Buffer.from(input.subarray(0, 11)).toString('latin1');
    if (!head.startsWith('-----BEGIN')) return input;
    input = Buffer.from(input).toString('utf8');
  }
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`);
  const m = re.exec(input);
  if (!m) throw new PkiError(code, `no ${label} PEM block found`);
  return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

/** The 32-byte value of a fedsec key extension, or null if absent. */
export function keyExtension(exts: readonly x509.Extension[], oid: string, length: number, field: string, code: 'ERR_PKI_BAD_CERT' | 'ERR_PKI_BAD_CSR'): Uint8Array | null {
  const found = exts.filter((e) => e.type === oid);
  if (found.length === 0) return null;
  if (found.length > 1) throw new PkiError(code, `${field}: extension appears more than once`);
  const der = new Uint8Array(found[0]!.value);
  if (der.length !== length + 2 || der[0] !== 0x04 || der[1] !== length) throw new PkiError(code, `${field}: expected a ${length}-byte OCTET STRING`);
  return der.slice(2);
}

/** The public key of a certificate or CSR as a node:crypto KeyObject. */
export function publicKeyObject(spkiDer: ArrayBuffer | Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(spkiDer instanceof ArrayBuffer ? new Uint8Array(spkiDer) : spkiDer), format: 'der', type: 'spki' });
}

/** Normalizes a hex serial number: lowercase, no colons, no leading zero bytes. */
export function normalizeSerial(serial: string): string {
  const s = serial.replace(/:/g, '').toLowerCase().replace(/^(00)+(?=.)/, '');
  if (!/^[0-9a-f]+$/.test(s)) throw new PkiError('ERR_PKI_NOT_FOUND', 'not a hexadecimal serial number');
  return s;
}
