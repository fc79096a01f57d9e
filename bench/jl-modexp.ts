/**
 * Micro-benchmark of the modular-exponentiation routes for JL (modulus N², exponent 2|N|
 * bits): OpenSSL through node:crypto's DH (`OpenSslModPow`) versus plain BigInt
 * (`modPowBigInt`). Run: `npx tsx bench/jl-modexp.ts [reps]`. Prints one JSON line.
 */
import { randomBigIntBits } from '../crypto/random.ts';
import { generateModulus, modPowBigInt, OpenSslModPow } from '../crypto/jl/index.ts';

/** Milliseconds per exponentiation for each route and modulus size. */
export function runModexpBench(reps = 20): Record<string, number> {
  const out: Record<string, number> = {};
  for (const bits of [1024, 2048]) {
    const n = generateModulus(bits, { insecureAllowSmall: true }).n;
    const n2 = n * n;
    const ctx = new OpenSslModPow(n2);
    const exp = randomBigIntBits(2 * bits);
    const bases = Array.from({ length: reps }, () => randomBigIntBits(4 * bits) % n2);
    let t = performance.now();
    const a = bases.map((b) => ctx.pow(b, exp));
    out[`openssl_N${bits}_ms`] = Math.round(((performance.now() - t) / reps) * 1000) / 1000;
    const few = Math.max(2, Math.floor(reps / 4));
    t = performance.now();
    const b = bases.slice(0, few).map((x) => modPowBigInt(x, exp, n2));
    out[`bigint_N${bits}_ms`] = Math.round(((performance.now() - t) / few) * 1000) / 1000;
    if (b.some((v, i) => v !== a[i])) throw new Error('routes disagree');
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  process.stdout.write(JSON.stringify(runModexpBench(Number(process.argv[2] ?? 20))) + '\n');
}
