import { describe, it, expect } from 'vitest';
import { execa } from 'execa';
import { wireguardGenerateKey, wireguardKeyPair, wireguardPublicKey, parseWireguardKey } from '../../pki/index.ts';

const haveWg = await execa('wg', ['--version'], { reject: false, timeout: 5000 }).then((r) => r.exitCode === 0, () => false);

describe('WireGuard keys', () => {
  it('have WireGuard\'s format: 44-char base64 of a clamped 32-byte scalar', () => {
    const { privateKey, publicKey } = wireguardKeyPair();
    expect(privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    const k = parseWireguardKey(privateKey);
    expect(k[0]! & 7).toBe(0);
    expect(k[31]! & 0xc0).toBe(0x40);
    expect(() => parseWireguardKey('abc')).toThrow(expect.objectContaining({ code: 'ERR_MESH_BAD_KEY' }));
  });

  it.skipIf(!haveWg)('interoperate with `wg genkey` / `wg pubkey` in both directions', async () => {
    for (let i = 0; i < 3; i++) {
      const theirs = (await execa('wg', ['genkey'], { timeout: 5000 })).stdout.trim();
      const theirPub = (await execa('wg', ['pubkey'], { input: theirs + '\n', timeout: 5000 })).stdout.trim();
      expect(wireguardPublicKey(theirs)).toBe(theirPub);
      const ours = wireguardGenerateKey();
      const ourPubByWg = (await execa('wg', ['pubkey'], { input: ours + '\n', timeout: 5000 })).stdout.trim();
      expect(wireguardPublicKey(ours)).toBe(ourPubByWg);
    }
  });
});
