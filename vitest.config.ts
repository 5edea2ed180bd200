import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Child processes load libtorch; forks keep each test file's native state to itself.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 600_000,
    projects: [
      // npm test: unit and equivalence tests (PyTorch as the oracle), minutes.
      { extends: true, test: { name: 'unit', include: ['test/*.test.ts'] } },
      // npm run test:build: the builds (node-gyp, prebuild), the packed tarball and decoding parity on the
      // real dataset; slower, and run by .ci/run after the unit tests.
      { extends: true, test: { name: 'build', include: ['test/build/*.test.ts'] } },
    ],
  },
});
