import { randomBytes } from 'node:crypto';
import { isCordumError } from '@cordum/core';
import { type RedisServer, redisFactory, runArtifactStoreContract, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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
    const expected = [`${base}:meta`, ...chunkKeys, `${prefix}artref:${meta.id}`, `${prefix}t:acme:art:index`];
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

  it('lists each tenant from its own index', async () => {
    const { redis, prefix, store } = open();
    await store.put({ tenant: 'acme', content: 'a' });
    await store.put({ tenant: 'globex', content: 'g' });
    expect(await redis.zcard(`${prefix}t:acme:art:index`)).toBe(1);
    expect(await redis.zcard(`${prefix}t:globex:art:index`)).toBe(1);
  });
});
