import { access } from 'node:fs/promises';
import { basename, extname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Bus } from '@cordum/bus';
import { InvalidError, type Logger, toError } from '@cordum/core';
import type { Worker } from '@cordum/sdk';
import type { ArtifactStore, PointerStore } from '@cordum/store';

// Worker modules: how `cordum dev --worker PATH` runs a worker inside the platform process. A module exports
// a factory; cordum imports it, calls it with a context (a bus client and the stores of the platform), starts
// every worker it returns and drains them on shutdown. The contract is documented in apps/cordum/README.md.

/** What cordum hands a worker module's factory. */
export type WorkerModuleContext = {
  /** A bus client of the module's own (memory broker client or NATS connection); cordum closes it after the drain. */
  readonly bus: Bus;
  /** Reads context pointers and writes result pointers. */
  readonly pointers: PointerStore;
  /** For `job.writeArtifact`. */
  readonly artifacts: ArtifactStore;
  /** A child logger bound to the module. */
  readonly logger: Logger;
  /** A unique id for the module's worker (a subject token): use it, or as the prefix of several. */
  readonly workerId: string;
};

/** What a worker module exports as `cordumWorker` (or as its default export): workers not yet started. */
export type WorkerModuleFactory = (ctx: WorkerModuleContext) => Worker | readonly Worker[] | Promise<Worker | readonly Worker[]>;

/** The export cordum looks for first. */
export const WORKER_MODULE_EXPORT = 'cordumWorker';

export type WorkerModule = {
  /** The path as given. */
  readonly source: string;
  /** Absolute path imported. */
  readonly path: string;
  /** Short name (file name without extension), the base of worker ids. */
  readonly name: string;
  readonly factory: WorkerModuleFactory;
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * The factory a module namespace exports: `cordumWorker`, else a default export that is a function (or an
 * object carrying `cordumWorker`, as CommonJS interop presents it). Throws InvalidError saying what to export.
 */
export function workerFactoryOf(namespace: unknown, source: string): WorkerModuleFactory {
  const ns = isRecord(namespace) ? namespace : {};
  const named = ns[WORKER_MODULE_EXPORT];
  if (typeof named === 'function') return named as WorkerModuleFactory;
  if (named !== undefined) {
    throw new InvalidError(`worker module ${source}: export ${WORKER_MODULE_EXPORT} is a ${typeof named}, not a function`);
  }
  const fallback = ns['default'];
  if (typeof fallback === 'function') return fallback as WorkerModuleFactory;
  if (isRecord(fallback) && typeof fallback[WORKER_MODULE_EXPORT] === 'function') {
    return fallback[WORKER_MODULE_EXPORT] as WorkerModuleFactory;
  }
  const exported = Object.keys(ns).filter((k) => k !== '__esModule');
  throw new InvalidError(
    `worker module ${source} exports no worker factory: export a function named ${WORKER_MODULE_EXPORT} (or a default ` +
      `function) taking { bus, pointers, artifacts, logger, workerId } and returning a Worker or a list of them` +
      (exported.length > 0 ? ` (it exports ${exported.join(', ')})` : ''),
  );
}

/** Module file name → a subject-token-safe name (`echo-worker.js` → `echo-worker`). */
export function workerModuleName(path: string): string {
  const name = basename(path, extname(path))
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return name === '' ? 'worker' : name;
}

/** Imports a worker module (a path relative to cwd, or absolute) and finds its factory. */
export async function loadWorkerModule(source: string, cwd: string): Promise<WorkerModule> {
  const path = isAbsolute(source) ? source : resolve(cwd, source);
  try {
    await access(path);
  } catch {
    throw new InvalidError(`worker module not found: ${source}${path === source ? '' : ` (${path})`}`);
  }
  let namespace: unknown;
  try {
    namespace = await import(pathToFileURL(path).href);
  } catch (err) {
    const e = toError(err);
    const hint =
      (e as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION'
        ? ': Node cannot import TypeScript here; build the module and pass its .js file'
        : `: ${e.message}`;
    throw new InvalidError(`cannot import worker module ${source}${hint}`, { cause: err });
  }
  return { source, path, name: workerModuleName(path), factory: workerFactoryOf(namespace, source) };
}

function isWorker(v: unknown): v is Worker {
  return isRecord(v) && typeof v['workerId'] === 'string' && typeof v['start'] === 'function' && typeof v['drain'] === 'function';
}

/** Calls a module's factory and checks what it returns: one Worker or a non-empty list of them. */
export async function createModuleWorkers(module: WorkerModule, ctx: WorkerModuleContext): Promise<Worker[]> {
  let made: unknown;
  try {
    made = await module.factory(ctx);
  } catch (err) {
    throw new InvalidError(`worker module ${module.source} failed to create its worker: ${toError(err).message}`, { cause: err });
  }
  const workers: unknown[] = Array.isArray(made) ? (made as unknown[]) : [made];
  if (workers.length === 0) throw new InvalidError(`worker module ${module.source} returned no worker`);
  const bad = workers.findIndex((w) => !isWorker(w));
  if (bad >= 0) {
    throw new InvalidError(
      `worker module ${module.source} returned ${Array.isArray(made) ? `a list whose item ${bad} is` : 'a value that is'} not a Worker ` +
        '(expected what createWorker from @cordum/sdk returns: { workerId, start(), drain() })',
    );
  }
  return workers as Worker[];
}
