import { describe, expect, it } from 'vitest';
import { runJlBench } from '../../bench/jl.ts';
import { fixtureModulus } from './helpers.ts';

describe('JL bench (small, real protocol)', () => {
  it('reports the required figures and an exact sum, with and without dropouts', async () => {
    const modulus = fixtureModulus(1024);
    for (const dropouts of [0, 1]) {
      const r = await runJlBench({ params: 300, nodes: 4, dropouts, workers: 1, modulus });
      expect(r).toMatchObject({ scheme: 'jl', params: 300, nodes: 4, modulusBits: 1024, insecureModulus: true, dropouts, threshold: 3, slotBits: 19, slotsPerCiphertext: 53, ciphertexts: 6, exact: true });
      for (const k of ['nodeEncryptCpuS', 'nodeCriticalPathS', 'aggregatorS', 'researcherDecryptCpuS', 'researcherCriticalPathS', 'totalNodeCpuS'] as const) expect(r[k]).toBeGreaterThanOrEqual(0);
      expect(r.ciphertextBytesPerParam).toBeCloseTo((6 * 256) / 300, 3);
    }
    await expect(runJlBench({ params: 10, nodes: 4, dropouts: 2, modulus })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});
