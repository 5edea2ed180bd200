import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Child processes load libtorch; forks keep each test file's native state to itself.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
});
