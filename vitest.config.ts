import { defineConfig } from 'vitest/config';

export const config = defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: keep parallelism modest so timing-sensitive network tests stay stable.
    maxWorkers: 2,
    reporters: ['default'],
  },
});

// Vitest loads the default export of its config file; the project rule of named exports
// applies to source folders, and this file is tool configuration.
export default config;
