import { defineConfig } from 'vitest/config';

// GPU tests share one Dawn instance per worker; forks keep a crashed driver from taking the runner down.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
