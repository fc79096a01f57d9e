import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { JlAggregatorRound, JlNode, JlResearcher, responseDigest, type JlAggregate, type JlSubmission } from '../../crypto/jl/round.ts';
import { sign } from '../../crypto/ed25519.ts';
import { seededRandomSource } from '../../crypto/random.ts';
import { open } from '../../crypto/aead.ts';
import { encodeTuple } from '../../crypto/bytes.ts';
import { channelKey } from '../../crypto/jl/setup.ts';
import { decodeTuple } from '../../crypto/jl/wire.ts';
import { factorial, intLagrangeAtZero } from '../../crypto/jl/intshare.ts';
import { batchInverse, modPow } from '../../crypto/jl/modexp.ts';
import { pack, unpack } from '../../crypto/jl/packing.ts';
import { FixedPointCodec } from '../../crypto/codec.ts';
import type { JlTag } from '../../crypto/jl/hash.ts';
import { fixtureModulus, makeFederation, runSetup, type TestFederation } from './helpers.ts';

const modulus = fixtureModulus(1024);

function world(n: number, t: number, seed = 7) {
  const fed = makeFederation(n, seed);
  const setup = runSetup(fed, modulus, t, `setup-${n}-${seed}`);
  const nodes = Object.fromEntries(fed.nodes.map((id) => [id, new JlNode(setup.nodeKeys[id]!, modulus, fed.ids[id]!, fed.roster, { rng: fed.rng(id) })]));
  const researcher = new JlResearcher(setup.researcherKeys, modulus, fed.ids['res']!, fed.roster);
  return { fed, setup, nodes, researcher, t };
}
type World = ReturnType<typeof world>;

function aggregatorFor(w: World, tag: JlTag, valueCount: number, valueBits: number) {
  return new JlAggregatorRound({ roster: w.fed.roster, modulus, setupId: w.setup.cfg.setupId, nodes: w.fed.nodes, researcher: 'res', threshold: w.t, tag, valueCount, valueBits });
}

/** Runs a round where `absent` never submit and `silent` submit but never answer the unmask stage. */
async function runRound(w: World, tag: JlTag, inputs: Record<string, Uint32Array>, valueBits: number, absent: string[] = [], silent: string[] = []) {
  const count = Object.values(inputs)[0]!.length;
  const agg = aggregatorFor(w, tag, count, valueBits);
  await w.researcher.precompute(tag, count, valueBits);
  for (const id of w.fed.nodes) {
    if (absent.includes(id)) continue;
    await w.nodes[id]!.precompute(tag, count, valueBits);
    agg.receive(w.nodes[id]!.submit(tag, inputs[id]!, valueBits));
  }
  const req = w.researcher.approve(agg.close());
  agg.accept(req);
  for (const id of req.survivors) {
    if (silent.includes(id)) continue;
    agg.receiveResponse(await w.nodes[id]!.unmask(agg.inputFor(id)));
  }
  const aggregate = agg.aggregate();
  return { agg, req, aggregate, result: await w.researcher.finalize(aggregate) };
}

function randomInputs(fed: TestFederation, count: number, valueBits: number, seed: number): Record<string, Uint32Array> {
  const rng = seededRandomSource(new Uint8Array(32).fill(seed & 0xff));
  return Object.fromEntries(
    fed.nodes.map((id) => {
      const raw = new Uint32Array(count);
      rng.fill(new Uint8Array(raw.buffer));
      return [id, raw.map((v) => (valueBits === 32 ? v : v % 2 ** valueBits))];
    }),
  );
}

const worlds = new Map<string, World>();
function cachedWorld(n: number, t: number): World {
  const k = `${n}/${t}`;
  if (!worlds.has(k)) worlds.set(k, world(n, t, n * 10 + t));
  return worlds.get(k)!;
}

describe('JL round with dropouts', () => {
  it('no dropouts: the researcher obtains the exact sum, usable by the fixed-point codec', async () => {
    const w = cachedWorld(4, 3);
    const codec = new FixedPointCodec({ bits: 16, clip: 1, scale: 2000, maxParties: 4 });
    const reals = w.fed.nodes.map((_, i) => Float64Array.from({ length: 70 }, (_, j) => Math.sin(i * 3 + j) * 0.9));
    const enc = reals.map((r) => codec.encode(r, seededRandomSource(new Uint8Array(32).fill(9))));
    const inputs = Object.fromEntries(w.fed.nodes.map((id, i) => [id, enc[i]!]));
    const tag = { federation: 'fed', experiment: 'exp', round: 1, attempt: 0 };
    const { result } = await runRound(w, tag, inputs, 16);
    for (let j = 0; j < 70; j++) expect(result.sums[j]).toBe(enc.reduce((a, v) => a + v[j]!, 0));
    const decoded = codec.decodeSum(result.ring, 4);
    for (let j = 0; j < 70; j++) expect(Math.abs(decoded[j]! - reals.reduce((a, r) => a + r[j]!, 0))).toBeLessThan(4 / 2000 + 1e-9);
    expect(result.dropped).toEqual([]);
  });

  it('survivors\u2019 sum is exact under random dropout sets of size ≤ n - t (at submission and at unmasking)', async () => {
    let attempt = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 3, max: 5 }), fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 1, max: 32 }), async (n, r, valueBits) => {
        const t = Math.floor(n / 2) + 1;
        const w = cachedWorld(n, t);
        const order = [...w.fed.nodes].sort((a, b) => ((a.charCodeAt(2) * 7919 + r) % 13) - ((b.charCodeAt(2) * 7919 + r) % 13) || (a < b ? -1 : 1));
        const nd = r % (n - t + 1);
        const absent = order.slice(0, nd);
        // Some survivors also go silent at unmasking, as long as t still answer.
        const nSilent = (r >> 4) % (n - nd - t + 1);
        const silent = order.slice(nd, nd + nSilent);
        const inputs = randomInputs(w.fed, 1 + (r % 60), valueBits, r);
        const tag = { federation: 'fed', experiment: 'prop', round: 0, attempt: attempt++ };
        const { result } = await runRound(w, tag, inputs, valueBits, absent, silent);
        const survivors = w.fed.nodes.filter((id) => !absent.includes(id));
        expect(result.survivors).toEqual(survivors);
        const len = inputs[w.fed.nodes[0]!]!.length;
        for (let j = 0; j < len; j++) expect(result.sums[j]).toBe(survivors.reduce((a, id) => a + inputs[id]![j]!, 0));
        return true;
      }),
      { numRuns: 10 },
    );
  });

  it('runs at the production size (2048-bit N) with a dropout', async () => {
    const big = fixtureModulus(2048);
    const fed = makeFederation(3, 77);
    const setup = runSetup(fed, big, 2, 'setup-2048');
    const nodes = Object.fromEntries(fed.nodes.map((id) => [id, new JlNode(setup.nodeKeys[id]!, big, fed.ids[id]!, fed.roster)]));
    const researcher = new JlResearcher(setup.researcherKeys, big, fed.ids['res']!, fed.roster);
    const tag = { federation: 'fed', experiment: 'big', round: 0, attempt: 0 };
    const inputs = randomInputs(fed, 150, 16, 4);
    const agg = new JlAggregatorRound({ roster: fed.roster, modulus: big, setupId: 'setup-2048', nodes: fed.nodes, researcher: 'res', threshold: 2, tag, valueCount: 150, valueBits: 16 });
    expect(agg.ciphertextCount).toBe(2);
    for (const id of ['n01', 'n03']) agg.receive(nodes[id]!.submit(tag, inputs[id]!, 16));
    const req = researcher.approve(agg.close());
    agg.accept(req);
    for (const id of req.survivors) agg.receiveResponse(await nodes[id]!.unmask(agg.inputFor(id)));
    const res = await researcher.finalize(agg.aggregate());
    for (let j = 0; j < 150; j++) expect(res.sums[j]).toBe(inputs['n01']![j]! + inputs['n03']![j]!);
    expect(res.dropped).toEqual(['n02']);
  });

  it('a node refuses to encrypt twice under the same tag; a retried round uses a new attempt', async () => {
    const w = cachedWorld(4, 3);
    const node = w.nodes['n01']!;
    const tag = { federation: 'fed', experiment: 'reuse', round: 5, attempt: 0 };
    const v = Uint32Array.of(1, 2, 3);
    node.submit(tag, v, 8);
    expect(() => node.submit(tag, Uint32Array.of(9, 9, 9), 8)).toThrow(expect.objectContaining({ code: 'ERR_JL_TAG_REUSED' }));
    await expect(node.precompute(tag, 3, 8)).rejects.toMatchObject({ code: 'ERR_JL_TAG_REUSED' });
    expect(() => node.submit({ ...tag, attempt: 1 }, v, 8)).not.toThrow();
    // The used-tag set survives a restart.
    const restarted = new JlNode(node.keys, modulus, w.fed.ids['n01']!, w.fed.roster, { usedTags: node.usedTags() });
    expect(() => restarted.submit(tag, v, 8)).toThrow(expect.objectContaining({ code: 'ERR_JL_TAG_REUSED' }));
  });

  it('an aggregator that claims a node dropped while holding its ciphertext learns nothing about its input', async () => {
    const w = world(5, 3, 42);
    const tag = { federation: 'fed', experiment: 'attack', round: 1, attempt: 0 };
    const valueBits = 16;
    const inputs = randomInputs(w.fed, 40, valueBits, 5);
    const victim = 'n05';
    const agg = aggregatorFor(w, tag, 40, valueBits);
    const subs: Record<string, JlSubmission> = {};
    for (const id of w.fed.nodes) subs[id] = w.nodes[id]!.submit(tag, inputs[id]!, valueBits);
    // The aggregator withholds the victim's submission from the product but keeps it.
    for (const id of w.fed.nodes) if (id !== victim) agg.receive(subs[id]!);
    const proposal = agg.close();
    expect(proposal.dropped).toEqual([victim]);
    // Worst case: the researcher colludes and signs whatever is asked.
    const req = w.researcher.approve(proposal);
    agg.accept(req);
    // The aggregator also slips the victim's seed-share boxes to the nodes: honest nodes refuse.
    const sneaky = agg.inputFor('n01');
    const victimBox = subs[victim]!.seedShares.find((b) => b.to === 'n01')!.box;
    await expect(w.nodes['n01']!.unmask({ ...sneaky, seedShares: [...sneaky.seedShares, { from: victim, box: victimBox }] })).rejects.toMatchObject({ code: 'ERR_JL_UNMASK_CONFLICT' });
    const responses = [];
    for (const id of req.survivors) responses.push(await w.nodes[id]!.unmask(agg.inputFor(id)));
    // (1) The colluders decrypt the victim's ciphertext with the recovered H^(Δ² sk_victim):
    //     they get pack(x) + R mod N, where R is the victim's one-time self-mask.
    const scheme = w.nodes['n01']!.scheme;
    const k = 1;
    const cts = scheme.deserialize(subs[victim]!.ciphertexts, k);
    const use = responses.slice(0, 3).map((r) => ({ index: w.fed.nodes.indexOf(r.from) + 1, el: scheme.deserialize(r.keyRecovery, k) }));
    const lam = intLagrangeAtZero(use.map((u) => u.index), 5);
    const d2 = factorial(5) ** 2n;
    let pos = 1n;
    let neg = 1n;
    use.forEach((u, j) => {
      if (lam[j]! >= 0n) pos = (pos * modPow(u.el[0]!, lam[j]!, scheme.n2)) % scheme.n2;
      else neg = (neg * modPow(u.el[0]!, -lam[j]!, scheme.n2)) % scheme.n2;
    });
    const hsk = (pos * batchInverse([neg], scheme.n2)[0]!) % scheme.n2; // H^(Δ² sk_victim)
    const unit = (modPow(cts[0]!, d2, scheme.n2) * batchInverse([hsk], scheme.n2)[0]!) % scheme.n2;
    const seen = (scheme.decodeUnit(unit) * modPow(d2, -1n, scheme.n)) % scheme.n;
    const layout = w.nodes['n01']!.layout(valueBits);
    const truth = pack(layout, inputs[victim]!)[0]!;
    expect(seen).not.toBe(truth);
    // What they see is the input under a full-width one-time mask: it does not even unpack.
    expect(() => unpack(layout, [seen], 40, 1)).toThrow(expect.objectContaining({ code: 'ERR_JL_SLOT_OVERFLOW' }));
    // No honest survivor will reveal a share of the victim's seed: a second request naming the
    // victim as survivor is refused by the honest researcher, and, signed by a rogue one, by
    // every node that answered the first.
    const second = { ...proposal, survivors: w.fed.nodes, dropped: [] };
    expect(() => w.researcher.approve(second)).toThrow(expect.objectContaining({ code: 'ERR_JL_UNMASK_CONFLICT' }));
    const rogueResearcher = new JlResearcher(w.setup.researcherKeys, modulus, w.fed.ids['res']!, w.fed.roster);
    const forcedReq = rogueResearcher.approve(second);
    for (const id of req.survivors) {
      const boxes = w.fed.nodes.filter((x) => x !== id).map((from) => ({ from, box: subs[from]!.seedShares.find((b) => b.to === id)!.box }));
      await expect(w.nodes[id]!.unmask({ request: forcedReq, seedShares: boxes })).rejects.toMatchObject({ code: 'ERR_JL_UNMASK_CONFLICT' });
    }
    // The answers to the first request (opened with the researcher's key) carry seed shares of
    // survivors only, never of the victim.
    const rk = w.setup.researcherKeys;
    for (const r of responses) {
      const ck = channelKey('fed', rk.setupId, modulus.fingerprint, rk.x25519SecretKey, rk.peerX25519[r.from]!, r.from, 'res', ['round-unmask', tag.experiment, tag.round, tag.attempt]);
      const aad = encodeTuple(['fedsec/jl/round/unmask/v1', 'fed', rk.setupId, tag.experiment, tag.round, tag.attempt, r.from, 'res', r.requestDigest]);
      const items = decodeTuple(open(ck, r.seedShares, aad), 'x');
      const owners = items.filter((_, i) => i % 2 === 1);
      expect(owners.sort()).toEqual([...req.survivors].sort());
      expect(owners).not.toContain(victim);
    }
    // The honest sum of the survivors still comes out.
    for (const r of responses) agg.receiveResponse(r);
    const res = await w.researcher.finalize(agg.aggregate());
    for (let j = 0; j < 40; j++) expect(res.sums[j]).toBe(req.survivors.reduce((a, id) => a + inputs[id]![j]!, 0));
  });

  it('rejects a forged request, a replayed submission and a finalize with fewer than t responses', async () => {
    const w = cachedWorld(4, 3);
    const tag = { federation: 'fed', experiment: 'neg', round: 2, attempt: 0 };
    const inputs = randomInputs(w.fed, 5, 8, 3);
    const agg = aggregatorFor(w, tag, 5, 8);
    const subs = w.fed.nodes.map((id) => w.nodes[id]!.submit(tag, inputs[id]!, 8));
    agg.receive(subs[0]!);
    expect(() => agg.receive(subs[0]!)).toThrow(expect.objectContaining({ code: 'ERR_JL_REPLAY' }));
    expect(() => agg.receive({ ...subs[1]!, ciphertexts: subs[2]!.ciphertexts })).toThrow(expect.objectContaining({ code: 'ERR_BAD_SIGNATURE' }));
    for (const s of subs.slice(1)) agg.receive(s);
    const proposal = agg.close();
    const req = w.researcher.approve(proposal);
    const forged = { ...req, dropped: ['n04'], survivors: ['n01', 'n02', 'n03'] };
    await expect(w.nodes['n01']!.unmask({ request: forged, seedShares: [] })).rejects.toMatchObject({ code: 'ERR_BAD_SIGNATURE' });
    agg.accept(req);
    for (const id of ['n01', 'n02']) agg.receiveResponse(await w.nodes[id]!.unmask(agg.inputFor(id)));
    expect(() => agg.aggregate()).toThrow(expect.objectContaining({ code: 'ERR_JL_TOO_FEW' }));
    agg.receiveResponse(await w.nodes['n03']!.unmask(agg.inputFor('n03')));
    const good: JlAggregate = agg.aggregate();
    const short: JlAggregate = { ...good, responses: good.responses.slice(0, 2) };
    await expect(w.researcher.finalize(short)).rejects.toMatchObject({ code: 'ERR_JL_TOO_FEW' });
    // A tampered product is refused before decryption.
    const bad = Uint8Array.from(good.product);
    bad[10] = bad[10]! ^ 1;
    await expect(w.researcher.finalize({ ...good, product: bad })).rejects.toMatchObject({ code: 'ERR_JL_ROUND' });
    // A response altered in transit (seed box or signature) counts as no answer.
    const altered = good.responses.map((r, i) => (i === 0 ? { ...r, seedShares: r.seedShares.map((b, j) => (j === 15 ? b ^ 1 : b)) } : r));
    await expect(w.researcher.finalize({ ...good, responses: altered })).rejects.toMatchObject({ code: 'ERR_JL_TOO_FEW' });
    const res = await w.researcher.finalize(good);
    for (let j = 0; j < 5; j++) expect(res.sums[j]).toBe(w.fed.nodes.reduce((a, id) => a + inputs[id]![j]!, 0));
  });

  it('with a dropped node, a tampered key-recovery answer is ignored when t others remain, and detected otherwise', async () => {
    const w = cachedWorld(5, 3);
    const tag = { federation: 'fed', experiment: 'tamper', round: 0, attempt: 0 };
    const inputs = randomInputs(w.fed, 7, 12, 11);
    const agg = aggregatorFor(w, tag, 7, 12);
    for (const id of w.fed.nodes.slice(0, 4)) agg.receive(w.nodes[id]!.submit(tag, inputs[id]!, 12));
    const req = w.researcher.approve(agg.close());
    agg.accept(req);
    for (const id of req.survivors) agg.receiveResponse(await w.nodes[id]!.unmask(agg.inputFor(id)));
    const good = agg.aggregate();
    const scheme = w.nodes['n01']!.scheme;
    const forged = scheme.serialize(scheme.deserialize(good.responses[0]!.keyRecovery, 1).map((v) => (v * 2n) % scheme.n2));
    const bad = good.responses.map((r, i) => (i === 0 ? { ...r, keyRecovery: forged } : r));
    // Signature no longer matches: ignored; the other three suffice.
    const res = await w.researcher.finalize({ ...good, responses: bad });
    for (let j = 0; j < 7; j++) expect(res.sums[j]).toBe(req.survivors.reduce((a, id) => a + inputs[id]![j]!, 0));
    await expect(w.researcher.finalize({ ...good, responses: bad.slice(0, 3) })).rejects.toMatchObject({ code: 'ERR_JL_TOO_FEW' });
    // A malicious node signing its forged answer makes decryption fail loudly, never a wrong sum.
    const { signature: _sig, ...body } = { ...good.responses[0]!, keyRecovery: forged };
    void _sig;
    const signed = { ...body, signature: sign(w.fed.ids[body.from]!.secretKey, responseDigest(body)) };
    await expect(w.researcher.finalize({ ...good, responses: [signed, ...good.responses.slice(1, 3)] })).rejects.toMatchObject({ code: expect.stringMatching(/ERR_JL_(DECRYPT|SLOT_OVERFLOW)/) });
  });
});
