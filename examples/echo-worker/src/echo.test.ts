import { createMemoryBus } from '@cordum/bus/memory';
import { createSilentLogger } from '@cordum/core';
import { JobStatus, Subjects, decodePacket } from '@cordum/protocol';
import { createClient } from '@cordum/sdk';
import { createMemoryStores } from '@cordum/store/memory';
import { afterEach, describe, expect, it } from 'vitest';
import { loadEchoConfig } from './config.js';
import { DEMO_TOPICS, cordumWorker } from './demo-worker.js';
import { createEchoHandler, createEchoWorker } from './echo.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

describe('echo worker (in process, memory bus and stores)', () => {
  it('echoes JSON and text inputs with the job id and the receive time', async () => {
    const bus = createMemoryBus();
    const stores = createMemoryStores();
    // No scheduler here: forward each submitted request to its topic, as the scheduler's dispatch would.
    await bus.subscribe(Subjects.jobSubmit, async (msg) => {
      const packet = decodePacket(msg.data);
      if (packet.payload.case === 'jobRequest') await bus.publish(packet.payload.value.topic, msg.data);
    });
    const worker = createEchoWorker({ bus, pointers: stores.pointers, workerId: 'echo-test', heartbeatIntervalMs: 60_000 });
    const client = createClient({ bus, pointers: stores.pointers, senderId: 'echo-test-client', tenantId: 'demo' });
    cleanups.push(async () => {
      await worker.drain(1000);
      await client.close();
      await bus.close();
    });
    await worker.start();

    const before = Date.now();
    const json = await client.run({ topic: 'job.echo', input: { hello: 'world' }, jobId: 'echo-1' });
    expect(json.status).toBe(JobStatus.SUCCEEDED);
    expect(json.result).toMatchObject({ echo: { hello: 'world' }, job_id: 'echo-1' });
    const receivedAt = Date.parse((json.result as { received_at: string }).received_at);
    expect(receivedAt).toBeGreaterThanOrEqual(before - 1);

    const text = await client.run({ topic: 'job.echo', input: new TextEncoder().encode('plain words'), jobId: 'echo-2' });
    expect(text.result).toMatchObject({ echo: 'plain words', job_id: 'echo-2' });
  });

  it('createEchoHandler is a plain handler: a clock can be injected', async () => {
    const handler = createEchoHandler({ now: () => Date.UTC(2026, 0, 2, 3, 4, 5) });
    const bytes = new TextEncoder().encode('[1,2]');
    const output = await handler({
      jobId: 'j',
      input: () => Promise.resolve(bytes),
      logger: { debug: () => undefined },
    } as unknown as Parameters<typeof handler>[0]);
    expect(output).toEqual({ result: { echo: [1, 2], job_id: 'j', received_at: '2026-01-02T03:04:05.000Z' } });
  });
});

describe('echo worker on several topics', () => {
  it('serves every topic given (the demo worker module: job.demo.echo and job.demo.approval in pool demo)', async () => {
    const bus = createMemoryBus();
    const stores = createMemoryStores();
    await bus.subscribe(Subjects.jobSubmit, async (msg) => {
      const packet = decodePacket(msg.data);
      if (packet.payload.case === 'jobRequest') await bus.publish(packet.payload.value.topic, msg.data);
    });
    const worker = cordumWorker({ bus, pointers: stores.pointers, artifacts: stores.artifacts, logger: createSilentLogger(), workerId: 'demo-1' });
    const client = createClient({ bus, pointers: stores.pointers, senderId: 'echo-test-client', tenantId: 'demo' });
    cleanups.push(async () => {
      await worker.drain(1000);
      await client.close();
      await bus.close();
    });
    await worker.start();
    expect(DEMO_TOPICS).toEqual(['job.demo.echo', 'job.demo.approval']);
    for (const topic of DEMO_TOPICS) {
      const out = await client.run({ topic, input: { topic } });
      expect(out).toMatchObject({ status: JobStatus.SUCCEEDED, workerId: 'demo-1' });
      expect(out.result).toMatchObject({ echo: { topic } });
    }
  });
});

describe('echo worker config', () => {
  it('has working defaults and reads overrides', () => {
    const defaults = loadEchoConfig({});
    expect(defaults).toMatchObject({
      natsUrl: 'nats://127.0.0.1:4222',
      redisUrl: 'redis://127.0.0.1:6379',
      topic: 'job.echo',
      concurrency: 4,
      heartbeatIntervalMs: 5000,
      drainTimeoutMs: 30_000,
    });
    expect(defaults.workerId).toMatch(/^echo-[A-Za-z0-9_-]+-\d+$/);
    const custom = loadEchoConfig({ NATS_URL: 'nats://nats:4222', WORKER_ID: 'echo-7', WORKER_CONCURRENCY: '16', WORKER_DRAIN_TIMEOUT: '1m' });
    expect(custom).toMatchObject({ natsUrl: 'nats://nats:4222', workerId: 'echo-7', concurrency: 16, drainTimeoutMs: 60_000 });
    expect(() => loadEchoConfig({ WORKER_CONCURRENCY: 'lots' })).toThrow(/WORKER_CONCURRENCY/);
    expect(defaults.topics).toEqual(['job.echo']);
    expect(loadEchoConfig({ ECHO_TOPIC: 'job.a, job.b,' })).toMatchObject({ topic: 'job.a, job.b,', topics: ['job.a', 'job.b'] });
  });
});
