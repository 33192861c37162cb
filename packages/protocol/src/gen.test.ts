import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import * as api from './index.js';

const run = promisify(execFile);
const pkgDir = dirname(dirname(fileURLToPath(import.meta.url)));
const repoRoot = join(pkgDir, '..', '..');
const bin = (name: string) => join(repoRoot, 'node_modules', '.bin', name);

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(p)));
    else out.push(p);
  }
  return out.sort();
}

describe('generated code', () => {
  const tmp = mkdtemp(join(tmpdir(), 'cordum-gen-'));
  afterAll(async () => rm(await tmp, { recursive: true, force: true }));

  it('src/gen matches what `npm run gen` produces from proto/ (regenerate and commit when this fails)', async () => {
    const out = await tmp;
    const template = (await readFile(join(pkgDir, 'buf.gen.yaml'), 'utf8'))
      .replace('out: src/gen', `out: ${join(out, 'gen')}`)
      .replace(/local: protoc-gen-es/, `local: ${bin('protoc-gen-es')}`);
    const templatePath = join(out, 'buf.gen.yaml');
    await writeFile(templatePath, template);
    await run(bin('buf'), ['generate', '--template', templatePath], { cwd: pkgDir });
    const committed = await listFiles(join(pkgDir, 'src', 'gen'));
    const fresh = await listFiles(join(out, 'gen'));
    expect(fresh.map((f) => relative(join(out, 'gen'), f))).toEqual(
      committed.map((f) => relative(join(pkgDir, 'src', 'gen'), f)),
    );
    for (const f of committed) {
      const twin = join(out, 'gen', relative(join(pkgDir, 'src', 'gen'), f));
      expect(await readFile(twin, 'utf8'), `${relative(pkgDir, f)} is stale`).toBe(await readFile(f, 'utf8'));
    }
  }, 60_000);

  it('the proto files pass buf lint', async () => {
    await run(bin('buf'), ['lint'], { cwd: pkgDir });
  }, 60_000);

  it('the package entry point re-exports every generated symbol', async () => {
    const missing: string[] = [];
    for (const f of await listFiles(join(pkgDir, 'src', 'gen'))) {
      const src = await readFile(f, 'utf8');
      for (const m of src.matchAll(/^export (?:const|enum) ([A-Za-z_0-9]+)/gm)) {
        if (!(m[1]! in api)) missing.push(m[1]!);
      }
    }
    expect(missing).toEqual([]);
  });
});
