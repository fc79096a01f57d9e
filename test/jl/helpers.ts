/** Shared fixtures for the JL tests: precomputed moduli (no prime generation in tests). */
import { readFileSync } from 'node:fs';
import { parseModulus, type JlModulus } from '../../crypto/jl/modulus.ts';

/** Loads test/fixtures/jl/modulus-<bits>.json (1024-bit allowed for tests only). */
export function fixtureModulus(bits: 1024 | 2048): JlModulus {
  const text = readFileSync(new URL(`../fixtures/jl/modulus-${bits}.json`, import.meta.url), 'utf8');
  return parseModulus(text, { insecureAllowSmall: true });
}
