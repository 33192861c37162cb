import { create } from '@bufbuild/protobuf';
import type { Bus } from '@cordum/bus';
import { createMemoryBroker } from '@cordum/bus/memory';
import { InvalidError, type ManualClock, type Metrics, RetryableError, createManualClock, createMetrics, createStaticPdp } from '@cordum/core';
import {
  CANCEL_ATTEMPT_HEADER,
  DecisionType,
  ErrorCode,
  JobRequestSchema,
  JobStatus,
  type OutputCheckRequest,
  OutputCheckResponseSchema,
  OutputDecision,
  PolicyCheckResponseSchema,
  Subjects,
  computeJobHash,
  contextPointer,
  decodeWorkflowCommand,
  encodePacket,
  newPacket,
} from '@cordum/protocol';
import { type JobOutcome, type Stores, jobFinalFence, outcomeFenceValue } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import { eventually } from '@cordum/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeRequest } from './engine.js';
import type { Scheduler } from './index.js';
import { capture, counterValue, startRawWorker, startScheduler, submitRaw } from './testing/harness.js';

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

describe('happy path (raw CAP client and worker, no SDK, no heartbeat)', () => {
  it('governs, routes to the topic subject and records every state', async () => {
    const worker = await startRawWorker(bus, stores, { id: 'raw-1', topics: ['job.echo'] });
    const results = await capture(bus, Subjects.jobResult);
    const id = await submitRaw(bus, stores, { topic: 'job.echo', input: { prompt: 'hello' } });
    await eventually(async () => expect(await stateOf(id)).toBe('SUCCEEDED'));
    const done = await job(id);
    expect(done?.resultPtr).toBe(`redis://res:${id}`);
    expect(done?.attempts).toBe(1);
    expect(worker.received).toHaveLength(1);
    const dispatched = worker.received[0]!;
    expect(dispatched.env['CORDUM_ATTEMPT']).toBe('1');
    expect(dispatched.env['CORDUM_LEASE_MS']).toBe('30000');
    expect(dispatched.contextPtr).toBe(contextPointer(id));
    const states = (await stores.jobs.events(id)).map((e) => e.to);
    expect(states).toEqual(['PENDING', 'SCHEDULED', 'DISPATCHED', 'SUCCEEDED']);
    expect(pdp.checks.map((c) => c.jobId)).toEqual([id]);
    expect(results.filter((p) => p.payload.case === 'jobResult' && p.payload.value.jobId === id)).toHaveLength(1);
  });

  it('rejects malformed and wrong-version packets with a structured error result', async () => {
    const results = await capture(bus, Subjects.jobResult);
    await bus.publish(Subjects.jobSubmit, new Uint8Array([0x0a, 0xff]));
    const v2 = newPacket({ traceId: 't', senderId: 'c', payload: { case: 'jobRequest', value: { jobId: 'j-v2', topic: 'job.echo' } } });
    v2.protocolVersion = 2;
    await bus.publish(Subjects.jobSubmit, encodePacket(v2));
    await eventually(() => expect(results).toHaveLength(1));
    const r = results[0]!;
    expect(r.payload.case === 'jobResult' && r.payload.value).toMatchObject({
      jobId: 'j-v2',
      status: JobStatus.FAILED,
      errorCodeEnum: ErrorCode.PROTOCOL_VERSION_MISMATCH,
    });
    expect(await job('j-v2')).toBeUndefined();
  });

  it('deduplicates submits by tenant and idempotency key, and tells the duplicate’s submitter', async () => {
    await startRawWorker(bus, stores, { id: 'raw-1', topics: ['job.echo'] });
    const results = await capture(bus, Subjects.jobResult);
    const a = await submitRaw(bus, stores, { topic: 'job.echo', idempotencyKey: 'k1' });
    await eventually(async () => expect(await stateOf(a)).toBe('SUCCEEDED'));
    const b = await submitRaw(bus, stores, { topic: 'job.echo', idempotencyKey: 'k1' });
    const c = await submitRaw(bus, stores, { topic: 'job.echo', idempotencyKey: 'k1', tenant: 'other' });
    await eventually(async () => expect(await stateOf(c)).toBe('SUCCEEDED'));
    expect(await job(b)).toBeUndefined();
    await eventually(() =>
      expect(results.map((p) => p.payload.case === 'jobResult' && p.payload.value).find((r) => r && r.jobId === b)).toMatchObject({
        status: JobStatus.FAILED,
        errorCodeEnum: ErrorCode.JOB_DUPLICATE,
        errorMessage: `idempotency key already used by job ${a}`,
      }),
    );
  });
});

describe('policy decisions', () => {
  it('DENY → DENIED, DLQ safety_denied, outcome published', async () => {
    pdp.setRules([{ id: 'no-prod', riskTag: 'prod', decision: DecisionType.DENY, reason: 'prod writes are forbidden' }]);
    const results = await capture(bus, Subjects.jobResult);
    const id = await submitRaw(bus, stores, { topic: 'job.echo', riskTags: ['prod'] });
    await eventually(async () => expect(await stateOf(id)).toBe('DENIED'));
    await eventually(async () => expect(await stores.dlq.get('default', id)).toMatchObject({ reasonCode: 'safety_denied', reason: 'prod writes are forbidden', errorCode: ErrorCode.SAFETY_DENIED }));
    await eventually(() => expect(results.some((p) => p.payload.case === 'jobResult' && p.payload.value.status === JobStatus.DENIED)).toBe(true));
  });

  it('REQUIRE_APPROVAL waits; only an approval record bound to the job hash and snapshot releases it', async () => {
    pdp.setRules([{ id: 'approve', topic: 'job.echo', decision: DecisionType.REQUIRE_HUMAN }], 'snap-1');
    const worker = await startRawWorker(bus, stores, { id: 'raw-1', topics: ['job.echo'] });
    const id = await submitRaw(bus, stores, { topic: 'job.echo', input: { prompt: 'deploy' } });
    await eventually(async () => expect(await stateOf(id)).toBe('APPROVAL_REQUIRED'));
    let held = (await job(id))!;
    expect(held.waitReason).toBe('awaiting_approval');

    // A bad approval (wrong hash) is not enough: the job goes back to waiting.
    held = await stores.jobs.transition(id, {
      from: 'APPROVAL_REQUIRED',
      to: 'PENDING',
      expectedVersion: held.version,
      actor: 'gateway',
      patch: { dueAt: clock.now(), data: { approval: { by: 'alice', job_hash: 'bogus', policy_snapshot: 'snap-1' } } },
    });
    await scheduler.tick();
    expect(await stateOf(id)).toBe('APPROVAL_REQUIRED');

    // The gateway's record: hash of the request and the bytes behind its context pointer, plus the snapshot.
    held = (await job(id))!;
    const request = await requestOf(id);
    const context = (await stores.pointers.require(request.contextPtr)).bytes;
    await stores.jobs.transition(id, {
      from: 'APPROVAL_REQUIRED',
      to: 'PENDING',
      expectedVersion: held.version,
      actor: 'gateway',
      patch: {
        dueAt: clock.now(),
        data: { approval: { by: 'alice', reason: 'ok', job_hash: computeJobHash(request, context), policy_snapshot: 'snap-1' } },
      },
    });
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(id)).toBe('SUCCEEDED'));
    expect(worker.received).toHaveLength(1);
    expect(pdp.checks.filter((c) => c.jobId === id).length).toBeGreaterThanOrEqual(2);
  });

  it('re-checks policy after an approval: a DENY still wins', async () => {
    pdp.setRules([{ id: 'approve', topic: 'job.echo', decision: DecisionType.REQUIRE_HUMAN }], 'snap-1');
    const id = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect(await stateOf(id)).toBe('APPROVAL_REQUIRED'));
    const request = await requestOf(id);
    const context = (await stores.pointers.require(request.contextPtr)).bytes;
    const held = (await job(id))!;
    await stores.jobs.transition(id, {
      from: 'APPROVAL_REQUIRED',
      to: 'PENDING',
      expectedVersion: held.version,
      actor: 'gateway',
      patch: { dueAt: clock.now(), data: { approval: { by: 'alice', job_hash: computeJobHash(request, context), policy_snapshot: 'snap-1' } } },
    });
    pdp.setRules([{ id: 'deny-all', decision: DecisionType.DENY }], 'snap-2');
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(id)).toBe('DENIED'));
  });

  it('THROTTLE waits as a due time and proceeds once policy allows', async () => {
    pdp.setRules([{ id: 'slow-down', topic: 'job.echo', decision: DecisionType.THROTTLE }]);
    await startRawWorker(bus, stores, { id: 'raw-1', topics: ['job.echo'] });
    const id = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect((await job(id))?.waitReason).toBe('throttled'));
    const due = (await job(id))!.dueAt!;
    expect(due - clock.now()).toBe(5000);
    pdp.setRules([]);
    await scheduler.tick();
    expect(await stateOf(id)).toBe('PENDING');
    clock.advance(5000);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(id)).toBe('SUCCEEDED'));
  });

  it('an unreachable kernel is a wait with backoff, never an allow', async () => {
    pdp.setAvailable(false);
    const worker = await startRawWorker(bus, stores, { id: 'raw-1', topics: ['job.echo'] });
    const id = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect((await job(id))?.waitReason).toBe('safety_unavailable'));
    clock.advance(60_000);
    await scheduler.tick();
    expect(await stateOf(id)).toBe('PENDING');
    expect(worker.received).toHaveLength(0);
    pdp.setAvailable(true);
    clock.advance(60_000);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(id)).toBe('SUCCEEDED'));
  });

  it('a decision point that refuses the job (not an outage) denies it once, closed, instead of re-asking every tick', async () => {
    let checks = 0;
    await scheduler.stop();
    scheduler = await startScheduler(bus, stores, {
      clock,
      scheduler: MANUAL,
      pdp: {
        ...createStaticPdp(),
        check() {
          checks++;
          return Promise.reject(new InvalidError('effective_config is not JSON'));
        },
      },
    });
    const worker = await startRawWorker(bus, stores, { id: 'raw-1', topics: ['job.echo'] });
    const id = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect(await stateOf(id)).toBe('DENIED'));
    await eventually(async () => expect(await stores.dlq.get('default', id)).toMatchObject({ reasonCode: 'safety_error' }));
    expect((await job(id))?.errorMessage).toContain('effective_config is not JSON');
    clock.advance(60_000);
    await scheduler.tick();
    expect(checks).toBe(1);
    expect(worker.received).toHaveLength(0);
  });

  it('REDACT dispatches the kernel’s redacted context pointer, also on a retry; QUARANTINE denies', async () => {
    await scheduler.stop();
    scheduler = await startScheduler(bus, stores, {
      clock,
      scheduler: MANUAL,
      pdp: {
        ...createStaticPdp(),
        check: (req) =>
          Promise.resolve(
            create(PolicyCheckResponseSchema, req.topic === 'job.slow'
              ? { decision: DecisionType.QUARANTINE, reason: 'tainted input', policySnapshot: 's1' }
              : { decision: DecisionType.REDACT, redactedContextPtr: `redis://ctx:${req.jobId}:redacted`, policySnapshot: 's1' }),
          ),
      },
    });
    let calls = 0;
    const worker = await startRawWorker(bus, stores, {
      id: 'w',
      topics: ['job.echo', 'job.slow'],
      reply: () => (++calls === 1 ? { status: JobStatus.FAILED_RETRYABLE, errorMessage: 'flaky' } : { status: JobStatus.SUCCEEDED, result: {} }),
    });
    const id = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect((await job(id))?.waitReason).toBe('backoff_until'));
    clock.advance(1000);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(id)).toBe('SUCCEEDED'));
    expect(worker.received.map((r) => r.contextPtr)).toEqual([`redis://ctx:${id}:redacted`, `redis://ctx:${id}:redacted`]);
    const tainted = await submitRaw(bus, stores, { topic: 'job.slow' });
    await eventually(async () => expect(await stateOf(tainted)).toBe('DENIED'));
    expect(worker.received).toHaveLength(2);
  });

  it('a budget deadline also ends a job still waiting for its approval', async () => {
    pdp.setRules([{ id: 'approve', topic: 'job.echo', decision: DecisionType.REQUIRE_HUMAN }], 'snap-1');
    const results = await capture(bus, Subjects.jobResult);
    const id = await submitRaw(bus, stores, { topic: 'job.echo', deadlineMs: 5000 });
    await eventually(async () => expect(await stateOf(id)).toBe('APPROVAL_REQUIRED'));
    expect((await job(id))?.deadlineAt).toBe((await job(id))!.createdAt + 5000);
    clock.advance(5001);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(id)).toBe('TIMEOUT'));
    await eventually(async () => expect(await stores.dlq.get('default', id)).toMatchObject({ reasonCode: 'deadline_exceeded', lastState: 'APPROVAL_REQUIRED' }));
    await eventually(() => expect(results.some((p) => p.payload.case === 'jobResult' && p.payload.value.jobId === id && p.payload.value.status === JobStatus.TIMEOUT)).toBe(true));
  });

  it('ALLOW_WITH_CONSTRAINTS passes constraints to the worker and applies max retries and max runtime', async () => {
    pdp.setRules([
      {
        id: 'limits',
        topic: 'job.echo',
        decision: DecisionType.ALLOW_WITH_CONSTRAINTS,
        constraints: { budgets: { maxRuntimeMs: 10_000n, maxRetries: 1, maxArtifactBytes: 1024n }, redactionLevel: 'strict' },
      },
    ]);
    const worker = await startRawWorker(bus, stores, { id: 'raw-1', topics: ['job.echo'], reply: () => ({ status: JobStatus.FAILED_RETRYABLE, errorMessage: 'flaky' }) });
    const id = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(() => expect(worker.received).toHaveLength(1));
    const env = worker.received[0]!.env;
    expect(env).toMatchObject({ CORDUM_MAX_RUNTIME_MS: '10000', CORDUM_MAX_RETRIES: '1', CORDUM_MAX_ARTIFACT_BYTES: '1024', CORDUM_REDACTION_LEVEL: 'strict' });
    expect(JSON.parse(env['CORDUM_POLICY_CONSTRAINTS']!)).toMatchObject({ redactionLevel: 'strict' });
    await eventually(async () => expect((await job(id))?.waitReason).toBe('backoff_until'));
    expect((await job(id))!.deadlineAt).toBe((await job(id))!.createdAt + 10_000);
    clock.advance(1000);
    await scheduler.tick();
    // max_retries 1 (tighter than the topic's 2): the second failure is final.
    await eventually(async () => expect(await stateOf(id)).toBe('FAILED'));
    expect(worker.received).toHaveLength(2);
    await eventually(async () => expect(await stores.dlq.get('default', id)).toMatchObject({ reasonCode: 'max_retries_exceeded', attempts: 2 }));
  });

  it('enforces the tenant concurrency limit as a wait', async () => {
    pdp.setRules([{ id: 'one-at-a-time', decision: DecisionType.ALLOW_WITH_CONSTRAINTS, constraints: { budgets: { maxConcurrentJobs: 1 } } }]);
    await startRawWorker(bus, stores, { id: 'raw-1', topics: ['job.echo'], reply: () => 'hang' });
    const first = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect(await stateOf(first)).toBe('DISPATCHED'));
    const second = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect((await job(second))?.waitReason).toBe('tenant_limit'));
  });
});

describe('routing', () => {
  it('no pool mapping → FAILED and DLQ at once', async () => {
    const id = await submitRaw(bus, stores, { topic: 'job.unmapped' });
    await eventually(async () => expect(await stateOf(id)).toBe('FAILED'));
    await eventually(async () => expect(await stores.dlq.get('default', id)).toMatchObject({ reasonCode: 'no_pool_mapping' }));
  });

  it('routes by requires to a heartbeating worker’s direct subject, least-loaded first', async () => {
    const cpu = await startRawWorker(bus, stores, { id: 'cpu-1', topics: [], pool: 'cpu', direct: true });
    const gpuBusy = await startRawWorker(bus, stores, { id: 'gpu-1', topics: [], pool: 'gpu', direct: true });
    const gpuIdle = await startRawWorker(bus, stores, { id: 'gpu-2', topics: [], pool: 'gpu', direct: true });
    await cpu.heartbeat();
    await gpuBusy.heartbeat({ activeJobs: 5 });
    await gpuIdle.heartbeat({ activeJobs: 1 });
    const a = await submitRaw(bus, stores, { topic: 'job.code.train', requires: ['gpu'] });
    await eventually(async () => expect(await stateOf(a)).toBe('SUCCEEDED'));
    expect(gpuIdle.received.map((r) => r.jobId)).toEqual([a]);
    const b = await submitRaw(bus, stores, { topic: 'job.code.lint', requires: ['git'] });
    await eventually(async () => expect(await stateOf(b)).toBe('SUCCEEDED'));
    expect(cpu.received.map((r) => r.jobId)).toEqual([b]);
    expect((await job(b))?.data['dispatch']).toMatchObject({ subject: 'worker.cpu-1.jobs', pool: 'cpu', worker_id: 'cpu-1' });
  });

  it('waits (pool_overloaded) when every known worker is full', async () => {
    const w = await startRawWorker(bus, stores, { id: 'w1', topics: [], direct: true });
    await w.heartbeat({ activeJobs: 8, maxParallelJobs: 8 });
    const id = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect((await job(id))?.waitReason).toBe('pool_overloaded'));
    await w.heartbeat({ activeJobs: 0 });
    clock.advance(2000);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(id)).toBe('SUCCEEDED'));
  });

  it('takes a routing config change live and keeps the previous one when a document is invalid', async () => {
    await startRawWorker(bus, stores, { id: 'raw-1', topics: ['job.new'] });
    const doc = (await stores.config.get({ scope: 'system', scopeId: 'default' }))!;
    await stores.config.put({ scope: 'system', scopeId: 'default' }, { data: { ...doc.data, pools: { topics: { 'job.new': 'ghost' }, pools: {} } }, expectedRevision: doc.revision });
    clock.advance(5000);
    await scheduler.tick();
    const rejected = await submitRaw(bus, stores, { topic: 'job.new' });
    await eventually(async () => expect(await stateOf(rejected)).toBe('FAILED'));
    expect((await job(rejected))?.errorCode).toBe('no_pool_mapping');
    const doc2 = (await stores.config.get({ scope: 'system', scopeId: 'default' }))!;
    await stores.config.put({ scope: 'system', scopeId: 'default' }, { data: { ...doc2.data, pools: { topics: { 'job.new': 'default' }, pools: { default: {} } } }, expectedRevision: doc2.revision });
    await bus.publish(Subjects.configChanged, new Uint8Array(0));
    await eventually(async () => {
      const id = await submitRaw(bus, stores, { topic: 'job.new' });
      await eventually(async () => expect(['SUCCEEDED', 'FAILED']).toContain(await stateOf(id)));
      expect(await stateOf(id)).toBe('SUCCEEDED');
    });
  });
});

describe('leases, retries and time', () => {
  it('retries on another worker when an attempt’s lease expires, and cancels the lost attempt', async () => {
    const cancels = await capture(bus, Subjects.jobCancel);
    const cancelHeaders: Record<string, string>[] = [];
    await bus.subscribe(Subjects.jobCancel, (m) => {
      cancelHeaders.push({ ...m.headers });
    });
    const dead = await startRawWorker(bus, stores, { id: 'dead', topics: ['job.slow'], reply: () => 'hang' });
    const id = await submitRaw(bus, stores, { topic: 'job.slow' });
    await eventually(() => expect(dead.received).toHaveLength(1));
    await dead.stop();
    const alive = await startRawWorker(bus, stores, { id: 'alive', topics: ['job.slow'] });
    clock.advance(2001);
    await scheduler.tick();
    expect((await job(id))?.waitReason).toBe('backoff_until');
    await eventually(() => expect(cancels.some((p) => p.payload.case === 'jobCancel' && p.payload.value.jobId === id)).toBe(true));
    // The cancel names the lost attempt, so no scheduler instance (this one or another) cancels the job for it.
    expect(cancelHeaders.at(-1)).toMatchObject({ [CANCEL_ATTEMPT_HEADER]: '1' });
    await bus.publish(
      Subjects.jobCancel,
      encodePacket(newPacket({ traceId: id, senderId: 'other-scheduler', payload: { case: 'jobCancel', value: { jobId: id, reason: 'attempt lease expired' } } })),
      { headers: { [CANCEL_ATTEMPT_HEADER]: '1' } },
    );
    clock.advance(1000);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(id)).toBe('SUCCEEDED'));
    expect(alive.received[0]?.env['CORDUM_ATTEMPT']).toBe('2');
    expect((await job(id))?.attempts).toBe(2);
  });

  it('ignores what the abandoned attempt reports after its lease expired (its CANCELLED does not cancel the job)', async () => {
    const worker = await startRawWorker(bus, stores, {
      id: 'w',
      topics: ['job.slow'],
      reply: (req) => (req.env['CORDUM_ATTEMPT'] === '1' ? 'hang' : { status: JobStatus.SUCCEEDED, result: { ok: true } }),
    });
    const id = await submitRaw(bus, stores, { topic: 'job.slow' });
    await eventually(() => expect(worker.received).toHaveLength(1));
    clock.advance(2001);
    await scheduler.tick();
    expect((await job(id))?.waitReason).toBe('backoff_until');
    // What an SDK worker sends when the attempt-scoped cancel stops attempt 1 (msg-id names the attempt) —
    // and what a CAP worker of another SDK sends (no attempt at all) — while the job waits for attempt 2.
    const cancelled = (): Uint8Array =>
      encodePacket(newPacket({ traceId: id, senderId: 'w', payload: { case: 'jobResult', value: { jobId: id, status: JobStatus.CANCELLED, workerId: 'w', errorMessage: 'attempt lease expired' } } }));
    await bus.publish(Subjects.jobResult, cancelled(), { msgId: `jobres:${id}#1` });
    await bus.publish(Subjects.jobResult, cancelled());
    await eventually(async () => expect(await counterValue(metrics, 'scheduler_late_results_total')).toBe(2));
    expect(await stateOf(id)).toBe('SCHEDULED');
    clock.advance(1000);
    await scheduler.tick();
    await eventually(() => expect(worker.received).toHaveLength(2));
    // Attempt 2 runs; attempt 1's failure arriving now is not attempt 2's.
    await bus.publish(
      Subjects.jobResult,
      encodePacket(newPacket({ traceId: id, senderId: 'w', payload: { case: 'jobResult', value: { jobId: id, status: JobStatus.FAILED_FATAL, workerId: 'w' } } })),
      { msgId: `jobres:${id}#1` },
    );
    await eventually(async () => expect(await stateOf(id)).toBe('SUCCEEDED'));
    expect(await counterValue(metrics, 'scheduler_late_results_total')).toBeGreaterThanOrEqual(3);
    expect((await job(id))?.attempts).toBe(2);
  });

  it('a late success of the abandoned attempt settles the job and stops the newer attempt', async () => {
    const cancels: string[] = [];
    await bus.subscribe(Subjects.jobCancel, (m) => {
      cancels.push(m.headers[CANCEL_ATTEMPT_HEADER] ?? 'job');
    });
    const worker = await startRawWorker(bus, stores, { id: 'w', topics: ['job.slow'], reply: () => 'hang' });
    const id = await submitRaw(bus, stores, { topic: 'job.slow' });
    await eventually(() => expect(worker.received).toHaveLength(1));
    clock.advance(2001);
    await scheduler.tick();
    clock.advance(1000);
    await scheduler.tick();
    await eventually(() => expect(worker.received).toHaveLength(2));
    await bus.publish(
      Subjects.jobResult,
      encodePacket(newPacket({ traceId: id, senderId: 'w', payload: { case: 'jobResult', value: { jobId: id, status: JobStatus.SUCCEEDED, workerId: 'w' } } })),
      { msgId: `jobres:${id}#1` },
    );
    await eventually(async () => expect(await stateOf(id)).toBe('SUCCEEDED'));
    await eventually(() => expect(cancels).toEqual(['1', '2']));
  });

  it('of two instances handling the same expired lease, only the one whose write wins cancels the attempt', async () => {
    const other = await startScheduler(bus, stores, { pdp, clock, metrics, scheduler: MANUAL });
    const cancels: string[] = [];
    await bus.subscribe(Subjects.jobCancel, (m) => {
      cancels.push(m.headers[CANCEL_ATTEMPT_HEADER] ?? 'job');
    });
    await startRawWorker(bus, stores, { id: 'w', topics: ['job.slow'], reply: () => 'hang' });
    const id = await submitRaw(bus, stores, { topic: 'job.slow' });
    await eventually(async () => expect(await stateOf(id)).toBe('DISPATCHED'));
    clock.advance(2001);
    await Promise.all([scheduler.tick(), other.tick()]);
    await other.stop();
    await bus.flush();
    expect((await job(id))?.waitReason).toBe('backoff_until');
    expect(cancels).toEqual(['1']);
    expect(await counterValue(metrics, 'scheduler_retries_total')).toBe(1);
  });

  it('a cancel that loses its compare-and-set to a concurrent move is applied to the new state', async () => {
    await startRawWorker(bus, stores, { id: 'w', topics: ['job.echo'], reply: () => 'hang' });
    const id = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect(await stateOf(id)).toBe('DISPATCHED'));
    // A JobProgress lands between the cancel's read and its write.
    const transition = stores.jobs.transition.bind(stores.jobs);
    let raced = false;
    stores.jobs.transition = async (jobId, request) => {
      if (!raced && request.to === 'CANCELLED') {
        raced = true;
        await transition(jobId, { from: 'DISPATCHED', to: 'RUNNING', actor: 'other-scheduler', patch: { leaseExpiresAt: clock.now() + 2000 } });
      }
      return transition(jobId, request);
    };
    await bus.publish(Subjects.jobCancel, encodePacket(newPacket({ traceId: id, senderId: 'cli', payload: { case: 'jobCancel', value: { jobId: id, reason: 'stop', requestedBy: 'alice' } } })));
    await eventually(async () => expect(await stateOf(id)).toBe('CANCELLED'));
    expect(raced).toBe(true);
  });

  it('gives up after max attempts with a DLQ entry carrying reason and attempts', async () => {
    await startRawWorker(bus, stores, { id: 'dead', topics: ['job.slow'], reply: () => 'hang' });
    const id = await submitRaw(bus, stores, { topic: 'job.slow' });
    await eventually(async () => expect(await stateOf(id)).toBe('DISPATCHED'));
    clock.advance(2001);
    await scheduler.tick();
    clock.advance(1000);
    await scheduler.tick();
    await eventually(async () => expect((await job(id))?.attempts).toBe(2));
    clock.advance(2001);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(id)).toBe('FAILED'));
    await eventually(async () => expect(await stores.dlq.get('default', id)).toMatchObject({ reasonCode: 'max_retries_exceeded', attempts: 2, errorCode: ErrorCode.JOB_WORKER_UNAVAILABLE }));
  });

  it('progress extends the lease and marks the job RUNNING', async () => {
    await startRawWorker(bus, stores, { id: 'w', topics: ['job.slow'], reply: () => 'hang' });
    const id = await submitRaw(bus, stores, { topic: 'job.slow' });
    await eventually(async () => expect(await stateOf(id)).toBe('DISPATCHED'));
    clock.advance(1500);
    await bus.publish(Subjects.jobProgress, encodePacket(newPacket({ traceId: id, senderId: 'w', payload: { case: 'jobProgress', value: { jobId: id, percent: 40 } } })));
    await eventually(async () => expect(await stateOf(id)).toBe('RUNNING'));
    expect((await job(id))?.leaseExpiresAt).toBe(clock.now() + 2000);
    clock.advance(1500);
    await scheduler.tick();
    expect(await stateOf(id)).toBe('RUNNING');
  });

  it('a budget deadline times the job out without retry, cancels it and publishes the outcome', async () => {
    const results = await capture(bus, Subjects.jobResult);
    await startRawWorker(bus, stores, { id: 'w', topics: ['job.echo'], reply: () => 'hang' });
    const id = await submitRaw(bus, stores, { topic: 'job.echo', deadlineMs: 5000 });
    await eventually(async () => expect(await stateOf(id)).toBe('DISPATCHED'));
    clock.advance(5001);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(id)).toBe('TIMEOUT'));
    await eventually(() => expect(results.some((p) => p.payload.case === 'jobResult' && p.payload.value.status === JobStatus.TIMEOUT)).toBe(true));
    expect((await job(id))?.attempts).toBe(1);
  });

  it('retries FAILED_RETRYABLE, never FAILED_FATAL, and workflow jobs not at all', async () => {
    let calls = 0;
    await startRawWorker(bus, stores, {
      id: 'w',
      topics: ['job.echo'],
      reply: (req) => {
        if (req.jobId.startsWith('fatal')) return { status: JobStatus.FAILED_FATAL, errorCode: 'bad_input', errorMessage: 'no' };
        if (req.jobId.startsWith('wf')) return { status: JobStatus.FAILED, errorMessage: 'step failed' };
        calls++;
        return calls === 1 ? { status: JobStatus.FAILED_RETRYABLE, errorMessage: 'flaky' } : { status: JobStatus.SUCCEEDED, result: { ok: true } };
      },
    });
    const retry = await submitRaw(bus, stores, { topic: 'job.echo', jobId: 'retry-1' });
    const fatal = await submitRaw(bus, stores, { topic: 'job.echo', jobId: 'fatal-1' });
    const wf = await submitRaw(bus, stores, { topic: 'job.echo', jobId: 'wf-1', workflowId: 'wf-x' });
    await eventually(async () => expect((await job(retry))?.waitReason).toBe('backoff_until'));
    await eventually(async () => expect(await stateOf(fatal)).toBe('FAILED'));
    await eventually(async () => expect(await stateOf(wf)).toBe('FAILED'));
    expect((await job(fatal))?.errorCode).toBe('bad_input');
    clock.advance(1000);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(retry)).toBe('SUCCEEDED'));
    expect((await job(retry))?.attempts).toBe(2);
  });

  it('rings the workflow engine after the terminal write of a workflow job, and only then', async () => {
    await startRawWorker(bus, stores, {
      id: 'w',
      topics: ['job.echo'],
      reply: (req) => (req.jobId.includes(':b@') ? { status: JobStatus.FAILED, errorMessage: 'step failed' } : { status: JobStatus.SUCCEEDED, result: { ok: true } }),
    });
    // Each doorbell with the job's state in the store when it arrived.
    const rung: Array<{ command: ReturnType<typeof decodeWorkflowCommand>; state: string | undefined }> = [];
    await bus.subscribe(Subjects.workflowCommand, async (m) => {
      const command = decodeWorkflowCommand(m.data);
      rung.push({ command, state: await stateOf(command?.job_id ?? '') });
    });
    await bus.flush();
    const ok = await submitRaw(bus, stores, { topic: 'job.echo', jobId: 'wfrun-1:a@1', workflowId: 'wf-x', labels: { run_id: 'wfrun-1', step_id: 'a' } });
    const failed = await submitRaw(bus, stores, { topic: 'job.echo', jobId: 'wfrun-1:b@1', workflowId: 'wf-x', labels: { run_id: 'wfrun-1', step_id: 'b' } });
    const plain = await submitRaw(bus, stores, { topic: 'job.echo', labels: { run_id: 'wfrun-1' } });
    await eventually(async () => expect(await stateOf(plain)).toBe('SUCCEEDED'));
    await eventually(() => expect(rung).toHaveLength(2));
    const stored = await job(failed);
    expect(rung.map((r) => r.command).sort((x, y) => (x?.job_id ?? '').localeCompare(y?.job_id ?? ''))).toEqual([
      { v: 1, kind: 'event', tenant: 'default', run_id: 'wfrun-1', job_id: ok, outcome: { state: 'SUCCEEDED', result_ptr: `redis://res:${ok}` } },
      {
        v: 1,
        kind: 'event',
        tenant: 'default',
        run_id: 'wfrun-1',
        job_id: failed,
        outcome: { state: 'FAILED', error_code: stored?.errorCode, error_message: 'step failed' },
      },
    ]);
    expect(rung.map((r) => r.state).sort()).toEqual(['FAILED', 'SUCCEEDED']);
    // The terminal write raised each job's final fence with the outcome the doorbell carries.
    let probes = 0;
    const fenceHolds = async (jobId: string, outcome: Omit<JobOutcome, 'tenant' | 'runId'>): Promise<boolean> => {
      const probe = `probe-${++probes}`;
      await stores.runs.create({ tenant: 'default', id: probe, workflowId: 'wf-x', workflowVersion: 1, doc: {} });
      const res = await stores.runs.update('default', probe, {
        expectedVersion: 1,
        requires: [{ fence: jobFinalFence(jobId), value: outcomeFenceValue({ tenant: 'default', runId: 'wfrun-1', ...outcome }) }],
      });
      return res.outcome === 'updated';
    };
    expect(await fenceHolds(ok, { state: 'SUCCEEDED', resultPtr: `redis://res:${ok}`, errorCode: null, errorMessage: null })).toBe(true);
    expect(await fenceHolds(failed, { state: 'FAILED', resultPtr: null, errorCode: stored?.errorCode ?? null, errorMessage: 'step failed' })).toBe(true);
    expect(await fenceHolds(failed, { state: 'SUCCEEDED', resultPtr: null, errorCode: null, errorMessage: null })).toBe(false);
  });

  it('the first terminal result wins; a later one is ignored', async () => {
    const worker = await startRawWorker(bus, stores, { id: 'w', topics: ['job.echo'] });
    const id = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect(await stateOf(id)).toBe('SUCCEEDED'));
    const late = newPacket({ traceId: id, senderId: 'w', payload: { case: 'jobResult', value: { jobId: id, status: JobStatus.FAILED, workerId: 'w' } } });
    await bus.publish(Subjects.jobResult, encodePacket(late));
    await eventually(async () => expect(await counterValue(metrics, 'scheduler_late_results_total')).toBe(1));
    expect(await stateOf(id)).toBe('SUCCEEDED');
    expect(worker.received).toHaveLength(1);
  });

  it('cancel on sys.job.cancel settles the job as CANCELLED', async () => {
    await startRawWorker(bus, stores, { id: 'w', topics: ['job.echo'], reply: () => 'hang' });
    const id = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect(await stateOf(id)).toBe('DISPATCHED'));
    await bus.publish(Subjects.jobCancel, encodePacket(newPacket({ traceId: id, senderId: 'cli', payload: { case: 'jobCancel', value: { jobId: id, reason: 'not needed', requestedBy: 'alice' } } })));
    await eventually(async () => expect(await stateOf(id)).toBe('CANCELLED'));
    expect((await job(id))?.errorMessage).toBe('not needed');
  });

  it('a job persisted but never submitted (lost doorbell) is picked up by its due time', async () => {
    await startRawWorker(bus, stores, { id: 'w', topics: ['job.echo'] });
    const request = create(JobRequestSchema, { jobId: 'lost-1', topic: 'job.echo', tenantId: 'default' });
    await stores.jobs.create({ id: 'lost-1', tenant: 'default', topic: 'job.echo', data: { request: encodeRequest(request) }, dueAt: clock.now() + 10_000 });
    await scheduler.tick();
    expect(await stateOf('lost-1')).toBe('PENDING');
    clock.advance(10_000);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf('lost-1')).toBe('SUCCEEDED'));
  });
});

describe('output policy', () => {
  it('REDACT swaps the result pointer; QUARANTINE sends the job to the DLQ; an outage makes the result wait', async () => {
    await scheduler.stop();
    let mode: 'redact' | 'quarantine' | 'down' = 'redact';
    const checks: OutputCheckRequest[] = [];
    scheduler = await startScheduler(bus, stores, {
      pdp,
      clock,
      // Only a prefix travels to the output policy; it is told the whole size.
      scheduler: { ...MANUAL, outputCheckMaxBytes: 16 },
      outputPolicy: {
        checkOutput(req) {
          checks.push(req);
          if (mode === 'down') return Promise.reject(new RetryableError('kernel down', { code: 'safety_unavailable' }));
          return Promise.resolve(
            create(OutputCheckResponseSchema, mode === 'redact'
              ? { decision: OutputDecision.REDACT, redactedPtr: `redis://res:${req.jobId}:redacted` }
              : { decision: OutputDecision.QUARANTINE, reason: 'contains a private key' }),
          );
        },
      },
    });
    await startRawWorker(bus, stores, { id: 'w', topics: ['job.echo'], reply: () => ({ status: JobStatus.SUCCEEDED, result: { secret: 'AKIA...' } }) });
    const redacted = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect(await stateOf(redacted)).toBe('SUCCEEDED'));
    expect((await job(redacted))?.resultPtr).toBe(`redis://res:${redacted}:redacted`);
    expect(new TextDecoder().decode(checks[0]!.outputContent)).toContain('AKIA');
    expect(checks[0]!.outputContent.byteLength).toBe(16);
    expect(checks[0]!.outputSizeBytes).toBe(BigInt(JSON.stringify({ secret: 'AKIA...' }).length));

    mode = 'quarantine';
    const quarantined = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect(await stateOf(quarantined)).toBe('FAILED'));
    await eventually(async () => expect(await stores.dlq.get('default', quarantined)).toMatchObject({ reasonCode: 'output_quarantined' }));

    mode = 'down';
    const waiting = await submitRaw(bus, stores, { topic: 'job.echo' });
    await eventually(async () => expect((await job(waiting))?.waitReason).toBe('safety_unavailable'));
    expect(await stateOf(waiting)).toBe('DISPATCHED');
    mode = 'redact';
    clock.advance(60_000);
    await scheduler.tick();
    await eventually(async () => expect(await stateOf(waiting)).toBe('SUCCEEDED'));
  });
});

async function requestOf(id: string) {
  const { decodeRequest } = await import('./engine.js');
  return decodeRequest((await job(id))!);
}
