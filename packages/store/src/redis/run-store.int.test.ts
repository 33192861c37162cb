import {
  RUN_STORE_CONTRACT_OPTIONS,
  type RedisServer,
  redisFactory,
  runRunStoreContract,
  startRedis,
  uniquePrefix,
} from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunStore } from '../ports/run-store.js';
import { resolveStoreOptions } from '../ports/stores.js';
import { type RedisConnection, createRedisConnection } from './client.js';
import { createKeyspace } from './keyspace.js';
import { createRedisRunStore } from './run-store.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

runRunStoreContract('redis', redisFactory(() => server, (ctx) => createRedisRunStore(ctx), RUN_STORE_CONTRACT_OPTIONS));

describe('Redis RunStore layout', () => {
  let conn: RedisConnection;
  let prefix: string;
  let store: RunStore;
  afterEach(async () => {
    await conn.close();
  });
  const open = (): void => {
    conn = createRedisConnection({ url: server.url });
    prefix = uniquePrefix('run');
    store = createRedisRunStore({ client: conn.client, keys: createKeyspace(prefix), options: resolveStoreOptions() });
  };
  const keysOf = async (): Promise<string[]> => (await conn.client.keys(`${prefix}*`)).sort();

  it('writes tenant keys under the tenant, global indexes with ids only, and deletes every key of a run', async () => {
    open();
    await store.create({
      tenant: 'acme',
      id: 'r1',
      workflowId: 'wf:1',
      workflowVersion: 2,
      doc: {},
      idempotencyKey: 'k:1',
      dueAt: 5,
      timeline: [{ key: 'created', data: {} }],
    });
    await store.pushEvent('acme', 'r1', { type: 'cancel' }, { key: 'cancel' });
    expect(await keysOf()).toEqual([
      `${prefix}runs:active`,
      `${prefix}runs:due`,
      `${prefix}t:acme:run-idem:k:1`,
      `${prefix}t:acme:run-inbox:r1`,
      `${prefix}t:acme:run-inkeys:r1`,
      `${prefix}t:acme:run-timeline:r1`,
      `${prefix}t:acme:run-tlkeys:r1`,
      `${prefix}t:acme:run:r1`,
      `${prefix}t:acme:runs:all`,
      `${prefix}t:acme:runs:slots`,
      `${prefix}t:acme:runs:status:pending`,
      `${prefix}t:acme:runs:wf:wf:1`,
    ]);
    expect(await conn.client.zrange(`${prefix}runs:due`, 0, -1, 'WITHSCORES')).toEqual(['acme|r1', '5']);
    const ttl = await conn.client.pttl(`${prefix}t:acme:run-idem:k:1`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(resolveStoreOptions().idempotencyTtlMs);
    expect(await store.delete('acme', 'r1')).toBe(true);
    expect(await keysOf()).toEqual([]);
  });

  it('stores the run document and timeline entries byte for byte', async () => {
    open();
    await store.create({
      tenant: 'acme',
      id: 'r2',
      workflowId: 'wf',
      workflowVersion: 1,
      doc: { list: [], obj: {}, max: 9007199254740991 },
      timeline: [{ data: { list: [], n: 0.1 } }],
    });
    expect(await conn.client.hget(`${prefix}t:acme:run:r2`, 'doc')).toBe('{"list":[],"obj":{},"max":9007199254740991}');
    const [entry] = await conn.client.zrange(`${prefix}t:acme:run-timeline:r2`, 0, -1);
    expect(entry).toMatch(/^\{"seq":1,"at":\d+,"key":null,"data":\{"list":\[\],"n":0\.1\}\}$/);
  });

  it('frees the slot and leaves the global indexes when a run ends', async () => {
    open();
    await store.create({ tenant: 'acme', id: 'r3', workflowId: 'wf', workflowVersion: 1, doc: {}, dueAt: 1 });
    await store.update('acme', 'r3', { expectedVersion: 1, status: 'failed' });
    expect(await conn.client.scard(`${prefix}t:acme:runs:slots`)).toBe(0);
    expect(await conn.client.zcard(`${prefix}runs:due`)).toBe(0);
    expect(await conn.client.zcard(`${prefix}runs:active`)).toBe(0);
    expect(await conn.client.zrange(`${prefix}t:acme:runs:status:failed`, 0, -1)).toHaveLength(1);
    expect(await conn.client.zcard(`${prefix}t:acme:runs:status:pending`)).toBe(0);
  });

  it('stores the document in parts and writes only the parts an update changed', async () => {
    open();
    const key = `${prefix}t:acme:run:r4`;
    const def = { id: 'wf', steps: { a: {}, b: {} } };
    const doc1 = { status: 'running', definition: def, steps: { a: { status: 'running' }, b: { status: 'pending' } }, context: { steps: {} } };
    await store.create({ tenant: 'acme', id: 'r4', workflowId: 'wf', workflowVersion: 1, doc: doc1 });
    expect((await conn.client.hkeys(key)).filter((f) => f.includes(':') || f === 'def').sort()).toEqual(['def', 's:a', 's:b']);
    // Plant a marker in the stored step b: a delta write that shares b must leave the field alone.
    await conn.client.hset(key, 's:b', '{"status":"pending","marker":true}');
    const doc2 = { ...doc1, steps: { ...doc1.steps, a: { status: 'succeeded' } }, context: { steps: { a: { output: 1 } } } };
    const res = await store.update('acme', 'r4', { expectedVersion: 1, doc: doc2, previousDoc: doc1 });
    expect(res.outcome).toBe('updated');
    const read = await store.get('acme', 'r4');
    expect(read?.doc).toEqual({ ...doc2, steps: { a: { status: 'succeeded' }, b: { status: 'pending', marker: true } } });
    // Without previousDoc the whole document is written again, and parts that are gone are removed.
    const doc3 = { status: 'running', definition: def, steps: { a: { status: 'succeeded' } }, context: { steps: {} } };
    await store.update('acme', 'r4', { expectedVersion: 2, doc: doc3 });
    expect((await store.get('acme', 'r4'))?.doc).toEqual(doc3);
    expect((await conn.client.hkeys(key)).filter((f) => f.includes(':') || f === 'def').sort()).toEqual(['def', 's:a']);
  });

  it('writes a record stored whole (an older layout) whole again instead of in parts', async () => {
    open();
    const key = `${prefix}t:acme:run:r5`;
    await store.create({ tenant: 'acme', id: 'r5', workflowId: 'wf', workflowVersion: 1, doc: {} });
    const old = { steps: { a: { status: 'running' }, b: { status: 'pending' } } };
    await conn.client.hdel(key, 'layout');
    await conn.client.hset(key, 'doc', JSON.stringify(old));
    expect((await store.get('acme', 'r5'))?.doc).toEqual(old);
    const next = { steps: { ...old.steps, a: { status: 'succeeded' } } };
    const res = await store.update('acme', 'r5', { expectedVersion: 1, doc: next, previousDoc: old, reply: 'version' });
    expect(res).toMatchObject({ outcome: 'updated', run: { version: 2 } });
    expect((await store.get('acme', 'r5'))?.doc).toEqual(next);
    expect(await conn.client.hget(key, 'layout')).toBe('2');
  });
});
