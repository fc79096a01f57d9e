import { describe, expect, it } from 'vitest';
import { codeOf, makeConfig, makeFederation, plainSum, Stepper } from './harness.ts';
import { sign } from '../../crypto/ed25519.ts';
import { combineBytes32, decodeShare256, encodeShare256, SHAMIR_PRIME_256 } from '../../crypto/shamir.ts';
import { advertisePayload, consistencyPayload } from '../../crypto/masking/client.ts';
import type { ClientMessage, KeysMessage, Outgoing, SharesMessage, UnmaskMessage, UnmaskRequestMessage } from '../../crypto/masking/messages.ts';

const fed5 = makeFederation(5, 3);
const fed7 = makeFederation(7, 4);

/** How many shares of `victim`'s self-mask seed and of its mask key a set of unmask answers reveals. */
function exposure(answers: readonly ClientMessage[], victim: string): { self: number; key: number } {
  let self = 0;
  let key = 0;
  for (const a of answers as UnmaskMessage[]) {
    self += a.selfMaskShares.filter((s) => s.owner === victim).length;
    key += a.maskKeyShares.filter((s) => s.owner === victim).length;
  }
  return { self, key };
}

/** Runs honestly up to the server's unmask requests. */
function upToUnmask(s: Stepper): Outgoing[] {
  const keys = s.toServer(s.advertise());
  const shares = s.toServer(s.toClients(keys));
  const cons = s.toServer(s.toClients(shares));
  return s.toServer(s.toClients(cons));
}

describe('masking engine: malicious server', () => {
  it('victim listed both as survivor and as dropped: every honest client refuses (ERR_SECAGG_INCONSISTENT_LISTS) and reveals nothing; the honest request still completes', () => {
    const s = new Stepper(fed5, makeConfig(fed5, { threshold: 4 }));
    const reqs = upToUnmask(s);
    const victim = fed5.ids[2]!;
    const answers: ClientMessage[] = [];
    for (const o of reqs) {
      const forged: UnmaskRequestMessage = { ...(o.message as UnmaskRequestMessage), dropped: [victim] };
      expect(codeOf(() => answers.push(s.clients.get(o.to)!.unmask(structuredClone(forged))))).toBe('ERR_SECAGG_INCONSISTENT_LISTS');
      expect(s.clients.get(o.to)!.stage).toBe('unmask-request');
    }
    expect(answers).toEqual([]);
    // State was not corrupted: the honest requests still give the exact sum.
    expect(s.toServer(s.toClients(reqs))).toEqual([]);
    expect([...s.server.result().sum]).toEqual([...plainSum([...s.inputs.values()], 8, 32)]);
  });

  it('different survivor lists to different clients: the group that was told the victim dropped refuses every forged unmask request, so the victim\'s mask key is never revealed', () => {
    const cfg = makeConfig(fed7, { threshold: 5 });
    const s = new Stepper(fed7, cfg);
    const keys = s.toServer(s.advertise());
    const shares = s.toServer(s.toClients(keys));
    s.toClients(shares); // every masked input reaches the (malicious) server, which now plays the protocol itself
    const ids = fed7.ids;
    const victim = ids[6]!;
    const groupA = ids.slice(0, 4); // told: victim survived
    const groupB = ids.slice(4, 6); // told: victim dropped
    const listA = [...ids];
    const listB = ids.filter((x) => x !== victim);
    const hdr = { federation: cfg.federation, round: cfg.round, sender: cfg.aggregator };
    const sigs = new Map<string, Uint8Array>();
    for (const id of [...groupA, victim]) {
      const m = s.clients.get(id)!.signSurvivors({ stage: 'consistency-request', ...hdr, recipient: id, survivors: listA });
      sigs.set(id, (m as { signature: Uint8Array }).signature);
    }
    const sigsB = new Map<string, Uint8Array>();
    for (const id of groupB) sigsB.set(id, s.clients.get(id)!.signSurvivors({ stage: 'consistency-request', ...hdr, recipient: id, survivors: listB }).signature);
    // A client signs one list per round: asking again with the other list is refused; the same list is re-signed identically.
    expect(codeOf(() => s.clients.get(groupB[0]!)!.signSurvivors({ stage: 'consistency-request', ...hdr, recipient: groupB[0]!, survivors: listA }))).toBe('ERR_SECAGG_SURVIVOR_MISMATCH');
    expect(s.clients.get(groupB[0]!)!.signSurvivors({ stage: 'consistency-request', ...hdr, recipient: groupB[0]!, survivors: listB }).signature).toEqual(sigsB.get(groupB[0]!));

    const answers: ClientMessage[] = [];
    // Group A (and the victim) hold 5 = t signatures over listA: they answer, revealing self-mask shares only.
    for (const id of [...groupA, victim]) {
      answers.push(s.clients.get(id)!.unmask({ stage: 'unmask-request', ...hdr, recipient: id, survivors: listA, dropped: [], signatures: [...sigs].map(([i, g]) => ({ id: i, signature: g })) }));
    }
    // Group B: every way of asking for the victim's mask-key shares is refused.
    const attempts: Array<[string, Omit<UnmaskRequestMessage, 'recipient'>]> = [
      ['ERR_SECAGG_BELOW_THRESHOLD', { stage: 'unmask-request', ...hdr, survivors: listB, dropped: [victim], signatures: [...sigsB].map(([i, g]) => ({ id: i, signature: g })) }],
      ['ERR_SECAGG_BAD_SIGNATURE', { stage: 'unmask-request', ...hdr, survivors: listB, dropped: [victim], signatures: [...sigs].filter(([i]) => i !== victim).map(([i, g]) => ({ id: i, signature: g })) }],
      ['ERR_SECAGG_INCONSISTENT_LISTS', { stage: 'unmask-request', ...hdr, survivors: listA, dropped: [victim], signatures: [...sigs].map(([i, g]) => ({ id: i, signature: g })) }],
      ['ERR_SECAGG_SURVIVOR_MISMATCH', { stage: 'unmask-request', ...hdr, survivors: listA, dropped: [], signatures: [...sigs].map(([i, g]) => ({ id: i, signature: g })) }],
    ];
    for (const id of groupB) {
      for (const [code, req] of attempts) {
        expect(codeOf(() => answers.push(s.clients.get(id)!.unmask({ ...req, recipient: id })))).toBe(code);
      }
    }
    // Group A already answered and will not answer again with a different list.
    expect(codeOf(() => s.clients.get(groupA[0]!)!.unmask({ stage: 'unmask-request', ...hdr, recipient: groupA[0]!, survivors: listA, dropped: [victim], signatures: [] }))).toBe('ERR_SECAGG_ALREADY_UNMASKED');
    const e = exposure(answers, victim);
    expect(e.self).toBe(5);
    expect(e.key).toBe(0);
    // No honest client ever revealed both kinds of share of the same peer.
    for (const a of answers as UnmaskMessage[]) {
      const selfOwners = new Set(a.selfMaskShares.map((x) => x.owner));
      expect(a.maskKeyShares.some((x) => selfOwners.has(x.owner))).toBe(false);
    }
  });

  it('replayed messages from an earlier round are rejected: as is (ERR_SECAGG_WRONG_ROUND) and with the round number rewritten (signatures and AEAD bind the round)', () => {
    const old = new Stepper(fed5, makeConfig(fed5, { threshold: 4, round: 6 }), 21);
    const oldAdv = old.advertise();
    const oldKeys = old.toServer(oldAdv);
    const oldShares = old.toServer(old.toClients(oldKeys));

    const s = new Stepper(fed5, makeConfig(fed5, { threshold: 4, round: 7 }), 22);
    const adv = s.advertise();
    // Server side.
    expect(codeOf(() => s.server.receive(oldAdv[0]))).toBe('ERR_SECAGG_WRONG_ROUND');
    expect(codeOf(() => s.server.receive({ ...oldAdv[0]!, round: 7 }))).toBe('ERR_SECAGG_BAD_SIGNATURE');
    expect(s.server.pending()).toEqual(fed5.ids);
    const keys = s.toServer(adv);
    // Client side: the keys of round 6.
    const c0 = s.clients.get(keys[0]!.to)!;
    const oldK = oldKeys.find((o) => o.to === keys[0]!.to)!.message;
    expect(codeOf(() => c0.shareKeys(oldK))).toBe('ERR_SECAGG_WRONG_ROUND');
    expect(codeOf(() => c0.shareKeys({ ...oldK, round: 7 }))).toBe('ERR_SECAGG_BAD_SIGNATURE');
    const shares = s.toServer(s.toClients(keys));
    // The shares of round 6, relabelled as round 7: they do not authenticate under round-7 keys.
    const oldS = oldShares.find((o) => o.to === shares[0]!.to)!.message as SharesMessage;
    const c1 = s.clients.get(shares[0]!.to)!;
    expect(codeOf(() => c1.maskInput(oldS, s.inputs.get(c1.id)!))).toBe('ERR_SECAGG_WRONG_ROUND');
    expect(codeOf(() => c1.maskInput({ ...oldS, round: 7 }, s.inputs.get(c1.id)!))).toBe('ERR_SECAGG_BAD_SHARE');
    // A message of another stage is refused too.
    expect(codeOf(() => c1.receive({ ...keys[0]!.message, recipient: c1.id }))).toBe('ERR_SECAGG_WRONG_STAGE');
    // Nothing was corrupted: the round completes exactly.
    const cons = s.toServer(s.toClients(shares));
    const unm = s.toServer(s.toClients(cons));
    s.toServer(s.toClients(unm));
    expect([...s.server.result().sum]).toEqual([...plainSum([...s.inputs.values()], 8, 32)]);
  });

  it('a tampered or re-addressed encrypted share is refused with ERR_SECAGG_BAD_SHARE and leaves the client able to continue', () => {
    const s = new Stepper(fed5, makeConfig(fed5, { threshold: 4, bits: 20 }));
    const shares = s.toServer(s.toClients(s.toServer(s.advertise())));
    const o = shares[1]!;
    const msg = o.message as SharesMessage;
    const c = s.clients.get(o.to)!;
    const flipped = structuredClone(msg);
    (flipped.shares[0]!.ciphertext as Uint8Array)[20] ^= 1;
    expect(codeOf(() => c.maskInput(flipped, s.inputs.get(c.id)!))).toBe('ERR_SECAGG_BAD_SHARE');
    const swapped = structuredClone(msg);
    const [a, b] = [swapped.shares[0]!, swapped.shares[1]!];
    (swapped as { shares: unknown }).shares = [{ from: a.from, ciphertext: b.ciphertext }, { from: b.from, ciphertext: a.ciphertext }, ...swapped.shares.slice(2)];
    expect(codeOf(() => c.maskInput(swapped, s.inputs.get(c.id)!))).toBe('ERR_SECAGG_BAD_SHARE');
    // A bundle addressed to another client, relabelled for this one.
    const other = (shares[2]!.message as SharesMessage).shares.find((x) => x.from !== c.id)!;
    const redirected = { ...msg, shares: msg.shares.map((x) => (x.from === other.from ? { from: x.from, ciphertext: other.ciphertext } : x)) };
    expect(codeOf(() => c.maskInput(redirected, s.inputs.get(c.id)!))).toBe('ERR_SECAGG_BAD_SHARE');
    expect(c.stage).toBe('shares');
    const cons = s.toServer(s.toClients(shares));
    s.toServer(s.toClients(s.toServer(s.toClients(cons))));
    expect([...s.server.result().sum]).toEqual([...plainSum([...s.inputs.values()], 8, 20)]);
  });

  it('unsigned, wrongly signed or substituted round keys are refused with ERR_SECAGG_BAD_SIGNATURE', () => {
    const s = new Stepper(fed5, makeConfig(fed5, { threshold: 4 }));
    const adv = s.advertise();
    // Server side: a zero signature, a signature by another member, keys swapped.
    expect(codeOf(() => s.server.receive({ ...adv[0]!, signature: new Uint8Array(64) }))).toBe('ERR_SECAGG_BAD_SIGNATURE');
    expect(codeOf(() => s.server.receive({ ...adv[0]!, sender: fed5.ids[1] }))).toBe('ERR_SECAGG_BAD_SIGNATURE');
    const keys = s.toServer(adv);
    const o = keys[0]!;
    const c = s.clients.get(o.to)!;
    const km = o.message as KeysMessage;
    const edit = (f: (k: KeysMessage['keys'][number]) => KeysMessage['keys'][number]): KeysMessage => ({ ...km, keys: [f(km.keys[0]!), ...km.keys.slice(1)] });
    const serverKey = new Uint8Array(32).fill(5);
    expect(codeOf(() => c.shareKeys(edit((k) => ({ ...k, signature: new Uint8Array(64) }))))).toBe('ERR_SECAGG_BAD_SIGNATURE');
    expect(codeOf(() => c.shareKeys(edit((k) => ({ ...k, maskKey: serverKey }))))).toBe('ERR_SECAGG_BAD_SIGNATURE');
    const otherId = fed5.ids.find((x) => x !== km.keys[0]!.id && x !== c.id)!;
    const wrongSigner = sign(fed5.secrets.get(otherId)!, new Uint8Array(10));
    expect(codeOf(() => c.shareKeys(edit((k) => ({ ...k, signature: wrongSigner }))))).toBe('ERR_SECAGG_BAD_SIGNATURE');
    // The keys of one member presented as another's.
    expect(codeOf(() => c.shareKeys(edit((k) => ({ ...km.keys[1]!, id: k.id }))))).toBe('ERR_SECAGG_BAD_SIGNATURE');
    // A consistency signature (another stage) presented as a key signature.
    const consSig = sign(fed5.secrets.get(km.keys[0]!.id)!, consistencyPayload(c.round, fed5.ids));
    expect(codeOf(() => c.shareKeys(edit((k) => ({ ...k, signature: consSig }))))).toBe('ERR_SECAGG_BAD_SIGNATURE');
    // A low-order key, properly signed by its (malicious) owner, is refused by the server and by clients.
    const lowOrder = new Uint8Array(32);
    lowOrder[0] = 1; // u = 1: a point of order 4
    const owner = km.keys[0]!.id;
    const badSig = sign(fed5.secrets.get(owner)!, advertisePayload(c.round, owner, km.keys[0]!.encryptionKey, lowOrder));
    expect(codeOf(() => c.shareKeys(edit((k) => ({ ...k, maskKey: lowOrder, signature: badSig }))))).toBe('ERR_SECAGG_BAD_KEY');
    const fresh = new Stepper(fed5, makeConfig(fed5, { threshold: 4, round: 9 }));
    const a0 = fresh.advertise()[0]!;
    const sig0 = sign(fed5.secrets.get(a0.sender)!, advertisePayload(fresh.server.round, a0.sender, a0.encryptionKey, new Uint8Array(32)));
    expect(codeOf(() => fresh.server.receive({ ...a0, maskKey: new Uint8Array(32), signature: sig0 }))).toBe('ERR_SECAGG_BAD_KEY');
    expect(fresh.server.pending()).toContain(a0.sender);
    // Duplicated keys (a reflection of the client's own keys) are refused.
    expect(codeOf(() => c.shareKeys({ ...km, keys: [km.keys[0]!, km.keys[0]!] }))).toBe('ERR_SECAGG_DUPLICATE');
    expect(c.stage).toBe('keys');
    expect(c.shareKeys(km).stage).toBe('share-keys');
  });

  it('a server that drops a victim\'s signature from the unmask request below threshold gets nothing; the victim\'s secrets stay unrecoverable from what it collected', () => {
    const s = new Stepper(fed5, makeConfig(fed5, { threshold: 4 }));
    const reqs = upToUnmask(s);
    const answers: ClientMessage[] = [];
    for (const o of reqs) {
      const m = o.message as UnmaskRequestMessage;
      const forged = { ...m, signatures: m.signatures.slice(0, 3) };
      const code = codeOf(() => answers.push(s.clients.get(o.to)!.unmask(forged)));
      // A client whose own signature is among the three still counts only 3 < t.
      expect(code).toBe('ERR_SECAGG_BELOW_THRESHOLD');
    }
    const victim = fed5.ids[0]!;
    expect(exposure(answers, victim)).toEqual({ self: 0, key: 0 });
    // Sanity of the exposure measure: with the honest requests, the server gets exactly the self-mask seeds.
    const honest = s.toClients(reqs);
    const e = exposure(honest, victim);
    expect(e).toEqual({ self: 5, key: 0 });
    const shares = (honest as UnmaskMessage[]).map((a) => decodeShare256(a.selfMaskShares.find((x) => x.owner === victim)!.share));
    expect(combineBytes32(shares, 4)).toHaveLength(32);
  });

  it('SecAgg+ graph: split survivor lists around a victim are caught per peer — holders shown "victim dropped" need t signatures from the victim\'s own holder set', () => {
    const fed12 = makeFederation(12, 8);
    const cfg = makeConfig(fed12, { neighbours: 4, threshold: 4 });
    const s = new Stepper(fed12, cfg);
    const keys = s.toServer(s.advertise());
    const shares = s.toServer(s.toClients(keys));
    s.toClients(shares);
    const victim = fed12.ids[5]!;
    const g = s.server.round;
    const hood = [...g.neighboursOf(victim)].sort();
    // A holder d of the victim's shares whose own neighbourhood avoids two other holders: those two
    // (with the victim) are told "victim survived", everyone else "victim dropped". d then sees 4 = t
    // valid signatures from its own neighbourhood over the list without the victim.
    const d = hood.find((h) => hood.filter((x) => x !== h && !g.areNeighbours(h, x)).length >= 2)!;
    const far = hood.filter((x) => x !== d && !g.areNeighbours(d, x)).slice(0, 2);
    const groupA = [victim, ...far]; // told: victim survived
    const groupB = hood.filter((x) => !groupA.includes(x));
    const listA = [...fed12.ids];
    const listB = fed12.ids.filter((x) => x !== victim);
    const hdr = { federation: cfg.federation, round: cfg.round, sender: cfg.aggregator };
    const sigA: Array<{ id: string; signature: Uint8Array }> = [];
    const sigB: Array<{ id: string; signature: Uint8Array }> = [];
    for (const id of fed12.ids) {
      const inA = groupA.includes(id);
      const m = s.clients.get(id)!.signSurvivors({ stage: 'consistency-request', ...hdr, recipient: id, survivors: inA ? listA : listB });
      (inA ? sigA : sigB).push({ id, signature: m.signature });
    }
    const answers: ClientMessage[] = [];
    // Holders told the victim dropped: valid signatures over listB from 9 members, at least t from d's own
    // neighbourhood, but only 2 from the victim's holder set.
    expect([d, ...g.neighboursOf(d)].filter((x) => sigB.some((z) => z.id === x)).length).toBeGreaterThanOrEqual(4);
    for (const id of groupB) {
      expect(codeOf(() => answers.push(s.clients.get(id)!.unmask({ stage: 'unmask-request', ...hdr, recipient: id, survivors: listB, dropped: [victim], signatures: sigB })))).toBe('ERR_SECAGG_BELOW_THRESHOLD');
    }
    // Holders told the victim survived: only 3 signatures over listA.
    for (const id of groupA) {
      expect(codeOf(() => answers.push(s.clients.get(id)!.unmask({ stage: 'unmask-request', ...hdr, recipient: id, survivors: listA, dropped: [], signatures: sigA })))).toBe('ERR_SECAGG_BELOW_THRESHOLD');
    }
    expect(exposure(answers, victim)).toEqual({ self: 0, key: 0 });
  });
});

describe('masking engine: malicious node', () => {
  const tamper = (share: Uint8Array): Uint8Array => {
    const d = decodeShare256(share);
    return encodeShare256({ index: d.index, value: (d.value + 1n) % SHAMIR_PRIME_256 });
  };

  it('a wrong self-mask share is caught when more than t holders answer: the round aborts (ERR_SECAGG_RECONSTRUCTION_FAILED) and releases nothing', () => {
    const s = new Stepper(fed5, makeConfig(fed5, { threshold: 3 }));
    const answers = s.toClients(upToUnmask(s)) as UnmaskMessage[];
    const bad = answers[1]!;
    const forged: UnmaskMessage = { ...bad, selfMaskShares: bad.selfMaskShares.map((x, i) => (i === 0 ? { owner: x.owner, share: tamper(x.share) } : x)) };
    let code = 'none';
    for (const a of [answers[0]!, forged, ...answers.slice(2)]) code = codeOf(() => s.server.receive(a));
    expect(code).toBe('ERR_SECAGG_RECONSTRUCTION_FAILED');
    expect(s.server.stage).toBe('aborted');
    expect(codeOf(() => s.server.result())).toBe('ERR_SECAGG_STATE');
  });

  it('a wrong mask-key share of a dropped member is caught even with exactly t answers (checked against the advertised key)', () => {
    const cfg = makeConfig(fed5, { threshold: 3 });
    const s = new Stepper(fed5, cfg);
    const keys = s.toServer(s.advertise());
    const shares = s.toServer(s.toClients(keys));
    const victim = shares[4]!.to;
    const cons = s.toServer(s.toClients(shares.slice(0, 4))); // the fifth member drops before uploading
    const reqs = s.toServer(s.toClients(cons));
    const answers = s.toClients(reqs.slice(0, 3)) as UnmaskMessage[]; // exactly t answer
    const bad = answers[0]!;
    const forged: UnmaskMessage = { ...bad, maskKeyShares: bad.maskKeyShares.map((x) => (x.owner === victim ? { owner: x.owner, share: tamper(x.share) } : x)) };
    s.server.receive(forged);
    s.server.receive(answers[1]);
    s.server.receive(answers[2]);
    expect(codeOf(() => s.server.closeStage())).toBe('ERR_SECAGG_RECONSTRUCTION_FAILED'); // the fourth signer's deadline passed
    expect(s.server.stage).toBe('aborted');
  });
});
