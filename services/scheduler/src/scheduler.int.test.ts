import { create } from '@bufbuild/protobuf';
import type { Bus } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import { createMetrics, createStaticPdp } from '@cordum/core';
import {
  DecisionType,
  ErrorCode,
  JobRequestSchema,
  JobStatus,
  type JobRequest,
  Subjects,
  computeJobHash,
  encodePacket,
  newPacket,
} from '@cordum/protocol';
import type { Stores } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import { type NatsServer, type RedisServer, eventually, startNats, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeRequest, encodeRequest } from './engine.js';
import type { Scheduler } from './index.js';
import { capture, counterValue, startRawWorker, startScheduler, submitRaw } from './testing/harness.js';

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

const FAST = { tickMs: 100, retryBackoff: { initialMs: 200, maxMs: 200, jitter: 'none' as const } };

async function bus(jetstream = false): Promise<Bus> {
  const b = await connectNatsBus({ servers: nats.url, jetstream, ackWaitMs: 2000 });
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

for (const jetstream of [false, true]) {
  describe(`scheduler on NATS ${jetstream ? 'JetStream' : 'core'} + Redis`, () => {
    it('runs the happy path for a raw CAP client and worker', async () => {
      const s = stores(uniquePrefix('sched'));
      const b = await bus(jetstream);
      await scheduler(b, s);
      const worker = await startRawWorker(await bus(jetstream), s, { id: 'raw', topics: ['job.echo'] });
      cleanup.push(() => worker.stop());
      const ids = await Promise.all(Array.from({ length: 20 }, () => submitRaw(b, s, { topic: 'job.echo' })));
      await eventually(async () => {
        const states = await Promise.all(ids.map(async (id) => (await s.jobs.get(id))?.state));
        expect(states).toEqual(ids.map(() => 'SUCCEEDED'));
      }, 15_000);
      expect(worker.received).toHaveLength(20);
    });

    it('applies every policy decision: allow, deny, approval (released only by a bound record), throttle, constraints, kernel outage', async () => {
      const s = stores(uniquePrefix('sched'));
      const b = await bus(jetstream);
      const deny = { id: 'no-prod', riskTag: 'prod', decision: DecisionType.DENY, reason: 'prod is off limits' };
      const hold = { id: 'big', riskTag: 'big', decision: DecisionType.REQUIRE_HUMAN };
      const cap = { id: 'cap', riskTag: 'capped', decision: DecisionType.ALLOW_WITH_CONSTRAINTS, constraints: { budgets: { maxArtifactBytes: 1024n } } };
      const slow = { id: 'slow', riskTag: 'slow', decision: DecisionType.THROTTLE };
      const pdp = createStaticPdp({ rules: [deny, hold, cap, slow], snapshot: 'snap-1' });
      await scheduler(b, s, { pdp, scheduler: { throttleDelayMs: 200, safetyBackoff: { initialMs: 100, maxMs: 200, jitter: 'none' } } });
      const worker = await startRawWorker(await bus(jetstream), s, { id: 'raw', topics: ['job.echo'] });
      cleanup.push(() => worker.stop());
      const results = await capture(b, Subjects.jobResult);
      const state = async (id: string) => (await s.jobs.get(id))?.state;

      const allowed = await submitRaw(b, s, { topic: 'job.echo' });
      const denied = await submitRaw(b, s, { topic: 'job.echo', riskTags: ['prod'] });
      const held = await submitRaw(b, s, { topic: 'job.echo', riskTags: ['big'] });
      const capped = await submitRaw(b, s, { topic: 'job.echo', riskTags: ['capped'] });
      const throttled = await submitRaw(b, s, { topic: 'job.echo', riskTags: ['slow'] });
      await eventually(async () => expect(await state(allowed)).toBe('SUCCEEDED'), 10_000);
      await eventually(async () => expect(await state(denied)).toBe('DENIED'), 10_000);
      await eventually(async () => expect(await s.dlq.get('default', denied)).toMatchObject({ reasonCode: 'safety_denied', reason: 'prod is off limits' }));
      await eventually(() => expect(results.some((p) => p.payload.case === 'jobResult' && p.payload.value.jobId === denied && p.payload.value.status === JobStatus.DENIED)).toBe(true));
      await eventually(async () => expect(await state(capped)).toBe('SUCCEEDED'), 10_000);
      expect(worker.received.find((r) => r.jobId === capped)?.env['CORDUM_MAX_ARTIFACT_BYTES']).toBe('1024');
      await eventually(async () => expect((await s.jobs.get(throttled))?.waitReason).toBe('throttled'), 10_000);
      expect(worker.received.some((r) => r.jobId === throttled || r.jobId === held || r.jobId === denied)).toBe(false);
      pdp.setRules([deny, hold, cap], 'snap-1');
      await eventually(async () => expect(await state(throttled)).toBe('SUCCEEDED'), 10_000);

      await eventually(async () => expect(await s.jobs.get(held)).toMatchObject({ state: 'APPROVAL_REQUIRED', waitReason: 'awaiting_approval' }), 10_000);
      const record = (await s.jobs.get(held))!;
      const request = decodeRequest(record);
      const context = (await s.pointers.require(request.contextPtr)).bytes;
      await s.jobs.transition(held, {
        from: 'APPROVAL_REQUIRED',
        to: 'PENDING',
        expectedVersion: record.version,
        actor: 'gateway',
        patch: { dueAt: await s.jobs.now(), data: { approval: { by: 'alice', reason: 'ok', job_hash: computeJobHash(request, context), policy_snapshot: 'snap-1' } } },
      });
      await eventually(async () => expect(await state(held)).toBe('SUCCEEDED'), 10_000);
      expect(worker.received.filter((r) => r.jobId === held)).toHaveLength(1);

      pdp.setAvailable(false);
      const waiting = await submitRaw(b, s, { topic: 'job.echo' });
      await eventually(async () => expect(await s.jobs.get(waiting)).toMatchObject({ state: 'PENDING', waitReason: 'safety_unavailable' }), 10_000);
      expect(worker.received.some((r) => r.jobId === waiting)).toBe(false);
      pdp.setAvailable(true);
      await eventually(async () => expect(await state(waiting)).toBe('SUCCEEDED'), 10_000);
    }, 45_000);

    it('routes: no_pool_mapping at once, by requires to the least-loaded live worker; deduplicates submits', async () => {
      const s = stores(uniquePrefix('sched'));
      const b = await bus(jetstream);
      await scheduler(b, s);
      const state = async (id: string) => (await s.jobs.get(id))?.state;
      const unmapped = await submitRaw(b, s, { topic: 'job.unmapped' });
      await eventually(async () => expect(await state(unmapped)).toBe('FAILED'), 10_000);
      await eventually(async () => expect(await s.dlq.get('default', unmapped)).toMatchObject({ reasonCode: 'no_pool_mapping', attempts: 0 }));

      // Workers on the submitter's connection: their heartbeats reach the scheduler before the submits do.
      const cpu = await startRawWorker(b, s, { id: 'cpu-1', topics: [], pool: 'cpu', direct: true });
      const gpuBusy = await startRawWorker(b, s, { id: 'gpu-1', topics: [], pool: 'gpu', direct: true });
      const gpuIdle = await startRawWorker(b, s, { id: 'gpu-2', topics: [], pool: 'gpu', direct: true });
      await cpu.heartbeat({ activeJobs: 2 });
      await gpuBusy.heartbeat({ activeJobs: 5 });
      await gpuIdle.heartbeat({ activeJobs: 1 });
      const needsGpu = await submitRaw(b, s, { topic: 'job.code.train', requires: ['gpu'] });
      await eventually(async () => expect(await state(needsGpu)).toBe('SUCCEEDED'), 10_000);
      expect(gpuIdle.received.map((r) => r.jobId)).toEqual([needsGpu]);
      expect((await s.jobs.get(needsGpu))?.data['dispatch']).toMatchObject({ subject: 'worker.gpu-2.jobs', pool: 'gpu', worker_id: 'gpu-2' });
      // Both pools provide git: the least-loaded worker of either wins (gpu-2, 1 job, over cpu-1's 2).
      const needsGit = await submitRaw(b, s, { topic: 'job.code.lint', requires: ['git'] });
      await eventually(async () => expect(await state(needsGit)).toBe('SUCCEEDED'), 10_000);
      expect(gpuIdle.received.map((r) => r.jobId)).toEqual([needsGpu, needsGit]);
      expect(cpu.received).toHaveLength(0);
      expect(gpuBusy.received).toHaveLength(0);

      const results = await capture(b, Subjects.jobResult);
      await startRawWorker(await bus(jetstream), s, { id: 'echo', topics: ['job.echo'] });
      const first = await submitRaw(b, s, { topic: 'job.echo', idempotencyKey: 'k1' });
      await eventually(async () => expect(await state(first)).toBe('SUCCEEDED'), 10_000);
      const again = await submitRaw(b, s, { topic: 'job.echo', idempotencyKey: 'k1' });
      const otherTenant = await submitRaw(b, s, { topic: 'job.echo', idempotencyKey: 'k1', tenant: 'other' });
      await eventually(async () => expect(await state(otherTenant)).toBe('SUCCEEDED'), 10_000);
      await eventually(() =>
        expect(results.some((p) => p.payload.case === 'jobResult' && p.payload.value.jobId === again && p.payload.value.errorCodeEnum === ErrorCode.JOB_DUPLICATE)).toBe(true),
      );
      expect(await s.jobs.get(again)).toBeUndefined();
    }, 30_000);

    it('retries on another worker when the first one is killed mid-job (lease expiry)', async () => {
      const s = stores(uniquePrefix('sched'));
      const b = await bus(jetstream);
      await scheduler(b, s);
      const cancels = await capture(b, Subjects.jobCancel);
      const killedBus = await bus(jetstream);
      const killed = await startRawWorker(killedBus, s, { id: 'killed', topics: ['job.slow'], reply: () => 'hang' });
      const id = await submitRaw(b, s, { topic: 'job.slow' });
      await eventually(() => expect(killed.received).toHaveLength(1));
      await killedBus.close(); // the worker process dies
      const survivor = await startRawWorker(await bus(jetstream), s, { id: 'survivor', topics: ['job.slow'] });
      cleanup.push(() => survivor.stop());
      await eventually(async () => expect((await s.jobs.get(id))?.state).toBe('SUCCEEDED'), 15_000);
      expect(survivor.received[0]?.env['CORDUM_ATTEMPT']).toBe('2');
      expect(cancels.some((p) => p.payload.case === 'jobCancel' && p.payload.value.jobId === id)).toBe(true);
    }, 30_000);
  });
}

describe('scheduler on NATS + Redis', () => {
  it('two instances share the load and no attempt is ever dispatched twice', async () => {
    const prefix = uniquePrefix('sched');
    const s1 = stores(prefix);
    const s2 = stores(prefix);
    await scheduler(await bus(), s1, { scheduler: { instanceId: 'sched-a' } });
    await scheduler(await bus(), s2, { scheduler: { instanceId: 'sched-b' } });
    const dispatches = new Map<string, number>();
    const count = (req: JobRequest): void => {
      const key = `${req.jobId}#${req.env['CORDUM_ATTEMPT']}`;
      dispatches.set(key, (dispatches.get(key) ?? 0) + 1);
    };
    const wbus = await bus();
    const worker = await startRawWorker(wbus, s1, {
      id: 'w',
      topics: ['job.echo'],
      reply: (req) => {
        count(req);
        return { status: JobStatus.SUCCEEDED, result: { ok: true } };
      },
    });
    cleanup.push(() => worker.stop());
    // Submits through the queue group, plus jobs both instances find on their due timers at the same time.
    const submitter = await bus();
    const submitted = await Promise.all(Array.from({ length: 100 }, () => submitRaw(submitter, s1, { topic: 'job.echo' })));
    const now = await s1.jobs.now();
    const timed: string[] = [];
    for (let i = 0; i < 100; i++) {
      const id = `timer-${prefix.slice(6, 14)}-${i}`;
      const request = create(JobRequestSchema, { jobId: id, topic: 'job.echo', tenantId: 'default' });
      await s1.jobs.create({ id, tenant: 'default', topic: 'job.echo', data: { request: encodeRequest(request) }, dueAt: now });
      timed.push(id);
    }
    const all = [...submitted, ...timed];
    await eventually(async () => {
      const states = await Promise.all(all.map(async (id) => (await s1.jobs.get(id))?.state));
      expect(states.filter((st) => st === 'SUCCEEDED')).toHaveLength(all.length);
    }, 30_000);
    expect([...dispatches.values()].every((n) => n === 1)).toBe(true);
    expect(dispatches.size).toBe(all.length);
    const attempts = await Promise.all(all.map(async (id) => (await s1.jobs.get(id))?.attempts));
    expect(attempts.every((a) => a === 1)).toBe(true);
    // Shared, not one instance doing everything.
    const dispatchers = new Set<string>();
    for (const id of all) {
      for (const e of await s1.jobs.events(id)) if (e.to === 'DISPATCHED') dispatchers.add(e.actor);
    }
    expect([...dispatchers].sort()).toEqual(['scheduler:sched-a', 'scheduler:sched-b']);
  }, 60_000);

  it('recovers a lost dispatch by the lease, and gives up after max attempts with a DLQ entry', async () => {
    const s = stores(uniquePrefix('sched'));
    const b = await bus();
    await scheduler(b, s);
    // Nobody consumes job.slow yet: core NATS drops the dispatch.
    const lost = await submitRaw(b, s, { topic: 'job.slow' });
    await eventually(async () => expect((await s.jobs.get(lost))?.state).toBe('DISPATCHED'));
    const late = await startRawWorker(await bus(), s, { id: 'late', topics: ['job.slow'] });
    cleanup.push(() => late.stop());
    await eventually(async () => expect((await s.jobs.get(lost))?.state).toBe('SUCCEEDED'), 15_000);
    expect((await s.jobs.get(lost))?.attempts).toBe(2);
    await late.stop();

    const doomed = await submitRaw(b, s, { topic: 'job.slow' });
    await eventually(async () => expect((await s.jobs.get(doomed))?.state).toBe('FAILED'), 20_000);
    await eventually(async () => expect(await s.dlq.get('default', doomed)).toMatchObject({ reasonCode: 'max_retries_exceeded', attempts: 2 }));
  }, 45_000);

  it('replays a job persisted but never submitted, and applies policy, config reloads and cancel', async () => {
    const s = stores(uniquePrefix('sched'));
    const b = await bus();
    const pdp = createStaticPdp({ rules: [{ id: 'deny-prod', riskTag: 'prod', decision: DecisionType.DENY }] });
    const metrics = createMetrics();
    await scheduler(b, s, { pdp, metrics });
    const worker = await startRawWorker(await bus(), s, {
      id: 'w',
      topics: ['job.echo', 'job.hang'],
      reply: (req) => (req.topic === 'job.hang' ? 'hang' : { status: JobStatus.SUCCEEDED, result: {} }),
    });
    cleanup.push(() => worker.stop());

    const request = create(JobRequestSchema, { jobId: `lost-${Date.now()}`, topic: 'job.echo', tenantId: 'default' });
    await s.jobs.create({ id: request.jobId, tenant: 'default', topic: 'job.echo', data: { request: encodeRequest(request) }, dueAt: (await s.jobs.now()) + 300 });
    await eventually(async () => expect((await s.jobs.get(request.jobId))?.state).toBe('SUCCEEDED'), 10_000);

    const denied = await submitRaw(b, s, { topic: 'job.echo', riskTags: ['prod'] });
    await eventually(async () => expect((await s.jobs.get(denied))?.state).toBe('DENIED'));

    // A bad routing document is kept out; the previous one stays in force.
    const doc = (await s.config.get({ scope: 'system', scopeId: 'default' }))!;
    await s.config.put({ scope: 'system', scopeId: 'default' }, { data: { ...doc.data, pools: { topics: 'nope' } }, expectedRevision: doc.revision });
    await b.publish(Subjects.configChanged, new Uint8Array(0));
    await eventually(async () => expect(await counterValue(metrics, 'scheduler_config_rejected_total')).toBe(1));
    const stillRouted = await submitRaw(b, s, { topic: 'job.echo' });
    await eventually(async () => expect((await s.jobs.get(stillRouted))?.state).toBe('SUCCEEDED'));
    // A good one takes effect live.
    const doc2 = (await s.config.get({ scope: 'system', scopeId: 'default' }))!;
    await s.config.put({ scope: 'system', scopeId: 'default' }, {
      data: { ...doc2.data, pools: { topics: { 'job.echo': 'default', 'job.hang': 'default' }, pools: { default: {} } } },
      expectedRevision: doc2.revision,
    });
    await b.publish(Subjects.configChanged, new Uint8Array(0));
    await eventually(async () => {
      const hanging = await submitRaw(b, s, { topic: 'job.hang' });
      await eventually(async () => expect(['DISPATCHED', 'FAILED']).toContain((await s.jobs.get(hanging))?.state));
      expect((await s.jobs.get(hanging))?.state).toBe('DISPATCHED');
      await b.publish(Subjects.jobCancel, encodePacket(newPacket({ traceId: hanging, senderId: 'cli', payload: { case: 'jobCancel', value: { jobId: hanging, reason: 'stop', requestedBy: 'ops' } } })));
      await eventually(async () => expect((await s.jobs.get(hanging))?.state).toBe('CANCELLED'));
    }, 10_000);
  }, 45_000);
});
