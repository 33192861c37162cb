import { type RedisServer, redisFactory, runLockStoreContract, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveStoreOptions } from '../ports/stores.js';
import { type RedisConnection, createRedisConnection } from './client.js';
import { createKeyspace } from './keyspace.js';
import { createRedisLockStore } from './lock-store.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

runLockStoreContract(
  'redis',
  redisFactory(
    () => server,
    (ctx) => createRedisLockStore(ctx),
  ),
);

describe('redis LockStore layout', () => {
  const opened: RedisConnection[] = [];
  const open = () => {
    const connection = createRedisConnection({ url: server.url });
    opened.push(connection);
    const keys = createKeyspace(uniquePrefix('lock'));
    const store = createRedisLockStore({ client: connection.client, keys, options: resolveStoreOptions() });
    return { redis: connection.client, key: `${keys.prefix}t:acme:lock:pack:install`, store };
  };
  const shared = (owner: string, ttlMs: number) =>
    ({ tenant: 'acme', resource: 'pack:install', owner, mode: 'shared', ttlMs }) as const;
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.close()));
  });

  it('keeps the lock at <prefix>t:<tenant>:lock:<resource>, expiring with its latest owner', async () => {
    const { redis, key, store } = open();
    await store.acquire(shared('a', 60_000));
    await store.acquire(shared('b', 120_000));
    const both = await redis.pttl(key);
    expect(both).toBeGreaterThan(115_000);
    expect(both).toBeLessThanOrEqual(120_000);
    const record = JSON.parse((await redis.get(key)) ?? 'null') as { mode: string; owners: Record<string, unknown> };
    expect(record.mode).toBe('shared');
    expect(Object.keys(record.owners).sort()).toEqual(['a', 'b']);
    await store.release({ tenant: 'acme', resource: 'pack:install', owner: 'b' });
    const one = await redis.pttl(key);
    expect(one).toBeGreaterThan(55_000);
    expect(one).toBeLessThanOrEqual(60_000);
    await store.release({ tenant: 'acme', resource: 'pack:install', owner: 'a' });
    expect(await redis.exists(key)).toBe(0);
  });

  it('the key disappears by itself when the last owner expires', async () => {
    const { redis, key, store } = open();
    await store.acquire(shared('a', 150));
    expect(await redis.exists(key)).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await redis.exists(key)).toBe(0);
  });

  it('drops expired owners from the record on the next write', async () => {
    const { redis, key, store } = open();
    await store.acquire(shared('a', 150));
    await store.acquire(shared('b', 60_000));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await store.acquire(shared('c', 60_000));
    const record = JSON.parse((await redis.get(key)) ?? 'null') as { owners: Record<string, unknown> };
    expect(Object.keys(record.owners).sort()).toEqual(['b', 'c']);
  });
});
