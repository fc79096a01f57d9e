import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { X509Certificate, webcrypto } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CertificateAuthority, createMemberRequest, initCa, installCertificate, loadTlsCredentials, parseCertificate, verifyCsr,
  OID_IDENTITY_KEY, buildCsr, enrollLocally, generateMemberKeys, type PkiError,
} from '../../pki/index.ts';
import { PASS, TEST_SCRYPT, enroll, openssl, tempDir, testCa } from './helpers.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(async () => cleanup());

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as PkiError).code ?? String(e);
  }
  return 'no error';
}

describe.each(['ecdsa-p256', 'ed25519'] as const)('CA with %s', (algorithm) => {
  let ca: CertificateAuthority;
  let sub: string;
  beforeAll(async () => {
    sub = join(dir, algorithm);
    ca = await testCa(sub, { algorithm });
  });

  it('writes the key 0600 and encrypted, and reopens with the passphrase', async () => {
    const keyFile = join(sub, 'ca', 'ca.key.enc');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const text = await readFile(keyFile, 'utf8');
    expect(text).not.toContain('PRIVATE KEY');
    const again = await CertificateAuthority.open(join(sub, 'ca'));
    expect(again.unlocked).toBe(false);
    await again.unlock(PASS);
    expect(again.unlocked).toBe(true);
  });

  it('issues certificates and CRLs that openssl and node:crypto verify', async () => {
    const a = await enroll(ca, sub, 'node', 'hospital-a');
    const b = await enroll(ca, sub, 'aggregator', 'agg', { ipAddresses: ['10.77.0.1'] });
    const caFile = join(sub, 'ca', 'ca.crt.pem');
    await writeFile(join(sub, 'a.pem'), a.certPem);
    await writeFile(join(sub, 'b.pem'), b.certPem);
    const nodeCert = new X509Certificate(a.certPem);
    expect(nodeCert.verify(new X509Certificate(await readFile(caFile)).publicKey)).toBe(true);
    expect(nodeCert.subjectAltName).toContain('URI:urn:fedsec:fed1:node:hospital-a');
    expect((await openssl(['verify', '-CAfile', caFile, '-purpose', 'sslclient', join(sub, 'a.pem')])).code).toBe(0);
    expect((await openssl(['verify', '-CAfile', caFile, '-purpose', 'sslserver', join(sub, 'b.pem')])).code).toBe(0);
    // A node certificate is for clients only.
    expect((await openssl(['verify', '-CAfile', caFile, '-purpose', 'sslserver', join(sub, 'a.pem')])).code).not.toBe(0);
    const ok = await openssl(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', ca.crlPath, join(sub, 'a.pem')]);
    expect(ok.out).toContain('OK');
    expect(ok.code).toBe(0);

    const { revoked } = await ca.revoke('hospital-a', 'key-compromise');
    expect(revoked.map((r) => r.serial)).toEqual([a.record.serial]);
    const bad = await openssl(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', ca.crlPath, join(sub, 'a.pem')]);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toContain('certificate revoked');
    expect((await openssl(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', ca.crlPath, join(sub, 'b.pem')])).code).toBe(0);
    const crlText = (await openssl(['crl', '-in', ca.crlPath, '-noout', '-text'])).out;
    expect(crlText).toContain('Next Update');
    expect(crlText).toContain('Key Compromise');
    expect(crlText).toMatch(/CRL Number:\s*\n\s*\d+/);
  });
});

describe('enrollment', () => {
  let ca: CertificateAuthority;
  let sub: string;
  beforeAll(async () => {
    sub = join(dir, 'enroll');
    ca = await testCa(sub);
  });

  it('a member request keeps private keys 0600 on the member and binds its keys in the CSR', async () => {
    const req = await createMemberRequest({ federation: 'fed1', role: 'node', id: 'hospital-b', dir: join(sub, 'hb') });
    for (const f of ['tls.key.pem', 'identity.key.pem', 'wireguard.key']) expect((await stat(join(sub, 'hb', f))).mode & 0o777).toBe(0o600);
    expect((await stat(join(sub, 'hb'))).mode & 0o777).toBe(0o700);
    expect(req.csrPem).not.toContain('PRIVATE');
    expect((await openssl(['req', '-in', join(sub, 'hb', 'request.csr.pem'), '-noout', '-verify'])).out).toContain('verify OK');
    const v = await verifyCsr(req.csrPem);
    expect(v.name).toEqual({ federation: 'fed1', role: 'node', id: 'hospital-b' });
    expect(Buffer.from(v.wireguardKey).toString('base64')).toBe(req.info.wireguardKey);
    // Refuses to overwrite existing keys.
    expect(await code(createMemberRequest({ federation: 'fed1', role: 'node', id: 'hospital-b', dir: join(sub, 'hb') }))).toBe('ERR_PKI_EXISTS');

    const issued = await ca.sign(req.csrPem, { expectRole: 'node', expectId: 'hospital-b' });
    const info = parseCertificate(issued.certPem);
    expect(info.member).toEqual({ federation: 'fed1', role: 'node', id: 'hospital-b' });
    expect(Buffer.from(info.identityKey!).toString('base64')).toBe(req.info.identityKey);
    expect(info.notAfter.getTime() - info.notBefore.getTime()).toBeLessThanOrEqual(366 * 86_400_000);
    await installCertificate(join(sub, 'hb'), issued.certPem, issued.caPem);
    const creds = await loadTlsCredentials(join(sub, 'hb'));
    expect(creds.cert.toString()).toBe(issued.certPem);
    expect(creds.member.id).toBe('hospital-b');
  });

  it('enrolls in-process (demo path) with the same checks', async () => {
    const m = await enrollLocally(ca, { role: 'aggregator', id: 'demo-agg', dir: join(sub, 'demo-agg') });
    const creds = await loadTlsCredentials(m.dir);
    expect(parseCertificate(creds.cert.toString()).member).toEqual({ federation: 'fed1', role: 'aggregator', id: 'demo-agg' });
    expect(await code(enrollLocally(ca, { role: 'aggregator', id: 'demo-agg', dir: join(sub, 'demo-agg2') }))).toBe('ERR_PKI_DUPLICATE_IDENTITY');
    expect(await readdir(sub)).not.toContain('demo-agg2');
  });

  it('rejects a CSR with a forged signature', async () => {
    const req = await createMemberRequest({ federation: 'fed1', role: 'node', id: 'forger' });
    const der = Buffer.from(req.csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    der[der.length - 5]! ^= 0x01; // flip a bit of the ECDSA signature
    expect(await code(ca.sign(new Uint8Array(der)))).toBe('ERR_PKI_BAD_SIGNATURE');
    // Tampering with the signed body (the requested id) also breaks the signature.
    const body = Buffer.from(req.csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    const i = body.indexOf(Buffer.from('forger'));
    body.write('f0rger', i);
    expect(await code(ca.sign(new Uint8Array(body)))).toBe('ERR_PKI_BAD_SIGNATURE');
    expect(await code(ca.sign('not a csr'))).toBe('ERR_PKI_BAD_CSR');
  });

  it('rejects a hand-made CSR asking for a role that does not exist', async () => {
    const { x509 } = await import('../../pki/x509.ts');
    const kp = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=mallory',
      keys: kp as never,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as never,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'urn:fedsec:fed1:admin:mallory' }])],
    });
    expect(await code(ca.sign(csr.toString('pem')))).toBe('ERR_PKI_WRONG_ROLE');
  });

  it('rejects a CSR claiming an identity key whose private half the requester does not hold', async () => {
    const victim = generateMemberKeys();
    const mine = generateMemberKeys();
    // Properly signed by the requester's TLS key, but the identity proof is made with another key.
    const forged = await buildCsr({ federation: 'fed1', role: 'node', id: 'thief' }, { ...mine, identityPublicKey: victim.identityPublicKey, wireguardPublicKey: mine.wireguard.publicKey });
    expect(await code(ca.sign(forged))).toBe('ERR_PKI_BAD_SIGNATURE');
  });

  it('rejects a wrong role, wrong id, wrong federation and duplicate identity, leaving no files', async () => {
    const before = (await readdir(join(sub, 'ca', 'certs'))).length;
    const r = await createMemberRequest({ federation: 'fed1', role: 'researcher', id: 'alice' });
    expect(await code(ca.sign(r.csrPem, { expectRole: 'node' }))).toBe('ERR_PKI_WRONG_ROLE');
    expect(await code(ca.sign(r.csrPem, { expectId: 'bob' }))).toBe('ERR_PKI_WRONG_IDENTITY');
    const other = await createMemberRequest({ federation: 'fed2', role: 'node', id: 'x' });
    expect(await code(ca.sign(other.csrPem))).toBe('ERR_PKI_WRONG_FEDERATION');
    await ca.sign(r.csrPem, { expectRole: 'researcher', expectId: 'alice' });
    const again = await createMemberRequest({ federation: 'fed1', role: 'researcher', id: 'alice' });
    expect(await code(ca.sign(again.csrPem))).toBe('ERR_PKI_DUPLICATE_IDENTITY');
    // The same keys under another id: also a duplicate identity.
    const keys = generateMemberKeys();
    const k = { ...keys, wireguardPublicKey: keys.wireguard.publicKey };
    await ca.sign(await buildCsr({ federation: 'fed1', role: 'node', id: 'k1' }, k));
    expect(await code(ca.sign(await buildCsr({ federation: 'fed1', role: 'node', id: 'k2' }, k)))).toBe('ERR_PKI_DUPLICATE_IDENTITY');
    expect(await code(createMemberRequest({ federation: 'fed1', role: 'admin' as never, id: 'mallory' }))).toBe('ERR_PKI_WRONG_ROLE');
    expect((await readdir(join(sub, 'ca', 'certs'))).length).toBe(before + 2);
    expect((await readdir(join(sub, 'ca'))).filter((f) => f.includes('.tmp-') || f === '.lock')).toEqual([]);
  });

  it('renews before expiry (same keys or a new CSR) and lists statuses', async () => {
    const m = await enroll(ca, sub, 'node', 'hospital-r');
    const renewed = await ca.renew('hospital-r', { validityDays: 30 });
    expect(renewed.record.serial).not.toBe(m.record.serial);
    expect(renewed.record.identityKey).toBe(m.record.identityKey);
    const rotated = await createMemberRequest({ federation: 'fed1', role: 'node', id: 'hospital-r' });
    const r2 = await ca.renew(renewed.record.serial, { csr: rotated.csrPem, revokeOld: true });
    expect(r2.record.wireguardKey).toBe(rotated.info.wireguardKey);
    const wrongRole = await createMemberRequest({ federation: 'fed1', role: 'aggregator', id: 'hospital-r' });
    expect(await code(ca.renew('hospital-r', { csr: wrongRole.csrPem }))).toBe('ERR_PKI_WRONG_ROLE');
    const list = (await ca.list()).filter((r) => r.id === 'hospital-r');
    expect(list.map((r) => r.status)).toEqual(['superseded', 'revoked', 'active']);
    await ca.revoke('hospital-r', 'cessation-of-operation');
    expect(await code(ca.renew('hospital-r'))).toBe('ERR_PKI_REVOKED');
    expect(await code(ca.revoke('nobody', 'unspecified'))).toBe('ERR_PKI_NOT_FOUND');
  });

  it('issues expired and not-yet-valid certificates only on explicit request, and lists them so', async () => {
    const past = new Date(Date.now() - 10 * 86_400_000);
    await enroll(ca, sub, 'node', 'old', { notBefore: past, notAfter: new Date(Date.now() - 86_400_000) });
    await enroll(ca, sub, 'node', 'future', { notBefore: new Date(Date.now() + 86_400_000), notAfter: new Date(Date.now() + 2 * 86_400_000) });
    const st = Object.fromEntries((await ca.list()).map((r) => [r.id, r.status]));
    expect(st['old']).toBe('expired');
    expect(st['future']).toBe('not-yet-valid');
    expect(await code(ca.renew('old'))).toBe('ERR_PKI_EXPIRED');
  });
});

describe('CA key protection and corrupted state', () => {
  it('wrong passphrase, corrupted key file and missing files give typed errors', async () => {
    const sub = join(dir, 'keys');
    await testCa(sub);
    const caDir = join(sub, 'ca');
    const ca = await CertificateAuthority.open(caDir);
    expect(await code(ca.unlock('wrong passphrase!'))).toBe('ERR_PKI_BAD_PASSPHRASE');
    const keyFile = join(caDir, 'ca.key.enc');
    const good = await readFile(keyFile, 'utf8');
    const j = JSON.parse(good) as { ciphertext: string };
    const ct = Buffer.from(j.ciphertext, 'base64');
    ct[10]! ^= 0xff;
    await writeFile(keyFile, JSON.stringify({ ...j, ciphertext: ct.toString('base64') }));
    expect(await code(ca.unlock(PASS))).toBe('ERR_PKI_CORRUPT_KEY');
    await writeFile(keyFile, good.slice(0, 100));
    expect(await code(ca.unlock(PASS))).toBe('ERR_PKI_CORRUPT_KEY');
    await writeFile(keyFile, good);
    await ca.unlock(PASS);
    // Signing without unlocking is refused.
    const locked = await CertificateAuthority.open(caDir);
    const r = await createMemberRequest({ federation: 'fed1', role: 'node', id: 'n' });
    expect(await code(locked.sign(r.csrPem))).toBe('ERR_PKI_BAD_PASSPHRASE');
    expect(await code(CertificateAuthority.open(join(sub, 'nope')))).toBe('ERR_PKI_NOT_FOUND');
    // A CA directory is never overwritten, and a too-short passphrase is refused before any write.
    expect(await code(initCa(caDir, { federation: 'fed1', passphrase: PASS, scrypt: TEST_SCRYPT }))).toBe('ERR_PKI_EXISTS');
    expect(await code(initCa(join(sub, 'short'), { federation: 'fed1', passphrase: 'short', scrypt: TEST_SCRYPT }))).toBe('ERR_INVALID_ARGUMENT');
    expect((await readdir(sub)).sort()).toEqual(['ca']);
  });

  it('a corrupted member key file gives ERR_PKI_CORRUPT_KEY', async () => {
    const sub = join(dir, 'memberkeys');
    await createMemberRequest({ federation: 'fed1', role: 'node', id: 'n', dir: sub });
    await writeFile(join(sub, 'tls.key.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    const { loadTlsKey, loadWireguardPrivateKey } = await import('../../pki/index.ts');
    expect(await code(loadTlsKey(sub))).toBe('ERR_PKI_CORRUPT_KEY');
    await writeFile(join(sub, 'wireguard.key'), 'garbage\n');
    expect(await code(loadWireguardPrivateKey(sub))).toBe('ERR_PKI_CORRUPT_KEY');
  });

  it('the identity extension OID is fedsec\'s private arc', () => {
    expect(OID_IDENTITY_KEY.startsWith('1.2.840.113556.1.8000.2554.')).toBe(true);
  });
});
