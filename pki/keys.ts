/**
 * Member key material: the TLS key pair (ECDSA P-256), the Ed25519 identity key that signs
 * secure-aggregation messages, and the WireGuard X25519 key pair in WireGuard's base64 format
 * (interoperable with `wg genkey` / `wg pubkey`). Also the identity proof of possession that a
 * CSR carries so the CA knows the member holds the identity private key it names.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { encodeTuple, fromBase64, toBase64 } from '../crypto/bytes.ts';
import { bigIntToBytesBE, randomBigIntBelow, systemRandom, type RandomSource } from '../crypto/random.ts';
import type { Role } from '../crypto/roster.ts';
import { MeshError, PkiError } from './errors.ts';

/** A WireGuard key pair, both halves in WireGuard's base64 text format (44 characters). */
export interface WireguardKeyPair {
  readonly privateKey: string;
  readonly publicKey: string;
}

/** Generates a WireGuard private key like `wg genkey` (32 random bytes, clamped per RFC 7748). */
export function wireguardGenerateKey(rng: RandomSource = systemRandom): string {
  const k = rng.fill(new Uint8Array(32));
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  const out = toBase64(k);
  k.fill(0);
  return out;
}

/** The public key of a WireGuard private key, like `wg pubkey`. */
export function wireguardPublicKey(privateKey: string): string {
  const k = parseWireguardKey(privateKey, 'privateKey');
  try {
    return toBase64(x25519.getPublicKey(k));
  } finally {
    k.fill(0);
  }
}

/** A fresh WireGuard key pair. */
export function wireguardKeyPair(rng: RandomSource = systemRandom): WireguardKeyPair {
  const privateKey = wireguardGenerateKey(rng);
  return { privateKey, publicKey: wireguardPublicKey(privateKey) };
}

/** Decodes a WireGuard base64 key into 32 bytes (ERR_MESH_BAD_KEY otherwise). */
export function parseWireguardKey(b64: string, field = 'key'): Uint8Array {
  const s = typeof b64 === 'string' ? b64.trim() : b64;
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(s, field);
  } catch {
    throw new MeshError('ERR_MESH_BAD_KEY', `${field}: not a WireGuard key (base64 of 32 bytes)`);
  }
  if (bytes.length !== 32) throw new MeshError('ERR_MESH_BAD_KEY', `${field}: not a WireGuard key (base64 of 32 bytes)`);
  return bytes;
}

/** Freshly generated member keys (private halves as PKCS#8 PEM / WireGuard base64). */
export interface MemberKeys {
  readonly tlsPrivateKey: KeyObject;
  readonly tlsPublicKey: KeyObject;
  readonly identityPrivateKey: KeyObject;
  /** Raw 32-byte Ed25519 identity public key. */
  readonly identityPublicKey: Uint8Array;
  readonly wireguard: WireguardKeyPair;
}

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A key pair as node:crypto KeyObjects. */
export interface NodeKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/**
 * An ECDSA P-256 key pair whose secret scalar comes from `rng` (uniform in [1, n-1] by
 * rejection), so all fedsec randomness flows through a RandomSource.
 */
export function generateP256KeyPair(rng: RandomSource = systemRandom): NodeKeyPair {
  const d = bigIntToBytesBE(randomBigIntBelow(P256_N - 1n, rng) + 1n, 32);
  const pub = p256.getPublicKey(d, false);
  const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
  const privateKey = createPrivateKey({ key: { kty: 'EC', crv: 'P-256', d: b64u(d), x: b64u(pub.subarray(1, 33)), y: b64u(pub.subarray(33, 65)) }, format: 'jwk' });
  d.fill(0);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** An Ed25519 key pair whose 32-byte seed comes from `rng`. */
export function generateEd25519KeyPair(rng: RandomSource = systemRandom): NodeKeyPair {
  const seed = rng.fill(new Uint8Array(32));
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  seed.fill(0);
  der.fill(0);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** Generates a member's three key pairs locally, all from `rng`. */
export function generateMemberKeys(rng: RandomSource = systemRandom): MemberKeys {
  const tls = generateP256KeyPair(rng);
  const ident = generateEd25519KeyPair(rng);
  return {
    tlsPrivateKey: tls.privateKey,
    tlsPublicKey: tls.publicKey,
    identityPrivateKey: ident.privateKey,
    identityPublicKey: rawEd25519Public(ident.publicKey),
    wireguard: wireguardKeyPair(rng),
  };
}

/** Raw 32-byte form of an Ed25519 public KeyObject (from its 44-byte SPKI). */
export function rawEd25519Public(key: KeyObject): Uint8Array {
  const der = key.export({ type: 'spki', format: 'der' });
  return new Uint8Array(der.subarray(der.length - 32));
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Ed25519 public KeyObject from raw 32 bytes. */
export function ed25519PublicFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The statement a member's identity key signs in its CSR: it binds every key and the name. */
export function identityPopMessage(p: { federation: string; role: Role; id: string; tlsSpki: Uint8Array; identityKey: Uint8Array; wireguardKey: Uint8Array }): Uint8Array {
  return encodeTuple(['fedsec/pki/identity-pop/v1', p.federation, p.role, p.id, p.tlsSpki, p.identityKey, p.wireguardKey]);
}

/** Ed25519 signature over `msg`. */
export function ed25519Sign(privateKey: KeyObject, msg: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, msg, privateKey));
}

/** Ed25519 verification against a raw 32-byte public key (false on any malformed input). */
export function ed25519Verify(publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  try {
    return verify(null, msg, ed25519PublicFromRaw(publicKey), sig);
  } catch {
    return false;
  }
}

/** Loads a PKCS#8 PEM private key (ERR_PKI_CORRUPT_KEY if it does not parse or has the wrong type). */
export function loadPrivateKeyPem(pem: string, expected: 'ec' | 'ed25519', what: string): KeyObject {
  let k: KeyObject;
  try {
    k = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new PkiError('ERR_PKI_CORRUPT_KEY', `${what} is corrupted or not a PEM private key`, { cause: e });
  }
  if (k.asymmetricKeyType !== expected) throw new PkiError('ERR_PKI_CORRUPT_KEY', `${what} is a ${k.asymmetricKeyType ?? 'unknown'} key, expected ${expected}`);
  return k;
}
