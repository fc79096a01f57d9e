import { describe, it, expect } from 'vitest';
import { sign, verify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { seededRandomSource } from '../../crypto/random.ts';
import { generateEd25519KeyPair, generateMemberKeys, generateP256KeyPair, rawEd25519Public } from '../../pki/keys.ts';

const seed = (b: number): Uint8Array => new Uint8Array(32).fill(b);

describe('member key generation from a RandomSource', () => {
  it('P-256 keys come from the source, are valid for node:crypto and match @noble/curves', () => {
    const a = generateP256KeyPair(seededRandomSource(seed(1)));
    const b = generateP256KeyPair(seededRandomSource(seed(1)));
    const c = generateP256KeyPair(seededRandomSource(seed(2)));
    const jwk = a.privateKey.export({ format: 'jwk' });
    expect(b.privateKey.export({ format: 'jwk' })).toEqual(jwk);
    expect(c.privateKey.export({ format: 'jwk' }).d).not.toBe(jwk.d);
    const msg = Buffer.from('fedsec');
    expect(verify('sha256', msg, a.publicKey, sign('sha256', msg, a.privateKey))).toBe(true);
    const noblePub = p256.getPublicKey(Buffer.from(jwk.d!, 'base64url'), false);
    expect(Buffer.from(noblePub.subarray(1, 33)).toString('base64url')).toBe(jwk.x);
  });

  it('Ed25519 keys use the source as their seed (RFC 8032) and match @noble/curves', () => {
    const k = generateEd25519KeyPair(seededRandomSource(seed(3)));
    const expectedSeed = seededRandomSource(seed(3)).fill(new Uint8Array(32));
    expect(rawEd25519Public(k.publicKey)).toEqual(ed25519.getPublicKey(expectedSeed));
  });

  it('a member\'s three key pairs are distinct and reproducible from a seed', () => {
    const a = generateMemberKeys(seededRandomSource(seed(4)));
    const b = generateMemberKeys(seededRandomSource(seed(4)));
    expect(b.wireguard).toEqual(a.wireguard);
    expect(b.identityPublicKey).toEqual(a.identityPublicKey);
    expect(a.wireguard.publicKey).not.toBe(Buffer.from(a.identityPublicKey).toString('base64'));
  });
});
