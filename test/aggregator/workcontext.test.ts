import { describe, expect, it } from 'vitest';
import { workContext } from '../../proto/secagg.ts';
import { validateWorkRequest, type WorkRequest } from '../../proto/work.ts';

describe('work context bound into masking rounds', () => {
  const work: WorkRequest = {
    experiment: 'e1', round: 2, attempt: 1, tag: 'cohort', kind: 'train', plan: 'a'.repeat(64), model: 'b'.repeat(64),
    args: { learningRate: 0.5, epochs: 1, batchSize: 64 }, secagg: 'masking',
    dp: { mode: 'distributed', noiseMultiplier: 4, clipNorm: 1, delta: 1e-5 }, participants: ['n1', 'n2', 'n3'], minParticipants: 3,
  };
  const codec = { type: 'fixed', bits: 32, clip: 2, scale: 1024, noiseBound: 5000 };

  it('is what a node recomputes from the wire (key order and JSON round trip do not matter)', () => {
    const wire = JSON.parse(JSON.stringify({ work, codec })) as { work: unknown; codec: Record<string, unknown> };
    const reordered = { noiseBound: 5000, scale: 1024, clip: 2, bits: 32, type: 'fixed' };
    expect(workContext(validateWorkRequest(wire.work), wire.codec)).toEqual(workContext(work, codec));
    expect(workContext(work, reordered)).toEqual(workContext(work, codec));
    expect(workContext(work, codec)).toHaveLength(32);
  });

  it('changes with every DP, training and codec parameter', () => {
    const base = workContext(work, codec);
    const variants: Array<[WorkRequest, Record<string, unknown>]> = [
      [{ ...work, dp: { ...work.dp, noiseMultiplier: 0.3 } }, codec],
      [{ ...work, dp: { ...work.dp, clipNorm: 10 } }, codec],
      [{ ...work, minParticipants: 10 }, codec],
      [{ ...work, args: { ...work.args, learningRate: 0.01 } }, codec],
      [work, { ...codec, scale: 2048 }],
    ];
    for (const [w, c] of variants) expect(workContext(w, c)).not.toEqual(base);
  });
});
