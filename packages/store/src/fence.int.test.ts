import { type RedisServer, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStores } from './memory/index.js';
import type { Stores } from './ports/stores.js';
import { createRedisStores } from './redis/index.js';

// Fences (model/fence.ts) on both backends: a job create and an input write fenced on a run's
// compare-and-set happen only if that write did, even when all three are sent at once.

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

const backends: Array<[string, () => Stores]> = [
  ['memory', () => createMemoryStores()],
  ['redis', () => createRedisStores({ url: server.url, prefix: uniquePrefix('fence') })],
];

describe.each(backends)('fences (%s)', (_name, make) => {
  const job = (id: string, fence: string) => ({ id, tenant: 'acme', topic: 'job.t.x', fence });
  const input = (fence: string) => ({ tenant: 'acme', bytes: '{"n":1}', fence });

  it('writes fenced on a compare-and-set happen when it wins, and write nothing when it loses', async () => {
    const stores = make();
    try {
      await stores.runs.create({ tenant: 'acme', id: 'r1', workflowId: 'wf', workflowVersion: 1, doc: { steps: {} } });
      // All sent in one go, as the workflow engine does: the write first, the fenced writes after it.
      const [won, put, created] = await Promise.allSettled([
        stores.runs.update('acme', 'r1', { expectedVersion: 1, doc: { steps: { a: {} } }, fence: 'f-won' }),
        stores.pointers.putContext('r1:a@1', input('f-won')),
        stores.jobs.create(job('r1:a@1', 'f-won')),
      ]);
      expect(won).toMatchObject({ status: 'fulfilled', value: { outcome: 'updated' } });
      expect(put).toMatchObject({ status: 'fulfilled', value: 'redis://ctx:r1:a@1' });
      expect(created).toMatchObject({ status: 'fulfilled', value: { id: 'r1:a@1', state: 'PENDING' } });

      const [lost, put2, created2] = await Promise.allSettled([
        stores.runs.update('acme', 'r1', { expectedVersion: 1, doc: { steps: { b: {} } }, fence: 'f-lost' }),
        stores.pointers.putContext('r1:b@1', input('f-lost')),
        stores.jobs.create(job('r1:b@1', 'f-lost')),
      ]);
      expect(lost).toMatchObject({ status: 'fulfilled', value: { outcome: 'conflict' } });
      expect(put2).toMatchObject({ status: 'rejected', reason: { code: 'fence_down' } });
      expect(created2).toMatchObject({ status: 'rejected', reason: { code: 'fence_down' } });
      expect(await stores.jobs.get('r1:b@1')).toBeUndefined();
      expect(await stores.pointers.get('redis://ctx:r1:b@1')).toBeUndefined();
      // An unknown fence is down; a result write is never fenced.
      await expect(stores.jobs.create(job('r1:c@1', 'never-raised'))).rejects.toMatchObject({ code: 'fence_down' });
      await expect(stores.pointers.putResult('r1:c@1', { tenant: 'acme', bytes: '1', fence: 'never-raised' })).resolves.toBe('redis://res:r1:c@1');
      await expect(stores.jobs.create({ ...job('r1:d@1', 'x'), fence: 'not a token' })).rejects.toMatchObject({ code: 'invalid_argument' });
    } finally {
      await stores.close();
    }
  });
});
