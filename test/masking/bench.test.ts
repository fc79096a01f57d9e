import { describe, expect, it } from 'vitest';
import { runMaskingBench } from '../../bench/masking.ts';
import { isFedsecError } from '../../common/errors.ts';

describe('masking benchmark (smoke, no timing assertions)', () => {
  it('reports every figure, 4 upload bytes per parameter, and an exact sum with a dropout', () => {
    const r = runMaskingBench({ params: 70_000, nodes: 4, dropouts: 1, threshold: 3 });
    expect(r).toMatchObject({ scheme: 'masking', params: 70_000, nodes: 4, neighbours: 3, dropouts: 1, threshold: 3, repeats: 3, uploadBytesPerParam: 4, exact: true });
    expect(r.serverUnmaskMsRuns).toHaveLength(3);
    for (const k of ['clientSetupMs', 'clientMaskMs', 'prgBoundMs', 'serverUnmaskMs', 'serverAggregateMs'] as const) expect(r[k]).toBeGreaterThanOrEqual(0);
    const s = runMaskingBench({ params: 1000, nodes: 8, neighbours: 4, threshold: 4, dropouts: 1, bits: 12, repeats: 1 });
    expect(s).toMatchObject({ neighbours: 4, bits: 12, exact: true });
  });

  it('refuses impossible options with typed errors', () => {
    const code = (f: () => unknown): string | undefined => {
      try { f(); } catch (e) { return isFedsecError(e) ? e.code : 'untyped'; }
      return undefined;
    };
    expect(code(() => runMaskingBench({ params: 0, nodes: 4 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => runMaskingBench({ params: 10, nodes: 4, dropouts: 3 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => runMaskingBench({ params: 10, nodes: 10, dropouts: 4 }))).toBe('ERR_INVALID_ARGUMENT');
  });
});
