import type { Bus } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import { createMetrics } from '@cordum/core';
import { JobStatus, type JobRequest } from '@cordum/protocol';
import type { Stores } from '@cordum/store';
import { createKeyspace, createRedisConnection, createRedisStores } from '@cordum/store/redis';
import { type NatsServer, type RedisServer, eventually, startNats, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Scheduler } from '../index.js';
import { type WorkerReply, counterValue, startRawWorker, startScheduler, submitRaw } from '../testing/harness.js';

// Quotas across scheduler instances on real NATS and Redis: the limit holds however the instances race,
// because the slot is taken in the same Redis script that schedules the job.

let nats: NatsServer;
let redis: RedisServer;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
});
afterAll(async () => {
  await Promise.all([nats?.stop(), redis?.stop()]);
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

const FAST = { tickMs: 50, waitRetryMs: 200, retryBackoff: { initialMs: 100, maxMs: 100, jitter: 'none' as const } };

async function bus(): Promise<Bus> {
  const b = await connectNatsBus({ servers: nats.url });
  cleanup.push(() => b.close());
  return b;
}

function stores(prefix: string): Stores {
  const s = createRedisStores({ url: redis.url, prefix });
  cleanup.push(() => s.close());
  return s;
}

async function scheduler(b: Bus, s: Stores, extra: Parameters<typeof startScheduler>[2] = {}): Promise<Scheduler> {
  const sched = await startScheduler(b, s, { ...extra, scheduler: { ...FAST, ...extra.scheduler } });
  cleanup.push(() => sched.stop());
  return sched;
}

describe('quotas with two scheduler instances on NATS + Redis', () => {
  it('never runs more than the tenant limit, nor more than the per-actor limit, whatever instance decides', async () => {
    const prefix = uniquePrefix('quota');
    const sa = stores(prefix);
    const sb = stores(prefix);
    await sa.config.put({ scope: 'org', tenant: 'acme', scopeId: 'acme' }, { data: { limits: { max_concurrent_jobs: 3, max_concurrent_jobs_per_actor: 2 } } });
    const ba = await bus();
    await scheduler(ba, sa);
    await scheduler(await bus(), sb);

    // Two workers (a queue group) that record how many jobs run at once, per tenant and per actor.
    const running = new Map<string, number>();
    const max = new Map<string, number>();
    const keysOf = (req: JobRequest): string[] => ['tenant', `actor:${req.meta?.actorId ?? ''}`];
    const reply = async (req: JobRequest): Promise<WorkerReply> => {
      for (const k of keysOf(req)) {
        const n = (running.get(k) ?? 0) + 1;
        running.set(k, n);
        max.set(k, Math.max(max.get(k) ?? 0, n));
      }
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.floor(Math.random() * 30)));
      for (const k of keysOf(req)) running.set(k, (running.get(k) ?? 1) - 1);
      return { status: JobStatus.SUCCEEDED, result: { ok: req.jobId } };
    };
    for (const id of ['w1', 'w2']) {
      const w = await startRawWorker(await bus(), sa, { id, topics: ['job.echo'], reply });
      cleanup.push(() => w.stop());
    }

    // Slots as the store sees them, sampled throughout.
    let maxSlots = 0;
    let maxActorSlots = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const usage = await sa.jobs.slots('acme');
        maxSlots = Math.max(maxSlots, usage.tenant);
        maxActorSlots = Math.max(maxActorSlots, ...Object.values(usage.actors));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    const actors = ['alice', 'bob', 'carol'];
    const ids = await Promise.all(
      Array.from({ length: 30 }, (_, i) => submitRaw(ba, sa, { topic: 'job.echo', tenant: 'acme', actorId: actors[i % 3]! })),
    );
    await eventually(async () => {
      const states = await Promise.all(ids.map(async (id) => (await sa.jobs.get(id))?.state));
      expect(states).toEqual(ids.map(() => 'SUCCEEDED'));
    }, 30_000);
    sampling = false;
    await sampler;

    expect(max.get('tenant')).toBeLessThanOrEqual(3);
    for (const a of actors) expect(max.get(`actor:${a}`)).toBeLessThanOrEqual(2);
    expect(maxActorSlots).toBeLessThanOrEqual(2);
    // The limit was reached, not merely never tested.
    expect(maxSlots).toBe(3);
    expect(await sa.jobs.slots('acme')).toEqual({ tenant: 0, actors: {} });
    const waited = await Promise.all(ids.map(async (id) => (await sa.jobs.events(id)).some((e) => e.to === 'PENDING' && e.from === 'PENDING')));
    expect(waited.filter(Boolean).length).toBeGreaterThan(0);
  }, 60_000);

  it('repairs a slot leaked by a record lost outside the store, so the tenant is not blocked forever', async () => {
    const prefix = uniquePrefix('quota');
    const s = stores(prefix);
    await s.config.put({ scope: 'org', tenant: 'acme', scopeId: 'acme' }, { data: { limits: { max_concurrent_jobs: 1 } } });
    const b = await bus();
    const metrics = createMetrics();
    await scheduler(b, s, { metrics, scheduler: { slotRepairMs: 200 } });
    const w = await startRawWorker(await bus(), s, { id: 'w', topics: ['job.echo'], reply: (req) => (req.labels['hang'] === 'yes' ? 'hang' : { status: JobStatus.SUCCEEDED }) });
    cleanup.push(() => w.stop());

    const lost = await submitRaw(b, s, { topic: 'job.echo', tenant: 'acme', labels: { hang: 'yes' } });
    await eventually(async () => expect((await s.jobs.get(lost))?.state).toBe('DISPATCHED'), 10_000);
    const next = await submitRaw(b, s, { topic: 'job.echo', tenant: 'acme' });
    await eventually(async () => expect((await s.jobs.get(next))?.waitReason).toBe('tenant_limit'), 10_000);

    // The record holding the slot disappears (an operator's DEL, a restore from an older backup).
    const connection = createRedisConnection({ url: redis.url });
    cleanup.push(() => connection.close());
    await connection.client.del(createKeyspace(prefix).tenant('acme', 'job', lost));

    await eventually(async () => expect((await s.jobs.get(next))?.state).toBe('SUCCEEDED'), 10_000);
    expect(await counterValue(metrics, 'scheduler_quota_slots_repaired_total')).toBe(1);
  }, 30_000);
});
