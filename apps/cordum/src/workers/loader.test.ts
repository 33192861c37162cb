import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryBus } from '@cordum/bus/memory';
import { createSilentLogger } from '@cordum/core';
import { createMemoryStores } from '@cordum/store/memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../dev/examples.js';
import {
  type WorkerModule,
  type WorkerModuleContext,
  createModuleWorkers,
  loadWorkerModule,
  workerFactoryOf,
  workerModuleName,
} from './loader.js';

let dir: string;
const FAKE_WORKER = `({ workerId: ctx.workerId, start: async () => {}, drain: async () => {}, stats: () => ({}) })`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cordum-loader-'));
  const files: Record<string, string> = {
    'named.mjs': `export function cordumWorker(ctx) { return ${FAKE_WORKER}; }\nexport const other = 1;\n`,
    'default.mjs': `export default async function (ctx) { return [${FAKE_WORKER}, { ...${FAKE_WORKER}, workerId: ctx.workerId + '-b' }]; }\n`,
    'common.cjs': `module.exports = { cordumWorker: (ctx) => ${FAKE_WORKER} };\n`,
    'none.mjs': `export const createWorker = 1;\nexport function helper() {}\n`,
    'not-a-function.mjs': `export const cordumWorker = { topics: [] };\n`,
    'throws.mjs': `export function cordumWorker() { throw new Error('no topics configured'); }\n`,
    'bad-result.mjs': `export function cordumWorker() { return { start() {} }; }\n`,
    'bad-item.mjs': `export function cordumWorker(ctx) { return [${FAKE_WORKER}, 42]; }\n`,
    'empty.mjs': `export function cordumWorker() { return []; }\n`,
    'broken.mjs': `export function cordumWorker( {\n`,
  };
  await Promise.all(Object.entries(files).map(([name, text]) => writeFile(join(dir, name), text)));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function context(workerId = 'w-1'): WorkerModuleContext {
  const stores = createMemoryStores();
  return { bus: createMemoryBus(), pointers: stores.pointers, artifacts: stores.artifacts, logger: createSilentLogger(), workerId };
}

async function load(name: string): Promise<WorkerModule> {
  return loadWorkerModule(name, dir);
}

describe('loading a worker module', () => {
  it('finds the cordumWorker export, a default function, or a CommonJS module.exports.cordumWorker', async () => {
    const named = await load('named.mjs');
    expect(named).toMatchObject({ source: 'named.mjs', path: join(dir, 'named.mjs'), name: 'named' });
    expect((await createModuleWorkers(named, context('n-1'))).map((w) => w.workerId)).toEqual(['n-1']);

    const byDefault = await loadWorkerModule(join(dir, 'default.mjs'), '/elsewhere');
    expect((await createModuleWorkers(byDefault, context('d-1'))).map((w) => w.workerId)).toEqual(['d-1', 'd-1-b']);

    const common = await load('common.cjs');
    expect((await createModuleWorkers(common, context('c-1'))).map((w) => w.workerId)).toEqual(['c-1']);
  });

  it('says what to export when the module has no factory', async () => {
    await expect(load('none.mjs')).rejects.toThrow(
      /none\.mjs exports no worker factory: export a function named cordumWorker .* \(it exports createWorker, helper\)/,
    );
    await expect(load('not-a-function.mjs')).rejects.toThrow('export cordumWorker is a object, not a function');
  });

  it('refuses missing and broken files with the path', async () => {
    await expect(load('missing.mjs')).rejects.toThrow(`worker module not found: missing.mjs (${join(dir, 'missing.mjs')})`);
    await expect(load('broken.mjs')).rejects.toThrow(/cannot import worker module broken\.mjs: /);
  });

  it('refuses factories that throw or return something other than workers', async () => {
    await expect(createModuleWorkers(await load('throws.mjs'), context())).rejects.toThrow(
      'worker module throws.mjs failed to create its worker: no topics configured',
    );
    await expect(createModuleWorkers(await load('bad-result.mjs'), context())).rejects.toThrow(/returned a value that is not a Worker/);
    await expect(createModuleWorkers(await load('bad-item.mjs'), context())).rejects.toThrow(/returned a list whose item 1 is not a Worker/);
    await expect(createModuleWorkers(await load('empty.mjs'), context())).rejects.toThrow('worker module empty.mjs returned no worker');
  });

  it('workerFactoryOf works on any namespace object', () => {
    const f = (): never => {
      throw new Error('not called');
    };
    expect(workerFactoryOf({ cordumWorker: f, default: () => 1 }, 'x')).toBe(f);
    expect(workerFactoryOf({ default: f }, 'x')).toBe(f);
    expect(() => workerFactoryOf(undefined, 'x')).toThrow(/exports no worker factory/);
  });

  it('names modules after their file, as a subject token', () => {
    expect(workerModuleName('/a/b/demo-worker.js')).toBe('demo-worker');
    expect(workerModuleName('my worker.v2.mjs')).toBe('my-worker-v2');
    expect(workerModuleName('/x/...js')).toBe('worker');
  });
});

describe('the echo worker as a worker module', () => {
  it('is loadable and serves both demo topics with the id it is given', async () => {
    const module = await loadWorkerModule('examples/echo-worker/src/demo-worker.ts', REPO_ROOT);
    expect(module.name).toBe('demo-worker');
    const ctx = context('demo-worker-7');
    const [worker, ...rest] = await createModuleWorkers(module, ctx);
    expect(rest).toEqual([]);
    expect(worker?.workerId).toBe('demo-worker-7');
    await worker?.start();
    expect(worker?.stats().state).toBe('running');
    await worker?.drain(100);
    await ctx.bus.close();
  });
});
