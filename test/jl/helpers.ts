/** Shared fixtures for the JL tests: precomputed moduli (no prime generation in tests). */
import { readFileSync } from 'node:fs';
import { parseModulus, type JlModulus } from '../../crypto/jl/modulus.ts';

/** Loads test/fixtures/jl/modulus-<bits>.json (1024-bit allowed for tests only). */
export function fixtureModulus(bits: 1024 | 2048): JlModulus {
  const text = readFileSync(new URL(`../fixtures/jl/modulus-${bits}.json`, import.meta.url), 'utf8');
  return parseModulus(text, { insecureAllowSmall: true });
}

import { Roster, type RosterMember } from '../../crypto/roster.ts';
import { generateSigningKeyPair } from '../../crypto/ed25519.ts';
import { seededRandomSource, type RandomSource } from '../../crypto/random.ts';
import {
  JlSetupNode,
  JlSetupRelay,
  JlSetupResearcher,
  type JlIdentity,
  type JlNodeKeys,
  type JlResearcherKeys,
  type JlSetupConfig,
} from '../../crypto/jl/setup.ts';

/** A test federation: roster, identities, and a deterministic rng per member. */
export interface TestFederation {
  roster: Roster;
  nodes: string[];
  researcher: string;
  aggregator: string;
  ids: Record<string, JlIdentity>;
  rng: (id: string) => RandomSource;
}

/** n nodes named n01.., a researcher and an aggregator, with Ed25519 identities. */
export function makeFederation(n: number, seed = 1): TestFederation {
  const base = seededRandomSource(new Uint8Array(32).fill(seed));
  const nodes = Array.from({ length: n }, (_, i) => `n${String(i + 1).padStart(2, '0')}`);
  const ids: Record<string, JlIdentity> = {};
  const members: RosterMember[] = [];
  for (const [id, role] of [...nodes.map((x) => [x, 'node'] as const), ['res', 'researcher'] as const, ['agg', 'aggregator'] as const]) {
    const kp = generateSigningKeyPair(base);
    ids[id] = { id, secretKey: kp.secretKey };
    members.push({ id, role, identityKey: kp.publicKey });
  }
  return {
    roster: new Roster('fed', members),
    nodes,
    researcher: 'res',
    aggregator: 'agg',
    ids,
    rng: (id) => seededRandomSource(new Uint8Array(32).map((_, i) => (i * 31 + seed + id.charCodeAt(id.length - 1) * 7 + id.length) & 0xff)),
  };
}

/** Runs the whole setup through the relay; returns every party's material. */
export function runSetup(fed: TestFederation, modulus: JlModulus, threshold: number, setupId = 'setup-1') {
  const cfg: JlSetupConfig = { roster: fed.roster, modulus, setupId, nodes: fed.nodes, researcher: fed.researcher, threshold };
  const relay = new JlSetupRelay(cfg);
  const nodes = fed.nodes.map((id) => new JlSetupNode(cfg, fed.ids[id]!, fed.rng(id)));
  const researcher = new JlSetupResearcher(cfg, fed.ids[fed.researcher]!, fed.rng(fed.researcher));
  for (const s of nodes) relay.addAdvertisement(s.advertise());
  relay.addAdvertisement(researcher.advertise());
  const ads = relay.advertisements();
  researcher.accept(ads);
  for (const s of nodes) relay.addShares(s.deal(ads));
  for (const [i, s] of nodes.entries()) for (const m of relay.sharesFor(fed.nodes[i]!)) s.receive(m);
  for (const s of nodes) relay.addSum(s.complete());
  for (const m of relay.sums()) researcher.receive(m);
  const nodeKeys: Record<string, JlNodeKeys> = {};
  fed.nodes.forEach((id, i) => (nodeKeys[id] = nodes[i]!.keys()));
  const researcherKeys: JlResearcherKeys = researcher.keys();
  return { cfg, nodeKeys, researcherKeys };
}
