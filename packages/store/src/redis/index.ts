// @cordum/store/redis: the production backend. The only place ioredis is imported.
import type { RedisOptions } from 'ioredis';
import { type StoreOptions, type Stores, resolveStoreOptions } from '../ports/stores.js';
import { createRedisArtifactStore } from './artifact-store.js';
import { createRedisAuditLog } from './audit-log.js';
import { type RedisConnection, createRedisConnection } from './client.js';
import { createRedisConfigStore } from './config-store.js';
import type { RedisStoreContext } from './context.js';
import { createRedisDlqStore } from './dlq-store.js';
import { mapRedisError } from './errors.js';
import { createRedisIdempotencyStore } from './idempotency-store.js';
import { createRedisJobStore } from './job-store.js';
import { createKeyspace } from './keyspace.js';
import { createRedisLockStore } from './lock-store.js';
import { createRedisPointerStore } from './pointer-store.js';
import { createRedisRunStore } from './run-store.js';
import { createRedisSchemaStore } from './schema-store.js';
import { createRedisWorkflowStore } from './workflow-store.js';

export type RedisStoresOptions = StoreOptions & {
  /** redis://host:port[/db] (or rediss:// for TLS). */
  url: string;
  /** Key prefix for every key this deployment writes. Default "cordum:". */
  prefix?: string;
  /** Extra ioredis options (TLS, timeouts). */
  redis?: RedisOptions;
};

export function createRedisStores(options: RedisStoresOptions): Stores {
  const connection: RedisConnection = createRedisConnection({
    url: options.url,
    ...(options.redis === undefined ? {} : { options: options.redis }),
  });
  const ctx: RedisStoreContext = {
    client: connection.client,
    keys: createKeyspace(options.prefix ?? 'cordum:'),
    options: resolveStoreOptions(options),
  };
  return {
    jobs: createRedisJobStore(ctx),
    pointers: createRedisPointerStore(ctx),
    config: createRedisConfigStore(ctx),
    locks: createRedisLockStore(ctx),
    artifacts: createRedisArtifactStore(ctx),
    dlq: createRedisDlqStore(ctx),
    idempotency: createRedisIdempotencyStore(ctx),
    schemas: createRedisSchemaStore(ctx),
    audit: createRedisAuditLog(ctx),
    workflows: createRedisWorkflowStore(ctx),
    runs: createRedisRunStore(ctx),
    async ping() {
      try {
        await connection.ping();
      } catch (err) {
        throw mapRedisError(err, 'ping');
      }
    },
    close: () => connection.close(),
  };
}

export { type RedisStoreContext } from './context.js';
export { type RedisClientOptions, type RedisConnection, createRedisConnection } from './client.js';
export { type Keyspace, createKeyspace } from './keyspace.js';
export {
  createRedisArtifactStore,
  createRedisAuditLog,
  createRedisConfigStore,
  createRedisDlqStore,
  createRedisIdempotencyStore,
  createRedisJobStore,
  createRedisLockStore,
  createRedisPointerStore,
  createRedisSchemaStore,
  createRedisWorkflowStore,
  createRedisRunStore,
};
