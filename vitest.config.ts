import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // graphql ships both .mjs and .js; libraries that require() it and our imports must share one
    // realm or `instanceof` checks fail. Pin everything to the CommonJS build, as Node itself does.
    alias: { graphql: createRequire(import.meta.url).resolve('graphql') },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Test files start their own sandbox and gateway on port 0; running files in parallel is safe,
    // but two cores are all we have, so keep the pool small to avoid starving the servers.
    maxWorkers: 2,
  },
});
