import { describe, expect, it } from 'vitest';
import { MaskingScheme } from '../../aggregator/schemes.ts';
import { RoundRun, type RoundRequest } from '../../aggregator/service.ts';
import type { RoundRecord } from '../../aggregator/store.ts';
import { MaskingClient } from '../../crypto/masking/index.ts';
import type { ClientMessage } from '../../crypto/masking/messages.ts';
import { seededRandomSource } from '../../crypto/random.ts';
import { decodeEngineMessage } from '../../proto/envelope.ts';
import type { Envelope } from '../../proto/rpc.ts';
import { maskingConfigFor } from '../../proto/secagg.ts';
import { AGG, FED, makeFederation } from '../masking/harness.ts';

const LEN = 6;

describe('aggregator masking scheme', () => {
  it('an engine abort caused by a node message (inconsistent unmask shares) ends the attempt at once with its code', async () => {
    const fed = makeFederation(4);
    const record: RoundRecord = {
      experiment: 'e', round: 0, attempt: 1, tag: 'e/r0/a1', seq: 11, status: 'running', kind: 'stats',
      participants: fed.ids, contributors: [], metrics: {}, started: new Date().toISOString(),
    };
    const request: RoundRequest = {
      experiment: 'e', round: 0, kind: 'stats', tag: 'cohort', plan: 'a'.repeat(64), args: { learningRate: 0.1, epochs: 1, batchSize: 8 },
      secagg: 'masking', dp: { mode: 'off', noiseMultiplier: 0, clipNorm: 1, delta: 1e-5 }, minParticipants: 3, vectorLength: LEN,
      codec: { type: 'fixed', clip: 1 }, stageTimeoutMs: 10 * 60_000,
    };
    const queue: Array<[string, Envelope]> = [];
    const run = new RoundRun(record, request, fed.ids, (n, env) => queue.push([n, env]), () => undefined);
    const scheme = new MaskingScheme(run, { federation: FED, aggregator: AGG, roster: () => fed.roster });
    const config = maskingConfigFor(FED, record.seq, AGG, fed.ids, request.minParticipants, LEN);
    const rng = seededRandomSource(new Uint8Array(32).fill(5));
    const clients = new Map(fed.ids.map((id) => [id, new MaskingClient({ config, roster: fed.roster, id, identitySecretKey: fed.secrets.get(id)!, rng })]));
    const result = scheme.aggregate(fed.ids);
    result.catch(() => undefined);
    const errors: unknown[] = [];
    const deliver = (from: string, reply: ClientMessage): void => {
      try {
        if (reply.stage === 'masked-input') {
          const words = (reply as { words: Uint32Array }).words;
          const sink = scheme.openUpload(from);
          sink.chunk(0, new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
          sink.complete();
          return;
        }
        if (reply.stage === 'unmask' && from === fed.ids[0]) {
          // A malicious node reveals a corrupted self-mask share.
          const s = reply.selfMaskShares[0]!.share;
          s[s.length - 1] ^= 1;
        }
        scheme.onRelay(from, reply);
      } catch (e) {
        errors.push(e);
      }
    };
    for (const [id, c] of clients) deliver(id, c.advertiseKeys());
    while (queue.length > 0) {
      const [to, env] = queue.shift()!;
      deliver(to, clients.get(to)!.receive(decodeEngineMessage(env.payload), new Uint32Array(LEN).fill(7)));
    }
    try {
      await expect(result).rejects.toMatchObject({ code: 'ERR_SECAGG_RECONSTRUCTION_FAILED' });
      expect(errors).toEqual([expect.objectContaining({ code: 'ERR_SECAGG_RECONSTRUCTION_FAILED' })]);
    } finally {
      run.abort.abort();
    }
  }, 20_000);
});
