import { type RedisServer, redisFactory, runIdempotencyStoreContract, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type StoreOptions, resolveStoreOptions } from '../ports/stores.js';
import { type RedisConnection, createRedisConnection } from './client.js';
import { createKeyspace } from './keyspace.js';
import { createRedisIdempotencyStore } from './idempotency-store.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

runIdempotencyStoreContract(
  'redis',
  redisFactory(
    () => server,
    (ctx) => createRedisIdempotencyStore(ctx),
  ),
);

describe('redis IdempotencyStore layout', () => {
  const opened: RedisConnection[] = [];
  const open = (options: StoreOptions = {}) => {
    const connection = createRedisConnection({ url: server.url });
    opened.push(connection);
    const keys = createKeyspace(uniquePrefix('idem'));
    const store = createRedisIdempotencyStore({
      client: connection.client,
      keys,
      options: resolveStoreOptions(options),
    });
    return { redis: connection.client, prefix: keys.prefix, store };
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.close()));
  });

  it('keeps a claim at <prefix>t:<tenant>:idem:<scope>:<key> with PX ttl', async () => {
    const { redis, prefix, store } = open();
    await store.claim({ tenant: 'acme', scope: 'run', key: 'req:1' }, 'run-9', { ttlMs: 60_000 });
    const key = `${prefix}t:acme:idem:run:req:1`;
    expect(await redis.keys(`${prefix}*`)).toEqual([key]);
    expect(await redis.get(key)).toBe('run-9');
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(55_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
  });

  it('uses idempotencyTtlMs when a claim gives no ttl', async () => {
    const { redis, prefix, store } = open({ idempotencyTtlMs: 3_600_000 });
    await store.claim({ tenant: 'acme', scope: 'job', key: 'k' }, 'v');
    expect(await redis.pttl(`${prefix}t:acme:idem:job:k`)).toBeGreaterThan(3_590_000);
  });

  it('release leaves a key that another writer changed', async () => {
    const { redis, prefix, store } = open();
    const key = { tenant: 'acme', scope: 'job', key: 'k' };
    await store.claim(key, 'mine', { ttlMs: 60_000 });
    await redis.set(`${prefix}t:acme:idem:job:k`, 'theirs');
    expect(await store.release(key, 'mine')).toBe(false);
    expect(await redis.get(`${prefix}t:acme:idem:job:k`)).toBe('theirs');
  });
});
