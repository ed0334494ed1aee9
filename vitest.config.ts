// Test runner configuration: one process pool, generous per-test timeout for the CPU-bound training tests.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/big: the big models' webgpu forwards, minutes each: `npm run test:big` (vitest.big.config.ts), run by .ci/run
    exclude: ['test/big/**', '**/node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
