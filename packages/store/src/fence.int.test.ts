import { type RedisServer, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStores } from './memory/index.js';
import type { Stores } from './ports/stores.js';
import { createRedisStores } from './redis/index.js';
import { jobFinalFence, outcomeFenceValue } from './model/fence.js';

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

async function toRunning(stores: Stores, id: string): Promise<void> {
  await stores.jobs.transition(id, { from: 'PENDING', to: 'SCHEDULED', actor: 't' });
  await stores.jobs.transition(id, { from: 'SCHEDULED', to: 'DISPATCHED', actor: 't' });
  await stores.jobs.transition(id, { from: 'DISPATCHED', to: 'RUNNING', actor: 't' });
}

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

  it("a run write may require a job's final fence: it happens only when the outcome it names is the stored one", async () => {
    const stores = make();
    try {
      await stores.runs.create({ tenant: 'acme', id: 'r2', workflowId: 'wf', workflowVersion: 1, doc: {} });
      await stores.jobs.create({ id: 'r2:a@1', tenant: 'acme', topic: 'job.t.x', labels: { run_id: 'r2' } });
      const fence = jobFinalFence('r2:a@1');
      const claimed = { tenant: 'acme', runId: 'r2', state: 'SUCCEEDED', resultPtr: 'redis://res:r2:a@1', errorCode: null, errorMessage: null };
      const requires = [{ fence, value: outcomeFenceValue(claimed) }];
      // Not terminal yet: the fence is down.
      expect(await stores.runs.update('acme', 'r2', { expectedVersion: 1, doc: { a: 1 }, requires })).toEqual({ outcome: 'fenced' });
      await toRunning(stores, 'r2:a@1');
      await stores.jobs.transition('r2:a@1', { from: 'RUNNING', to: 'SUCCEEDED', actor: 't', patch: { resultPtr: 'redis://res:r2:a@1' }, fence });
      // Another outcome than the stored one is refused; the stored one is accepted.
      const failed = { ...claimed, state: 'FAILED', errorMessage: 'écrasé: 💥' };
      expect(await stores.runs.update('acme', 'r2', { expectedVersion: 1, doc: { a: 2 }, requires: [{ fence, value: outcomeFenceValue(failed) }] })).toEqual({ outcome: 'fenced' });
      // Another tenant or run naming the job is refused too.
      const elsewhere = outcomeFenceValue({ ...claimed, tenant: 'other' });
      expect(await stores.runs.update('acme', 'r2', { expectedVersion: 1, doc: { a: 2 }, requires: [{ fence, value: elsewhere }] })).toEqual({ outcome: 'fenced' });
      expect(await stores.runs.update('acme', 'r2', { expectedVersion: 1, doc: { a: 3 }, requires, reply: 'version' })).toMatchObject({ outcome: 'updated' });
      expect((await stores.runs.get('acme', 'r2'))?.doc).toEqual({ a: 3 });
      // Multi-byte text counts in bytes on both sides.
      await stores.jobs.create({ id: 'r2:b@1', tenant: 'acme', topic: 'job.t.x' });
      const bFence = jobFinalFence('r2:b@1');
      await toRunning(stores, 'r2:b@1');
      await stores.jobs.transition('r2:b@1', { from: 'RUNNING', to: 'FAILED', actor: 't', patch: { errorCode: 'boom', errorMessage: 'écrasé: 💥' }, fence: bFence });
      const bValue = outcomeFenceValue({ tenant: 'acme', runId: '', state: 'FAILED', resultPtr: null, errorCode: 'boom', errorMessage: 'écrasé: 💥' });
      expect(await stores.runs.update('acme', 'r2', { expectedVersion: 2, doc: { a: 4 }, requires: [{ fence: bFence, value: bValue }] })).toMatchObject({ outcome: 'updated' });
    } finally {
      await stores.close();
    }
  });
});
