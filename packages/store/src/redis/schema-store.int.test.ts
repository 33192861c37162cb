import { type RedisServer, redisFactory, runSchemaStoreContract, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveStoreOptions } from '../ports/stores.js';
import { type RedisConnection, createRedisConnection } from './client.js';
import { createKeyspace } from './keyspace.js';
import { createRedisSchemaStore } from './schema-store.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

runSchemaStoreContract('redis', redisFactory(() => server, (ctx) => createRedisSchemaStore(ctx)));

describe('Redis SchemaStore layout', () => {
  let conn: RedisConnection;
  let prefix: string;
  let store: ReturnType<typeof createRedisSchemaStore>;
  afterEach(async () => {
    await conn.close();
  });
  const open = (): void => {
    conn = createRedisConnection({ url: server.url });
    prefix = uniquePrefix('schema');
    store = createRedisSchemaStore({ client: conn.client, keys: createKeyspace(prefix), options: resolveStoreOptions() });
  };

  it('writes every key under the prefix and the owning tenant', async () => {
    open();
    await conn.client.flushdb();
    await store.put('acme', 'pack/A', { a: 1 });
    await store.put('acme', 'pack/B', { b: 1 });
    await store.delete('acme', 'pack/B');
    await store.put('globex', 'pack/A', { a: 2 });
    const keys = (await conn.client.keys('*')).sort();
    expect(keys).toEqual([
      `${prefix}t:acme:schema:pack/A`,
      `${prefix}t:acme:schema:pack/B`,
      `${prefix}t:acme:schemas`,
      `${prefix}t:globex:schema:pack/A`,
      `${prefix}t:globex:schemas`,
    ]);
    // A deleted schema leaves only its version counter behind.
    expect(await conn.client.hgetall(`${prefix}t:acme:schema:pack/B`)).toEqual({ version: '1' });
    expect(await conn.client.zrange(`${prefix}t:acme:schemas`, 0, -1)).toEqual(['pack/A']);
  });

  it('stores the schema text byte for byte (no cjson round trip)', async () => {
    open();
    await store.put('acme', 'exact', { enum: [], default: {}, max: 9007199254740991 });
    expect(await conn.client.hget(`${prefix}t:acme:schema:exact`, 'schema')).toBe('{"enum":[],"default":{},"max":9007199254740991}');
  });
});
