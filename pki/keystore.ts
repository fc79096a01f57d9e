/**
 * Passphrase encryption of the CA private key at rest: scrypt derives 64 bytes from the
 * passphrase and a random salt; the first 32 key AES-256-GCM (random 96-bit nonce, the header
 * as associated data), the last 32 key an HMAC "check" value that tells a wrong passphrase
 * (ERR_PKI_BAD_PASSPHRASE) apart from a corrupted file (ERR_PKI_CORRUPT_KEY). The check value
 * gives an attacker nothing the GCM tag would not: both confirm a guessed passphrase offline,
 * which the scrypt cost is there to slow down.
 */
import { createCipheriv, createDecipheriv, createHmac, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { encodeTuple, fromBase64, toBase64 } from '../crypto/bytes.ts';
import { randomBytes, systemRandom, type RandomSource } from '../crypto/random.ts';
import { InvalidArgumentError } from '../common/errors.ts';
import { PkiError } from './errors.ts';

/** scrypt cost parameters. */
export interface ScryptParams {
  /** CPU/memory cost, a power of two (default 2^15: 32 MiB, roughly 0.1 s). */
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** Default scrypt cost for the CA key. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 1 << 15, r: 8, p: 1 };

/** The JSON document stored in the encrypted key file. */
export interface EncryptedKeyFile {
  readonly format: 'fedsec-encrypted-key/1';
  readonly kdf: { readonly name: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: string };
  readonly aead: { readonly name: 'aes-256-gcm'; readonly nonce: string; readonly tag: string };
  readonly check: string;
  readonly ciphertext: string;
}

const MIN_PASSPHRASE = 8;

function validateParams(p: ScryptParams): void {
  if (!Number.isSafeInteger(p.N) || p.N < 2 || p.N > 1 << 20 || (p.N & (p.N - 1)) !== 0) throw new InvalidArgumentError('scrypt.N', 'must be a power of two in [2, 2^20]');
  if (!Number.isSafeInteger(p.r) || p.r < 1 || p.r > 32) throw new InvalidArgumentError('scrypt.r', 'must be in [1, 32]');
  if (!Number.isSafeInteger(p.p) || p.p < 1 || p.p > 16) throw new InvalidArgumentError('scrypt.p', 'must be in [1, 16]');
}

function derive(passphrase: string, salt: Uint8Array, p: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(passphrase.normalize('NFC'), salt, 64, { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + (1 << 20) }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function header(kdf: EncryptedKeyFile['kdf'], nonce: string): Uint8Array {
  return encodeTuple(['fedsec-encrypted-key/1', 'scrypt', kdf.N, kdf.r, kdf.p, kdf.salt, 'aes-256-gcm', nonce]);
}

/** Checks a new passphrase's minimum length (ERR_INVALID_ARGUMENT). */
export function assertPassphrase(passphrase: unknown): asserts passphrase is string {
  if (typeof passphrase !== 'string' || passphrase.length < MIN_PASSPHRASE) {
    throw new InvalidArgumentError('passphrase', `must be a string of at least ${MIN_PASSPHRASE} characters`);
  }
}

/** Encrypts `plaintext` (a PKCS#8 DER private key) under `passphrase`. */
export async function encryptKey(plaintext: Uint8Array, passphrase: string, params: ScryptParams = DEFAULT_SCRYPT, rng: RandomSource = systemRandom): Promise<EncryptedKeyFile> {
  assertPassphrase(passphrase);
  validateParams(params);
  const salt = randomBytes(16, rng);
  const nonce = randomBytes(12, rng);
  const dk = await derive(passphrase, salt, params);
  try {
    const kdf = { name: 'scrypt' as const, N: params.N, r: params.r, p: params.p, salt: toBase64(salt) };
    const nonceB64 = toBase64(nonce);
    const c = createCipheriv('aes-256-gcm', dk.subarray(0, 32), nonce);
    c.setAAD(header(kdf, nonceB64));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    const check = createHmac('sha256', dk.subarray(32)).update('fedsec-encrypted-key/1 passphrase check').digest();
    return { format: 'fedsec-encrypted-key/1', kdf, aead: { name: 'aes-256-gcm', nonce: nonceB64, tag: toBase64(c.getAuthTag()) }, check: toBase64(check), ciphertext: toBase64(ct) };
  } finally {
    dk.fill(0);
  }
}

function corrupt(why: string): never {
  throw new PkiError('ERR_PKI_CORRUPT_KEY', `encrypted key file is corrupted (${why})`);
}

/** Parses and validates the JSON text of an encrypted key file (ERR_PKI_CORRUPT_KEY). */
export function parseEncryptedKeyFile(text: string): EncryptedKeyFile {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    corrupt('not JSON');
  }
  const o = j as Partial<EncryptedKeyFile> | null;
  if (typeof o !== 'object' || o === null || o.format !== 'fedsec-encrypted-key/1') corrupt('unknown format');
  const k = o.kdf;
  const a = o.aead;
  if (!k || k.name !== 'scrypt' || !a || a.name !== 'aes-256-gcm') corrupt('unknown algorithms');
  try {
    validateParams({ N: k.N, r: k.r, p: k.p });
    for (const [f, v, n] of [['salt', k.salt, 16], ['nonce', a.nonce, 12], ['tag', a.tag, 16], ['check', o.check, 32]] as const) {
      if (fromBase64(v as string, f).length !== n) corrupt(`${f} length`);
    }
    fromBase64(o.ciphertext as string, 'ciphertext');
  } catch (e) {
    if (e instanceof PkiError) throw e;
    corrupt('malformed field');
  }
  return o as EncryptedKeyFile;
}

/** Decrypts an encrypted key file; ERR_PKI_BAD_PASSPHRASE or ERR_PKI_CORRUPT_KEY on failure. */
export async function decryptKey(file: EncryptedKeyFile, passphrase: string): Promise<Uint8Array> {
  if (typeof passphrase !== 'string' || passphrase.length === 0) throw new PkiError('ERR_PKI_BAD_PASSPHRASE', 'a passphrase is required to unlock the CA key');
  const dk = await derive(passphrase, fromBase64(file.kdf.salt), file.kdf);
  try {
    const check = createHmac('sha256', dk.subarray(32)).update('fedsec-encrypted-key/1 passphrase check').digest();
    if (!timingSafeEqual(check, fromBase64(file.check))) throw new PkiError('ERR_PKI_BAD_PASSPHRASE', 'wrong passphrase for the CA key');
    const d = createDecipheriv('aes-256-gcm', dk.subarray(0, 32), fromBase64(file.aead.nonce));
    d.setAAD(header(file.kdf, file.aead.nonce));
    d.setAuthTag(fromBase64(file.aead.tag));
    try {
      return new Uint8Array(Buffer.concat([d.update(fromBase64(file.ciphertext)), d.final()]));
    } catch {
      return corrupt('authentication failed');
    }
  } finally {
    dk.fill(0);
  }
}
