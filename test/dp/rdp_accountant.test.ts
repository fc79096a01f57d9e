import { describe, expect, it } from 'vitest';
import {
  calibrateNoiseMultiplier,
  computeDelta,
  computeEpsilon,
  deltaFromRdp,
  epsilonFromRdp,
  rdpCurve,
  rdpPoissonGaussian,
  DEFAULT_RDP_ORDERS,
  type DpEvent,
} from '../../crypto/dp/index.ts';
import { loadFixture, rel } from './fixtures.ts';

const curves = loadFixture('rdp_curves.json');
const ref = loadFixture('rdp_reference.json');
const orderSets: Record<string, number[]> = ref.order_sets;

describe('RDP of the Poisson-subsampled Gaussian vs 60-digit mpmath', () => {
  it('matches every (q, sigma, order) of the reference within 1e-9 relative (integer and fractional orders)', () => {
    let n = 0;
    for (const c of curves.curves) {
      for (const p of c.per_step_rdp) {
        const v = rdpPoissonGaussian(c.q, c.sigma, p.order);
        expect(rel(v, p.mpmath_reference), `q=${c.q} sigma=${c.sigma} order=${p.order}`).toBeLessThan(1e-9);
        n++;
      }
    }
    expect(n).toBe(30 * 18);
  });

  it('is exact for q = 1 (alpha / (2 sigma^2)) and increasing in the order', () => {
    expect(rdpPoissonGaussian(1, 2, 3.5)).toBe(3.5 / 8);
    const c = rdpCurve(0.05, 1.3);
    for (let i = 1; i < c.length; i++) expect(c[i]!).toBeGreaterThanOrEqual(c[i - 1]! * (1 - 1e-12));
  });

  it('default orders include fractional orders near 1 and orders up to at least 1024', () => {
    expect(DEFAULT_RDP_ORDERS[0]).toBeLessThan(1.1);
    expect(Math.max(...DEFAULT_RDP_ORDERS)).toBeGreaterThanOrEqual(1024);
    expect(DEFAULT_RDP_ORDERS.some((o) => !Number.isInteger(o))).toBe(true);
  });
});

describe('epsilon vs the libraries (same orders, same conversion)', () => {
  const columns: Array<[string, string, 'classic' | 'improved']> = [
    ['tfp_classic', 'tfp_cli', 'classic'],
    ['tfp_classic_dpa_orders', 'dp_accounting_default', 'classic'],
    ['tfp_hparams2022', 'tfp_cli', 'improved'],
    ['opacus_rdp', 'opacus_default', 'improved'],
  ];
  for (const [col, set, conv] of columns) {
    it(`${col}: all 150 cases within 1e-9 relative, same optimal order`, () => {
      for (const c of ref.cases) {
        const r = epsilonFromRdp(orderSets[set]!, rdpCurve(c.q, c.sigma, c.T, orderSets[set]!), c.delta, conv);
        expect(rel(r.value, c[col].eps), c.id).toBeLessThan(1e-9);
        expect(r.order, c.id).toBe(c[col].order);
      }
    });
  }

  it('dp_accounting_rdp: the conversion applied to its own RDP vector reproduces its epsilon (1e-9)', () => {
    const byPair = new Map<string, number[]>();
    for (const c of curves.curves) byPair.set(`${c.q}|${c.sigma}`, c.full_per_step_rdp_vectors['dp_accounting@dp_accounting_default']);
    for (const c of ref.cases) {
      const v = byPair.get(`${c.q}|${c.sigma}`)!.map((x) => x * c.T);
      const r = epsilonFromRdp(orderSets['dp_accounting_default']!, v, c.delta, 'improved');
      expect(rel(r.value, c.dp_accounting_rdp.eps), c.id).toBeLessThan(1e-9);
    }
  });

  it('dp_accounting_rdp: exact curve is never looser, and equal (1e-9) where the optimum is an integer order', () => {
    let equalCases = 0;
    for (const c of ref.cases) {
      const r = computeEpsilon([{ kind: 'poissonGaussian', samplingRate: c.q, noiseMultiplier: c.sigma, steps: c.T }], c.delta, {
        orders: orderSets['dp_accounting_default']!,
      });
      expect(r.epsilon, c.id).toBeLessThanOrEqual(c.dp_accounting_rdp.eps * (1 + 1e-9));
      if (Number.isInteger(c.dp_accounting_rdp.order) && r.order === c.dp_accounting_rdp.order) {
        expect(rel(r.epsilon, c.dp_accounting_rdp.eps), c.id).toBeLessThan(1e-9);
        equalCases++;
      }
    }
    expect(equalCases).toBeGreaterThan(20);
  });

  it('delta from epsilon matches dp_accounting (improved) and TF Privacy (classic)', () => {
    const byPair = new Map<string, number[]>();
    for (const c of curves.curves) byPair.set(`${c.q}|${c.sigma}`, c.full_per_step_rdp_vectors['dp_accounting@dp_accounting_default']);
    for (const c of ref.delta_from_epsilon) {
      const v = byPair.get(`${c.q}|${c.sigma}`)!.map((x) => x * c.T);
      const d = deltaFromRdp(orderSets['dp_accounting_default']!, v, c.epsilon, 'improved');
      expect(rel(d.value, c.dp_accounting_rdp.delta), `${c.q} ${c.sigma} ${c.T} ${c.epsilon}`).toBeLessThan(1e-9);
      const e: DpEvent = { kind: 'poissonGaussian', samplingRate: c.q, noiseMultiplier: c.sigma, steps: c.T };
      const dc = computeDelta([e], c.epsilon, { orders: orderSets['tfp_cli']!, conversion: 'classic' });
      // delta = exp(...) amplifies relative error by |log delta|: compare log(delta).
      expect(rel(Math.log(dc.delta), Math.log(c.tfp_classic.delta)), `${c.q} ${c.sigma} ${c.T} ${c.epsilon}`).toBeLessThan(1e-9);
    }
  });

  it('reproduces the DP-SGD sanity value (q = 256/60000, sigma 1.1, 60 epochs -> 3.01)', () => {
    const r = computeEpsilon([{ kind: 'poissonGaussian', samplingRate: 256 / 60000, noiseMultiplier: 1.1, steps: 14063 }], 1e-5, {
      orders: orderSets['tfp_cli']!,
      conversion: 'classic',
    });
    expect(r.epsilon).toBeCloseTo(3.01, 2);
  });
});

describe('heterogeneous composition', () => {
  const comp = loadFixture('composition.json');
  for (const c of comp.compositions) {
    it(`${c.name}: RDP columns within 1e-9, PLD within 1% of dp_accounting`, () => {
      const events: DpEvent[] = c.segments.map((s: { q: number; sigma: number; T: number }) => ({
        kind: 'poissonGaussian',
        samplingRate: s.q,
        noiseMultiplier: s.sigma,
        steps: s.T,
      }));
      for (const [dStr, res] of Object.entries<any>(c.results)) {
        const delta = Number(dStr);
        const classic = computeEpsilon(events, delta, { orders: orderSets['tfp_cli']!, conversion: 'classic' });
        expect(rel(classic.epsilon, res.tfp_classic.eps)).toBeLessThan(1e-9);
        const improved = computeEpsilon(events, delta, { orders: orderSets['tfp_cli']! });
        expect(rel(improved.epsilon, res.tfp_hparams2022.eps)).toBeLessThan(1e-9);
        const opa = computeEpsilon(events, delta, { orders: orderSets['opacus_default']! });
        expect(rel(opa.epsilon, res.opacus_rdp.eps)).toBeLessThan(1e-9);
        if (res.dp_accounting_pld?.status === 'ok' && c.name !== 'tfp_test_check_composition' && dStr === '1e-05') {
          const pld = computeEpsilon(events, delta, { accountant: 'pld' });
          expect(rel(pld.epsilon, res.dp_accounting_pld.eps)).toBeLessThan(0.01);
          // The tight accountant is below RDP's (valid but loose) upper bound.
          expect(pld.epsilon).toBeLessThanOrEqual(improved.epsilon);
        }
      }
    });
  }
});

describe('PLD accountant', () => {
  // A spread of cases that run quickly (large per-step support makes q = 1 with small sigma slow).
  const ids = [
    'q1.0_s3.0_T1_d1e-05',
    'q1.0_s10.0_T100_d1e-05',
    'q1.0_s10.0_T1000_d1e-05',
    'q0.5_s3.0_T10_d1e-05',
    'q0.1_s10.0_T1000_d1e-05',
    'q0.01_s3.0_T1000_d1e-05',
    'q0.01_s10.0_T10000_d1e-05',
    'q0.001_s1.5_T1000_d1e-05',
    'q0.001_s3.0_T10000_d1e-05',
  ];
  it('is within 1% of dp_accounting PLD and at or above the exact analytic Gaussian epsilon', () => {
    for (const id of ids) {
      const c = ref.cases.find((x: { id: string }) => x.id === id);
      const r = computeEpsilon([{ kind: 'poissonGaussian', samplingRate: c.q, noiseMultiplier: c.sigma, steps: c.T }], c.delta, { accountant: 'pld' });
      expect(rel(r.epsilon, c.dp_accounting_pld.eps), id).toBeLessThan(0.01);
      if (c.exact_gaussian) {
        expect(r.epsilon, id).toBeGreaterThanOrEqual(c.exact_gaussian.eps);
        expect(rel(r.epsilon, c.exact_gaussian.eps), id).toBeLessThan(1e-4);
      }
      // Tight accountant is below the RDP upper bound.
      const rd = computeEpsilon([{ kind: 'poissonGaussian', samplingRate: c.q, noiseMultiplier: c.sigma, steps: c.T }], c.delta);
      expect(r.epsilon, id).toBeLessThanOrEqual(rd.epsilon);
    }
  });

  it('plain Gaussian mechanism: at or above the exact (Balle-Wang) epsilon, within 1e-4 relative', () => {
    const ga = loadFixture('gaussian_analytic.json');
    let n = 0;
    for (const c of ga.epsilon_from_sigma) {
      const sigma = c.sigma_over_sensitivity;
      if (sigma < 2 || !(c.exact_eps > 0)) continue;
      const r = computeEpsilon([{ kind: 'poissonGaussian', samplingRate: 1, noiseMultiplier: sigma, steps: 1 }], c.delta, { accountant: 'pld' });
      expect(r.epsilon).toBeGreaterThanOrEqual(c.exact_eps);
      expect(rel(r.epsilon, c.exact_eps)).toBeLessThan(1e-4);
      n++;
    }
    expect(n).toBeGreaterThan(5);
  });
});

describe('calibration', () => {
  const inv = loadFixture('inverse_noise.json');
  it('classic conversion on TF Privacy orders: within 1e-4 of the reference sigma for all 50 cases', () => {
    for (const c of inv.cases) {
      const r = calibrateNoiseMultiplier({
        targetEpsilon: c.target_epsilon,
        delta: c.delta,
        samplingRate: c.q,
        steps: c.T,
        orders: orderSets['tfp_cli']!,
        conversion: 'classic',
      });
      expect(Math.abs(r.noiseMultiplier - c.tfp_classic.sigma_continuous_root), JSON.stringify(c)).toBeLessThan(1e-4);
      expect(r.epsilon).toBeLessThanOrEqual(c.target_epsilon);
    }
  });

  it('improved conversion on dp_accounting orders: within 1e-4 of dp_accounting where q = 1 (exact curve there)', () => {
    for (const c of inv.cases.filter((x: { q: number }) => x.q === 1).slice(0, 6)) {
      const r = calibrateNoiseMultiplier({ targetEpsilon: c.target_epsilon, delta: c.delta, samplingRate: c.q, steps: c.T, orders: orderSets['dp_accounting_default']! });
      expect(Math.abs(r.noiseMultiplier - c.dp_accounting_rdp.sigma_continuous_root)).toBeLessThan(1e-4);
    }
  });
});

describe('improved conversion on a zCDP curve', () => {
  it('rho-zCDP (rdp = rho * alpha) on a dense order grid reproduces the optimal CKS conversion (IBM cdp_eps) from above', () => {
    const d = loadFixture('ddp_reference.json');
    const orders: number[] = [];
    for (let a = 1.011; a <= 100; a += 0.002) orders.push(a);
    for (const r of d.zcdp_to_approx_dp.rows) {
      const e = epsilonFromRdp(orders, orders.map((a) => r.rho * a), r.delta).value;
      expect(e).toBeGreaterThanOrEqual(r.eps_ibm_cdp_eps * (1 - 1e-12));
      expect(rel(e, r.eps_ibm_cdp_eps)).toBeLessThan(1e-5);
    }
  });
});

describe('calibration with the PLD accountant', () => {
  it('plain Gaussian: at or above the exact (Balle-Wang) sigma, within 1e-4', () => {
    const ga = loadFixture('gaussian_analytic.json');
    for (const c of ga.sigma_from_epsilon.filter((x: { epsilon: number; delta: number }) => (x.epsilon === 1 && x.delta === 1e-5) || (x.epsilon === 2 && x.delta === 1e-6))) {
      const r = calibrateNoiseMultiplier({ targetEpsilon: c.epsilon, delta: c.delta, samplingRate: 1, steps: 1, accountant: 'pld', tolerance: 5e-5 });
      const exact = c.sigma_exact_balle_wang_reference_impl;
      expect(r.noiseMultiplier).toBeGreaterThanOrEqual(exact);
      expect(r.noiseMultiplier - exact).toBeLessThan(1e-4);
      expect(r.epsilon).toBeLessThanOrEqual(c.epsilon);
    }
  });
});

describe('bad input -> typed errors naming the parameter', () => {
  const bad: Array<[() => unknown, string]> = [
    [() => rdpPoissonGaussian(NaN, 1, 2), 'samplingRate'],
    [() => rdpPoissonGaussian(0, 1, 2), 'samplingRate'],
    [() => rdpPoissonGaussian(1.5, 1, 2), 'samplingRate'],
    [() => rdpPoissonGaussian(0.1, -1, 2), 'noiseMultiplier'],
    [() => rdpPoissonGaussian(0.1, Infinity, 2), 'noiseMultiplier'],
    [() => rdpPoissonGaussian(0.1, 1, 1), 'order'],
    [() => computeEpsilon([{ kind: 'poissonGaussian', samplingRate: 0.1, noiseMultiplier: 1, steps: 10 }], 1), 'delta'],
    [() => computeEpsilon([{ kind: 'poissonGaussian', samplingRate: 0.1, noiseMultiplier: 1, steps: 10 }], 0), 'delta'],
    [() => computeEpsilon([{ kind: 'poissonGaussian', samplingRate: 0.1, noiseMultiplier: 1, steps: -1 }], 1e-5), 'events[0].steps'],
    [() => computeEpsilon([{ kind: 'poissonGaussian', samplingRate: 2, noiseMultiplier: 1, steps: 1 }], 1e-5), 'events[0].samplingRate'],
    [() => calibrateNoiseMultiplier({ targetEpsilon: NaN, delta: 1e-5, samplingRate: 0.1, steps: 10 }), 'targetEpsilon'],
    [() => calibrateNoiseMultiplier({ targetEpsilon: 1, delta: 1e-5, samplingRate: 0.1, steps: 0 }), 'steps'],
    [() => epsilonFromRdp([], [], 1e-5), 'orders'],
  ];
  it.each(bad.map(([f, field], i) => [i, f, field] as const))('case %i', (_i, f, field) => {
    try {
      f();
      expect.unreachable();
    } catch (e) {
      expect((e as { code: string }).code).toBe('ERR_INVALID_ARGUMENT');
      expect((e as { field: string }).field).toBe(field);
    }
  });
  it('empty event list spends nothing', () => {
    expect(computeEpsilon([], 1e-5).epsilon).toBe(0);
    expect(computeEpsilon([], 1e-5, { accountant: 'pld' }).epsilon).toBe(0);
  });
});
