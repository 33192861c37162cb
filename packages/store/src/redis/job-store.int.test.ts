import { type JobState, JOB_STATES } from '@cordum/protocol';
import { type RedisServer, redisFactory, runJobStoreContract, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { JobStore } from '../ports/job-store.js';
import { resolveStoreOptions } from '../ports/stores.js';
import {
  type Keyspace,
  type RedisConnection,
  createKeyspace,
  createRedisConnection,
  createRedisJobStore,
} from './index.js';

let server: RedisServer;

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await server.stop();
});

runJobStoreContract(
  'redis',
  redisFactory(() => server, (ctx) => createRedisJobStore(ctx), { jobRetentionMs: 1000 }),
);

describe('Redis JobStore specifics', () => {
  const RETENTION_MS = 300;
  let keys: Keyspace;
  let connections: RedisConnection[];

  /** A store on its own connection over this test's keyspace, like another process would have. */
  function open(retentionMs = RETENTION_MS): { store: JobStore; connection: RedisConnection } {
    const connection = createRedisConnection({ url: server.url });
    connections.push(connection);
    const store = createRedisJobStore({
      client: connection.client,
      keys,
      options: resolveStoreOptions({ jobRetentionMs: retentionMs }),
    });
    return { store, connection };
  }

  async function allKeys(connection: RedisConnection): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await connection.client.scan(cursor, 'MATCH', `${keys.prefix}*`, 'COUNT', 1000);
      found.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return found.sort();
  }

  async function waitUntilGone(store: JobStore, id: string): Promise<void> {
    for (let i = 0; i < 60 && (await store.get(id)) !== undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(await store.get(id)).toBeUndefined();
  }

  beforeEach(() => {
    keys = createKeyspace(uniquePrefix('jobs'));
    connections = [];
  });

  afterEach(async () => {
    await Promise.all(connections.map((c) => c.close()));
  });

  it('keeps every key under the prefix, tenant-owned keys under t:<tenant>:, the record as flat fields', async () => {
    const { store, connection } = open();
    await store.create({
      id: 'k:1',
      tenant: 'acme',
      topic: 'job.default',
      labels: { team: 'infra' },
      data: { list: [1, 'a'], empty: [] },
      dueAt: 5,
      deadlineAt: 6,
    });
    await store.transition('k:1', { from: 'PENDING', to: 'SCHEDULED', actor: 't', patch: { leaseExpiresAt: 7 } });
    const p = keys.prefix;
    expect(await allKeys(connection)).toEqual(
      [
        `${p}jobref:k:1`,
        `${p}jobs:state:SCHEDULED`,
        `${p}jobs:timer:deadline`,
        `${p}jobs:timer:due`,
        `${p}jobs:timer:lease`,
        `${p}t:acme:job-events:k:1`,
        `${p}t:acme:job:k:1`,
        `${p}t:acme:jobs:active`,
        `${p}t:acme:jobs:all`,
        `${p}t:acme:jobs:state:SCHEDULED`,
        `${p}t:acme:jobs:topic:job.default`,
      ].sort(),
    );
    const hash = await connection.client.hgetall(`${p}t:acme:job:k:1`);
    expect(hash).toMatchObject({
      id: 'k:1',
      tenant: 'acme',
      state: 'SCHEDULED',
      version: '2',
      'l:team': 'infra',
      'd:list': '[1,"a"]',
      'd:empty': '[]',
      dueAt: '5',
      leaseExpiresAt: '7',
    });
    expect(hash).not.toHaveProperty('workerId');
    expect(await connection.client.get(`${p}jobref:k:1`)).toBe('acme');
    // Nothing of a live job expires.
    expect(await connection.client.pttl(`${p}t:acme:job:k:1`)).toBe(-1);
    expect(await connection.client.pttl(`${p}jobref:k:1`)).toBe(-1);
  });

  it('keeps per-tenant and global state zsets in step with the records under concurrent writers', async () => {
    // Terminal jobs must outlive the checks below, however slow a loaded machine makes them.
    const views = Array.from({ length: 5 }, () => open(60_000));
    const first = views[0]!;
    const ids = Array.from({ length: 10 }, (_, i) => `hot-${i}`);
    await Promise.all(ids.map((id) => first.store.create({ id, tenant: 'acme', topic: 'job.default' })));
    const targets: JobState[] = ['SCHEDULED', 'APPROVAL_REQUIRED', 'CANCELLED', 'DENIED', 'FAILED', 'TIMEOUT'];
    const results = await Promise.allSettled(
      ids.flatMap((id, j) =>
        Array.from({ length: 50 }, (_, i) =>
          views[i % views.length]!.store.transition(id, {
            from: 'PENDING',
            to: targets[(i + j) % targets.length]!,
            actor: `w${i}`,
          }),
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(ids.length);

    const client = first.connection.client;
    for (const id of ids) {
      const hash = await client.hgetall(keys.tenant('acme', 'job', id));
      const created = hash['createdAt']!.padStart(15, '0');
      const tenantMember = `${created}|${id}`;
      const globalMember = `${created}|acme|${id}`;
      const inTenant: JobState[] = [];
      const inGlobal: JobState[] = [];
      for (const state of JOB_STATES) {
        if ((await client.zscore(keys.tenant('acme', 'jobs', 'state', state), tenantMember)) !== null) inTenant.push(state);
        if ((await client.zscore(keys.key('jobs', 'state', state), globalMember)) !== null) inGlobal.push(state);
      }
      expect(inTenant).toEqual([hash['state']]);
      expect(inGlobal).toEqual([hash['state']]);
      expect(hash['version']).toBe('2');
      expect(await client.llen(keys.tenant('acme', 'job-events', id))).toBe(2);
    }
    let tenantTotal = 0;
    let globalTotal = 0;
    for (const state of JOB_STATES) {
      tenantTotal += await client.zcard(keys.tenant('acme', 'jobs', 'state', state));
      globalTotal += await client.zcard(keys.key('jobs', 'state', state));
    }
    expect(tenantTotal).toBe(ids.length);
    expect(globalTotal).toBe(ids.length);
    expect(await client.zcard(keys.tenant('acme', 'jobs', 'all'))).toBe(ids.length);
  });

  it('expires the record, its events and its jobref together, then prunes every index entry', async () => {
    const { store, connection } = open();
    const client = connection.client;
    await store.create({ id: 'gone', tenant: 'acme', topic: 'job.default', deadlineAt: 9 });
    await store.transition('gone', { from: 'PENDING', to: 'CANCELLED', actor: 't' });
    const expiry = await Promise.all(
      [keys.tenant('acme', 'job', 'gone'), keys.tenant('acme', 'job-events', 'gone'), keys.key('jobref', 'gone')].map(
        (k) => client.call('PEXPIRETIME', k),
      ),
    );
    expect(new Set(expiry).size).toBe(1);
    const ttl = await client.pttl(keys.tenant('acme', 'job', 'gone'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(RETENTION_MS);
    expect(await client.zcard(keys.key('jobs', 'retired'))).toBe(1);

    await waitUntilGone(store, 'gone');
    // Index entries outlive the record until a listing or a count prunes them.
    expect(await client.zcard(keys.tenant('acme', 'jobs', 'all'))).toBe(1);
    expect((await store.countByState()).CANCELLED).toBe(0);
    expect(await allKeys(connection)).toEqual([]);
  });

  it('skips index entries whose record vanished without a retention entry, keeping pages full', async () => {
    const { store, connection } = open();
    for (const id of ['a', 'b', 'c', 'd']) {
      await store.create({ id, tenant: 'acme', topic: 'job.default' });
    }
    const ordered = (await store.list({ tenant: 'acme' })).items.map((j) => j.id);
    await connection.client.del(keys.tenant('acme', 'job', ordered[1]!));
    const page = await store.list({ tenant: 'acme', limit: 2 });
    expect(page.items.map((j) => j.id)).toEqual([ordered[0], ordered[2]]);
    const rest = await store.list({ tenant: 'acme', limit: 2, cursor: page.nextCursor });
    expect(rest.items.map((j) => j.id)).toEqual([ordered[3]]);
    expect(rest.nextCursor).toBeNull();
  });

  it('lists a re-created id once even when the old incarnation index entries were never pruned', async () => {
    const { store, connection } = open();
    const old = await store.create({ id: 'again', tenant: 'acme', topic: 'job.default' });
    await store.transition('again', { from: 'PENDING', to: 'CANCELLED', actor: 't' });
    // Simulate a prune that never happened: the old entries stay in every index.
    await connection.client.del(keys.key('jobs', 'retired'));
    await waitUntilGone(store, 'again');
    const fresh = await store.create({ id: 'again', tenant: 'acme', topic: 'job.default' });
    expect(fresh.createdAt).toBeGreaterThan(old.createdAt);
    expect(await connection.client.zcard(keys.tenant('acme', 'jobs', 'all'))).toBe(2);
    expect((await store.list({ tenant: 'acme' })).items).toEqual([fresh]);
    expect((await store.list({ tenant: 'acme', topic: 'job.default' })).items).toEqual([fresh]);
    expect((await store.list({ tenant: 'acme', state: 'CANCELLED' })).items).toEqual([]);
  });

  it('trims the stored event list, not just the answer', async () => {
    const { store, connection } = open();
    await store.create({ id: 'busy', tenant: 'acme', topic: 'job.default' });
    await Promise.all(
      Array.from({ length: 1003 }, (_, i) =>
        store.transition('busy', { from: 'PENDING', to: 'PENDING', actor: 't', reason: `poll ${i}` }),
      ),
    );
    expect(await connection.client.llen(keys.tenant('acme', 'job-events', 'busy'))).toBe(1000);
  });

  it('finds a job whose id was reused in another tenant although its tenant was cached', async () => {
    const a = open().store;
    const b = open().store;
    await a.create({ id: 'reuse', tenant: 'one', topic: 'job.default' });
    await a.transition('reuse', { from: 'PENDING', to: 'CANCELLED', actor: 't' });
    await waitUntilGone(b, 'reuse');
    const again = await b.create({ id: 'reuse', tenant: 'two', topic: 'job.default' });
    // `a` still remembers tenant "one" for this id.
    expect(await a.get('reuse')).toEqual(again);
    expect(await a.events('reuse')).toHaveLength(1);
    expect((await a.transition('reuse', { from: 'PENDING', to: 'SCHEDULED', actor: 't' })).tenant).toBe('two');
  });

  it('keeps concurrency slots in two tenant hashes and a tenant set that vanish with the last slot', async () => {
    const { store, connection } = open();
    const client = connection.client;
    const slotKeys = [keys.tenant('acme', 'jobs', 'slots'), keys.tenant('acme', 'jobs', 'actor-slots'), keys.key('jobs', 'slot-tenants')];
    await store.create({ id: 's:1', tenant: 'acme', topic: 'job.default' });
    await store.create({ id: 's:2', tenant: 'acme', topic: 'job.default' });
    await store.transition('s:1', { from: 'PENDING', to: 'SCHEDULED', actor: 't', slot: { actor: 'alice' } });
    await store.transition('s:2', { from: 'PENDING', to: 'SCHEDULED', actor: 't', slot: {} });
    expect(await client.hgetall(slotKeys[0]!)).toEqual({ 's:1': 'alice', 's:2': '' });
    expect(await client.hgetall(slotKeys[1]!)).toEqual({ alice: '1' });
    expect(await client.smembers(slotKeys[2]!)).toEqual(['acme']);
    await store.transition('s:1', { from: 'SCHEDULED', to: 'CANCELLED', actor: 't' });
    await store.transition('s:2', { from: 'SCHEDULED', to: 'PENDING', actor: 't' });
    for (const k of slotKeys) expect(await client.exists(k)).toBe(0);
  });

  it('repairs leaked slots: a record lost or ended outside the store, and drifted per-actor counts', async () => {
    const { store, connection } = open();
    const client = connection.client;
    const ids = ['leak-1', 'leak-2', 'live-1', 'live-2'];
    for (const id of ids) {
      await store.create({ id, tenant: 'acme', topic: 'job.default' });
      await store.transition(id, { from: 'PENDING', to: 'DISPATCHED', via: { state: 'SCHEDULED', reason: '' }, actor: 't', slot: { actor: 'alice', tenantLimit: 4 } });
    }
    await store.create({ id: 'other-1', tenant: 'other', topic: 'job.default' });
    await store.transition('other-1', { from: 'PENDING', to: 'SCHEDULED', actor: 't', slot: { actor: 'bob' } });
    // A record deleted by hand, another ended by a write that bypassed the store, and a count gone wrong.
    await client.del(keys.tenant('acme', 'job', 'leak-1'));
    await client.hset(keys.tenant('acme', 'job', 'leak-2'), 'state', 'FAILED');
    await client.hset(keys.tenant('acme', 'jobs', 'actor-slots'), 'alice', '9', 'ghost', '3');
    expect(await store.slots('acme')).toEqual({ tenant: 4, actors: { alice: 9, ghost: 3 } });
    // The tenant is full until the repair.
    await store.create({ id: 'next', tenant: 'acme', topic: 'job.default' });
    await expect(store.transition('next', { from: 'PENDING', to: 'SCHEDULED', actor: 't', slot: { tenantLimit: 4 } })).rejects.toMatchObject({
      code: 'quota_exceeded',
    });
    expect(await store.repairSlots()).toBe(2);
    expect(await store.slots('acme')).toEqual({ tenant: 2, actors: { alice: 2 } });
    expect(await store.slots('other')).toEqual({ tenant: 1, actors: { bob: 1 } });
    await store.transition('next', { from: 'PENDING', to: 'SCHEDULED', actor: 't', slot: { tenantLimit: 4 } });
    expect(await store.repairSlots({ tenant: 'acme' })).toBe(0);
    // A tenant whose last slot leaked leaves the tenant set.
    await client.del(keys.tenant('other', 'job', 'other-1'));
    expect(await store.repairSlots()).toBe(1);
    expect(await client.smembers(keys.key('jobs', 'slot-tenants'))).toEqual(['acme']);
    expect(await client.exists(keys.tenant('other', 'jobs', 'slots'), keys.tenant('other', 'jobs', 'actor-slots'))).toBe(0);
  });

  it('repairs a tenant holding more slots than one repair batch', async () => {
    const { store, connection } = open();
    const ids = Array.from({ length: 450 }, (_, i) => `many-${i}`);
    await Promise.all(
      ids.map(async (id, i) => {
        await store.create({ id, tenant: 'acme', topic: 'job.default' });
        await store.transition(id, { from: 'PENDING', to: 'SCHEDULED', actor: 't', slot: { actor: `u${i % 3}` } });
      }),
    );
    await connection.client.del(...ids.filter((_, i) => i % 2 === 0).map((id) => keys.tenant('acme', 'job', id)));
    expect(await store.repairSlots()).toBe(225);
    expect(await store.slots('acme')).toEqual({ tenant: 225, actors: { u0: 75, u1: 75, u2: 75 } });
  });

  it('reloads its scripts after the server forgot them', async () => {
    const { store, connection } = open();
    await store.create({ id: 'before', tenant: 'acme', topic: 'job.default' });
    await connection.client.script('FLUSH');
    await store.create({ id: 'after', tenant: 'acme', topic: 'job.default' });
    await store.transition('after', { from: 'PENDING', to: 'SCHEDULED', actor: 't' });
    expect((await store.get('after'))?.state).toBe('SCHEDULED');
  });
});
