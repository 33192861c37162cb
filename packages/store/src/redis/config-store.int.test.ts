import { type RedisServer, redisFactory, runConfigStoreContract, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveStoreOptions } from '../ports/stores.js';
import { type RedisConnection, createRedisConnection } from './client.js';
import { createRedisConfigStore } from './config-store.js';
import { createKeyspace } from './keyspace.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

runConfigStoreContract('redis', redisFactory(() => server, (ctx) => createRedisConfigStore(ctx), { configHistoryLimit: 5 }));

describe('Redis ConfigStore layout', () => {
  let conn: RedisConnection;
  afterEach(async () => {
    await conn.close();
  });

  const open = (configHistoryLimit = 3): { prefix: string; store: ReturnType<typeof createRedisConfigStore> } => {
    conn = createRedisConnection({ url: server.url });
    const prefix = uniquePrefix('cfg');
    const store = createRedisConfigStore({
      client: conn.client,
      keys: createKeyspace(prefix),
      options: resolveStoreOptions({ configHistoryLimit }),
    });
    return { prefix, store };
  };

  it('writes every key under the prefix, tenant-owned ones under their tenant', async () => {
    const { prefix, store } = open();
    await conn.client.flushdb();
    const ref = { scope: 'team', tenant: 'acme', scopeId: 'payments' } as const;
    await store.put(ref, { data: { a: 1 } });
    await store.rollback(ref, 1);
    await store.put({ scope: 'org', tenant: 'globex', scopeId: 'globex' }, { data: {} });
    await store.put({ scope: 'system', scopeId: 'default' }, { data: {} });
    await store.put({ scope: 'team', tenant: 'acme', scopeId: 'gone' }, { data: {} });
    await store.delete({ scope: 'team', tenant: 'acme', scopeId: 'gone' });

    const keys = (await conn.client.keys('*')).sort();
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key.startsWith(prefix)).toBe(true);
    const tenantKeys = keys.filter((k) => k.startsWith(`${prefix}t:`));
    const systemKeys = keys.filter((k) => !k.startsWith(`${prefix}t:`));
    expect(systemKeys).toEqual([
      `${prefix}cfg-hist:system:default`,
      `${prefix}cfg-ids:system`,
      `${prefix}cfg-seq:system:default`,
      `${prefix}cfg:system:default`,
    ]);
    expect(tenantKeys).toContain(`${prefix}t:acme:cfg:team:payments`);
    for (const key of tenantKeys) expect(key).toMatch(new RegExp(`^${prefix}t:(acme|globex):cfg`));
    expect(tenantKeys.filter((k) => k.startsWith(`${prefix}t:globex:`))).toHaveLength(4);
  });

  it('keeps history trimmed in Redis and the counter across delete', async () => {
    const { prefix, store } = open(3);
    const ref = { scope: 'workflow', tenant: 'acme', scopeId: 'wf-1' } as const;
    for (let i = 0; i < 7; i++) await store.put(ref, { data: { i } });
    expect(await conn.client.zcard(`${prefix}t:acme:cfg-hist:workflow:wf-1`)).toBe(3);
    expect(await store.delete(ref)).toBe(true);
    expect(await conn.client.exists(`${prefix}t:acme:cfg:workflow:wf-1`)).toBe(0);
    expect(await conn.client.get(`${prefix}t:acme:cfg-seq:workflow:wf-1`)).toBe('7');
    expect(await conn.client.smembers(`${prefix}t:acme:cfg-ids:workflow`)).toEqual([]);
  });

  it('stores the caller’s JSON byte for byte (no cjson round trip)', async () => {
    const { prefix, store } = open();
    const ref = { scope: 'team', tenant: 'acme', scopeId: 'exact' } as const;
    await store.put(ref, { data: { empty: [], obj: {}, big: 9007199254740991, tiny: 1e-7, s: 'a/b "q" é' } });
    const raw = await conn.client.get(`${prefix}t:acme:cfg:team:exact`);
    expect(raw).toContain('"data":{"empty":[],"obj":{},"big":9007199254740991,"tiny":1e-7,"s":"a/b \\"q\\" é"}');
  });

  it('reloads its scripts after SCRIPT FLUSH', async () => {
    const { store } = open();
    const ref = { scope: 'team', tenant: 'acme', scopeId: 'flush' } as const;
    await store.put(ref, { data: { v: 1 } });
    await conn.client.script('FLUSH');
    expect(await store.put(ref, { data: { v: 2 }, expectedRevision: 1 })).toMatchObject({ revision: 2 });
    await conn.client.script('FLUSH');
    expect(await store.delete(ref, { expectedRevision: 2 })).toBe(true);
  });
});
