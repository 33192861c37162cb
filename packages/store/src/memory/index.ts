// @cordum/store/memory: the embedded backend (cordum dev, unit tests). Same contracts as ./redis.
import { type Clock, systemClock } from '@cordum/core';
import { type StoreOptions, type Stores, resolveStoreOptions } from '../ports/stores.js';
import { createMemoryArtifactStore } from './artifact-store.js';
import { createMemoryAuditLog } from './audit-log.js';
import { createMemoryConfigStore } from './config-store.js';
import type { MemoryStoreContext } from './context.js';
import { createMemoryDlqStore } from './dlq-store.js';
import { createMemoryIdempotencyStore } from './idempotency-store.js';
import { createMemoryJobStore } from './job-store.js';
import { createMemoryLockStore } from './lock-store.js';
import { createMemoryPointerStore } from './pointer-store.js';
import { createMemoryRunStore } from './run-store.js';
import { createMemorySchemaStore } from './schema-store.js';
import { createMemoryWorkflowStore } from './workflow-store.js';

export type MemoryStoresOptions = StoreOptions & { clock?: Clock };

export function createMemoryStores(options: MemoryStoresOptions = {}): Stores {
  const ctx: MemoryStoreContext = { clock: options.clock ?? systemClock, options: resolveStoreOptions(options), fences: new Map() };
  return {
    jobs: createMemoryJobStore(ctx),
    pointers: createMemoryPointerStore(ctx),
    config: createMemoryConfigStore(ctx),
    locks: createMemoryLockStore(ctx),
    artifacts: createMemoryArtifactStore(ctx),
    dlq: createMemoryDlqStore(ctx),
    idempotency: createMemoryIdempotencyStore(ctx),
    schemas: createMemorySchemaStore(ctx),
    audit: createMemoryAuditLog(ctx),
    workflows: createMemoryWorkflowStore(ctx),
    runs: createMemoryRunStore(ctx),
    ping: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

export { type MemoryStoreContext } from './context.js';
export {
  createMemoryArtifactStore,
  createMemoryAuditLog,
  createMemoryConfigStore,
  createMemoryDlqStore,
  createMemoryIdempotencyStore,
  createMemoryJobStore,
  createMemoryLockStore,
  createMemoryPointerStore,
  createMemorySchemaStore,
  createMemoryWorkflowStore,
  createMemoryRunStore,
};
