/**
 * The researcher's dropout-recovery combination, shared by the in-thread path and the worker
 * pool: for each ciphertext c,
 *
 *   T_c = base_c^(Δ²) · Π_k R_(k,c)^(λ'_k)   mod N²
 *
 * with base_c = product_c · H^(-S), R_(k,c) the responders' key-recovery elements and λ'_k
 * their integer Lagrange coefficients (negative ones through one batch inversion).
 */
import { batchInverse } from './modexp.ts';
import type { JlScheme } from './scheme.ts';

/** Computes T_c for every c (see module doc). `elements[k][c]` is responder k's element c. */
export function combineRecovery(scheme: JlScheme, base: readonly bigint[], elements: readonly (readonly bigint[])[], lambdas: readonly bigint[], d2: bigint): bigint[] {
  const { n2 } = scheme;
  const pow = scheme.powCtx;
  const k = base.length;
  const pos = new Array<bigint>(k).fill(1n);
  const neg = new Array<bigint>(k).fill(1n);
  lambdas.forEach((l, j) => {
    const target = l >= 0n ? pos : neg;
    const e = l >= 0n ? l : -l;
    const el = elements[j]!;
    for (let c = 0; c < k; c++) target[c] = (target[c]! * pow.pow(el[c]!, e)) % n2;
  });
  const negInv = batchInverse(neg, n2);
  const out = new Array<bigint>(k);
  for (let c = 0; c < k; c++) out[c] = (((pow.pow(base[c]!, d2) * pos[c]!) % n2) * negInv[c]!) % n2;
  return out;
}
