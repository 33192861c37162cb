// @ts-check
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Who may import what (ARCHITECTURE §2). Each area lists the internal packages it may use; everything
// else under @cordum/* is an error. Drivers (ioredis, NATS) are allowed only inside their adapters.
// Anchored regexes: `group` patterns use gitignore semantics, where `nats` would also match our own
// adapter entry point @cordum/bus/nats.
const DRIVERS = { ioredis: '^ioredis(/.*)?$', nats: '^nats(/.*)?$', '@nats-io/*': '^@nats-io/' };

/**
 * @param {string[]} allowed internal packages this area may import
 * @param {{ drivers?: string[] }} [opts] driver packages allowed here
 */
function boundaries(allowed, opts = {}) {
  const allowedDrivers = opts.drivers ?? [];
  return [
    'error',
    {
      patterns: [
        {
          group: ['@cordum/*/src', '@cordum/*/src/*', '@cordum/*/src/**'],
          message: 'Import the package entry point, never its src/ files.',
        },
        {
          group: ['@cordum/*', ...allowed.map((p) => `!@cordum/${p}`), ...allowed.map((p) => `!@cordum/${p}/*`)],
          message: `This area may import only ${allowed.length ? allowed.map((p) => '@cordum/' + p).join(', ') : 'no internal packages'} (ARCHITECTURE §2).`,
        },
        ...Object.entries(DRIVERS)
          .filter(([d]) => !allowedDrivers.includes(d))
          .map(([, regex]) => ({
            regex,
            message: 'Drivers stay inside their adapters (bus/src/nats, store/src/redis).',
          })),
      ],
    },
  ];
}

const AREAS = [
  { files: ['packages/protocol/src/**'], allowed: [] },
  { files: ['packages/core/src/**'], allowed: ['protocol'] },
  { files: ['packages/policy/src/**', 'packages/workflow/src/**'], allowed: ['protocol', 'core'] },
  { files: ['packages/bus/src/**'], allowed: ['protocol', 'core'] },
  { files: ['packages/bus/src/nats/**'], allowed: ['protocol', 'core'], drivers: ['nats', '@nats-io/*'] },
  { files: ['packages/store/src/**'], allowed: ['protocol', 'core'] },
  { files: ['packages/store/src/redis/**'], allowed: ['protocol', 'core'], drivers: ['ioredis'] },
  { files: ['packages/rpc/src/**'], allowed: ['protocol', 'core'] },
  { files: ['packages/pdp/src/**'], allowed: ['protocol', 'core', 'policy', 'rpc', 'store'] },
  { files: ['packages/sdk/src/**'], allowed: ['protocol', 'core', 'bus', 'store'] },
  { files: ['packages/testkit/src/**'], allowed: ['protocol', 'core', 'bus', 'store'] },
  // Services never import each other (they talk over the bus or gRPC): no service is in any allow-list.
  {
    files: ['services/*/src/**'],
    allowed: ['protocol', 'core', 'policy', 'workflow', 'bus', 'store', 'sdk', 'rpc', 'pdp'],
  },
  { files: ['apps/cli/src/**'], allowed: ['protocol', 'core', 'sdk', 'policy'] },
  { files: ['examples/*/src/**'], allowed: ['protocol', 'core', 'sdk', 'bus', 'store'] },
  { files: ['apps/dashboard/src/**'], allowed: ['protocol'] },
];

function workspaceDirs() {
  const dirs = [];
  for (const group of ['packages', 'services', 'apps', 'examples']) {
    const base = join(import.meta.dirname, group);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base)) {
      if (existsSync(join(base, name, 'package.json'))) dirs.push(`${group}/${name}`);
    }
  }
  if (existsSync(join(import.meta.dirname, 'e2e', 'package.json'))) dirs.push('e2e');
  return dirs;
}

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/src/gen/**', 'coverage/**', '.ci/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        project: ['./tsconfig.check.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX },
    settings: {
      // eslint-import-resolver-typescript 3.7 and import-x 4.6 are the last releases on a pure-JS resolver;
      // later ones need per-platform native packages that an npm mirror may not carry (npm ci then fails).
      // Parse .ts dependencies with the TypeScript parser, or import-x cannot follow them (no-cycle would
      // silently find nothing).
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver': {
        typescript: {
          project: './tsconfig.check.json',
          conditionNames: ['cordum-source', 'types', 'import', 'node', 'default'],
        },
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'error',
      'import-x/no-cycle': 'error',
      'import-x/no-self-import': 'error',
      'import-x/no-duplicates': 'error',
      'import-x/no-extraneous-dependencies': [
        'error',
        {
          devDependencies: ['**/*.test.ts', '*.config.{js,ts}', 'bench/**', 'e2e/**', 'scripts/**', 'tools/**'],
          includeTypes: true,
        },
      ],
      'no-console': 'error',
    },
  },
  ...AREAS.map((area) => ({
    files: area.files,
    rules: { 'no-restricted-imports': boundaries(area.allowed, { drivers: area.drivers }) },
  })),
  {
    // Tests may also use the test kit and adapters of their own package.
    files: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@cordum/*/src', '@cordum/*/src/**'], message: 'Import the package entry point.' }] },
      ],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  // Tests may use the root's tooling (vitest) besides their own package's dependencies.
  ...workspaceDirs().map((dir) => ({
    files: [`${dir}/**/*.test.ts`],
    rules: {
      'import-x/no-extraneous-dependencies': [
        'error',
        { devDependencies: true, includeTypes: true, packageDir: [import.meta.dirname, join(import.meta.dirname, dir)] },
      ],
    },
  })),
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['scripts/**', 'bench/**', 'apps/*/src/bin/**', '.ci/**'],
    rules: { 'no-console': 'off' },
  },
);
