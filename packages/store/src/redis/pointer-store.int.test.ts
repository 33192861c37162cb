import { isCordumError, sha256Hex } from '@cordum/core';
import { contextPointer } from '@cordum/protocol';
import { type RedisServer, redisFactory, runPointerStoreContract, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type StoreOptions, resolveStoreOptions } from '../ports/stores.js';
import { type RedisConnection, createRedisConnection } from './client.js';
import type { RedisStoreContext } from './context.js';
import { createKeyspace } from './keyspace.js';
import { createRedisPointerStore } from './pointer-store.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

runPointerStoreContract(
  'redis',
  redisFactory(
    () => server,
    (ctx) => createRedisPointerStore(ctx),
  ),
);

describe('redis PointerStore layout', () => {
  const opened: RedisConnection[] = [];
  const open = (options: StoreOptions = {}) => {
    const connection = createRedisConnection({ url: server.url });
    opened.push(connection);
    const ctx: RedisStoreContext = {
      client: connection.client,
      keys: createKeyspace(uniquePrefix('ptr')),
      options: resolveStoreOptions(options),
    };
    return { redis: connection.client, prefix: ctx.keys.prefix, store: createRedisPointerStore(ctx) };
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.close()));
  });

  it('keeps redis://<K> at <prefix><K>: a binary-safe hash with tenant, hash and expiry, PEXPIREAT set', async () => {
    const { redis, prefix, store } = open();
    const bytes = Buffer.from([0, 255, 0xc3, 0x28, 10, 13, 0]);
    await store.putContext('job-1', { tenant: 'acme', bytes, contentType: 'application/octet-stream', ttlMs: 60_000 });
    const key = `${prefix}ctx:job-1`;
    expect(await redis.keys(`${prefix}*`)).toEqual([key]);
    expect(await redis.type(key)).toBe('hash');
    const hash = await redis.hgetallBuffer(key);
    expect(hash['data']?.equals(bytes)).toBe(true);
    expect(hash['content_type']?.toString()).toBe('application/octet-stream');
    expect(hash['tenant']?.toString()).toBe('acme');
    expect(hash['sha256']?.toString()).toBe(sha256Hex(bytes));
    const createdAt = Number(hash['created_at']?.toString());
    const expiresAt = Number(hash['expires_at']?.toString());
    expect(expiresAt).toBe(createdAt + 60_000);
    // The key itself expires at expires_at (PEXPIRETIME needs Redis 7; PTTL works everywhere).
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(55_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
  });

  it('uses payloadTtlMs when a put gives no ttl', async () => {
    const { redis, prefix, store } = open({ payloadTtlMs: 3_600_000 });
    const pointer = await store.putResult('job-1', { tenant: 'acme', bytes: 'x' });
    const payload = await store.require(pointer);
    expect(payload.expiresAt).toBe(payload.createdAt + 3_600_000);
    expect(await redis.pttl(`${prefix}res:job-1`)).toBeGreaterThan(3_590_000);
  });

  it('extend moves the key expiry and the recorded expires_at together', async () => {
    const { redis, prefix, store } = open();
    const pointer = await store.putContext('job-1', { tenant: 'acme', bytes: 'x', ttlMs: 60_000 });
    const { createdAt } = await store.require(pointer);
    expect(await store.extend(pointer, createdAt + 600_000)).toBe(true);
    expect(await redis.hget(`${prefix}ctx:job-1`, 'expires_at')).toBe(String(createdAt + 600_000));
    expect(await redis.pttl(`${prefix}ctx:job-1`)).toBeGreaterThan(590_000);
  });

  it('resolves foreign pointer forms as the literal key under the prefix', async () => {
    const { redis, prefix, store } = open();
    const foreign = { data: 'foreign', content_type: 'text/plain', tenant: 'acme', created_at: '1' };
    await redis.hset(`${prefix}ctx/abc`, foreign);
    const payload = await store.require('redis://ctx/abc');
    expect(Buffer.from(payload.bytes).toString()).toBe('foreign');
    expect(payload).toMatchObject({
      pointer: 'redis://ctx/abc',
      tenant: 'acme',
      contentType: 'text/plain',
      createdAt: 1,
    });
    expect(payload.expiresAt).toBeNull();
    // No expiry already outlives any time: extend reports it exists and adds none.
    expect(await store.extend('redis://ctx/abc', Date.now() + 1_000)).toBe(true);
    expect(await redis.pttl(`${prefix}ctx/abc`)).toBe(-1);
    expect(await store.delete('redis://ctx/abc')).toBe(true);
    expect(await redis.exists(`${prefix}ctx/abc`)).toBe(0);
  });

  it('never reads, extends or deletes keys that are not payload records', async () => {
    const { redis, prefix, store } = open();
    // Tenant-owned records of other stores, even one shaped like a payload.
    await redis.set(`${prefix}t:acme:idem:job:x`, 'job-1');
    await redis.hset(`${prefix}t:acme:art:a1:meta`, { data: 'secret', tenant: 'acme' });
    // System keys of other stores: wrong type, or a hash without payload fields.
    await redis.set(`${prefix}jobs:due`, 'x');
    await redis.hset(`${prefix}jobs:index`, { a: '1' });
    await redis.hset(`${prefix}jobs:blob`, { data: 'x' });
    const pointers = ['t:acme:idem:job:x', 't:acme:art:a1:meta', 'jobs:due', 'jobs:index', 'jobs:blob'].map(
      (k) => `redis://${k}`,
    );
    for (const pointer of pointers) {
      expect(await store.get(pointer)).toBeUndefined();
      expect(await store.extend(pointer, Date.now() + 60_000)).toBe(false);
      expect(await store.delete(pointer)).toBe(false);
    }
    expect((await redis.keys(`${prefix}*`)).sort()).toEqual(
      ['jobs:blob', 'jobs:due', 'jobs:index', 't:acme:art:a1:meta', 't:acme:idem:job:x'].map((k) => prefix + k).sort(),
    );
    // extend must not have touched them either.
    expect(await redis.pttl(`${prefix}jobs:blob`)).toBe(-1);
    expect(await redis.hgetall(`${prefix}jobs:blob`)).toEqual({ data: 'x' });
  });

  it('keeps deployments with different prefixes apart', async () => {
    const a = open();
    const b = open();
    await a.store.putContext('job-1', { tenant: 'acme', bytes: 'a' });
    expect(await b.store.get(contextPointer('job-1'))).toBeUndefined();
    await b.store.putContext('job-1', { tenant: 'acme', bytes: 'b' });
    expect(Buffer.from((await a.store.require(contextPointer('job-1'))).bytes).toString()).toBe('a');
  });

  it('reports a conflicting context as ConflictError(already_exists) decoded from the script', async () => {
    const { store } = open();
    await store.putContext('job-1', { tenant: 'acme', bytes: 'x' });
    const err: unknown = await store.putContext('job-1', { tenant: 'acme', bytes: 'y' }).catch((e: unknown) => e);
    expect(isCordumError(err) && err.code).toBe('already_exists');
    expect(isCordumError(err) && err.message).toBe(
      'the input behind redis://ctx:job-1 is write-once and already holds a different payload',
    );
  });
});
