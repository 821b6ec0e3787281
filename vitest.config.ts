import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Integration tests start servers, restart them and wait on leases; 5 s (vitest's default) is
    // shorter than one PostgreSQL crash recovery on a loaded CI machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Forks, not threads: vitest's own advice for native addons (onnxruntime-node) is forks, and fault
    // tests use process APIs (signals, process.chdir) that worker threads do not have.
    pool: 'forks',
    // .ci/run counts results from the JSON file; the default reporter is for people.
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results.json' },
  },
});
