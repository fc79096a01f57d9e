import { describe, expect, it } from 'vitest';
import { MaskingRound } from '../../crypto/masking/config.ts';
import { MaskingServer } from '../../crypto/masking/server.ts';
import { makeClients, makeConfig, makeFederation } from './harness.ts';

describe('masking round context (application parameters bound into the round digest)', () => {
  const fed = makeFederation(4);
  const ctxA = new Uint8Array(32).fill(0xa1);
  const ctxB = new Uint8Array(32).fill(0xb2);

  it('different contexts give different round digests; no context keeps the plain digest', () => {
    const plain = new MaskingRound(makeConfig(fed), fed.roster).digest;
    const a = new MaskingRound(makeConfig(fed, { context: ctxA }), fed.roster).digest;
    const a2 = new MaskingRound(makeConfig(fed, { context: Uint8Array.from(ctxA) }), fed.roster).digest;
    const b = new MaskingRound(makeConfig(fed, { context: ctxB }), fed.roster).digest;
    expect(a).toEqual(a2);
    expect(a).not.toEqual(b);
    expect(a).not.toEqual(plain);
    expect(() => new MaskingRound(makeConfig(fed, { context: new Uint8Array(31) }), fed.roster)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('a member shown other parameters cannot join: its keys do not verify for the round', () => {
    const server = new MaskingServer(makeConfig(fed, { context: ctxA }), fed.roster);
    const same = makeClients(fed, makeConfig(fed, { context: ctxA }));
    const other = makeClients(fed, makeConfig(fed, { context: ctxB }));
    expect(server.receive(same.get('node-01')!.advertiseKeys())).toEqual([]);
    expect(() => server.receive(other.get('node-00')!.advertiseKeys())).toThrow(expect.objectContaining({ code: 'ERR_SECAGG_BAD_SIGNATURE' }));
  });
});
