import type { Bus, BusMessage } from '@cordum/bus';
import { createMemoryBus } from '@cordum/bus/memory';
import { isCordumError } from '@cordum/core';
import {
  ActorType,
  ErrorCode,
  JobPriority,
  JobStatus,
  Subjects,
  decodePacket,
  encodePacket,
  newPacket,
} from '@cordum/protocol';
import type { Stores } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import { eventually } from '@cordum/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Client, createClient, isJsonType } from './client.js';

let bus: Bus;
let stores: Stores;
let client: Client;

beforeEach(() => {
  bus = createMemoryBus();
  stores = createMemoryStores();
  client = createClient({ bus, pointers: stores.pointers, senderId: 'cli-1', tenantId: 'acme' });
});
afterEach(async () => {
  await client.close();
  await bus.close();
});

/** Publishes a JobResult as a worker would. */
async function publishResult(jobId: string, status: JobStatus, extra: { resultPtr?: string; errorCode?: string; errorCodeEnum?: ErrorCode; errorMessage?: string } = {}): Promise<void> {
  const packet = newPacket({
    traceId: `t-${jobId}`,
    senderId: 'w9',
    payload: { case: 'jobResult', value: { jobId, status, workerId: 'w9', executionMs: 12n, artifactPtrs: ['redis://art:a1'], ...extra } },
  });
  await bus.publish(Subjects.jobResult, encodePacket(packet));
}

describe('client.submit', () => {
  it('writes the input behind a context pointer, then publishes the JobRequest with msg-id jobreq:<id>', async () => {
    const seen: BusMessage[] = [];
    await bus.subscribe(Subjects.jobSubmit, (m) => {
      seen.push(m);
    });
    const submitted = await client.submit({
      topic: 'job.demo',
      input: { hello: 'world' },
      jobId: 'j-1',
      traceId: 'tr-1',
      labels: { l: '1' },
      env: { E: 'x' },
      priority: JobPriority.CRITICAL,
      meta: { actorId: 'alice', actorType: ActorType.HUMAN, capability: 'demo', riskTags: ['read'], requires: ['gpu'], packId: 'p1', idempotencyKey: 'k1' },
      budget: { deadlineMs: 5000, maxTotalTokens: 100 },
    });
    expect(submitted).toEqual({ jobId: 'j-1', traceId: 'tr-1', contextPtr: 'redis://ctx:j-1' });
    const stored = await stores.pointers.get('redis://ctx:j-1');
    expect(stored).toMatchObject({ tenant: 'acme', contentType: 'application/json' });
    expect(JSON.parse(new TextDecoder().decode(stored!.bytes))).toEqual({ hello: 'world' });

    await eventually(() => expect(seen).toHaveLength(1));
    expect(seen[0]!.msgId).toBe('jobreq:j-1');
    const packet = decodePacket(seen[0]!.data);
    expect(packet).toMatchObject({ traceId: 'tr-1', senderId: 'cli-1', protocolVersion: 1 });
    expect(packet.payload.case).toBe('jobRequest');
    if (packet.payload.case !== 'jobRequest') return;
    expect(packet.payload.value).toMatchObject({
      jobId: 'j-1',
      topic: 'job.demo',
      contextPtr: 'redis://ctx:j-1',
      tenantId: 'acme',
      priority: JobPriority.CRITICAL,
      labels: { l: '1' },
      env: { E: 'x' },
      meta: {
        tenantId: 'acme',
        actorId: 'alice',
        actorType: ActorType.HUMAN,
        capability: 'demo',
        riskTags: ['read'],
        requires: ['gpu'],
        packId: 'p1',
        idempotencyKey: 'k1',
      },
      budget: { deadlineMs: 5000n, maxTotalTokens: 100n, maxInputTokens: 0n },
    });
  });

  it('generates ids, and stores bytes as octet-stream', async () => {
    const submitted = await client.submit({ topic: 'job.demo', input: new Uint8Array([9, 8]) });
    expect(submitted.jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(submitted.traceId).toMatch(/^[0-9a-f]{32}$/);
    const stored = await stores.pointers.get(submitted.contextPtr);
    expect(stored).toMatchObject({ contentType: 'application/octet-stream', bytes: new Uint8Array([9, 8]) });
  });

  it('refuses bad topics, ids, inputs and budgets before writing anything', async () => {
    await expect(client.submit({ topic: 'sys.job.submit', input: {} })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(client.submit({ topic: 'job.demo', input: {}, jobId: 'a b' })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(client.submit({ topic: 'job.demo', input: () => 1, jobId: 'fn' })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(client.submit({ topic: 'job.demo', input: {}, jobId: 'neg', budget: { deadlineMs: -1 } })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    expect(await stores.pointers.get('redis://ctx:fn')).toBeUndefined();
  });

  it('validates its own options', () => {
    try {
      createClient({ bus, pointers: stores.pointers, senderId: '', tenantId: 'a:b' });
      expect.unreachable();
    } catch (err) {
      expect(isCordumError(err) && err.code).toBe('config_invalid');
    }
  });
});

describe('client.waitForResult', () => {
  it('resolves with the decoded result, codes and metadata', async () => {
    await stores.pointers.putResult('r-1', { tenant: 'acme', bytes: '{"answer":42}', contentType: 'application/json; charset=utf-8' });
    const waiting = client.waitForResult('r-1');
    await new Promise((r) => setTimeout(r, 5));
    await publishResult('r-1', JobStatus.SUCCEEDED, { resultPtr: 'redis://res:r-1' });
    expect(await waiting).toEqual({
      jobId: 'r-1',
      status: JobStatus.SUCCEEDED,
      resultPtr: 'redis://res:r-1',
      result: { answer: 42 },
      contentType: 'application/json; charset=utf-8',
      errorCode: ErrorCode.UNSPECIFIED,
      errorCodeText: '',
      errorMessage: '',
      workerId: 'w9',
      executionMs: 12,
      artifactPtrs: ['redis://art:a1'],
      traceId: 't-r-1',
    });
  });

  it('parses the legacy string code when the enum is unset', async () => {
    const waiting = client.waitForResult('legacy');
    await new Promise((r) => setTimeout(r, 5));
    await publishResult('legacy', JobStatus.FAILED, { errorCode: 'TIMEOUT', errorMessage: 'too slow' });
    expect(await waiting).toMatchObject({ status: JobStatus.FAILED, errorCode: ErrorCode.JOB_TIMEOUT, errorCodeText: 'TIMEOUT' });
  });

  it('does not miss a result that arrives between submit and wait', async () => {
    const { jobId } = await client.submit({ topic: 'job.demo', input: 1, jobId: 'fast' });
    await publishResult(jobId, JobStatus.SUCCEEDED);
    await new Promise((r) => setTimeout(r, 10));
    expect((await client.waitForResult(jobId, { timeoutMs: 100 })).status).toBe(JobStatus.SUCCEEDED);
  });

  it('times out with RetryableError(timeout), and honours an abort signal', async () => {
    await expect(client.waitForResult('never', { timeoutMs: 30 })).rejects.toMatchObject({ code: 'timeout' });
    const controller = new AbortController();
    const waiting = client.waitForResult('never', { timeoutMs: 5000, signal: controller.signal });
    controller.abort(new Error('stop waiting'));
    await expect(waiting).rejects.toThrow('stop waiting');
  });

  it('with waitForRetries, waits past FAILED_RETRYABLE for the next result', async () => {
    const patient = client.waitForResult('retried', { waitForRetries: true, timeoutMs: 2000 });
    const eager = client.waitForResult('retried', { timeoutMs: 2000 });
    await new Promise((r) => setTimeout(r, 5));
    await publishResult('retried', JobStatus.FAILED_RETRYABLE);
    expect((await eager).status).toBe(JobStatus.FAILED_RETRYABLE);
    await publishResult('retried', JobStatus.SUCCEEDED);
    expect((await patient).status).toBe(JobStatus.SUCCEEDED);
  });

  it('remembers results only for a bounded number of jobs', async () => {
    const small = createClient({ bus, pointers: stores.pointers, senderId: 'cli-2', tenantId: 'acme', maxBufferedResults: 2 });
    try {
      for (const id of ['b1', 'b2', 'b3']) await small.submit({ topic: 'job.demo', input: 1, jobId: id });
      for (const id of ['b1', 'b2', 'b3']) await publishResult(id, JobStatus.SUCCEEDED);
      await new Promise((r) => setTimeout(r, 10));
      expect((await small.waitForResult('b3', { timeoutMs: 50 })).status).toBe(JobStatus.SUCCEEDED);
      expect((await small.waitForResult('b2', { timeoutMs: 50 })).status).toBe(JobStatus.SUCCEEDED);
      // The oldest watch was dropped when the third job was submitted.
      await expect(small.waitForResult('b1', { timeoutMs: 30 })).rejects.toMatchObject({ code: 'timeout' });
    } finally {
      await small.close();
    }
  });

  it('fails pending waits when closed', async () => {
    const waiting = client.waitForResult('pending', { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 5));
    await client.close();
    await expect(waiting).rejects.toThrow(/closed/);
    await expect(client.submit({ topic: 'job.demo', input: 1 })).rejects.toThrow(/closed/);
  });
});

describe('client.cancel', () => {
  it('publishes JobCancel with trace_id = job id', async () => {
    const seen: BusMessage[] = [];
    await bus.subscribe(Subjects.jobCancel, (m) => {
      seen.push(m);
    });
    await client.cancel('j-9', { reason: 'stop' });
    await eventually(() => expect(seen).toHaveLength(1));
    const packet = decodePacket(seen[0]!.data);
    expect(packet).toMatchObject({ traceId: 'j-9', senderId: 'cli-1' });
    expect(packet.payload).toMatchObject({ case: 'jobCancel', value: { jobId: 'j-9', reason: 'stop', requestedBy: 'cli-1' } });
  });
});

describe('isJsonType', () => {
  it('knows JSON media types', () => {
    expect(isJsonType('application/json')).toBe(true);
    expect(isJsonType('Application/JSON; charset=utf-8')).toBe(true);
    expect(isJsonType('application/problem+json')).toBe(true);
    expect(isJsonType('text/plain')).toBe(false);
    expect(isJsonType('application/octet-stream')).toBe(false);
  });
});
