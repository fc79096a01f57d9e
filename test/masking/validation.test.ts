import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AGG, codeOf, makeConfig, makeFederation, plainSum, Stepper } from './harness.ts';
import { isFedsecError, InvalidArgumentError, InvalidMessageError } from '../../common/errors.ts';
import { MaskingRound } from '../../crypto/masking/config.ts';
import { MaskingClient } from '../../crypto/masking/client.ts';
import { parseClientMessage, parseServerMessage, splitMaskedInput, type ClientMessage, type MaskedInputMessage, type Outgoing } from '../../crypto/masking/messages.ts';

const fed = makeFederation(5, 5);
const fed20 = makeFederation(20, 6);

function fieldOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof InvalidArgumentError || e instanceof InvalidMessageError) return e.field;
    if (isFedsecError(e)) return `code:${e.code}`;
    return `untyped:${String(e)}`;
  }
  return undefined;
}

describe('masking engine: configuration', () => {
  it.each<[string, Record<string, unknown>]>([
    ['config.federation', { federation: 'other-fed' }],
    ['config.round', { round: -1 }],
    ['config.round', { round: Number.NaN }],
    ['config.aggregator', { aggregator: 'node-00' }],
    ['config.participants', { participants: 'node-00' }],
    ['config.participants.length', { participants: ['node-00'] }],
    ['config.participants[1]', { participants: ['node-00', 'node-00'] }],
    ['config.participants[0]', { participants: ['ghost', 'node-00'] }],
    ['config.participants[2]', { participants: ['node-00', 'node-01', AGG] }],
    ['config.threshold', { threshold: 2 }],
    ['config.threshold', { threshold: 6 }],
    ['config.threshold', { threshold: Number.POSITIVE_INFINITY }],
    ['config.vectorLength', { vectorLength: 0 }],
    ['config.vectorLength', { vectorLength: 2 ** 29 + 1 }],
    ['config.bits', { bits: 0 }],
    ['config.bits', { bits: 33 }],
    ['config.neighbours', { neighbours: 0 }],
  ])('refuses %s = %o', (field, over) => {
    expect(fieldOf(() => new MaskingRound({ ...makeConfig(fed), ...over } as never, fed.roster))).toBe(field);
  });

  it('refuses an odd sparse neighbour count and a non-object config', () => {
    expect(fieldOf(() => new MaskingRound(makeConfig(fed20, { neighbours: 5, threshold: 4 }), fed20.roster))).toBe('config.neighbours');
    expect(fieldOf(() => new MaskingRound(null as never, fed.roster))).toBe('config');
  });

  it('client options: id, identity key length and identity key match are checked', () => {
    const config = makeConfig(fed);
    const ok = { config, roster: fed.roster, id: 'node-01', identitySecretKey: fed.secrets.get('node-01')! };
    expect(fieldOf(() => new MaskingClient({ ...ok, id: 'node-99' }))).toBe('id');
    expect(fieldOf(() => new MaskingClient({ ...ok, identitySecretKey: new Uint8Array(31) }))).toBe('identitySecretKey');
    expect(fieldOf(() => new MaskingClient({ ...ok, identitySecretKey: fed.secrets.get('node-02')! }))).toBe('identitySecretKey');
  });

  it('SecAgg+ graph: k-regular, symmetric, no self loops, the same at every member, different per round', () => {
    const a = new MaskingRound(makeConfig(fed20, { neighbours: 6, threshold: 5 }), fed20.roster);
    const b = new MaskingRound(makeConfig(fed20, { neighbours: 6, threshold: 5 }), fed20.roster);
    const c = new MaskingRound(makeConfig(fed20, { neighbours: 6, threshold: 5, round: 8 }), fed20.roster);
    expect(a.complete).toBe(false);
    let differs = false;
    for (const id of fed20.ids) {
      const ns = a.neighboursOf(id);
      expect(ns.size).toBe(6);
      expect(ns.has(id)).toBe(false);
      for (const j of ns) expect(a.areNeighbours(j, id)).toBe(true);
      expect([...ns].sort()).toEqual([...b.neighboursOf(id)].sort());
      if ([...ns].sort().join() !== [...c.neighboursOf(id)].sort().join()) differs = true;
    }
    expect(differs).toBe(true);
    const full = new MaskingRound(makeConfig(fed20, { neighbours: 40, threshold: 11 }), fed20.roster);
    expect(full.complete).toBe(true);
    expect(full.neighboursOf('node-03').size).toBe(19);
  });
});

describe('masking engine: inputs and messages', () => {
  it('the input vector: NaN/Infinity, wrong length, wrong type and out-of-ring words name the field "input"', () => {
    const s = new Stepper(fed, makeConfig(fed, { threshold: 4, bits: 8, vectorLength: 4 }));
    const shares = s.toServer(s.toClients(s.toServer(s.advertise())));
    const o = shares[0]!;
    const c = s.clients.get(o.to)!;
    for (const bad of [[1, Number.NaN, 3, 4], Float64Array.of(1, 2, Infinity, 4), new Uint32Array(3), Uint32Array.of(1, 2, 256, 4), new Int32Array(4), undefined]) {
      expect(fieldOf(() => c.maskInput(o.message, bad as never))).toBe('input');
    }
    expect(fieldOf(() => c.receive(o.message))).toBe('input');
    expect(c.stage).toBe('shares');
  });

  it('a client given garbage names the field and keeps its state', () => {
    const s = new Stepper(fed, makeConfig(fed, { threshold: 4 }));
    const keys = s.toServer(s.advertise());
    const c = s.clients.get(keys[0]!.to)!;
    expect(fieldOf(() => c.receive(null))).toBe('message');
    expect(fieldOf(() => c.receive({ stage: 'bogus' }))).toBe('stage');
    expect(fieldOf(() => c.receive({ ...keys[0]!.message, keys: 'x' }))).toBe('keys');
    expect(fieldOf(() => c.receive({ ...keys[0]!.message, keys: [{ id: 'node-02' }] }))).toBe('keys[0].encryptionKey');
    expect(codeOf(() => c.receive({ ...keys[0]!.message, recipient: 'node-04' === c.id ? 'node-03' : 'node-04' }))).toBe('ERR_SECAGG_UNEXPECTED_SENDER');
    expect(codeOf(() => c.receive({ ...keys[0]!.message, sender: 'node-01' }))).toBe('ERR_SECAGG_UNEXPECTED_SENDER');
    expect(codeOf(() => c.advertiseKeys())).toBe('ERR_SECAGG_WRONG_STAGE');
    expect(c.stage).toBe('keys');
    expect(c.receive(keys[0]!.message).stage).toBe('share-keys');
  });

  it('truncated, mistyped or oversized fields of every client message name the field', () => {
    const s = new Stepper(fed, makeConfig(fed, { threshold: 4 }));
    const r = s.server.round;
    const adv = s.advertise()[0]!;
    expect(fieldOf(() => parseClientMessage(r, null))).toBe('message');
    expect(fieldOf(() => parseClientMessage(r, 'advertise-keys'))).toBe('message');
    expect(fieldOf(() => parseClientMessage(r, [adv]))).toBe('message');
    expect(fieldOf(() => parseClientMessage(r, new Uint8Array(3)))).toBe('message');
    for (const f of ['stage', 'federation', 'round', 'sender', 'encryptionKey', 'maskKey', 'signature']) {
      const m: Record<string, unknown> = { ...adv };
      delete m[f];
      expect(fieldOf(() => parseClientMessage(r, m))).toBe(f);
    }
    expect(fieldOf(() => parseClientMessage(r, { ...adv, maskKey: adv.maskKey.subarray(0, 31) }))).toBe('maskKey');
    expect(fieldOf(() => parseClientMessage(r, { ...adv, signature: [...adv.signature] }))).toBe('signature');
    expect(fieldOf(() => parseClientMessage(r, { ...adv, round: 7.5 }))).toBe('round');
    expect(fieldOf(() => parseClientMessage(r, { ...adv, sender: '../etc' }))).toBe('sender');
    expect(fieldOf(() => parseClientMessage(r, { ...adv, federation: 'x'.repeat(200) }))).toBe('federation');
    const mi = { stage: 'masked-input', federation: r.federation, round: r.round, sender: 'node-00', offset: 0, words: new Uint32Array(8) };
    expect(fieldOf(() => parseClientMessage(r, { ...mi, offset: 8 }))).toBe('offset');
    expect(fieldOf(() => parseClientMessage(r, { ...mi, words: new Uint32Array(9) }))).toBe('words');
    expect(fieldOf(() => parseClientMessage(r, { ...mi, words: new Uint32Array(0) }))).toBe('words');
    expect(fieldOf(() => parseClientMessage(r, { ...mi, words: new Float64Array(8) }))).toBe('words');
    const sk = { stage: 'share-keys', federation: r.federation, round: r.round, sender: 'node-00', shares: [{ to: 'node-01', ciphertext: new Uint8Array(101) }] };
    expect(fieldOf(() => parseClientMessage(r, sk))).toBe('shares[0].ciphertext');
    expect(fieldOf(() => parseClientMessage(r, { ...sk, shares: Array.from({ length: 6 }, () => sk.shares[0]) }))).toBe('shares');
    expect(fieldOf(() => parseClientMessage(r, { ...sk, shares: [{ ciphertext: new Uint8Array(102) }] }))).toBe('shares[0].to');
    const um = { stage: 'unmask', federation: r.federation, round: r.round, sender: 'node-00', selfMaskShares: [{ owner: 'node-01', share: new Uint8Array(36) }], maskKeyShares: [] };
    expect(fieldOf(() => parseClientMessage(r, um))).toBe('selfMaskShares[0].share');
    expect(fieldOf(() => parseClientMessage(r, { ...um, maskKeyShares: undefined, selfMaskShares: [] }))).toBe('maskKeyShares');
  });

  it('server messages: unsorted or unknown ids, wrong recipient type and missing lists name the field', () => {
    const r = new MaskingRound(makeConfig(fed), fed.roster);
    const base = { stage: 'unmask-request', federation: r.federation, round: r.round, sender: AGG, recipient: 'node-00', survivors: ['node-00', 'node-01'], dropped: [], signatures: [] };
    expect(parseServerMessage(r, base).stage).toBe('unmask-request');
    expect(fieldOf(() => parseServerMessage(r, { ...base, survivors: ['node-01', 'node-00'] }))).toBe('survivors[1]');
    expect(fieldOf(() => parseServerMessage(r, { ...base, survivors: ['node-01', 'node-01'] }))).toBe('survivors[1]');
    expect(codeOf(() => parseServerMessage(r, { ...base, dropped: ['node-77'] }))).toBe('ERR_SECAGG_UNEXPECTED_SENDER');
    expect(fieldOf(() => parseServerMessage(r, { ...base, recipient: 5 }))).toBe('recipient');
    expect(fieldOf(() => parseServerMessage(r, { ...base, signatures: [{ id: 'node-00', signature: new Uint8Array(63) }] }))).toBe('signatures[0].signature');
    expect(fieldOf(() => parseServerMessage(r, { ...base, stage: 'advertise-keys' }))).toBe('stage');
    expect(codeOf(() => parseServerMessage(r, { ...base, federation: 'fed-other' }))).toBe('ERR_SECAGG_WRONG_FEDERATION');
  });

  it('the server refuses out-of-stage, unknown, duplicate and out-of-order messages without changing state', () => {
    const s = new Stepper(fed, makeConfig(fed, { threshold: 4, vectorLength: 6, bits: 16 }));
    const adv = s.advertise();
    expect(codeOf(() => s.server.receive({ ...adv[0]!, stage: 'consistency' }))).toBe('ERR_SECAGG_WRONG_STAGE');
    expect(codeOf(() => s.server.receive({ ...adv[0]!, sender: 'researcher-1' }))).toBe('ERR_SECAGG_UNEXPECTED_SENDER');
    expect(s.server.receive(adv[0])).toEqual([]);
    expect(codeOf(() => s.server.receive(adv[0]))).toBe('ERR_SECAGG_DUPLICATE');
    expect(codeOf(() => s.server.receive({ ...adv[1]!, maskKey: adv[0]!.maskKey }))).toBe('ERR_SECAGG_BAD_SIGNATURE');
    expect(codeOf(() => s.server.result())).toBe('ERR_SECAGG_STATE');
    const keys = s.toServer(adv.slice(1));
    const sk = s.toClients(keys);
    const first = sk[0] as Extract<ClientMessage, { stage: 'share-keys' }>;
    expect(fieldOf(() => s.server.receive({ ...first, shares: first.shares.slice(1) }))).toBe('shares');
    expect(codeOf(() => s.server.receive({ ...first, shares: [first.shares[0], first.shares[0], ...first.shares.slice(2)] }))).toBe('ERR_SECAGG_DUPLICATE');
    const shares = s.toServer(sk);
    const mi = s.toClients(shares) as MaskedInputMessage[];
    const [c0, c1] = [splitMaskedInput(mi[0]!, 4), splitMaskedInput(mi[1]!, 4)];
    expect(fieldOf(() => s.server.receive(c0[1]))).toBe('offset');
    expect(fieldOf(() => s.server.receive({ ...c0[0]!, words: Uint32Array.of(1, 2, 65536, 4) }))).toBe('words');
    expect(s.server.pending()).toEqual(fed.ids);
    // Interleaved streaming: chunks of different senders arrive mixed; the sum is built incrementally.
    let out: Outgoing[] = [];
    for (const m of [c0[0]!, c1[0]!, c1[1]!, c0[1]!, ...mi.slice(2)]) out = out.concat(s.server.acceptMaskedChunk(m.sender, m.offset, m.words));
    expect(out.map((o) => o.message.stage)).toEqual(Array(5).fill('consistency-request'));
    s.toServer(s.toClients(s.toServer(s.toClients(out))));
    expect([...s.server.result().sum]).toEqual([...plainSum([...s.inputs.values()], 6, 16)]);
    expect(codeOf(() => s.server.receive(adv[0]))).toBe('ERR_SECAGG_WRONG_STAGE');
  });

  it('an upload cut off mid-stream aborts the round (ERR_SECAGG_INCOMPLETE_UPLOAD); an aborted server refuses everything', () => {
    const s = new Stepper(fed, makeConfig(fed, { threshold: 4, vectorLength: 6 }));
    const mi = s.toClients(s.toServer(s.toClients(s.toServer(s.advertise())))) as MaskedInputMessage[];
    s.server.receive(splitMaskedInput(mi[0]!, 4)[0]);
    for (const m of mi.slice(1)) s.server.receive(m);
    expect(codeOf(() => s.server.closeStage())).toBe('ERR_SECAGG_INCOMPLETE_UPLOAD');
    expect(s.server.stage).toBe('aborted');
    expect(codeOf(() => s.server.receive(mi[0]))).toBe('ERR_SECAGG_ABORTED');
    expect(codeOf(() => s.server.result())).toBe('ERR_SECAGG_STATE');
  });

  it('unmask answers: shares of non-survivors, shares the sender cannot hold and shares with a foreign index are refused', () => {
    const s = new Stepper(fed, makeConfig(fed, { threshold: 4 }));
    const reqs = s.toServer(s.toClients(s.toServer(s.toClients(s.toServer(s.toClients(s.toServer(s.advertise())))))));
    const answers = s.toClients(reqs) as Extract<ClientMessage, { stage: 'unmask' }>[];
    const a = answers[0]!;
    expect(codeOf(() => s.server.receive({ ...a, maskKeyShares: [{ owner: 'node-01', share: a.selfMaskShares[1]!.share }] }))).toBe('ERR_SECAGG_UNEXPECTED_SENDER');
    expect(fieldOf(() => s.server.receive({ ...a, selfMaskShares: [{ owner: a.selfMaskShares[0]!.owner, share: answers[1]!.selfMaskShares[0]!.share }] }))).toBe('selfMaskShares[0].share');
    expect(fieldOf(() => s.server.receive({ ...a, selfMaskShares: [{ owner: 'node-01', share: new Uint8Array(37).fill(255) }] }))).toBe('selfMaskShares[0].share');
    expect(codeOf(() => s.server.receive({ ...a, selfMaskShares: [a.selfMaskShares[1]!, a.selfMaskShares[1]!] }))).toBe('ERR_SECAGG_DUPLICATE');
    s.toServer(answers);
    expect([...s.server.result().sum]).toEqual([...plainSum([...s.inputs.values()], 8, 32)]);
  });

  it('property: any field of any client message replaced by an arbitrary value is refused with a typed error (or is harmless), and the round still ends exactly', () => {
    fc.assert(fc.property(fc.nat(), fc.nat(), fc.anything({ withTypedArray: true, withBigInt: true, withNullPrototype: true }), (which, fieldPick, junk) => {
      const s = new Stepper(fed, makeConfig(fed, { threshold: 4, vectorLength: 3, bits: 12 }), 30);
      const stage = which % 5;
      let msgs: ClientMessage[] = s.advertise();
      let out: Outgoing[] = [];
      for (let st = 0; st <= 4; st++) {
        if (st === stage) {
          const m = msgs[which % msgs.length]! as unknown as Record<string, unknown>;
          const keys = Object.keys(m);
          const k = keys[fieldPick % keys.length]!;
          const before = s.server.pending();
          try {
            s.server.receive({ ...m, [k]: junk });
          } catch (e) {
            if (!isFedsecError(e)) throw e;
            expect(s.server.pending()).toEqual(before);
          }
          if (s.server.pending().length < before.length) return; // the junk happened to be valid (harmless duplicate of the field)
        }
        out = s.toServer(msgs);
        if (st < 4) msgs = s.toClients(out);
      }
      expect([...s.server.result().sum]).toEqual([...plainSum([...s.inputs.values()], 3, 12)]);
    }), { numRuns: 8 });
  });
});
