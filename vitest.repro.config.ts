import { defineConfig } from 'vitest/config';

// Reproductions of open bugs, kept runnable but outside `npm test` until fixed (`npm run repro`).
// Each file's header names the bug and the issue that tracks it.
export default defineConfig({
  test: {
    include: ['test/repro/**/*.repro.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    passWithNoTests: true, // none open right now
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
