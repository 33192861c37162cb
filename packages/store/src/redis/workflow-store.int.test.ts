import { type RedisServer, redisFactory, runWorkflowStoreContract, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveStoreOptions } from '../ports/stores.js';
import { type RedisConnection, createRedisConnection } from './client.js';
import { createKeyspace } from './keyspace.js';
import { createRedisWorkflowStore } from './workflow-store.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

runWorkflowStoreContract('redis', redisFactory(() => server, (ctx) => createRedisWorkflowStore(ctx)));

describe('Redis WorkflowStore layout', () => {
  let conn: RedisConnection;
  let prefix: string;
  let store: ReturnType<typeof createRedisWorkflowStore>;
  afterEach(async () => {
    await conn.close();
  });
  const open = (): void => {
    conn = createRedisConnection({ url: server.url });
    prefix = uniquePrefix('wf');
    store = createRedisWorkflowStore({ client: conn.client, keys: createKeyspace(prefix), options: resolveStoreOptions() });
  };
  const keysOf = async (): Promise<string[]> => (await conn.client.keys(`${prefix}*`)).sort();

  it('writes every key under the prefix and the owning tenant', async () => {
    open();
    await store.put('acme', 'pack.a', { a: 1 });
    await store.put('acme', 'pack.a', { a: 2 });
    await store.put('acme', 'pack:b', { b: 1 });
    await store.delete('acme', 'pack:b');
    await store.put('globex', 'pack.a', { a: 3 });
    expect(await keysOf()).toEqual([
      `${prefix}t:acme:wf-versions:pack.a`,
      `${prefix}t:acme:wf-versions:pack:b`,
      `${prefix}t:acme:wf:pack.a`,
      `${prefix}t:acme:wf:pack:b`,
      `${prefix}t:acme:wfs`,
      `${prefix}t:globex:wf-versions:pack.a`,
      `${prefix}t:globex:wf:pack.a`,
      `${prefix}t:globex:wfs`,
    ]);
    // A deleted workflow keeps its version counter (and, unpurged, its versions).
    expect(await conn.client.hgetall(`${prefix}t:acme:wf:pack:b`)).toEqual({ last: '1' });
    expect(await conn.client.hgetall(`${prefix}t:acme:wf:pack.a`)).toEqual({ last: '2', current: '2' });
    expect(await conn.client.zrange(`${prefix}t:acme:wfs`, 0, -1)).toEqual(['pack.a']);
    await store.delete('acme', 'pack:b', { purgeVersions: true });
    expect(await conn.client.exists(`${prefix}t:acme:wf-versions:pack:b`)).toBe(0);
  });

  it('stores the definition text byte for byte (no cjson round trip)', async () => {
    open();
    await store.put('acme', 'exact', { steps: {}, list: [], max: 9007199254740991, tiny: 1e-7 });
    expect(await conn.client.hget(`${prefix}t:acme:wf-versions:exact`, '1')).toBe(
      '{"steps":{},"list":[],"max":9007199254740991,"tiny":1e-7}',
    );
  });
});
