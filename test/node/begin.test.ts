/**
 * A node facing a rogue aggregator (a real gRPC server with the aggregator's certificate) that
 * names the same participant several times in `begin` to get past the node's participant floor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalFederation } from '../../aggregator/localfed.ts';
import { statsVectorLength } from '../../node/agent.ts';
import { encodePlanBundle, planHash } from '../../proto/plan.ts';
import { firstOutcome, startRogueRound } from './rogue.ts';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('node agent against a rogue aggregator', () => {
  it('refuses a begin that repeats a participant to reach its participant floor (nothing is uploaded)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-begin-'));
    dirs.push(dir);
    const fed = await createLocalFederation(dir, { nodes: ['n1', 'n2', 'n3'], researchers: ['alice'] });
    const plan = encodePlanBundle({ name: 'feature-stats', kind: 'stats', numParams: 3, meta: {}, sections: {} });
    const work = {
      experiment: 'e', round: 0, attempt: 1, tag: 'cohort', kind: 'stats', plan: planHash(plan), args: { learningRate: 0.1, epochs: 1, batchSize: 8 },
      secagg: 'off', dp: { mode: 'off', noiseMultiplier: 0, clipNorm: 1, delta: 1e-5 }, participants: ['n1', 'n2', 'n3'], minParticipants: 3,
    };
    const run = await startRogueRound(fed, dir, plan, { schemes: ['off'], requireSecureAggregation: false, requireDp: false, minParticipants: 3 }, (env, send) => {
      if (env.type === 'hello') {
        send('welcome', { aggregator: 'aggregator' });
        send('work', { work, seq: 1, vectorLength: statsVectorLength(3), codec: {}, aggregator: 'aggregator' });
      } else if (env.type === 'accept') {
        send('begin', { participants: ['n1', 'n1', 'n1'] });
      }
    }, 'e/r0/a1');
    try {
      // The node either refuses (audited) or goes on to release its statistics.
      const outcome = await firstOutcome(run.audit, () => (run.audit.entries().some((e) => e.type === 'release') ? 'release' : undefined));
      expect(outcome).toContain('duplicate');
      expect(run.uploads()).toBe(0);
    } finally {
      run.close();
    }
  });
});
