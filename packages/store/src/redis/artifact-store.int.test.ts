import { randomBytes } from 'node:crypto';
import { isCordumError } from '@cordum/core';
import { type RedisServer, redisFactory, runArtifactStoreContract, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ArtifactMeta } from '../ports/artifact-store.js';
import { STORE_DEFAULTS, resolveStoreOptions } from '../ports/stores.js';
import { createRedisArtifactStore } from './artifact-store.js';
import { type RedisConnection, createRedisConnection } from './client.js';
import { createKeyspace } from './keyspace.js';

// The options runArtifactStoreContract requires (see its doc comment).
const CONTRACT_OPTIONS = {
  artifactChunkBytes: 1024,
  artifactMaxBytes: 256 * 1024,
  artifactRetentionMs: { short: 150 },
};
const STANDARD_MS = STORE_DEFAULTS.artifactRetentionMs.standard;

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

runArtifactStoreContract(
  'redis',
  redisFactory(
    () => server,
    (ctx) => createRedisArtifactStore(ctx),
    CONTRACT_OPTIONS,
  ),
);

describe('redis ArtifactStore layout', () => {
  const opened: RedisConnection[] = [];
  const open = () => {
    const connection = createRedisConnection({ url: server.url });
    opened.push(connection);
    const keys = createKeyspace(uniquePrefix('art'));
    const store = createRedisArtifactStore({
      client: connection.client,
      keys,
      options: resolveStoreOptions(CONTRACT_OPTIONS),
    });
    return { redis: connection.client, prefix: keys.prefix, store };
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.close()));
  });

  it('chunks a large artifact; all keys are under the prefix, tenant-owned ones carry the tenant', async () => {
    const { redis, prefix, store } = open();
    const content = randomBytes(5000);
    const meta = await store.put({ tenant: 'acme', content, labels: { job: 'j-1' } });
    const base = `${prefix}t:acme:art:${meta.id}`;
    const chunkKeys = [0, 1, 2, 3, 4].map((n) => `${base}:chunk:${n}`);
    const all = (await redis.keys(`${prefix}*`)).sort();
    const expected = [
      `${base}:meta`,
      ...chunkKeys,
      `${prefix}artref:${meta.id}`,
      `${prefix}t:acme:art:index`,
      `${prefix}t:acme:art:expiry`,
    ];
    expect(all).toEqual(expected.sort());
    for (const key of all) {
      expect(key.startsWith(prefix)).toBe(true);
      if (key !== `${prefix}artref:${meta.id}`) expect(key.startsWith(`${prefix}t:acme:`)).toBe(true);
      // Every key carries the retention-class TTL.
      const pttl = await redis.pttl(key);
      expect(pttl, key).toBeGreaterThan(STANDARD_MS - 10_000);
      expect(pttl, key).toBeLessThanOrEqual(STANDARD_MS);
    }
    expect(await redis.get(`${prefix}artref:${meta.id}`)).toBe('acme');
    const chunks = await Promise.all(chunkKeys.map((k) => redis.getBuffer(k)));
    expect(chunks.map((c) => c?.length)).toEqual([1024, 1024, 1024, 1024, 904]);
    expect(Buffer.concat(chunks as Buffer[]).equals(content)).toBe(true);
    const hash = await redis.hgetall(`${base}:meta`);
    expect(hash).toMatchObject({
      tenant: 'acme',
      size: '5000',
      sha256: meta.sha256,
      chunks: '5',
      retention: 'standard',
    });
    expect(hash['data']).toBeUndefined();
    expect(JSON.parse(hash['labels'] ?? '')).toEqual({ job: 'j-1' });
    expect(Number(await redis.zscore(`${prefix}t:acme:art:index`, meta.id))).toBe(meta.createdAt);
    expect(Number(await redis.zscore(`${prefix}t:acme:art:expiry`, meta.id))).toBe(meta.expiresAt);
  });

  it('keeps content up to the chunk size inline in the meta hash', async () => {
    const { redis, prefix, store } = open();
    const content = randomBytes(1024);
    const meta = await store.put({ tenant: 'acme', content });
    const data = await redis.hgetBuffer(`${prefix}t:acme:art:${meta.id}:meta`, 'data');
    expect(data?.equals(content)).toBe(true);
    expect(await redis.keys(`${prefix}*:chunk:*`)).toEqual([]);
  });

  it('delete removes every key of the artifact', async () => {
    const { redis, prefix, store } = open();
    const meta = await store.put({ tenant: 'acme', content: randomBytes(3000) });
    expect(await store.delete('acme', meta.id)).toBe(true);
    expect(await redis.keys(`${prefix}*`)).toEqual([]);
  });

  it('reports a missing chunk or altered content as corruption, not as a good read', async () => {
    const { redis, prefix, store } = open();
    const missing = await store.put({ tenant: 'acme', content: randomBytes(3000) });
    await redis.del(`${prefix}t:acme:art:${missing.id}:chunk:1`);
    const a: unknown = await store.get('acme', missing.id).catch((e: unknown) => e);
    expect(isCordumError(a) && a.kind).toBe('terminal');
    expect(isCordumError(a) && a.message).toContain(missing.id);
    expect(isCordumError(a) && a.details['reason']).toMatch(/chunk 1 of 3 is missing/);

    const altered = await store.put({ tenant: 'acme', content: randomBytes(3000) });
    await redis.set(`${prefix}t:acme:art:${altered.id}:chunk:2`, randomBytes(952), 'KEEPTTL');
    const b: unknown = await store.get('acme', altered.id).catch((e: unknown) => e);
    expect(isCordumError(b) && b.message).toMatch(/corrupt.*SHA-256/);

    const inline = await store.put({ tenant: 'acme', content: 'abc' });
    await redis.hset(`${prefix}t:acme:art:${inline.id}:meta`, 'data', 'abd');
    const c: unknown = await store.get('acme', inline.id).catch((e: unknown) => e);
    expect(isCordumError(c) && c.kind).toBe('terminal');
    // The metadata itself still reads.
    expect(await store.head('acme', altered.id)).toEqual(altered);
  });

  it('listing drops index entries whose artifact is gone', async () => {
    const { redis, prefix, store } = open();
    const kept = await store.put({ tenant: 'acme', content: 'kept' });
    const gone = await store.put({ tenant: 'acme', content: 'gone' });
    await redis.del(`${prefix}t:acme:art:${gone.id}:meta`);
    expect((await store.list('acme')).items.map((m) => m.id)).toEqual([kept.id]);
    expect(await redis.zscore(`${prefix}t:acme:art:index`, gone.id)).toBeNull();
  });

  it('a put prunes index entries older than the longest retention', async () => {
    const { redis, prefix, store } = open();
    const index = `${prefix}t:acme:art:index`;
    await redis.zadd(index, Date.now() - STORE_DEFAULTS.artifactRetentionMs.audit - 60_000, 'ancient');
    await store.put({ tenant: 'acme', content: 'x' });
    expect(await redis.zscore(index, 'ancient')).toBeNull();
  });

  it('a put prunes index entries of expired artifacts, whatever their retention class and age', async () => {
    const { redis, prefix, store } = open();
    const index = `${prefix}t:acme:art:index`;
    const expiry = `${prefix}t:acme:art:expiry`;
    const standard = await store.put({ tenant: 'acme', content: 'older, still live' });
    const shorts = await Promise.all(
      Array.from({ length: 5 }, (_, i) => store.put({ tenant: 'acme', content: `s-${i}`, retention: 'short' })),
    );
    expect(await redis.zcard(index)).toBe(6);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const fresh = await store.put({ tenant: 'acme', content: 'new' });
    // The stale entries are newer than the live standard artifact: pruning goes by expiry, not by age.
    expect((await redis.zrange(index, 0, -1)).sort()).toEqual([standard.id, fresh.id].sort());
    expect((await redis.zrange(expiry, 0, -1)).sort()).toEqual([standard.id, fresh.id].sort());
    for (const s of shorts) expect(await redis.zscore(expiry, s.id)).toBeNull();
    // Both zsets live as long as the longest-lived artifact they list.
    expect(await redis.pttl(expiry)).toBeGreaterThan(STANDARD_MS - 10_000);
  });

  it('a put prunes at most 100 expired entries, so its cost stays bounded', async () => {
    const { redis, prefix, store } = open();
    const index = `${prefix}t:acme:art:index`;
    const expiry = `${prefix}t:acme:art:expiry`;
    const past = Date.now() - 60_000;
    const stale = Array.from({ length: 150 }, (_, i) => `stale-${String(i).padStart(3, '0')}`);
    await redis.zadd(index, ...stale.flatMap((id) => [past, id]));
    await redis.zadd(expiry, ...stale.flatMap((id) => [past + 1, id]));
    await store.put({ tenant: 'acme', content: 'x' });
    expect(await redis.zcard(expiry)).toBe(51);
    await store.put({ tenant: 'acme', content: 'y' });
    expect(await redis.zcard(expiry)).toBe(2);
    expect(await redis.zcard(index)).toBe(2);
  });

  it('a listing is not cut short when another lister removes stale entries mid-scan', async () => {
    const connection = createRedisConnection({ url: server.url });
    const twin = createRedisConnection({ url: server.url });
    opened.push(connection, twin);
    const keys = createKeyspace(uniquePrefix('art'));
    const options = resolveStoreOptions({ ...CONTRACT_OPTIONS, artifactRetentionMs: { short: 100 } });
    const other = createRedisArtifactStore({ client: twin.client, keys, options });
    // The lister's client runs another instance's full listing right after its first index read, the
    // worst moment: that listing removes the stale entries the first read has just returned.
    let reads = 0;
    const hooked = new Proxy(connection.client, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => unknown;
        if (prop !== 'zrevrangebyscore') return method.bind(target);
        return async (...args: unknown[]) => {
          const rows: unknown = await method.apply(target, args);
          if (++reads === 1) await other.list('acme', { limit: 50 });
          return rows;
        };
      },
    });
    const store = createRedisArtifactStore({ client: hooked, keys, options });
    const live: ArtifactMeta[] = [];
    for (let i = 0; i < 6; i++) live.push(await store.put({ tenant: 'acme', content: `live-${i}` }));
    // Listing order: created_at descending, ties (same millisecond) by id descending.
    const newestFirst = live
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
      .map((m) => m.id);
    await new Promise((resolve) => setTimeout(resolve, 5));
    for (let i = 0; i < 12; i++) await store.put({ tenant: 'acme', content: `short-${i}`, retention: 'short' });
    await new Promise((resolve) => setTimeout(resolve, 250));

    const page = await store.list('acme', { limit: 2 });
    expect(reads).toBeGreaterThan(1);
    expect(page.items.map((m) => m.id)).toEqual(newestFirst.slice(0, 2));
    expect(page.nextCursor).not.toBeNull();
    const rest = await store.list('acme', { limit: 10, cursor: page.nextCursor });
    expect(rest.items.map((m) => m.id)).toEqual(newestFirst.slice(2));
    expect(rest.nextCursor).toBeNull();
    expect(await twin.client.zcard(`${keys.prefix}t:acme:art:index`)).toBe(6);
  });

  it('lists each tenant from its own index', async () => {
    const { redis, prefix, store } = open();
    await store.put({ tenant: 'acme', content: 'a' });
    await store.put({ tenant: 'globex', content: 'g' });
    expect(await redis.zcard(`${prefix}t:acme:art:index`)).toBe(1);
    expect(await redis.zcard(`${prefix}t:globex:art:index`)).toBe(1);
  });
});
