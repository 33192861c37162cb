import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// One runner for the whole repo. Workspace packages resolve to their TypeScript sources through the
// `cordum-source` export condition, so tests never need a build first.
export default defineConfig({
  resolve: { conditions: ['cordum-source', ...defaultServerConditions] },
  ssr: { resolve: { conditions: ['cordum-source', ...defaultServerConditions] } },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'services/*/src/**/*.test.ts',
      'apps/*/src/**/*.test.ts',
      'examples/*/src/**/*.test.ts',
      'e2e/**/*.test.ts',
      'tools/**/*.test.ts',
    ],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
