// Known answer from the worked example of Wikipedia's "Shamir's secret sharing" article
// (finite-field version): secret 1234, f(x) = 1234 + 166x + 94x^2 mod 1613, shares
// (1,1494) (2,329) (3,965) (4,176) (5,1188) (6,775).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkPrimeSync } from 'node:crypto';
import {
  SHAMIR_PRIME_256, combineBytes32, combineShares, decodeShare256, encodeShare256, modInverse, splitBytes32, splitSecret, type Share,
} from '../../crypto/shamir.ts';
import { isFedsecError } from '../../common/errors.ts';
import { toHex } from '../../crypto/bytes.ts';

const P = 1613n;
const WIKI: Share[] = [
  { index: 1, value: 1494n }, { index: 2, value: 329n }, { index: 3, value: 965n },
  { index: 4, value: 176n }, { index: 5, value: 1188n }, { index: 6, value: 775n },
];

function code(f: () => unknown): string | undefined {
  try { f(); return undefined; } catch (e) { return isFedsecError(e) ? e.code : 'untyped'; }
}

describe('Shamir secret sharing', () => {
  it('reconstructs the Wikipedia example from any 3 of its 6 shares', () => {
    for (let a = 0; a < 6; a++) for (let b = a + 1; b < 6; b++) for (let c = b + 1; c < 6; c++) {
      expect(combineShares([WIKI[a]!, WIKI[b]!, WIKI[c]!], 3, { prime: P })).toBe(1234n);
    }
  });
  it('the default field prime 2^256 + 297 is prime', () => {
    expect(checkPrimeSync(SHAMIR_PRIME_256, { checks: 64 })).toBe(true);
  });
  it('rejects duplicate, zero and out-of-range indices, and too few shares', () => {
    expect(code(() => combineShares([WIKI[0]!, WIKI[0]!, WIKI[1]!], 3, { prime: P }))).toBe('ERR_SHAMIR_DUPLICATE_INDEX');
    expect(code(() => combineShares([{ index: 0, value: 1n }, WIKI[0]!, WIKI[1]!], 3, { prime: P }))).toBe('ERR_SHAMIR_BAD_INDEX');
    expect(code(() => combineShares([{ index: 1613, value: 1n }, WIKI[0]!, WIKI[1]!], 3, { prime: P }))).toBe('ERR_SHAMIR_BAD_INDEX');
    expect(code(() => combineShares([{ index: -1, value: 1n }, WIKI[1]!, WIKI[2]!], 3, { prime: P }))).toBe('ERR_SHAMIR_BAD_INDEX');
    expect(code(() => combineShares([{ index: 1.5, value: 1n }, WIKI[1]!, WIKI[2]!], 3, { prime: P }))).toBe('ERR_SHAMIR_BAD_INDEX');
    expect(code(() => combineShares([WIKI[0]!, WIKI[1]!], 3, { prime: P }))).toBe('ERR_SHAMIR_TOO_FEW_SHARES');
    expect(code(() => combineShares([{ index: 1, value: 1613n }, WIKI[1]!, WIKI[2]!], 3, { prime: P }))).toBe('ERR_SHAMIR_BAD_VALUE');
    expect(code(() => splitSecret(5n, 3, [1, 2, 2]))).toBe('ERR_SHAMIR_DUPLICATE_INDEX');
    expect(code(() => splitSecret(5n, 4, 3))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => splitSecret(SHAMIR_PRIME_256, 2, 3))).toBe('ERR_INVALID_ARGUMENT');
  });
  it('property: any t of n shares reconstruct the secret', () => {
    fc.assert(fc.property(
      fc.bigInt({ min: 0n, max: SHAMIR_PRIME_256 - 1n }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 6 }), fc.infiniteStream(fc.nat()),
      (secret, t, extra, picks) => {
        const n = t + extra;
        const shares = splitSecret(secret, t, n);
        const pool = [...shares];
        const chosen: Share[] = [];
        const it = picks[Symbol.iterator]();
        while (chosen.length < t) chosen.push(pool.splice(it.next().value % pool.length, 1)[0]!);
        return combineShares(chosen, t) === secret;
      }), { numRuns: 60 });
  });
  it('property: t-1 shares are consistent with every secret (perfect hiding)', () => {
    // For any t-1 shares and any candidate secret s', there is a degree t-1 polynomial through
    // (0, s') and those shares: adding the point (0, s') to the t-1 shares interpolates, and
    // re-evaluating that polynomial at the shares' indices reproduces them exactly.
    fc.assert(fc.property(
      fc.bigInt({ min: 0n, max: P - 1n }), fc.bigInt({ min: 0n, max: P - 1n }), fc.integer({ min: 2, max: 6 }),
      (secret, candidate, t) => {
        const shares = splitSecret(secret, t, t + 2, { prime: P }).slice(0, t - 1);
        // Lagrange basis through x=0 (value candidate) and the t-1 shares.
        const pts: Array<[bigint, bigint]> = [[0n, candidate], ...shares.map((s): [bigint, bigint] => [BigInt(s.index), s.value])];
        const evalAt = (x: bigint): bigint => {
          let acc = 0n;
          for (let j = 0; j < pts.length; j++) {
            let num = 1n, den = 1n;
            for (let m = 0; m < pts.length; m++) {
              if (m === j) continue;
              num = (num * (x - pts[m]![0])) % P;
              den = (den * (pts[j]![0] - pts[m]![0])) % P;
            }
            acc = (acc + pts[j]![1] * num * modInverse(((den % P) + P) % P, P)) % P;
          }
          return ((acc % P) + P) % P;
        };
        return evalAt(0n) === candidate && shares.every((s) => evalAt(BigInt(s.index)) === s.value);
      }), { numRuns: 60 });
  });
  it('t-1 shares do not reconstruct: combining them with threshold t-1 gives an unrelated value', () => {
    const secret = 123456789n;
    let hits = 0;
    for (let k = 0; k < 20; k++) {
      const sh = splitSecret(secret, 3, 5);
      if (combineShares(sh.slice(0, 2), 2) === secret) hits++;
    }
    expect(hits).toBe(0);
  });
  it('32-byte secrets and share encoding round-trip; bad encodings are rejected', () => {
    const secret = new Uint8Array(32).fill(0xff);
    const shares = splitBytes32(secret, 3, [7, 9, 11, 13]);
    const dec = shares.map((s) => decodeShare256(encodeShare256(s)));
    expect(toHex(combineBytes32([dec[3]!, dec[0]!, dec[2]!], 3))).toBe(toHex(secret));
    const bad = encodeShare256(shares[0]!);
    bad.fill(0xff, 4);
    expect(code(() => decodeShare256(bad))).toBe('ERR_SHAMIR_BAD_VALUE');
    expect(code(() => decodeShare256(new Uint8Array(36)))).toBe('ERR_INVALID_ARGUMENT');
    const zero = encodeShare256(shares[0]!);
    zero.fill(0, 0, 4);
    expect(code(() => decodeShare256(zero))).toBe('ERR_SHAMIR_BAD_INDEX');
  });
});
