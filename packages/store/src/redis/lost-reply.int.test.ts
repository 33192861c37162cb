import { type CordumError, RetryableError, isCordumError } from '@cordum/core';
import { type RedisServer, type TcpProxy, startRedis, startTcpProxy, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Stores } from '../ports/stores.js';
import { createRedisStores } from './index.js';

// A write whose reply is lost (Redis ran the script, the connection dropped before the answer arrived) must
// fail as RetryableError(unavailable) — "outcome unknown, re-read" — and must not be sent again by the
// driver: re-running a non-idempotent script would turn the caller's own success into already_exists or
// state_conflict, or apply an increment, a lock hold or an audit entry twice.

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

describe('redis stores when a reply is lost', () => {
  let proxy: TcpProxy;
  let stores: Stores;
  beforeEach(async () => {
    proxy = await startTcpProxy({ host: server.host, port: server.port });
    stores = createRedisStores({ url: `redis://${proxy.host}:${proxy.port}`, prefix: uniquePrefix('lost') });
    await stores.ping();
  });
  afterEach(async () => {
    await stores.close();
    await proxy.close();
  });

  /** Loses the reply of the one write `call` sends; returns how it failed. */
  const loseReplyOf = async (call: () => Promise<unknown>): Promise<CordumError> => {
    // Only arm on a ready connection: a reconnect's handshake must not be the reply that is dropped.
    await stores.ping();
    const dropped = proxy.dropped;
    proxy.dropNextReply();
    const err: unknown = await call().then(
      () => new Error('expected the write to fail, but it succeeded'),
      (e: unknown) => e,
    );
    expect(proxy.dropped).toBe(dropped + 1);
    if (!isCordumError(err)) throw err;
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.code).toBe('unavailable');
    return err;
  };

  it('JobStore: create, a CAS transition and incrementAttempts each run once', async () => {
    // Load the scripts first: a NOSCRIPT answer is a reply too, and losing it would prove nothing.
    await stores.jobs.create({ id: 'warm-up', tenant: 'acme', topic: 't' });
    await stores.jobs.transition('warm-up', { from: 'PENDING', to: 'SCHEDULED', actor: 'test' });

    await loseReplyOf(() => stores.jobs.create({ id: 'j1', tenant: 'acme', topic: 't' }));
    const created = await stores.jobs.get('j1');
    expect(created?.state).toBe('PENDING');
    expect(created?.version).toBe(1);

    await loseReplyOf(() => stores.jobs.transition('j1', { from: 'PENDING', to: 'SCHEDULED', actor: 'sched' }));
    const moved = await stores.jobs.get('j1');
    expect(moved?.state).toBe('SCHEDULED');
    expect(moved?.version).toBe(2);

    await loseReplyOf(() =>
      stores.jobs.transition('j1', {
        from: 'SCHEDULED',
        to: 'SCHEDULED',
        actor: 'dispatch',
        patch: { incrementAttempts: true },
      }),
    );
    const patched = await stores.jobs.get('j1');
    expect(patched?.attempts).toBe(moved!.attempts + 1);
    expect(patched?.version).toBe(3);
    expect((await stores.jobs.events('j1')).map((e) => e.to)).toEqual(['PENDING', 'SCHEDULED']);
  });

  it('LockStore: a lost acquire holds the lock once, so one release frees it', async () => {
    const lock = { tenant: 'acme', resource: 'r', owner: 'a' };
    await stores.locks.acquire({ ...lock, resource: 'warm-up', mode: 'exclusive' });

    await loseReplyOf(() => stores.locks.acquire({ ...lock, mode: 'exclusive' }));
    expect((await stores.locks.get('acme', 'r'))?.owners['a']?.count).toBe(1);
    expect(await stores.locks.release(lock)).toBeNull();
    expect(await stores.locks.get('acme', 'r')).toBeUndefined();
  });

  it('AuditLog: a lost append writes one entry', async () => {
    await loseReplyOf(() => stores.audit.append({ tenant: 'acme', kind: 'x.y', actor: 'a', subject: 's', data: {} }));
    const page = await stores.audit.list('acme');
    expect(page.items.map((e) => e.kind)).toEqual(['x.y']);
  });

  it('a command issued while the connection is down is sent after the reconnect', async () => {
    await stores.idempotency.claim({ tenant: 'acme', scope: 'job', key: 'warm-up' }, 'v0');
    await loseReplyOf(() => stores.idempotency.claim({ tenant: 'acme', scope: 'job', key: 'k1' }, 'v1'));
    // Issued right after the drop, before the client is ready again: queued offline, then sent once.
    const claim = await stores.idempotency.claim({ tenant: 'acme', scope: 'job', key: 'k2' }, 'v2');
    expect(claim).toEqual({ claimed: true, value: 'v2' });
    expect(await stores.idempotency.get({ tenant: 'acme', scope: 'job', key: 'k1' })).toBe('v1');
  });
});
