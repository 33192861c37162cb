import { type RedisServer, redisFactory, runAuditLogContract, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveStoreOptions } from '../ports/stores.js';
import { createRedisAuditLog } from './audit-log.js';
import { type RedisConnection, createRedisConnection } from './client.js';
import { createKeyspace } from './keyspace.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

runAuditLogContract('redis', redisFactory(() => server, (ctx) => createRedisAuditLog(ctx)));

describe('Redis AuditLog layout', () => {
  let conn: RedisConnection;
  let prefix: string;
  let log: ReturnType<typeof createRedisAuditLog>;
  afterEach(async () => {
    await conn.close();
  });
  const open = (): void => {
    conn = createRedisConnection({ url: server.url });
    prefix = uniquePrefix('audit');
    log = createRedisAuditLog({ client: conn.client, keys: createKeyspace(prefix), options: resolveStoreOptions() });
  };

  it('writes one stream per tenant under the prefix', async () => {
    open();
    await conn.client.flushdb();
    await log.append({ tenant: 'acme', kind: 'config.write', actor: 'a', subject: 's', data: {} });
    await log.append({ tenant: 'globex', kind: 'config.write', actor: 'a', subject: 's', data: {} });
    const keys = (await conn.client.keys('*')).sort();
    expect(keys).toEqual([`${prefix}t:acme:audit`, `${prefix}t:globex:audit`]);
    expect(await conn.client.type(`${prefix}t:acme:audit`)).toBe('stream');
  });

  it('uses the stream id as the entry id and its millisecond part as `at`', async () => {
    open();
    const [seconds, micros] = await conn.client.time();
    const serverMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const entry = await log.append({ tenant: 'acme', kind: 'policy.decision', actor: 'kernel', subject: 'job-9', data: { d: [] } });
    const [[id, fields]] = (await conn.client.xrange(`${prefix}t:acme:audit`, '-', '+')) as [[string, string[]]];
    expect(entry.id).toBe(id);
    expect(entry.at).toBe(Number(id.split('-')[0]));
    expect(entry.at).toBeGreaterThanOrEqual(serverMs);
    expect(fields).toEqual(['kind', 'policy.decision', 'actor', 'kernel', 'subject', 'job-9', 'data', '{"d":[]}']);
  });

  it('reads a sparse filter in bounded batches, not the whole stream at once', async () => {
    open();
    const writes = [];
    for (let i = 0; i < 1200; i++) {
      writes.push(log.append({ tenant: 'acme', kind: i === 5 ? 'rare.hit' : 'noise', actor: 'a', subject: `s${i}`, data: {} }));
    }
    await Promise.all(writes);
    // Count XREVRANGE calls on the server itself (this file owns the server; tests run one at a time).
    await conn.client.config('RESETSTAT');
    const page = await log.list('acme', { kind: 'rare.', limit: 10 });
    const stats = await conn.client.info('commandstats');
    const calls = Number(/cmdstat_xrevrange:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    expect(page.items.map((e) => e.subject)).toEqual(['s5']);
    expect(page.nextCursor).toBeNull();
    // 1200 entries in batches of 256: five reads, none of them the whole stream.
    expect(calls).toBe(Math.ceil(1200 / 256));
  });
});
