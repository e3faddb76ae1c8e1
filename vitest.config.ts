import { defineConfig } from 'vitest/config';

// Tests start real nats-servers and node processes: they run in forked workers, a few at a time,
// with deadlines generous enough for a loaded 2-core machine.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
