import { describe, expect, it } from 'vitest';
import { logNormalSf, normalSf, logAddExp, logSumExp, log1pExp, logExpm1 } from '../../crypto/dp/special.ts';

// 40-digit mpmath values of P(N(0,1) > x) and its log.
const REF: Array<[number, number, number]> = [
  [0, 0.5, -0.69314718055994530942],
  [0.3, 0.38208857781104736693, -0.96210281816885065666],
  [1, 0.15865525393145705141, -1.8410216450092635058],
  [1.4, 0.080756659233771059795, -2.5163148529883287843],
  [1.6, 0.054799291699557984109, -2.9040780103022459323],
  [2.5, 0.006209665325776135167, -5.0816482772786904984],
  [5, 2.8665157187919391167e-7, -15.064998393988725736],
  [10, 7.619853024160526066e-24, -53.231285150512470578],
  [20, 2.7536241186062336951e-89, -203.91715537109726394],
  [38, 2.8854283600687843084e-316, -726.5572160188201301],
  [-1, 0.84134474606854294859, -0.17275377902344988953],
  [-3, 0.99865010196836990547, -0.0013508099647481937988],
];

describe('special functions', () => {
  it('normal tail and its log match 40-digit references (relative 1e-14), deep into the tail', () => {
    for (const [x, sf, lsf] of REF) {
      expect(Math.abs(logNormalSf(x) - lsf) / Math.abs(lsf), `x=${x}`).toBeLessThan(1e-14);
      if (sf > 1e-300) expect(Math.abs(normalSf(x) - sf) / sf, `x=${x}`).toBeLessThan(1e-13);
    }
  });
  it('log-domain helpers do not overflow', () => {
    expect(logAddExp(1000, 1000)).toBeCloseTo(1000 + Math.LN2, 12);
    expect(logSumExp([-1e308, 0, Math.log(3)])).toBeCloseTo(Math.log(4), 14);
    expect(log1pExp(800)).toBe(800);
    expect(log1pExp(-800)).toBe(Math.exp(-800));
    expect(logExpm1(1e-20)).toBeCloseTo(Math.log(1e-20), 12);
    expect(logExpm1(1000)).toBe(1000);
  });
});
