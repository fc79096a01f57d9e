import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { x509 } from '../../pki/x509.ts';
import { webcrypto } from 'node:crypto';
import { PeerVerifier, type CertificateAuthority, type PkiError } from '../../pki/index.ts';
import { enroll, tempDir, testCa } from './helpers.ts';

let dir: string;
let cleanup: () => Promise<void>;
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  ca = await testCa(dir);
  otherCa = await testCa(dir, { federation: 'other' });
});
afterAll(async () => cleanup());

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as PkiError).code ?? String(e);
  }
  return 'ok';
}

describe('PeerVerifier', () => {
  it('returns federation, role and id for a valid peer and enforces roles', async () => {
    const crlFile = join(dir, 'served-crl.pem');
    await copyFile(ca.crlPath, crlFile);
    const v = await PeerVerifier.create({ caCert: ca.certificatePem, crlFile });
    const n = await enroll(ca, dir, 'node', 'hospital-a');
    const peer = v.verify(n.certPem);
    expect(peer).toMatchObject({ federation: 'fed1', role: 'node', id: 'hospital-a', serial: n.record.serial });
    expect(peer.identityKey).toHaveLength(32);
    // DER input (as from a TLS socket) works too.
    const der = Buffer.from(n.certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    expect(v.verify({ raw: der }).id).toBe('hospital-a');
    expect(code(() => v.verify(n.certPem, { roles: ['aggregator'] }))).toBe('ERR_PKI_WRONG_ROLE');
    expect(code(() => v.verify(n.certPem, { id: 'hospital-b' }))).toBe('ERR_PKI_WRONG_IDENTITY');
    expect(code(() => v.verify(ca.certificatePem))).toBe('ERR_PKI_UNTRUSTED');
    expect(code(() => v.verify('garbage'))).toBe('ERR_PKI_BAD_CERT');
  });

  it('rejects other CAs, expired and not-yet-valid certificates', async () => {
    const v = await PeerVerifier.create({ caCert: ca.certificatePem, crl: await ca.currentCrl() });
    const foreign = await enroll(otherCa, dir, 'node', 'spy');
    expect(code(() => v.verify(foreign.certPem))).toBe('ERR_PKI_UNTRUSTED');
    const old = await enroll(ca, dir, 'node', 'old', { notBefore: new Date(Date.now() - 5 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    expect(code(() => v.verify(old.certPem))).toBe('ERR_PKI_EXPIRED');
    const fut = await enroll(ca, dir, 'node', 'fut', { notBefore: new Date(Date.now() + 86_400_000), notAfter: new Date(Date.now() + 5 * 86_400_000) });
    expect(code(() => v.verify(fut.certPem))).toBe('ERR_PKI_NOT_YET_VALID');
    expect(v.verify(fut.certPem, { at: new Date(Date.now() + 2 * 86_400_000) }).id).toBe('fut');
    // A verifier for the other federation refuses our members even with our CA (federation pinning).
    const pinned = await PeerVerifier.create({ caCert: ca.certificatePem, federation: 'other', crl: await ca.currentCrl() });
    const cur = await enroll(ca, dir, 'node', 'hospital-p');
    expect(code(() => pinned.verify(cur.certPem))).toBe('ERR_PKI_WRONG_FEDERATION');
  });

  it('reloads a new CRL from file without restart, refuses forged, foreign and rolled-back CRLs', async () => {
    const crlFile = join(dir, 'reload-crl.pem');
    await copyFile(ca.crlPath, crlFile);
    const v = await PeerVerifier.create({ caCert: ca.certificatePem, crlFile });
    const m = await enroll(ca, dir, 'node', 'laptop');
    expect(v.verify(m.certPem).id).toBe('laptop');
    const oldCrl = await readFile(crlFile, 'utf8');
    expect(await v.refresh()).toBe(false);

    await ca.revoke('laptop', 'key-compromise');
    await copyFile(ca.crlPath, crlFile);
    expect(await v.refresh()).toBe(true);
    expect(code(() => v.verify(m.certPem))).toBe('ERR_PKI_REVOKED');

    // Rollback to the older CRL (which did not list the laptop) is refused; the new CRL stays.
    await writeFile(crlFile, oldCrl);
    await expect(v.refresh()).rejects.toMatchObject({ code: 'ERR_PKI_CRL_ROLLBACK' });
    expect(await v.refresh()).toBe(false); // reported once, not on every call
    expect(code(() => v.verify(m.certPem))).toBe('ERR_PKI_REVOKED');

    // A CRL signed by another CA's key is refused.
    await expect(v.loadCrl(await otherCa.currentCrl())).rejects.toMatchObject({ code: 'ERR_PKI_BAD_CRL' });
    // A CRL with our CA's issuer name but signed by a different key is refused.
    const kp = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const forged = await x509.X509CrlGenerator.create({
      issuer: ca.certificate.parsed.subjectName,
      thisUpdate: new Date(),
      nextUpdate: new Date(Date.now() + 86_400_000),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as never,
      signingKey: kp.privateKey as never,
      entries: [],
      extensions: [new x509.Extension('2.5.29.20', false, Uint8Array.of(2, 2, 0x7f, 0xff))],
    });
    await expect(v.loadCrl(new Uint8Array(forged.rawData))).rejects.toMatchObject({ code: 'ERR_PKI_BAD_CRL' });
    expect(code(() => v.verify(m.certPem))).toBe('ERR_PKI_REVOKED');
    // A corrupted CRL file is refused on reload; the CRL in force stays.
    await writeFile(crlFile, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
    await expect(v.refresh()).rejects.toMatchObject({ code: 'ERR_PKI_BAD_CRL' });
    expect(code(() => v.verify(m.certPem))).toBe('ERR_PKI_REVOKED');
    expect(v.crl?.revoked.has(m.record.serial)).toBe(true);
  });

  it('fails closed without a CRL or with a stale one', async () => {
    const m = await enroll(ca, dir, 'node', 'hospital-s');
    const none = await PeerVerifier.create({ caCert: ca.certificatePem });
    expect(code(() => none.verify(m.certPem))).toBe('ERR_PKI_CRL_MISSING');
    const v = await PeerVerifier.create({ caCert: ca.certificatePem, crl: await ca.currentCrl() });
    const later = new Date(Date.now() + 8 * 86_400_000); // past nextUpdate (7 days)
    expect(code(() => v.verify(m.certPem, { at: later }))).toBe('ERR_PKI_CRL_STALE');
    const lax = await PeerVerifier.create({ caCert: ca.certificatePem, crl: await ca.currentCrl(), allowStaleCrl: true });
    expect(lax.verify(m.certPem, { at: later }).id).toBe('hospital-s');
  });
});
