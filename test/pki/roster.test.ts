import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { sign } from 'node:crypto';
import { encodeTuple } from '../../crypto/bytes.ts';
import { PeerVerifier, signRoster, verifyRoster, loadIdentityKey, type CertificateAuthority, type PkiError } from '../../pki/index.ts';
import { enroll, tempDir, testCa } from './helpers.ts';

let dir: string;
let cleanup: () => Promise<void>;
let ca: CertificateAuthority;
let other: CertificateAuthority;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  ca = await testCa(dir, { algorithm: 'ed25519' });
  other = await testCa(dir, { federation: 'fed9' });
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

describe('signed roster', () => {
  it('lists active members with keys and mesh addresses, verifies, and becomes a Roster', async () => {
    const agg = await enroll(ca, dir, 'aggregator', 'agg');
    const a = await enroll(ca, dir, 'node', 'hospital-a');
    await enroll(ca, dir, 'researcher', 'alice');
    const gone = await enroll(ca, dir, 'node', 'hospital-z');
    await ca.revoke('hospital-z', 'affiliation-changed');
    const mesh = new Map([['agg', { address: '10.77.0.1', endpoint: '192.0.2.1:51820' }], ['hospital-a', { address: '10.77.0.2' }]]);
    const doc = await signRoster(ca, { mesh });
    expect(doc.members.map((m) => m.id)).toEqual(['agg', 'alice', 'hospital-a']);
    const text = JSON.stringify(doc);
    const v = verifyRoster(text, ca.certificatePem);
    expect(v.members.find((m) => m.id === 'agg')).toMatchObject({ meshAddress: '10.77.0.1', endpoint: '192.0.2.1:51820', serial: agg.record.serial });
    const roster = v.toRoster();
    expect(roster.federation).toBe('fed1');
    expect(roster.require('hospital-a', 'node').identityKey).toEqual((await loadIdentityKey(a.memberDir)).publicKey);
    expect(roster.get('hospital-z')).toBeUndefined();

    // Tampering with any field breaks the signature.
    const tampered = JSON.parse(text) as { members: Array<{ role: string; meshAddress?: string }> };
    tampered.members[2]!.role = 'aggregator';
    expect(code(() => verifyRoster(tampered, ca.certificatePem))).toBe('ERR_PKI_BAD_ROSTER');
    const moved = JSON.parse(text) as { members: Array<{ meshAddress?: string }> };
    moved.members[0]!.meshAddress = '10.77.0.99';
    expect(code(() => verifyRoster(moved, ca.certificatePem))).toBe('ERR_PKI_BAD_ROSTER');
    // Another CA cannot vouch for it, and a re-signature by another key does not verify.
    expect(code(() => verifyRoster(text, other.certificatePem))).toBe('ERR_PKI_BAD_ROSTER');
    // Rollback protection.
    const newer = await signRoster(ca, { mesh });
    expect(newer.version).toBeGreaterThan(doc.version);
    expect(code(() => verifyRoster(text, ca.certificatePem, { minVersion: newer.version }))).toBe('ERR_PKI_BAD_ROSTER');
    // A roster listing a member revoked since is refused against the current CRL.
    await ca.revoke('alice', 'privilege-withdrawn');
    const v2 = await PeerVerifier.create({ caCert: ca.certificatePem, crl: await ca.currentCrl() });
    expect(code(() => verifyRoster(text, ca.certificatePem, { crl: v2.crl! }))).toBe('ERR_PKI_REVOKED');
    expect(gone.record.serial).toBeTruthy();
  });

  it('rejects a roster whose signature was made over different bytes', async () => {
    const doc = await signRoster(other);
    const { generateKeyPairSync } = await import('node:crypto');
    const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = { ...doc, signature: { ...doc.signature, value: sign('sha256', encodeTuple(['x']), k.privateKey).toString('base64') } };
    expect(code(() => verifyRoster(forged, other.certificatePem))).toBe('ERR_PKI_BAD_ROSTER');
    expect(code(() => verifyRoster('{', other.certificatePem))).toBe('ERR_PKI_BAD_ROSTER');
    expect(verifyRoster(doc, other.certificatePem).members).toEqual([]);
  });
});
