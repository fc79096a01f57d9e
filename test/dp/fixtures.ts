/** Loads the committed DP reference data (test/fixtures/dp, copied from ../shared/dp). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'dp');

/** Parses a fixture; non-finite numbers are encoded as strings there. */
export function loadFixture<T = any>(name: string): T {
  return JSON.parse(readFileSync(join(dir, name), 'utf8'), (_k, v: unknown) =>
    v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v === 'NaN' ? NaN : v,
  ) as T;
}

/** Relative difference |a-b|/|b|. */
export function rel(a: number, b: number): number {
  return a === b ? 0 : Math.abs(a - b) / Math.abs(b);
}
