import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { JlSetupNode, JlSetupRelay, JlSetupResearcher, type JlSetupConfig, type JlSetupShares } from '../../crypto/jl/setup.ts';
import { additiveShares, factorial, intShamirCoefficientBits, intShamirCombine, intShamirSplit, intLagrangeAtZero } from '../../crypto/jl/intshare.ts';
import { sign, generateSigningKeyPair } from '../../crypto/ed25519.ts';
import { seededRandomSource } from '../../crypto/random.ts';
import { fixtureModulus, makeFederation, runSetup } from './helpers.ts';

const modulus = fixtureModulus(1024);

describe('dealer-free JL key setup', () => {
  it('researcher key is minus the sum of node keys; any t peers reconstruct a key (audit path)', () => {
    const fed = makeFederation(5);
    const { nodeKeys, researcherKeys } = runSetup(fed, modulus, 3);
    const keys = fed.nodes.map((id) => nodeKeys[id]!.key);
    expect(new Set(keys.map(String)).size).toBe(5);
    expect(researcherKeys.keySum).toBe(keys.reduce((a, b) => a + b, 0n));
    for (const k of keys) expect(k.toString(2).length).toBeGreaterThan(2 * modulus.bits - 20);
    const j = fed.nodes[2]!;
    const holders = fed.nodes.filter((id) => id !== j);
    const shares = holders.map((id) => ({ index: fed.nodes.indexOf(id) + 1, value: nodeKeys[id]!.keyShares[j]! }));
    expect(intShamirCombine(shares.slice(0, 3), 3, 5)).toBe(nodeKeys[j]!.key);
    expect(intShamirCombine(shares.slice(1, 4), 3, 5)).toBe(nodeKeys[j]!.key);
    expect(nodeKeys[j]!.keyShares[j]).toBeUndefined();
  });

  it('rejects a tampered share box (ERR_AEAD_AUTH) and a replayed one (ERR_JL_REPLAY)', () => {
    const fed = makeFederation(3, 2);
    const cfg: JlSetupConfig = { roster: fed.roster, modulus, setupId: 's2', nodes: fed.nodes, researcher: 'res', threshold: 2 };
    const relay = new JlSetupRelay(cfg);
    const ns = fed.nodes.map((id) => new JlSetupNode(cfg, fed.ids[id]!, fed.rng(id)));
    const r = new JlSetupResearcher(cfg, fed.ids['res']!, fed.rng('res'));
    for (const s of ns) relay.addAdvertisement(s.advertise());
    relay.addAdvertisement(r.advertise());
    const ads = relay.advertisements();
    const deals = ns.map((s) => s.deal(ads));
    const toN2 = deals[0]!;
    const tampered: JlSetupShares = { ...toN2, boxes: toN2.boxes.map((b) => ({ to: b.to, box: b.box.map((x, i) => (i === 20 ? x ^ 1 : x)) })) };
    expect(() => ns[1]!.receive(tampered)).toThrow(expect.objectContaining({ code: 'ERR_AEAD_AUTH' }));
    // A box re-addressed from another sender fails too (sender bound in key and AAD).
    const rerouted: JlSetupShares = { ...deals[2]!, from: 'n01' };
    expect(() => ns[1]!.receive(rerouted)).toThrow(expect.objectContaining({ code: 'ERR_AEAD_AUTH' }));
    ns[1]!.receive(toN2);
    expect(() => ns[1]!.receive(toN2)).toThrow(expect.objectContaining({ code: 'ERR_JL_REPLAY' }));
    relay.addShares(toN2);
    expect(() => relay.addShares(toN2)).toThrow(expect.objectContaining({ code: 'ERR_JL_REPLAY' }));
    // A share message replayed into another setup is refused.
    expect(() => ns[1]!.receive({ ...deals[2]!, setupId: 'other' })).toThrow(expect.objectContaining({ code: 'ERR_JL_SETUP' }));
    expect(() => ns[1]!.complete()).toThrow(expect.objectContaining({ code: 'ERR_JL_SETUP' }));
  });

  it('replaying a whole share message from an earlier setup fails authentication', () => {
    const fed = makeFederation(3, 3);
    const mk = (setupId: string) => {
      const cfg: JlSetupConfig = { roster: fed.roster, modulus, setupId, nodes: fed.nodes, researcher: 'res', threshold: 2 };
      const ns = fed.nodes.map((id) => new JlSetupNode(cfg, fed.ids[id]!, seededRandomSource(new Uint8Array(32).fill(setupId.length + id.charCodeAt(2)))));
      const r = new JlSetupResearcher(cfg, fed.ids['res']!);
      const ads = [...ns.map((s) => s.advertise()), r.advertise()];
      return { ns, deals: ns.map((s) => s.deal(ads)) };
    };
    const old = mk('setup-old');
    const cur = mk('setup-new');
    expect(() => cur.ns[1]!.receive({ ...old.deals[0]!, setupId: 'setup-new' })).toThrow(expect.objectContaining({ code: 'ERR_AEAD_AUTH' }));
  });

  it('rejects setup messages signed by an unenrolled key or from an unknown member', () => {
    const fed = makeFederation(3, 4);
    const cfg: JlSetupConfig = { roster: fed.roster, modulus, setupId: 's4', nodes: fed.nodes, researcher: 'res', threshold: 2 };
    const relay = new JlSetupRelay(cfg);
    const honest = new JlSetupNode(cfg, fed.ids['n01']!);
    const ad = honest.advertise();
    const rogue = generateSigningKeyPair();
    // Same content, signature by a key that is not n01's enrolled identity.
    const forged = { ...ad, signature: sign(rogue.secretKey, new Uint8Array(32)) };
    expect(() => relay.addAdvertisement(forged)).toThrow(expect.objectContaining({ code: 'ERR_BAD_SIGNATURE' }));
    // An unenrolled node id.
    expect(() => relay.addAdvertisement({ ...ad, from: 'mallory' })).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_MEMBER' }));
    // A node whose identity is enrolled but who is not in the roster at all cannot even start.
    expect(() => new JlSetupNode(cfg, { id: 'mallory', secretKey: rogue.secretKey })).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_MEMBER' }));
    // A node receiving a forged advertisement in the set refuses to deal.
    const others = ['n02', 'n03'].map((id) => new JlSetupNode(cfg, fed.ids[id]!).advertise());
    const r = new JlSetupResearcher(cfg, fed.ids['res']!).advertise();
    const n2 = new JlSetupNode(cfg, fed.ids['n02']!);
    n2.advertise();
    expect(() => n2.deal([forged, ...others, r])).toThrow(expect.objectContaining({ code: 'ERR_BAD_SIGNATURE' }));
  });

  it('refuses thresholds at or below n/2 and unknown researchers', () => {
    const fed = makeFederation(4, 5);
    const base = { roster: fed.roster, modulus, setupId: 's5', nodes: fed.nodes, researcher: 'res' };
    expect(() => new JlSetupRelay({ ...base, threshold: 2 })).toThrow();
    expect(() => new JlSetupRelay({ ...base, threshold: 3 })).not.toThrow();
    expect(() => new JlSetupRelay({ ...base, threshold: 3, researcher: 'n01' })).toThrow(expect.objectContaining({ code: 'ERR_WRONG_ROLE' }));
  });
});

describe('integer secret sharing', () => {
  it('any t-1 Shamir shares are consistent with every key (an in-range polynomial explains them)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 7 }), fc.integer({ min: 0, max: 1000 }), fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }), (n, r, s, s2) => {
        const t = 2 + (r % (n - 1));
        const rng = seededRandomSource(new Uint8Array(32).fill(r & 0xff));
        const shares = intShamirSplit(s, t, n, 256, rng);
        const held = shares.filter((_, i) => (i + r) % n < t - 1); // t-1 arbitrary holders
        expect(held.length).toBe(t - 1);
        // g(x) = (s - s2) * (Δ/Πx_k) * Π(x_k - x): vanishes on the held indices, g(0) = Δ(s - s2).
        const delta = factorial(n);
        const prodX = held.reduce((a, h) => a * BigInt(h.index), 1n);
        let g: bigint[] = [(s - s2) * (delta / prodX)];
        for (const h of held) {
          const next = new Array<bigint>(g.length + 1).fill(0n);
          g.forEach((c, k) => {
            next[k] = next[k]! + c * BigInt(h.index);
            next[k + 1] = next[k + 1]! - c;
          });
          g = next;
        }
        // The original coefficients are not exposed; reconstruct f from all n shares instead.
        const all = shares.slice(0, t);
        const lam = intLagrangeAtZero(all.map((x) => x.index), n);
        expect(all.reduce((a, x, k) => a + lam[k]! * x.value, 0n)).toBe(delta * delta * s);
        const evalAt = (poly: bigint[], x: bigint) => poly.reduceRight((acc, c) => acc * x + c, 0n);
        for (const h of held) expect(evalAt(g, BigInt(h.index))).toBe(0n);
        expect(evalAt(g, 0n)).toBe(delta * (s - s2));
        // |coefficients of g| is far below the coefficient range, so f - g is an in-range sharing of s2
        // (up to the 2^-128 statistical slack).
        const bound = 1n << BigInt(intShamirCoefficientBits(256, t, n) - 128);
        for (const c of g) expect(c < 0n ? -c : c).toBeLessThan(bound);
        return true;
      }),
      { numRuns: 40 },
    );
  });

  it('additive shares sum to the secret; all but the kept one are in the uniform range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.bigInt({ min: 0n, max: (1n << 512n) - 1n }), (n, s) => {
        const sh = additiveShares(s, n, 512, seededRandomSource(new Uint8Array(32).fill(n)));
        return sh.reduce((a, b) => a + b, 0n) === s && sh.slice(0, -1).every((v) => v >= 0n && v < 1n << 640n);
      }),
      { numRuns: 30 },
    );
  });
});
