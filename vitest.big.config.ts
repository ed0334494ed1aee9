// The big-model checks (test/big): minutes each on a software GPU, so not part of `npm test`; .ci/run runs them
// as their own step (`npm run test:big`) before the suite. One file at a time, one process (several GB each).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/big/**/*.test.ts'],
    testTimeout: 900_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
