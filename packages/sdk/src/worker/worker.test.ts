import { generateKeyPairSync } from 'node:crypto';
import type { Bus } from '@cordum/bus';
import { createMemoryBus } from '@cordum/bus/memory';
import {
  DeniedError,
  InvalidError,
  RetryableError,
  TerminalError,
  createManualClock,
  isCordumError,
} from '@cordum/core';
import {
  CANCEL_ATTEMPT_HEADER,
  ComponentRole,
  ErrorCode,
  JobStatus,
  Subjects,
  createPacketVerifier,
  decodePacket,
  encodePacket,
  newPacket,
  verifyPacketSignature,
} from '@cordum/protocol';
import { type Stores } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import { eventually } from '@cordum/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type Client } from '../client/client.js';
import { dispatch, record, startRelay } from '../harness.fixture.js';
import { SDK_VERSION_STRING } from '../version.js';
import { JobAbortedError } from './abort.js';
import type { JobContext, JobHandler, Worker, WorkerOptions } from './types.js';
import { createWorker } from './worker.js';

const TOPIC = 'job.test.echo';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves when the signal aborts, rejecting with its reason (what a cooperative handler does). */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason as Error);
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}

/** A promise the test resolves by hand. */
function gate(): { promise: Promise<void>; open(): void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

type Env = { bus: Bus; stores: Stores; worker: Worker; client: Client };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function setup(
  handler: JobHandler,
  overrides: Partial<WorkerOptions> = {},
  env: { bus?: Bus; clientSigningKey?: Parameters<typeof createClient>[0]['signing'] } = {},
): Promise<Env> {
  const bus = env.bus ?? createMemoryBus();
  const stores = createMemoryStores();
  const worker = createWorker({
    bus,
    workerId: 'w1',
    topics: [TOPIC],
    handler,
    pointers: stores.pointers,
    artifacts: stores.artifacts,
    heartbeatIntervalMs: 60_000,
    ...overrides,
  });
  const client = createClient({
    bus,
    pointers: stores.pointers,
    senderId: 'test-client',
    tenantId: 'acme',
    ...(env.clientSigningKey === undefined ? {} : { signing: env.clientSigningKey }),
  });
  const relay = await startRelay(bus);
  cleanups.push(async () => {
    await worker.drain(0);
    await relay.stop();
    await client.close();
    await bus.close();
  });
  await worker.start();
  return { bus, stores, worker, client };
}

describe('worker: submit → run → result', () => {
  it('round-trips JSON through the pointers and reports SUCCEEDED with the request trace id', async () => {
    let seen: JobContext | undefined;
    const { client, stores } = await setup(async (ctx) => {
      seen = ctx;
      const input = await ctx.json<{ n: number }>();
      return { result: { doubled: input.n * 2 } };
    });
    const outcome = await client.run({
      topic: TOPIC,
      input: { n: 21 },
      jobId: 'job-1',
      traceId: 'trace-abc',
      labels: { team: 'blue' },
      env: { MODE: 'fast' },
    });
    expect(outcome).toMatchObject({
      jobId: 'job-1',
      status: JobStatus.SUCCEEDED,
      resultPtr: 'redis://res:job-1',
      result: { doubled: 42 },
      contentType: 'application/json',
      workerId: 'w1',
      traceId: 'trace-abc',
      errorCode: ErrorCode.UNSPECIFIED,
      errorMessage: '',
    });
    expect(outcome.executionMs).toBeGreaterThanOrEqual(0);
    expect(seen).toMatchObject({
      jobId: 'job-1',
      topic: TOPIC,
      traceId: 'trace-abc',
      tenantId: 'acme',
      attempt: 1,
      labels: { team: 'blue' },
      env: { MODE: 'fast' },
    });
    // The output belongs to the job's tenant.
    expect((await stores.pointers.get('redis://res:job-1'))?.tenant).toBe('acme');
  });

  it('stores bytes results as octet-stream and reports no pointer when there is no result', async () => {
    const { client } = await setup((ctx) => (ctx.jobId === 'bytes' ? { result: new Uint8Array([1, 2, 3]) } : undefined));
    const bytes = await client.run({ topic: TOPIC, input: 'x', jobId: 'bytes' });
    expect(bytes.status).toBe(JobStatus.SUCCEEDED);
    expect(bytes.contentType).toBe('application/octet-stream');
    expect(bytes.result).toEqual(new Uint8Array([1, 2, 3]));
    const none = await client.run({ topic: TOPIC, input: 'x', jobId: 'none' });
    expect(none).toMatchObject({ status: JobStatus.SUCCEEDED, resultPtr: '', result: undefined });
  });

  it('publishes the result only after the result pointer is readable (store first, then doorbell)', async () => {
    const { bus, client, stores } = await setup(() => ({ result: { ok: true } }));
    const readable: boolean[] = [];
    const sub = await bus.subscribe(Subjects.jobResult, async (msg) => {
      const packet = decodePacket(msg.data);
      if (packet.payload.case === 'jobResult') {
        readable.push((await stores.pointers.get(packet.payload.value.resultPtr)) !== undefined);
      }
    });
    cleanups.push(() => sub.drain());
    await client.run({ topic: TOPIC, input: {}, jobId: 'ordered' });
    await eventually(() => expect(readable).toEqual([true]));
  });

  it('copies the result onto <topic>.result when asked to', async () => {
    const { bus, client } = await setup(() => ({ result: 1 }), { publishTopicResults: true });
    const copies = await record(bus, `${TOPIC}.result`);
    cleanups.push(() => copies.stop());
    await client.run({ topic: TOPIC, input: {}, jobId: 'copied' });
    await eventually(() => expect(copies.packets).toHaveLength(1));
    const copy = copies.packets[0]!;
    expect(copy.payload.case === 'jobResult' && copy.payload.value.jobId).toBe('copied');
  });

  it('reports artifacts written through the context', async () => {
    const { client, stores } = await setup(async (ctx) => {
      const ptr = await ctx.writeArtifact('log line', { retention: 'short' });
      return { result: { ptr } };
    });
    const outcome = await client.run({ topic: TOPIC, input: {}, jobId: 'arts' });
    expect(outcome.artifactPtrs).toHaveLength(1);
    const ptr = outcome.artifactPtrs[0]!;
    expect(outcome.result).toEqual({ ptr });
    const stored = await stores.artifacts.get('acme', ptr);
    expect(new TextDecoder().decode(stored!.content)).toBe('log line');
    expect(stored!.meta).toMatchObject({ retention: 'short', labels: { job_id: 'arts' } });
  });
});

describe('worker: artifact budget', () => {
  it('enforces CORDUM_MAX_ARTIFACT_BYTES (a policy constraint) across a job’s artifact writes', async () => {
    const written: string[] = [];
    const { bus, client } = await setup(async (ctx) => {
      written.push(await ctx.writeArtifact('12345'));
      written.push(await ctx.writeArtifact(new Uint8Array(5)));
      await ctx.writeArtifact('x');
      return { result: 'never' };
    });
    const done = client.waitForResult('budget');
    await dispatch(bus, TOPIC, { jobId: 'budget', topic: TOPIC, env: { CORDUM_MAX_ARTIFACT_BYTES: '10' } });
    const outcome = await done;
    expect(outcome).toMatchObject({ status: JobStatus.FAILED_FATAL, errorCodeText: 'payload_too_large' });
    expect(outcome.errorMessage).toContain('artifact budget exceeded: 11 bytes');
    expect(written).toHaveLength(2);
  });
});

describe('worker: errors → status', () => {
  const cases: { name: string; error: () => unknown; status: JobStatus; code: ErrorCode; text: string; message: string }[] = [
    { name: 'TerminalError', error: () => new TerminalError('gave up'), status: JobStatus.FAILED_FATAL, code: ErrorCode.UNSPECIFIED, text: 'internal', message: 'gave up' },
    { name: 'InvalidError', error: () => new InvalidError('bad field'), status: JobStatus.FAILED_FATAL, code: ErrorCode.JOB_INVALID_INPUT, text: 'JOB_INVALID_INPUT', message: 'bad field' },
    { name: 'DeniedError', error: () => new DeniedError('no', { code: 'permission_denied' }), status: JobStatus.FAILED_FATAL, code: ErrorCode.JOB_PERMISSION_DENIED, text: 'JOB_PERMISSION_DENIED', message: 'no' },
    { name: 'RetryableError', error: () => new RetryableError('later'), status: JobStatus.FAILED_RETRYABLE, code: ErrorCode.UNSPECIFIED, text: 'unavailable', message: 'later' },
    { name: 'RetryableError(timeout)', error: () => new RetryableError('slow', { code: 'timeout' }), status: JobStatus.FAILED_RETRYABLE, code: ErrorCode.JOB_TIMEOUT, text: 'JOB_TIMEOUT', message: 'slow' },
    { name: 'a plain Error', error: () => new Error('boom'), status: JobStatus.FAILED, code: ErrorCode.UNSPECIFIED, text: '', message: 'boom' },
    { name: 'a thrown string', error: () => 'not an error', status: JobStatus.FAILED, code: ErrorCode.UNSPECIFIED, text: '', message: 'not an error' },
  ];
  for (const c of cases) {
    it(`${c.name} → ${JobStatus[c.status]}`, async () => {
      const { client } = await setup(() => {
        throw c.error();
      });
      const outcome = await client.run({ topic: TOPIC, input: {}, jobId: 'err' });
      expect(outcome).toMatchObject({ status: c.status, errorCode: c.code, errorCodeText: c.text, errorMessage: c.message, resultPtr: '' });
    });
  }

  it('malformed JSON input → FAILED_FATAL JOB_INVALID_INPUT', async () => {
    const { client } = await setup(async (ctx) => ({ result: await ctx.json() }));
    const outcome = await client.run({ topic: TOPIC, input: new TextEncoder().encode('{nope'), contentType: 'application/json', jobId: 'bad-json' });
    expect(outcome).toMatchObject({ status: JobStatus.FAILED_FATAL, errorCode: ErrorCode.JOB_INVALID_INPUT });
  });

  it('an expired input pointer → FAILED_FATAL JOB_INVALID_INPUT naming the pointer', async () => {
    const { bus, client } = await setup(async (ctx) => ({ result: await ctx.json() }));
    const waiting = client.waitForResult('lost-input', { timeoutMs: 5000 });
    await sleep(5);
    await dispatch(bus, TOPIC, { jobId: 'lost-input', topic: TOPIC, contextPtr: 'redis://ctx:lost-input', tenantId: 'acme' });
    const outcome = await waiting;
    expect(outcome.status).toBe(JobStatus.FAILED_FATAL);
    expect(outcome.errorCode).toBe(ErrorCode.JOB_INVALID_INPUT);
    expect(outcome.errorMessage).toContain('redis://ctx:lost-input');
  });

  it('retries RetryableError in process up to retries.max, then succeeds', async () => {
    let calls = 0;
    const { client } = await setup(
      () => {
        calls++;
        if (calls < 3) throw new RetryableError('flaky');
        return { result: calls };
      },
      { retries: { max: 2, initialMs: 1, maxMs: 5 } },
    );
    const outcome = await client.run({ topic: TOPIC, input: {}, jobId: 'flaky' });
    expect(outcome).toMatchObject({ status: JobStatus.SUCCEEDED, result: 3 });
    expect(calls).toBe(3);
  });

  it('reports FAILED_RETRYABLE once the in-process retries are spent, and never retries other errors', async () => {
    let calls = 0;
    const { client } = await setup(
      (ctx) => {
        calls++;
        if (ctx.jobId === 'fatal') throw new TerminalError('no');
        throw new RetryableError('still down');
      },
      { retries: { max: 2, initialMs: 1, maxMs: 5 } },
    );
    expect((await client.run({ topic: TOPIC, input: {}, jobId: 'down' })).status).toBe(JobStatus.FAILED_RETRYABLE);
    expect(calls).toBe(3);
    calls = 0;
    expect((await client.run({ topic: TOPIC, input: {}, jobId: 'fatal' })).status).toBe(JobStatus.FAILED_FATAL);
    expect(calls).toBe(1);
  });

  it('hands the job back at once when the retry hint exceeds retries.maxMs', async () => {
    let calls = 0;
    const { client } = await setup(
      () => {
        calls++;
        throw new RetryableError('come back in a minute', { retryAfterMs: 60_000 });
      },
      { retries: { max: 3, initialMs: 1, maxMs: 100 } },
    );
    const outcome = await client.run({ topic: TOPIC, input: {}, jobId: 'later', timeoutMs: 2000 });
    expect(outcome.status).toBe(JobStatus.FAILED_RETRYABLE);
    expect(calls).toBe(1);
  });
});

describe('worker: concurrency', () => {
  it('never runs more than `concurrency` handlers across all its subjects; excess deliveries wait', async () => {
    let running = 0;
    let peak = 0;
    const release = gate();
    const { bus, client, worker } = await setup(
      async () => {
        running++;
        peak = Math.max(peak, running);
        await release.promise;
        running--;
        return { result: 'done' };
      },
      { topics: ['job.test.a', 'job.test.b'], concurrency: 2 },
    );
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    const waits = ids.map((id) => client.waitForResult(id, { timeoutMs: 5000 }));
    await sleep(5);
    await Promise.all([
      client.submit({ topic: 'job.test.a', input: {}, jobId: 'c1' }),
      client.submit({ topic: 'job.test.b', input: {}, jobId: 'c2' }),
      client.submit({ topic: 'job.test.a', input: {}, jobId: 'c3' }),
      client.submit({ topic: 'job.test.b', input: {}, jobId: 'c4' }),
      dispatch(bus, 'worker.w1.jobs', { jobId: 'c5', topic: 'job.test.a' }),
      dispatch(bus, 'worker.w1.jobs', { jobId: 'c6', topic: 'job.test.b' }),
    ]);
    await eventually(() => expect(worker.stats()).toMatchObject({ activeJobs: 2 }));
    await sleep(30);
    expect(running).toBe(2);
    expect(worker.stats().queuedJobs).toBeGreaterThan(0);
    release.open();
    const outcomes = await Promise.all(waits);
    expect(outcomes.every((o) => o.status === JobStatus.SUCCEEDED)).toBe(true);
    expect(peak).toBe(2);
  });
});

describe('worker: cancel and deadline', () => {
  it('JobCancel aborts the handler signal with the reason, and the result is CANCELLED', async () => {
    let reason: unknown;
    const started = gate();
    const { client } = await setup(async (ctx) => {
      started.open();
      try {
        return await untilAborted(ctx.signal);
      } catch (err) {
        reason = err;
        throw err;
      }
    });
    const { jobId } = await client.submit({ topic: TOPIC, input: {}, jobId: 'to-cancel' });
    await started.promise;
    await client.cancel(jobId, { reason: 'user changed their mind', requestedBy: 'alice' });
    const outcome = await client.waitForResult(jobId);
    expect(outcome).toMatchObject({ status: JobStatus.CANCELLED, errorMessage: 'user changed their mind', errorCodeText: 'cancelled' });
    expect(reason).toBeInstanceOf(JobAbortedError);
    expect(reason).toMatchObject({ kind: 'cancelled', requestedBy: 'alice' });
  });

  it('a job cancelled while waiting for a slot never starts', async () => {
    const started: string[] = [];
    const release = gate();
    // Two topics: the second job reaches the worker (its own subscription has room) and waits for the slot.
    const { client, worker } = await setup(
      async (ctx) => {
        started.push(ctx.jobId);
        await release.promise;
      },
      { concurrency: 1, topics: ['job.test.a', 'job.test.b'] },
    );
    await client.submit({ topic: 'job.test.a', input: {}, jobId: 'first' });
    await client.submit({ topic: 'job.test.b', input: {}, jobId: 'second' });
    await eventually(() => expect(worker.stats()).toMatchObject({ activeJobs: 1, queuedJobs: 1 }));
    await client.cancel('second');
    expect((await client.waitForResult('second')).status).toBe(JobStatus.CANCELLED);
    release.open();
    expect((await client.waitForResult('first')).status).toBe(JobStatus.SUCCEEDED);
    expect(started).toEqual(['first']);
  });

  it('a job cancelled before it was delivered (still buffered, or overtaken by its cancel) never starts', async () => {
    const started: string[] = [];
    const release = gate();
    const { bus, client } = await setup(
      async (ctx) => {
        started.push(ctx.jobId);
        await release.promise;
      },
      { concurrency: 1 },
    );
    await client.submit({ topic: TOPIC, input: {}, jobId: 'running' });
    // Held in the subscription's buffer: the only slot is busy.
    await client.submit({ topic: TOPIC, input: {}, jobId: 'buffered' });
    await eventually(() => expect(started).toEqual(['running']));
    await client.cancel('buffered', { reason: 'not needed' });
    // The cancel overtakes the dispatch entirely.
    await client.cancel('overtaken');
    const overtaken = client.waitForResult('overtaken');
    await sleep(5);
    await dispatch(bus, TOPIC, { jobId: 'overtaken', topic: TOPIC });
    release.open();
    expect(await client.waitForResult('buffered')).toMatchObject({ status: JobStatus.CANCELLED, errorMessage: 'not needed' });
    expect((await overtaken).status).toBe(JobStatus.CANCELLED);
    expect(started).toEqual(['running']);
  });

  it('reports an abort after abortGraceMs even when the handler ignores its signal, and keeps its slot until it returns', async () => {
    const release = gate();
    const { client, worker } = await setup(
      async () => {
        await release.promise;
        return { result: 'too late' };
      },
      { abortGraceMs: 30 },
    );
    await client.submit({ topic: TOPIC, input: {}, jobId: 'stubborn' });
    await eventually(() => expect(worker.stats().activeJobs).toBe(1));
    await client.cancel('stubborn');
    const outcome = await client.waitForResult('stubborn');
    expect(outcome.status).toBe(JobStatus.CANCELLED);
    expect(worker.stats().activeJobs).toBe(1);
    release.open();
    await eventually(() => expect(worker.stats().activeJobs).toBe(0));
  });

  it('budget.deadline_ms aborts the job → TIMEOUT / JOB_TIMEOUT', async () => {
    let deadlineAt: number | undefined;
    const { client } = await setup(async (ctx) => {
      deadlineAt = ctx.deadlineAt;
      return untilAborted(ctx.signal);
    });
    const before = Date.now();
    const outcome = await client.run({ topic: TOPIC, input: {}, jobId: 'slow', budget: { deadlineMs: 50 } });
    expect(outcome).toMatchObject({ status: JobStatus.TIMEOUT, errorCode: ErrorCode.JOB_TIMEOUT, errorCodeText: 'JOB_TIMEOUT' });
    expect(outcome.errorMessage).toContain('deadline of 50 ms');
    expect(Date.now() - before).toBeGreaterThanOrEqual(45);
    expect(deadlineAt).toBeGreaterThanOrEqual(before + 50);
  });

  it('an attempt-scoped cancel (lease expiry) stops that attempt only, never a newer one', async () => {
    const started: string[] = [];
    const release = gate();
    const { bus, client } = await setup(async (ctx) => {
      started.push(`${ctx.jobId}#${ctx.attempt}`);
      await release.promise;
      return { result: 'ok' };
    });
    const cancelAttempt = (jobId: string, attempt: number): Promise<void> =>
      bus.publish(
        Subjects.jobCancel,
        encodePacket(newPacket({ traceId: jobId, senderId: 'sched', payload: { case: 'jobCancel', value: { jobId, reason: 'attempt lease expired' } } })),
        { headers: { [CANCEL_ATTEMPT_HEADER]: String(attempt) } },
      );
    // Attempt 2 runs here; the stale cancel of attempt 1 arrives: attempt 2 goes on.
    const second = client.waitForResult('j1');
    await dispatch(bus, TOPIC, { jobId: 'j1', topic: TOPIC }, { msgId: 'j1#2' });
    await eventually(() => expect(started).toEqual(['j1#2']));
    await cancelAttempt('j1', 1);
    // A cancel of attempt 1 that arrives before anything: it refuses attempt 1 only, not a later attempt 2.
    await cancelAttempt('j2', 1);
    await sleep(5);
    const j2 = client.waitForResult('j2');
    await dispatch(bus, TOPIC, { jobId: 'j2', topic: TOPIC }, { msgId: 'j2#2' });
    release.open();
    expect((await second).status).toBe(JobStatus.SUCCEEDED);
    expect((await j2).status).toBe(JobStatus.SUCCEEDED);
    // The attempt it names is stopped, and reports nothing: the scheduler has moved on (a newer attempt, or
    // its own outcome for the job), and a CANCELLED result would tell the job's waiters it was cancelled.
    const hold = gate();
    const { bus: bus3, worker: worker3 } = await setup(async (ctx) => untilAborted(ctx.signal).finally(() => hold.open()));
    const results = await record(bus3, Subjects.jobResult);
    await dispatch(bus3, TOPIC, { jobId: 'j3', topic: TOPIC }, { msgId: 'j3#3' });
    await sleep(5);
    await bus3.publish(
      Subjects.jobCancel,
      encodePacket(newPacket({ traceId: 'j3', senderId: 'sched', payload: { case: 'jobCancel', value: { jobId: 'j3', reason: 'attempt lease expired' } } })),
      { headers: { [CANCEL_ATTEMPT_HEADER]: '3' } },
    );
    await hold.promise;
    await eventually(() => expect(worker3.stats().cancelled).toBe(1));
    // Same for an attempt whose cancel overtook its dispatch.
    await bus3.publish(
      Subjects.jobCancel,
      encodePacket(newPacket({ traceId: 'j4', senderId: 'sched', payload: { case: 'jobCancel', value: { jobId: 'j4', reason: 'attempt lease expired' } } })),
      { headers: { [CANCEL_ATTEMPT_HEADER]: '1' } },
    );
    await sleep(5);
    await dispatch(bus3, TOPIC, { jobId: 'j4', topic: TOPIC }, { msgId: 'j4#1' });
    await eventually(() => expect(worker3.stats().cancelled).toBe(2));
    await bus3.flush();
    expect(results.packets).toEqual([]);
    expect(started).toEqual(['j1#2', 'j2#2']);
  });

  it('ignores a cancel for another job', async () => {
    const release = gate();
    const { client } = await setup(async () => {
      await release.promise;
      return { result: 'fine' };
    });
    await client.submit({ topic: TOPIC, input: {}, jobId: 'keep' });
    await client.cancel('other-job');
    await sleep(20);
    release.open();
    expect((await client.waitForResult('keep')).status).toBe(JobStatus.SUCCEEDED);
  });
});

describe('worker: progress and lease keep-alive', () => {
  it('ctx.progress publishes JobProgress on sys.job.progress with trace_id = job id', async () => {
    const { bus, client } = await setup(async (ctx) => {
      await ctx.progress(49.6, 'half way');
      await ctx.progress(250);
      return { result: 'ok' };
    });
    const progress = await record(bus, Subjects.jobProgress);
    cleanups.push(() => progress.stop());
    await client.run({ topic: TOPIC, input: {}, jobId: 'prog' });
    await eventually(() => expect(progress.packets).toHaveLength(2));
    const [first, second] = progress.packets;
    expect(first).toMatchObject({ traceId: 'prog', senderId: 'w1', protocolVersion: 1 });
    expect(first!.payload).toMatchObject({
      case: 'jobProgress',
      value: { jobId: 'prog', percent: 50, message: 'half way', status: JobStatus.RUNNING },
    });
    expect(second!.payload).toMatchObject({ value: { percent: 100 } });
  });

  it('sends a keep-alive every third of the lease (CORDUM_LEASE_MS), reset by the handler’s own progress', async () => {
    const clock = createManualClock(1_000_000);
    const release = gate();
    const started = gate();
    let ctxRef: JobContext | undefined;
    const { bus, client } = await setup(
      async (ctx) => {
        ctxRef = ctx;
        started.open();
        await release.promise;
        return { result: 'ok' };
      },
      { clock },
    );
    const progress = await record(bus, Subjects.jobProgress);
    cleanups.push(() => progress.stop());
    await client.submit({ topic: TOPIC, input: {}, jobId: 'long', env: { CORDUM_LEASE_MS: '300' } });
    await started.promise;
    await sleep(5);
    clock.advance(99);
    await sleep(10);
    expect(progress.packets).toHaveLength(0);
    clock.advance(1);
    await eventually(() => expect(progress.packets).toHaveLength(1));
    expect(progress.packets[0]!.payload).toMatchObject({ value: { jobId: 'long', percent: 0, status: JobStatus.RUNNING } });
    clock.advance(100);
    await eventually(() => expect(progress.packets).toHaveLength(2));
    // The handler's own progress at +250 moves the next keep-alive from +300 to +350.
    clock.advance(50);
    await ctxRef!.progress(40);
    expect(progress.packets).toHaveLength(3);
    clock.advance(50);
    await sleep(10);
    expect(progress.packets).toHaveLength(3);
    clock.advance(50);
    await eventually(() => expect(progress.packets).toHaveLength(4));
    expect(progress.packets[3]!.payload).toMatchObject({ value: { percent: 40 } });
    release.open();
    expect((await client.waitForResult('long')).status).toBe(JobStatus.SUCCEEDED);
    // No keep-alive after the result.
    clock.advance(1000);
    await sleep(10);
    expect(progress.packets).toHaveLength(4);
  });

  it('defaults the lease to 30 s (first keep-alive at 10 s)', async () => {
    const clock = createManualClock(0);
    const release = gate();
    const started = gate();
    const { bus, client } = await setup(
      async () => {
        started.open();
        await release.promise;
      },
      { clock },
    );
    const progress = await record(bus, Subjects.jobProgress);
    cleanups.push(() => progress.stop());
    await client.submit({ topic: TOPIC, input: {}, jobId: 'default-lease' });
    await started.promise;
    await sleep(5);
    clock.advance(9_999);
    await sleep(10);
    expect(progress.packets).toHaveLength(0);
    clock.advance(1);
    await eventually(() => expect(progress.packets).toHaveLength(1));
    release.open();
    await client.waitForResult('default-lease');
  });
});

describe('worker: heartbeats and handshake', () => {
  it('heartbeats while idle, with the worker fields, and stops at drain', async () => {
    const bus = createMemoryBus();
    const beats = await record(bus, Subjects.heartbeat);
    cleanups.push(() => beats.stop());
    const { worker } = await setup(() => undefined, {
      heartbeatIntervalMs: 20,
      concurrency: 3,
      pool: 'echo-pool',
      capabilities: ['echo', 'json'],
      labels: { zone: 'a' },
      region: 'eu-west',
      type: 'cpu',
      agentName: 'Echo Bot',
    }, { bus });
    await eventually(() => expect(beats.packets.length).toBeGreaterThanOrEqual(3));
    const beat = beats.packets[0]!;
    expect(beat).toMatchObject({ senderId: 'w1', traceId: 'w1', protocolVersion: 1 });
    expect(beat.payload.case).toBe('heartbeat');
    if (beat.payload.case !== 'heartbeat') return;
    expect(beat.payload.value).toMatchObject({
      workerId: 'w1',
      pool: 'echo-pool',
      activeJobs: 0,
      maxParallelJobs: 3,
      capabilities: ['echo', 'json'],
      labels: { zone: 'a', 'cordum.direct_dispatch': 'true' },
      region: 'eu-west',
      type: 'cpu',
      agentName: 'Echo Bot',
    });
    expect(beat.payload.value.cpuLoad).toBeGreaterThanOrEqual(0);
    expect(beat.payload.value.cpuLoad).toBeLessThanOrEqual(100);
    expect(beat.payload.value.memoryLoad).toBeGreaterThan(0);
    expect(beat.payload.value.memoryLoad).toBeLessThanOrEqual(100);
    await worker.drain(100);
    const after = beats.packets.length;
    await sleep(80);
    expect(beats.packets.length).toBe(after);
  });

  it('counts running jobs in active_jobs and defaults the pool to the first topic', async () => {
    const bus = createMemoryBus();
    const beats = await record(bus, Subjects.heartbeat);
    cleanups.push(() => beats.stop());
    const release = gate();
    const { client } = await setup(async () => release.promise, { heartbeatIntervalMs: 15 }, { bus });
    await client.submit({ topic: TOPIC, input: {}, jobId: 'busy' });
    await eventually(() => {
      const last = beats.packets.at(-1)!;
      expect(last.payload.case === 'heartbeat' && last.payload.value.activeJobs).toBe(1);
    });
    const last = beats.packets.at(-1)!;
    expect(last.payload.case === 'heartbeat' && last.payload.value.pool).toBe(TOPIC);
    release.open();
    await client.waitForResult('busy');
  });

  it('announces itself with a Handshake on start', async () => {
    const bus = createMemoryBus();
    const hs = await record(bus, Subjects.handshake);
    cleanups.push(() => hs.stop());
    await setup(() => undefined, { topics: [TOPIC, 'job.test.other'], agentName: 'Echo' }, { bus });
    await eventually(() => expect(hs.packets).toHaveLength(1));
    const packet = hs.packets[0]!;
    expect(packet.senderId).toBe('w1');
    expect(packet.payload.case).toBe('handshake');
    if (packet.payload.case !== 'handshake') return;
    expect(packet.payload.value).toMatchObject({
      componentId: 'w1',
      role: ComponentRole.WORKER,
      supportedVersions: [1],
      capabilities: { progress: true, cancel: true, heartbeats: true, error_codes: true },
      readyTopics: [TOPIC, 'job.test.other', 'worker.w1.jobs'],
      sdkVersion: SDK_VERSION_STRING,
      agentName: 'Echo',
    });
    expect(packet.payload.value.capabilities).not.toHaveProperty('signatures');
  });

  it('announces again when the bus reports a reconnect', async () => {
    const base = createMemoryBus();
    let reconnects = 0;
    // A decorator over the real memory bus: only status() differs, as after a NATS reconnect.
    const bus: Bus = { ...base, status: () => ({ ...base.status(), reconnects }) };
    const hs = await record(base, Subjects.handshake);
    cleanups.push(() => hs.stop());
    await setup(() => undefined, { heartbeatIntervalMs: 10 }, { bus });
    await eventually(() => expect(hs.packets).toHaveLength(1));
    await sleep(30);
    expect(hs.packets).toHaveLength(1);
    reconnects = 1;
    await eventually(() => expect(hs.packets).toHaveLength(2));
  });

  it('without direct dispatch: no direct subject, label or ready topic', async () => {
    const bus = createMemoryBus();
    const hs = await record(bus, Subjects.handshake);
    const beats = await record(bus, Subjects.heartbeat);
    cleanups.push(() => hs.stop(), () => beats.stop());
    let calls = 0;
    await setup(
      () => {
        calls++;
      },
      { directDispatch: false },
      { bus },
    );
    await eventually(() => expect(hs.packets).toHaveLength(1));
    const h = hs.packets[0]!;
    expect(h.payload.case === 'handshake' && h.payload.value.readyTopics).toEqual([TOPIC]);
    const b = beats.packets[0]!;
    expect(b.payload.case === 'heartbeat' && b.payload.value.labels).toEqual({});
    await dispatch(bus, 'worker.w1.jobs', { jobId: 'direct', topic: TOPIC });
    await sleep(30);
    expect(calls).toBe(0);
  });
});

describe('worker: delivery', () => {
  it('takes jobs on worker.<id>.jobs', async () => {
    const { bus, client } = await setup((ctx) => ({ result: { via: ctx.topic } }));
    const waiting = client.waitForResult('direct-1');
    await sleep(5);
    await dispatch(bus, 'worker.w1.jobs', { jobId: 'direct-1', topic: TOPIC, tenantId: 'acme' }, { msgId: 'direct-1#3' });
    const outcome = await waiting;
    expect(outcome).toMatchObject({ status: JobStatus.SUCCEEDED, result: { via: TOPIC }, traceId: 'trace-direct-1' });
  });

  it('hands back a direct job for a topic it does not serve (FAILED_RETRYABLE, JOB_WORKER_UNAVAILABLE)', async () => {
    let calls = 0;
    const { bus, client } = await setup(() => {
      calls++;
    });
    const waiting = client.waitForResult('misrouted');
    await sleep(5);
    await dispatch(bus, 'worker.w1.jobs', { jobId: 'misrouted', topic: 'job.other' });
    expect(await waiting).toMatchObject({ status: JobStatus.FAILED_RETRYABLE, errorCode: ErrorCode.JOB_WORKER_UNAVAILABLE });
    expect(calls).toBe(0);
  });

  it('ignores a duplicate delivery of a job id while it is running', async () => {
    let calls = 0;
    const release = gate();
    const { bus, client, worker } = await setup(async () => {
      calls++;
      await release.promise;
      return { result: calls };
    });
    const results = await record(bus, Subjects.jobResult);
    cleanups.push(() => results.stop());
    await client.submit({ topic: TOPIC, input: {}, jobId: 'dup' });
    await eventually(() => expect(calls).toBe(1));
    await dispatch(bus, TOPIC, { jobId: 'dup', topic: TOPIC });
    await dispatch(bus, 'worker.w1.jobs', { jobId: 'dup', topic: TOPIC });
    await eventually(() => expect(worker.stats().duplicates).toBe(2));
    release.open();
    expect((await client.waitForResult('dup')).result).toBe(1);
    await sleep(20);
    expect(calls).toBe(1);
    expect(results.packets).toHaveLength(1);
    // Once it is over, a new delivery (a new attempt) runs again: delivery is at-least-once.
    await dispatch(bus, TOPIC, { jobId: 'dup', topic: TOPIC });
    await eventually(() => expect(results.packets).toHaveLength(2));
    expect(calls).toBe(2);
  });

  it('rejects a packet of another protocol version with a structured result, and drops what it cannot read', async () => {
    let calls = 0;
    const { bus, worker } = await setup(() => {
      calls++;
    });
    const results = await record(bus, Subjects.jobResult);
    cleanups.push(() => results.stop());
    await dispatch(bus, TOPIC, { jobId: 'v2', topic: TOPIC }, {
      mutate: (p) => {
        p.protocolVersion = 2;
        return p;
      },
    });
    await eventually(() => expect(results.packets).toHaveLength(1));
    const r = results.packets[0]!;
    expect(r.traceId).toBe('trace-v2');
    expect(r.payload).toMatchObject({
      case: 'jobResult',
      value: {
        jobId: 'v2',
        status: JobStatus.FAILED_FATAL,
        errorCodeEnum: ErrorCode.PROTOCOL_VERSION_MISMATCH,
        errorCode: 'PROTOCOL_VERSION_MISMATCH',
        workerId: 'w1',
      },
    });
    await bus.publish(TOPIC, new Uint8Array([0xff, 0xff, 0xff]));
    const notAJob = newPacket({ traceId: 't', senderId: 's', payload: { case: 'jobCancel', value: { jobId: 'x' } } });
    await bus.publish(TOPIC, encodePacket(notAJob));
    await eventually(() => expect(worker.stats().rejected).toBe(3));
    await sleep(20);
    expect(results.packets).toHaveLength(1);
    expect(calls).toBe(0);
  });
});

describe('worker: drain', () => {
  it('waits for running jobs, hands back queued ones, aborts stragglers at the timeout, and leaves the bus open', async () => {
    const aborted: unknown[] = [];
    const { bus, client, worker } = await setup(
      async (ctx) => {
        if (ctx.jobId === 'quick') {
          await sleep(40);
          return { result: 'quick done' };
        }
        try {
          return await untilAborted(ctx.signal);
        } catch (err) {
          aborted.push(err);
          throw err;
        }
      },
      { concurrency: 2 },
    );
    await client.submit({ topic: TOPIC, input: {}, jobId: 'quick' });
    await client.submit({ topic: TOPIC, input: {}, jobId: 'endless' });
    await client.submit({ topic: TOPIC, input: {}, jobId: 'queued' });
    // 'queued' waits in the subscription's buffer (its concurrency is the worker's): drain hands it back.
    await eventually(() => expect(worker.stats()).toMatchObject({ activeJobs: 2 }));
    const before = Date.now();
    const drained = worker.drain(150);
    expect(worker.stats().state).toBe('draining');
    const queued = await client.waitForResult('queued');
    expect(queued).toMatchObject({ status: JobStatus.FAILED_RETRYABLE, errorCode: ErrorCode.JOB_WORKER_UNAVAILABLE });
    expect((await client.waitForResult('quick')).status).toBe(JobStatus.SUCCEEDED);
    await drained;
    expect(Date.now() - before).toBeGreaterThanOrEqual(140);
    const endless = await client.waitForResult('endless');
    expect(endless).toMatchObject({ status: JobStatus.FAILED_RETRYABLE, errorCode: ErrorCode.JOB_WORKER_UNAVAILABLE });
    expect(endless.errorMessage).toContain('drain timeout');
    expect(aborted).toHaveLength(1);
    expect(aborted[0]).toMatchObject({ kind: 'shutdown' });
    expect(worker.stats().state).toBe('stopped');
    // Unsubscribed: a new job is not taken. The bus is the caller's and still works.
    const results = await record(bus, Subjects.jobResult);
    cleanups.push(() => results.stop());
    await dispatch(bus, TOPIC, { jobId: 'after', topic: TOPIC });
    await sleep(30);
    expect(results.packets).toHaveLength(0);
    expect(bus.status().connected).toBe(true);
    // Idempotent.
    await worker.drain(0);
  });

  it('resolves as soon as running jobs finish when they beat the timeout', async () => {
    const { client, worker } = await setup(async () => {
      await sleep(30);
      return { result: 1 };
    });
    await client.submit({ topic: TOPIC, input: {}, jobId: 'fast' });
    await eventually(() => expect(worker.stats().activeJobs).toBe(1));
    const before = Date.now();
    await worker.drain(10_000);
    expect(Date.now() - before).toBeLessThan(2000);
    expect((await client.waitForResult('fast')).status).toBe(JobStatus.SUCCEEDED);
  });
});

describe('worker: signing', () => {
  const keys = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

  it('signs every outgoing packet and says so in the handshake', async () => {
    const workerKey = keys();
    const bus = createMemoryBus();
    const results = await record(bus, Subjects.jobResult);
    const hs = await record(bus, Subjects.handshake);
    cleanups.push(() => results.stop(), () => hs.stop());
    const { client } = await setup(() => ({ result: 1 }), { signing: { privateKey: workerKey.privateKey } }, { bus });
    await client.run({ topic: TOPIC, input: {}, jobId: 'signed' });
    await eventually(() => expect(results.packets).toHaveLength(1));
    expect(verifyPacketSignature(results.packets[0]!, workerKey.publicKey)).toBe(true);
    const h = hs.packets[0]!;
    expect(verifyPacketSignature(h, workerKey.publicKey)).toBe(true);
    expect(h.payload.case === 'handshake' && h.payload.value.capabilities['signatures']).toBe(true);
  });

  it('with a verifier: drops unsigned requests, runs signed ones', async () => {
    const clientKey = keys();
    const workerKey = keys();
    const bus = createMemoryBus();
    let calls = 0;
    const { worker, stores } = await setup(
      () => {
        calls++;
        return { result: 'ran' };
      },
      {
        signing: {
          privateKey: workerKey.privateKey,
          verifier: createPacketVerifier({ keys: { 'signed-client': clientKey.publicKey } }),
        },
      },
      { bus },
    );
    const unsigned = createClient({ bus, pointers: stores.pointers, senderId: 'signed-client', tenantId: 'acme' });
    const signed = createClient({
      bus,
      pointers: stores.pointers,
      senderId: 'signed-client',
      tenantId: 'acme',
      signing: {
        privateKey: clientKey.privateKey,
        verifier: createPacketVerifier({ keys: { w1: workerKey.publicKey } }),
      },
    });
    cleanups.push(() => unsigned.close(), () => signed.close());
    await unsigned.submit({ topic: TOPIC, input: {}, jobId: 'unsigned' });
    await eventually(() => expect(worker.stats().rejected).toBe(1));
    await expect(unsigned.waitForResult('unsigned', { timeoutMs: 50 })).rejects.toMatchObject({ code: 'timeout' });
    expect(calls).toBe(0);
    const ok = await signed.run({ topic: TOPIC, input: {}, jobId: 'signed-ok' });
    expect(ok).toMatchObject({ status: JobStatus.SUCCEEDED, result: 'ran' });
    // The verifying client ignores a forged (unsigned) result; the plain one takes it.
    const forgedSeenByPlain = unsigned.waitForResult('forged', { timeoutMs: 2000 });
    const forgedSeenBySigned = signed.waitForResult('forged', { timeoutMs: 100 });
    await sleep(5);
    const forged = newPacket({
      traceId: 'forged',
      senderId: 'w1',
      payload: { case: 'jobResult', value: { jobId: 'forged', status: JobStatus.FAILED_FATAL, workerId: 'w1' } },
    });
    await bus.publish(Subjects.jobResult, encodePacket(forged));
    expect((await forgedSeenByPlain).status).toBe(JobStatus.FAILED_FATAL);
    await expect(forgedSeenBySigned).rejects.toMatchObject({ code: 'timeout' });
    expect(calls).toBe(1);
  });

  it('refuses a key that is not EC P-256', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const stores = createMemoryStores();
    expect(() =>
      createWorker({
        bus: createMemoryBus(),
        workerId: 'w1',
        topics: [TOPIC],
        handler: () => undefined,
        pointers: stores.pointers,
        signing: { privateKey: rsa.privateKey },
      }),
    ).toThrow(/P-256/);
  });
});

describe('worker: options', () => {
  it('reports every bad option at once', () => {
    const stores = createMemoryStores();
    try {
      createWorker({
        bus: createMemoryBus(),
        workerId: 'has space',
        topics: ['bad..topic'],
        handler: () => undefined,
        pointers: stores.pointers,
        concurrency: 0,
        heartbeatIntervalMs: -1,
      });
      expect.unreachable();
    } catch (err) {
      expect(isCordumError(err) && err.code).toBe('config_invalid');
      const problems = (err as InvalidError).details['problems'] as string[];
      expect(problems).toHaveLength(4);
    }
  });

  it('cannot start twice', async () => {
    const { worker } = await setup(() => undefined);
    await expect(worker.start()).rejects.toThrow(/already started/);
  });
});
