import { type RedisServer, redisFactory, runDlqStoreContract, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NewDlqEntry } from '../ports/dlq-store.js';
import { resolveStoreOptions } from '../ports/stores.js';
import { type RedisConnection, createRedisConnection } from './client.js';
import { createRedisDlqStore } from './dlq-store.js';
import { createKeyspace } from './keyspace.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

runDlqStoreContract('redis', redisFactory(() => server, (ctx) => createRedisDlqStore(ctx)));

const entry = (overrides: Partial<NewDlqEntry> = {}): NewDlqEntry => ({
  jobId: 'job-1',
  tenant: 'acme',
  topic: 'job.default',
  status: 'FAILED',
  reasonCode: 'max_retries_exceeded',
  reason: 'gave up',
  errorCode: 0,
  lastState: 'RUNNING',
  attempts: 3,
  data: {},
  ...overrides,
});

describe('Redis DlqStore layout', () => {
  let conn: RedisConnection;
  let prefix: string;
  let store: ReturnType<typeof createRedisDlqStore>;
  afterEach(async () => {
    await conn.close();
  });
  const open = (): void => {
    conn = createRedisConnection({ url: server.url });
    prefix = uniquePrefix('dlq');
    store = createRedisDlqStore({ client: conn.client, keys: createKeyspace(prefix), options: resolveStoreOptions() });
  };

  it('writes every key under the prefix and the owning tenant', async () => {
    open();
    await conn.client.flushdb();
    await store.put(entry({ tenant: 'acme', jobId: 'a' }));
    await store.put(entry({ tenant: 'acme', jobId: 'a', reasonCode: 'safety_denied' }));
    await store.put(entry({ tenant: 'globex', jobId: 'b' }));
    await store.put(entry({ tenant: 'globex', jobId: 'gone' }));
    await store.delete('globex', 'gone');
    const keys = (await conn.client.keys('*')).sort();
    expect(keys).toEqual([
      `${prefix}t:acme:dlq-index`,
      `${prefix}t:acme:dlq-reasons`,
      `${prefix}t:acme:dlq:a`,
      `${prefix}t:globex:dlq-index`,
      `${prefix}t:globex:dlq-reasons`,
      `${prefix}t:globex:dlq:b`,
    ]);
  });

  it('keeps the indexes in step with the entries through upserts and deletes', async () => {
    open();
    await store.put(entry({ jobId: 'a', createdAt: 10 }));
    await store.put(entry({ jobId: 'a', createdAt: 20, reasonCode: 'safety_denied' }));
    expect(await conn.client.zrange(`${prefix}t:acme:dlq-index`, 0, -1)).toEqual(['0000000000000020:a']);
    // The old reason's member is gone: only the new one is left.
    expect(await conn.client.zrange(`${prefix}t:acme:dlq-reasons`, 0, -1)).toEqual(['safety_denied\u00000000000000000020:a']);
    expect(await store.delete('acme', 'a')).toBe(true);
    expect(await conn.client.exists(`${prefix}t:acme:dlq-index`, `${prefix}t:acme:dlq-reasons`)).toBe(0);
  });

  it('skips index members whose entry vanished or moved (a reader racing a writer)', async () => {
    open();
    for (let i = 0; i < 4; i++) await store.put(entry({ jobId: `j${i}`, createdAt: 100 + i }));
    // Simulate the window between reading the index and reading the entries.
    await conn.client.zadd(`${prefix}t:acme:dlq-index`, 0, '0000000000000500:j1');
    await conn.client.del(`${prefix}t:acme:dlq:j2`);
    const page = await store.list('acme', { limit: 2 });
    expect(page.items.map((e) => e.jobId)).toEqual(['j3', 'j1']);
    const rest = await store.list('acme', { limit: 2, cursor: page.nextCursor });
    expect(rest.items.map((e) => e.jobId)).toEqual(['j0']);
    expect(rest.nextCursor).toBeNull();
    // A reason index member left behind by an entry whose reasonCode changed is not a match.
    await conn.client.zadd(`${prefix}t:acme:dlq-reasons`, 0, 'stale_reason\u00000000000000000100:j0');
    expect(await store.list('acme', { reasonCode: 'stale_reason' })).toEqual({ items: [], nextCursor: null });
  });
});
