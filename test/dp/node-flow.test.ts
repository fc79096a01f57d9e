// The flow a node service runs before an update leaves it: check the mechanism against the node's
// policy, charge the ledger (durably), then privatize and release; refuse when over budget.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  assertMechanismAllowed,
  calibrateNoiseMultiplier,
  dpSgdStep,
  poissonSample,
  roundEvent,
  samplingRateFor,
  type DpMechanismConfig,
} from '../../crypto/dp/index.ts';
import { seededRandomSource } from '../../crypto/random.ts';
import { PrivacyLedger } from '../../node/ledger/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedsec-dp-flow-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('node-side DP flow', () => {
  it('record-level local DP-SGD rounds are charged before release and stop at the budget', () => {
    const rng = seededRandomSource(new Uint8Array(32).fill(9));
    const datasetSize = 500;
    const q = samplingRateFor(25, datasetSize);
    const stepsPerRound = 5;
    // Researcher calibrates for 4 rounds at eps 3 (lattice noise, rigorous accounting).
    const { noiseMultiplier } = calibrateNoiseMultiplier({ targetEpsilon: 3, delta: 1e-6, samplingRate: q, steps: 4 * stepsPerRound, discreteNoise: true, tolerance: 1e-4 });
    const config: DpMechanismConfig = { mode: 'local', unit: 'record', clipNorm: 1, noiseMultiplier, samplingRate: q, stepsPerRound };
    assertMechanismAllowed(config, { allowedModes: ['local', 'distributed'], minNoiseMultiplier: 0.5 });

    const ledger = PrivacyLedger.open(join(dir, 'ledger.log'));
    ledger.setBudget('icu', { maxEpsilon: 3, delta: 1e-6 });
    const cols = 8;
    const data = new Float64Array(datasetSize * cols).map((_, i) => Math.sin(i));
    const released: Float64Array[] = [];
    let refused: unknown;
    for (let round = 0; round < 6; round++) {
      try {
        ledger.spend('icu', roundEvent(config), `round-${round}`);
      } catch (e) {
        refused = e;
        break;
      }
      let update = new Float64Array(cols);
      for (let s = 0; s < stepsPerRound; s++) {
        const idx = poissonSample(datasetSize, q, rng);
        const batch = new Float64Array(idx.length * cols);
        idx.forEach((r, k) => batch.set(data.subarray(r * cols, (r + 1) * cols), k * cols));
        const g = dpSgdStep({ rows: idx.length, cols, data: batch }, { clipNorm: 1, noiseMultiplier, expectedBatchSize: q * datasetSize }, rng);
        update = update.map((u, j) => u - 0.1 * g[j]!);
      }
      released.push(update);
    }
    expect(released.length).toBe(4);
    expect(refused).toMatchObject({ code: 'ERR_DP_BUDGET_EXCEEDED' });
    const st = ledger.status('icu');
    expect(st.spends).toBe(4);
    expect(st.spentEpsilon).toBeLessThanOrEqual(3);
    expect(st.spentEpsilon).toBeGreaterThan(2.9);
    ledger.close();
  });
});
