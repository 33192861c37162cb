import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

// The architecture's import rules only protect us if they fire. A resolver or parser misconfiguration
// makes import-x rules silently find nothing, so lint known violations and expect each rule to report.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const eslint = new ESLint({ cwd: root, overrideConfig: [{ files: ['**/*.ts'], ...tseslint.configs.disableTypeChecked }] });

async function ruleIds(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, filePath) });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'fatal'}: ${m.message}`);
}

describe('architecture lint rules', () => {
  it('forbid a library importing a package above it', async () => {
    const found = await ruleIds("import { createMemoryBus } from '@cordum/bus/memory';\nvoid createMemoryBus;\n", 'packages/core/src/x.ts');
    expect(found.some((m) => m.startsWith('no-restricted-imports') && m.includes('ARCHITECTURE'))).toBe(true);
    expect(found.some((m) => m.startsWith('import-x/no-extraneous-dependencies'))).toBe(true);
  });

  it('forbid deep src/ imports', async () => {
    const found = await ruleIds("import { pointerKey } from '@cordum/protocol/src/pointers.js';\nvoid pointerKey;\n", 'packages/core/src/x.ts');
    expect(found.some((m) => m.startsWith('no-restricted-imports') && m.includes('src/'))).toBe(true);
  });

  it('keep drivers inside their adapters', async () => {
    const code = "import { Redis } from 'ioredis';\nvoid Redis;\n";
    expect((await ruleIds(code, 'packages/store/src/memory/x.ts')).some((m) => m.includes('Drivers stay'))).toBe(true);
    expect((await ruleIds(code, 'packages/store/src/redis/x.ts')).some((m) => m.includes('Drivers stay'))).toBe(false);
  });

  it('forbid a service importing another service', async () => {
    const found = await ruleIds("import { x } from '@cordum/scheduler';\nvoid x;\n", 'services/gateway/src/x.ts');
    expect(found.some((m) => m.startsWith('no-restricted-imports'))).toBe(true);
  });

  it('hold apps to their own, narrower lists', async () => {
    const code = "import { createMemoryBus } from '@cordum/bus/memory';\nvoid createMemoryBus;\n";
    for (const app of ['apps/dashboard/src/x.ts', 'apps/cli/src/x.ts']) {
      expect((await ruleIds(code, app)).some((m) => m.startsWith('no-restricted-imports')), app).toBe(true);
    }
    const protocolOnly = "import { Subjects } from '@cordum/protocol';\nvoid Subjects;\n";
    expect((await ruleIds(protocolOnly, 'apps/dashboard/src/x.ts')).some((m) => m.startsWith('no-restricted-imports'))).toBe(false);
  });

  it('detect import cycles', async () => {
    const tag = randomBytes(4).toString('hex');
    const a = join(root, 'packages/core/src', `zz-cycle-a-${tag}.ts`);
    const b = join(root, 'packages/core/src', `zz-cycle-b-${tag}.ts`);
    try {
      await writeFile(a, `import { b } from './zz-cycle-b-${tag}.js';\nexport const a = (): number => b() + 1;\n`);
      await writeFile(b, `import { a } from './zz-cycle-a-${tag}.js';\nexport const b = (): number => a() + 1;\n`);
      const results = await eslint.lintFiles([a]);
      expect(results[0]?.messages.map((m) => m.ruleId)).toContain('import-x/no-cycle');
    } finally {
      await Promise.all([rm(a, { force: true }), rm(b, { force: true })]);
    }
  });
});
