import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Test files start their own sandbox and gateway on port 0; running files in parallel is safe,
    // but two cores are all we have, so keep the pool small to avoid starving the servers.
    maxWorkers: 2,
  },
});
