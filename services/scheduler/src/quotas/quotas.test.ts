import type { Bus } from '@cordum/bus';
import { createMemoryBroker } from '@cordum/bus/memory';
import { type JsonValue, type ManualClock, type Metrics, createManualClock, createMetrics, createStaticPdp } from '@cordum/core';
import { DecisionType, type JobRequest, JobStatus, Subjects, encodePacket, newPacket } from '@cordum/protocol';
import type { Stores } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import { eventually } from '@cordum/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Scheduler } from '../index.js';
import { type SubmitOptions, type WorkerReply, counterValue, startRawWorker, startScheduler, submitRaw } from '../testing/harness.js';

// Quotas through the whole scheduler on the memory bus and store: the tenant and actor limits, the waits
// they cause and the slot every way a job ends gives back. The clock is manual and never advanced unless a
// test says so, so a waiting job that starts did so because a freed slot woke it, not by its due time.

let clock: ManualClock;
let bus: Bus;
let stores: Stores;
let pdp: ReturnType<typeof createStaticPdp>;
let scheduler: Scheduler;
let metrics: Metrics;
const MANUAL = { tickMs: 3_600_000, retryBackoff: { initialMs: 1000, maxMs: 1000, jitter: 'none' as const } };

beforeEach(async () => {
  clock = createManualClock(Date.parse('2026-11-22T00:00:00Z'));
  bus = createMemoryBroker({ mode: 'core' }).connect();
  stores = createMemoryStores({ clock });
  pdp = createStaticPdp();
  metrics = createMetrics();
  scheduler = await startScheduler(bus, stores, { pdp, clock, metrics, scheduler: MANUAL });
});

afterEach(async () => {
  await scheduler.stop();
  await bus.close();
});

const job = (id: string) => stores.jobs.get(id);
const stateOf = async (id: string) => (await job(id))?.state;

async function limits(tenant: string, value: Record<string, JsonValue>): Promise<void> {
  await stores.config.put({ scope: 'org', tenant, scopeId: tenant }, { data: { limits: value } });
}

/**
 * A worker that holds every job until the test ends it, counting how many it runs at once per tenant and per
 * actor (what a real workload would observe).
 */
async function gatedWorker(id = 'gate') {
  const open = new Map<string, (reply: WorkerReply) => void>();
  const running = new Map<string, number>();
  const max = new Map<string, number>();
  const keysOf = (req: JobRequest): string[] => [`tenant:${req.tenantId}`, ...(req.meta?.actorId ? [`actor:${req.meta.actorId}`] : [])];
  const worker = await startRawWorker(bus, stores, {
    id,
    topics: ['job.echo', 'job.slow'],
    reply: (req) =>
      new Promise<WorkerReply>((resolve) => {
        for (const k of keysOf(req)) {
          const n = (running.get(k) ?? 0) + 1;
          running.set(k, n);
          max.set(k, Math.max(max.get(k) ?? 0, n));
        }
        open.set(req.jobId, (reply) => {
          for (const k of keysOf(req)) running.set(k, (running.get(k) ?? 1) - 1);
          resolve(reply);
        });
      }),
  });
  return {
    worker,
    max,
    holding: () => [...open.keys()],
    end(jobId: string, reply: WorkerReply = { status: JobStatus.SUCCEEDED, result: { ok: true } }): void {
      const finish = open.get(jobId);
      if (finish === undefined) throw new Error(`worker does not hold ${jobId}`);
      open.delete(jobId);
      finish(reply);
    },
  };
}

/** Submits and waits until the job is either dispatched or waiting for a slot. */
async function submit(options: Omit<SubmitOptions, 'topic'> & { topic?: string }): Promise<string> {
  const id = await submitRaw(bus, stores, { topic: 'job.echo', ...options });
  await eventually(async () => {
    const j = await job(id);
    expect(j?.state === 'DISPATCHED' || j?.waitReason === 'tenant_limit' || j?.waitReason === 'actor_limit').toBe(true);
  });
  return id;
}

describe('tenant limit', () => {
  it('holds the tenant to limits.max_concurrent_jobs; a finished job’s slot goes to a waiting one at once', async () => {
    await limits('acme', { max_concurrent_jobs: 2 });
    const gate = await gatedWorker();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await submit({ tenant: 'acme' }));
    expect(await Promise.all(ids.map(stateOf))).toEqual(['DISPATCHED', 'DISPATCHED', 'PENDING', 'PENDING', 'PENDING']);
    const waiting = (await job(ids[2]!))!;
    expect(waiting.waitReason).toBe('tenant_limit');
    expect(waiting.dueAt).toBe(clock.now() + 2000);
    expect((await stores.jobs.events(ids[2]!)).at(-1)?.reason).toBe('tenant acme holds 2 of its 2 concurrent job slots');
    expect(await stores.jobs.slots('acme')).toEqual({ tenant: 2, actors: {} });
    expect(await counterValue(metrics, 'scheduler_waits_total', { reason: 'tenant_limit' })).toBe(3);

    // Retried at each due time (policy asked again), still waiting; one event for the whole wait.
    for (let i = 1; i <= 3; i++) {
      clock.advance(2000);
      await scheduler.tick();
      await eventually(async () => expect((await job(ids[2]!))?.dueAt).toBe(clock.now() + 2000));
    }
    expect(await job(ids[2]!)).toMatchObject({ state: 'PENDING', waitReason: 'tenant_limit' });
    expect(pdp.checks.filter((c) => c.jobId === ids[2])).toHaveLength(4);
    expect((await stores.jobs.events(ids[2]!)).map((e) => e.reason)).toEqual(['submitted on sys.job.submit', 'tenant acme holds 2 of its 2 concurrent job slots']);

    // Another tenant is not held by acme's limit.
    const other = await submit({ tenant: 'other' });
    expect(await stateOf(other)).toBe('DISPATCHED');

    // Each finished job hands its slot to the next waiting one, without a tick or a due time passing.
    for (let done = 0; done < 5; done++) {
      await eventually(() => expect(gate.holding().filter((id) => ids.includes(id))).toHaveLength(Math.min(2, 5 - done)));
      gate.end(gate.holding().find((id) => ids.includes(id))!);
    }
    await eventually(async () => expect(await Promise.all(ids.map(stateOf))).toEqual(ids.map(() => 'SUCCEEDED')));
    expect(gate.max.get('tenant:acme')).toBe(2);
    expect((await stores.jobs.slots('acme')).tenant).toBe(0);
  });

  it('takes the smaller of the policy constraint and the config limit', async () => {
    pdp.setRules([{ id: 'cap', tenant: 'acme', decision: DecisionType.ALLOW_WITH_CONSTRAINTS, constraints: { budgets: { maxConcurrentJobs: 1 } } }]);
    await limits('acme', { max_concurrent_jobs: 3 });
    const gate = await gatedWorker();
    const a = await submit({ tenant: 'acme' });
    const b = await submit({ tenant: 'acme' });
    expect(await stateOf(a)).toBe('DISPATCHED');
    expect(await job(b)).toMatchObject({ state: 'PENDING', waitReason: 'tenant_limit' });
    expect(gate.worker.received[0]?.env['CORDUM_MAX_CONCURRENT_JOBS']).toBe('1');
    // A looser constraint does not lift the config's limit.
    pdp.setRules([{ id: 'cap', tenant: 'acme', decision: DecisionType.ALLOW_WITH_CONSTRAINTS, constraints: { budgets: { maxConcurrentJobs: 50 } } }]);
    gate.end(a);
    await eventually(async () => expect(await stateOf(b)).toBe('DISPATCHED'));
    const c = await submit({ tenant: 'acme' });
    const d = await submit({ tenant: 'acme' });
    const e = await submit({ tenant: 'acme' });
    expect(await Promise.all([c, d, e].map(stateOf))).toEqual(['DISPATCHED', 'DISPATCHED', 'PENDING']);
  });
});

describe('actor limit', () => {
  it('holds each actor to limits.max_concurrent_jobs_per_actor; jobs without an actor count against the tenant only', async () => {
    await limits('acme', { max_concurrent_jobs: 10, max_concurrent_jobs_per_actor: 1 });
    const gate = await gatedWorker();
    const alice1 = await submit({ tenant: 'acme', actorId: 'alice' });
    const alice2 = await submit({ tenant: 'acme', actorId: 'alice' });
    const bob1 = await submit({ tenant: 'acme', actorId: 'bob' });
    const bob2 = await submit({ tenant: 'acme', actorId: 'bob' });
    const anon1 = await submit({ tenant: 'acme' });
    const anon2 = await submit({ tenant: 'acme' });
    expect(await Promise.all([alice1, bob1, anon1, anon2].map(stateOf))).toEqual(['DISPATCHED', 'DISPATCHED', 'DISPATCHED', 'DISPATCHED']);
    expect(await job(alice2)).toMatchObject({ state: 'PENDING', waitReason: 'actor_limit' });
    expect(await job(bob2)).toMatchObject({ state: 'PENDING', waitReason: 'actor_limit' });
    expect((await stores.jobs.events(alice2)).at(-1)?.reason).toBe('actor alice holds 1 of its 1 concurrent job slots in tenant acme');
    expect(await stores.jobs.slots('acme')).toEqual({ tenant: 4, actors: { alice: 1, bob: 1 } });
    expect(await counterValue(metrics, 'scheduler_waits_total', { reason: 'actor_limit' })).toBe(2);

    // An anonymous job ending frees nothing for alice; her own job ending does, for her only.
    gate.end(anon1);
    await eventually(async () => expect(await stateOf(anon1)).toBe('SUCCEEDED'));
    expect(await job(alice2)).toMatchObject({ state: 'PENDING', waitReason: 'actor_limit' });
    gate.end(alice1);
    await eventually(async () => expect(await stateOf(alice2)).toBe('DISPATCHED'));
    expect(await job(bob2)).toMatchObject({ state: 'PENDING', waitReason: 'actor_limit' });
    expect(gate.max.get('actor:alice')).toBe(1);
  });

  it('falls back to principal_id for the actor, and applies per-actor overrides from limits.actors', async () => {
    await limits('acme', {
      max_concurrent_jobs_per_actor: 1,
      actors: { carol: { max_concurrent_jobs: 2 }, robot: { max_concurrent_jobs: 0 } },
    });
    await gatedWorker();
    const carol = [await submit({ tenant: 'acme', principalId: 'carol' }), await submit({ tenant: 'acme', principalId: 'carol' }), await submit({ tenant: 'acme', principalId: 'carol' })];
    expect(await Promise.all(carol.map(stateOf))).toEqual(['DISPATCHED', 'DISPATCHED', 'PENDING']);
    expect((await job(carol[2]!))?.waitReason).toBe('actor_limit');
    const robot = await Promise.all(Array.from({ length: 4 }, () => submit({ tenant: 'acme', actorId: 'robot' })));
    expect(await Promise.all(robot.map(stateOf))).toEqual(robot.map(() => 'DISPATCHED'));
    expect(await stores.jobs.slots('acme')).toEqual({ tenant: 6, actors: { carol: 2, robot: 4 } });
  });

  it('mixes both: the actor and the tenant limit each hold, and each names itself', async () => {
    pdp.setRules([{ id: 'cap', tenant: 'acme', decision: DecisionType.ALLOW_WITH_CONSTRAINTS, constraints: { budgets: { maxConcurrentJobs: 3 } } }]);
    await limits('acme', { max_concurrent_jobs: 5, max_concurrent_jobs_per_actor: 2 });
    const gate = await gatedWorker();
    const a1 = await submit({ tenant: 'acme', actorId: 'alice' });
    const a2 = await submit({ tenant: 'acme', actorId: 'alice' });
    const a3 = await submit({ tenant: 'acme', actorId: 'alice' });
    const b1 = await submit({ tenant: 'acme', actorId: 'bob' });
    const b2 = await submit({ tenant: 'acme', actorId: 'bob' });
    expect(await Promise.all([a1, a2, b1].map(stateOf))).toEqual(['DISPATCHED', 'DISPATCHED', 'DISPATCHED']);
    expect((await job(a3))?.waitReason).toBe('actor_limit');
    expect((await job(b2))?.waitReason).toBe('tenant_limit');
    // bob's slot frees the tenant for bob's next job; alice stays at her own limit.
    gate.end(b1);
    await eventually(async () => expect(await stateOf(b2)).toBe('DISPATCHED'));
    expect((await job(a3))?.waitReason).toBe('actor_limit');
    gate.end(a1);
    await eventually(async () => expect(await stateOf(a3)).toBe('DISPATCHED'));
    expect(gate.max.get('tenant:acme')).toBe(3);
    expect(gate.max.get('actor:alice')).toBe(2);
  });
});

describe('slots come back however a job ends', () => {
  beforeEach(async () => {
    await limits('default', { max_concurrent_jobs: 1 });
  });

  /** Job `a` holds the tenant's one slot, `b` waits for it. */
  async function holdAndWait(options: Omit<SubmitOptions, 'topic'> & { topic?: string } = {}): Promise<{ a: string; b: string }> {
    const a = await submit(options);
    const b = await submit({});
    expect(await stateOf(a)).toBe('DISPATCHED');
    expect(await job(b)).toMatchObject({ state: 'PENDING', waitReason: 'tenant_limit' });
    return { a, b };
  }

  it('success', async () => {
    const gate = await gatedWorker();
    const { a, b } = await holdAndWait();
    gate.end(a);
    await eventually(async () => expect(await stateOf(b)).toBe('DISPATCHED'));
    expect(await stateOf(a)).toBe('SUCCEEDED');
  });

  it('failure (with a DLQ entry), and a retry keeps the slot while it backs off', async () => {
    const gate = await gatedWorker();
    const { a, b } = await holdAndWait();
    gate.end(a, { status: JobStatus.FAILED_RETRYABLE, errorMessage: 'flaky' });
    await eventually(async () => expect(await job(a)).toMatchObject({ state: 'SCHEDULED', waitReason: 'backoff_until' }));
    expect(await stores.jobs.slots('default')).toEqual({ tenant: 1, actors: {} });
    clock.advance(2000);
    await scheduler.tick();
    // b's due time passed too, but the retrying job still holds the slot.
    await eventually(() => expect(gate.holding()).toEqual([a]));
    expect(await job(b)).toMatchObject({ state: 'PENDING', waitReason: 'tenant_limit' });
    gate.end(a, { status: JobStatus.FAILED_FATAL, errorMessage: 'broken' });
    await eventually(async () => expect(await stateOf(b)).toBe('DISPATCHED'));
    expect(await stateOf(a)).toBe('FAILED');
    expect(await stores.dlq.get('default', a)).toBeDefined();
  });

  it('cancel on sys.job.cancel', async () => {
    await gatedWorker();
    const { a, b } = await holdAndWait();
    const cancel = newPacket({ traceId: a, senderId: 'client', payload: { case: 'jobCancel', value: { jobId: a, reason: 'stop', requestedBy: 'alice' } } });
    await bus.publish(Subjects.jobCancel, encodePacket(cancel));
    await eventually(async () => expect(await stateOf(b)).toBe('DISPATCHED'));
    expect(await stateOf(a)).toBe('CANCELLED');
  });

  it('a deadline (TIMEOUT)', async () => {
    await gatedWorker();
    const { a, b } = await holdAndWait({ deadlineMs: 10_000 });
    clock.advance(10_001);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(b)).toBe('DISPATCHED'));
    expect(await stateOf(a)).toBe('TIMEOUT');
  });

  it('lost attempts until max retries (DLQ max_retries_exceeded)', async () => {
    // job.slow: 2 s lease, 1 retry; the worker never answers (a dead worker, or a scheduler that died after
    // storing the lease and before its publish landed).
    await startRawWorker(bus, stores, { id: 'dead', topics: ['job.slow'], reply: () => 'hang' });
    const a = await submit({ topic: 'job.slow' });
    const b = await submit({});
    expect(await job(b)).toMatchObject({ state: 'PENDING', waitReason: 'tenant_limit' });
    for (let i = 0; i < 2; i++) {
      clock.advance(2001);
      await scheduler.tick();
      await eventually(async () => expect(await job(a)).toMatchObject({ attempts: i + 1, state: i === 0 ? 'SCHEDULED' : 'FAILED' }));
      if (i === 0) {
        expect((await stores.jobs.slots('default')).tenant).toBe(1);
        clock.advance(1000);
        await scheduler.tick();
        await eventually(async () => expect(await job(a)).toMatchObject({ attempts: 2, state: 'DISPATCHED' }));
      }
    }
    expect(await stores.dlq.get('default', a)).toMatchObject({ reasonCode: 'max_retries_exceeded' });
    // b ends up on the dead worker too; what matters is that it got the slot.
    await eventually(async () => expect(await stateOf(b)).toBe('DISPATCHED'));
  });

  it('an end written by another component (the gateway’s cancel): released in the store, found by the due time', async () => {
    await gatedWorker();
    const { a, b } = await holdAndWait();
    const current = (await job(a))!;
    await stores.jobs.transition(a, { from: current.state, to: 'CANCELLED', actor: 'gateway', reason: 'cancelled by admin' });
    expect((await stores.jobs.slots('default')).tenant).toBe(0);
    await scheduler.tick();
    expect(await stateOf(b)).toBe('PENDING');
    clock.advance(2000);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(b)).toBe('DISPATCHED'));
  });
});
