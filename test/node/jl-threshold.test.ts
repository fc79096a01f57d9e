/**
 * A node facing a rogue aggregator (a real gRPC server with the aggregator's certificate) that
 * starts a Joye-Libert key setup whose decryption threshold is below the node's participant
 * floor: with threshold t the researcher could decrypt sums over any t nodes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalFederation } from '../../aggregator/localfed.ts';
import { statsVectorLength } from '../../node/agent.ts';
import { encodeEngineMessage } from '../../proto/envelope.ts';
import { encodePlanBundle, planHash } from '../../proto/plan.ts';
import { firstOutcome, startRogueRound } from './rogue.ts';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

async function runSetup(threshold: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'fedsec-jlthr-'));
  dirs.push(dir);
  const fed = await createLocalFederation(dir, { nodes: ['n1', 'n2', 'n3'], researchers: ['alice'] });
  const plan = encodePlanBundle({ name: 'feature-stats', kind: 'stats', numParams: 3, meta: {}, sections: {} });
  const work = {
    experiment: 'e', round: 0, attempt: 1, tag: 'cohort', kind: 'stats', plan: planHash(plan), args: { learningRate: 0.1, epochs: 1, batchSize: 8 },
    secagg: 'jl', dp: { mode: 'off', noiseMultiplier: 0, clipNorm: 1, delta: 1e-5 }, participants: ['n1', 'n2', 'n3'], minParticipants: 3,
  };
  const modulus = JSON.parse(readFileSync('test/fixtures/jl/modulus-2048.json', 'utf8')) as unknown;
  let advertised = false;
  const run = await startRogueRound(fed, dir, plan, { schemes: ['jl'], requireSecureAggregation: true, requireDp: false, minParticipants: 3 }, (env, send) => {
    if (env.type === 'hello') {
      send('welcome', { aggregator: 'aggregator' });
      send('work', { work, seq: 1, vectorLength: statsVectorLength(3), codec: { clip: 1000 }, aggregator: 'aggregator', roster: fed.roster() });
    } else if (env.type === 'accept') {
      send('begin', { participants: ['n1', 'n2', 'n3'] });
      const start = { stage: 'jl/setup/start', setupId: 's1', nodes: ['n1', 'n2', 'n3'], threshold, researcher: 'alice', modulus };
      send('relay', { stage: start.stage }, encodeEngineMessage(start));
    } else if (env.type === 'relay') {
      advertised = true;
    }
  }, 'e/r0/a1');
  try {
    // Either the node refuses the setup (audited) or it takes part and advertises its setup keys.
    return await firstOutcome(run.audit, () => (advertised ? 'advertised' : undefined));
  } finally {
    run.close();
  }
}

describe('node agent against a rogue Joye-Libert key setup', () => {
  it('refuses a setup threshold below its participant floor and audits the refusal', async () => {
    const outcome = await runSetup(1);
    expect(outcome).toMatch(/^ERR_NODE_POLICY_PARTICIPANTS: .*threshold 1/);
  });
  it('takes part in a setup whose threshold meets the floor', async () => {
    expect(await runSetup(3)).toBe('advertised');
  });
});
