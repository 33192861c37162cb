import { randomBytes } from 'node:crypto';
import type { Bus } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import { JobStatus, Subjects } from '@cordum/protocol';
import type { Stores } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import { type NatsServer, type RedisServer, eventually, startNats, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from './client/client.js';
import { record, startRelay } from './harness.fixture.js';
import { createWorker } from './worker/worker.js';

// The worker runtime and the client over real NATS (core subjects) and real Redis pointers.

let nats: NatsServer;
let redis: RedisServer;
beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
});
afterAll(async () => {
  await Promise.all([nats?.stop(), redis?.stop()]);
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function connect(): Promise<Bus> {
  const bus = await connectNatsBus({ servers: nats.url });
  cleanups.push(() => bus.drain());
  return bus;
}

function stores(prefix: string): Stores {
  const s = createRedisStores({ url: redis.url, prefix });
  cleanups.push(() => s.close());
  return s;
}

/** Each test gets its own topics: the NATS server is shared by the file. */
function uniqueTopic(name: string): string {
  return `job.it${randomBytes(4).toString('hex')}.${name}`;
}

describe('sdk over NATS + Redis', () => {
  it('submit → worker → result, with JSON round-tripping through Redis pointers', async () => {
    const topic = uniqueTopic('echo');
    const prefix = uniquePrefix('sdk');
    const workerBus = await connect();
    const clientBus = await connect();
    const workerStores = stores(prefix);
    const clientStores = stores(prefix);
    const relay = await startRelay(clientBus);
    cleanups.push(() => relay.stop());
    const progress = await record(clientBus, Subjects.jobProgress);
    cleanups.push(() => progress.stop());

    const worker = createWorker({
      bus: workerBus,
      workerId: `it-${randomBytes(3).toString('hex')}`,
      topics: [topic],
      pointers: workerStores.pointers,
      artifacts: workerStores.artifacts,
      heartbeatIntervalMs: 60_000,
      handler: async (ctx) => {
        const input = await ctx.json<{ words: string[] }>();
        await ctx.progress(50, 'counting');
        const evidence = await ctx.writeArtifact(input.words.join(' '));
        return { result: { count: input.words.length, tenant: ctx.tenantId }, artifacts: [evidence] };
      },
    });
    cleanups.push(() => worker.drain(1000));
    await worker.start();
    await workerBus.flush();

    const client = createClient({ bus: clientBus, pointers: clientStores.pointers, senderId: 'it-client', tenantId: 'tenant-it' });
    cleanups.push(() => client.close());
    const outcome = await client.run({ topic, input: { words: ['a', 'b', 'c'] }, timeoutMs: 10_000 });
    expect(outcome).toMatchObject({
      status: JobStatus.SUCCEEDED,
      result: { count: 3, tenant: 'tenant-it' },
      resultPtr: `redis://res:${outcome.jobId}`,
      workerId: worker.workerId,
    });
    expect(outcome.artifactPtrs).toHaveLength(1);
    const artifact = await clientStores.artifacts.get('tenant-it', outcome.artifactPtrs[0]!);
    expect(new TextDecoder().decode(artifact!.content)).toBe('a b c');
    await eventually(() => expect(progress.packets.length).toBeGreaterThanOrEqual(1));
    expect(progress.packets[0]!.payload).toMatchObject({ value: { jobId: outcome.jobId, percent: 50, message: 'counting' } });
  });

  it('two workers in one queue group split the jobs, each job running once', async () => {
    const topic = uniqueTopic('split');
    const prefix = uniquePrefix('sdk');
    const ran = new Map<string, string[]>();
    const workers = await Promise.all(
      ['a', 'b'].map(async (name) => {
        const bus = await connect();
        const s = stores(prefix);
        const worker = createWorker({
          bus,
          workerId: `split-${name}-${randomBytes(3).toString('hex')}`,
          topics: [topic],
          pointers: s.pointers,
          concurrency: 2,
          heartbeatIntervalMs: 60_000,
          handler: async (ctx) => {
            ran.set(ctx.jobId, [...(ran.get(ctx.jobId) ?? []), name]);
            await new Promise((r) => setTimeout(r, 10));
            return { result: name };
          },
        });
        cleanups.push(() => worker.drain(1000));
        await worker.start();
        await bus.flush();
        return worker;
      }),
    );
    const clientBus = await connect();
    const relay = await startRelay(clientBus);
    cleanups.push(() => relay.stop());
    const client = createClient({ bus: clientBus, pointers: stores(prefix).pointers, senderId: 'it-client', tenantId: 'tenant-it' });
    cleanups.push(() => client.close());

    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.run({ topic, input: { i }, jobId: `split-${i}-${randomBytes(2).toString('hex')}`, timeoutMs: 10_000 })),
    );
    expect(outcomes.every((o) => o.status === JobStatus.SUCCEEDED)).toBe(true);
    expect(ran.size).toBe(20);
    expect([...ran.values()].every((names) => names.length === 1)).toBe(true);
    const byWorker = new Map<string, number>();
    for (const o of outcomes) byWorker.set(o.workerId, (byWorker.get(o.workerId) ?? 0) + 1);
    // Both members took a share (NATS picks a member at random per message: 2^-19 odds of a false failure).
    expect([...byWorker.keys()].sort()).toEqual(workers.map((w) => w.workerId).sort());
  });

  it('drain over NATS: hands back buffered jobs, aborts the straggler at the timeout, resolves', async () => {
    const topic = uniqueTopic('drain');
    const prefix = uniquePrefix('sdk');
    const workerBus = await connect();
    const worker = createWorker({
      bus: workerBus,
      workerId: `drain-${randomBytes(3).toString('hex')}`,
      topics: [topic],
      pointers: stores(prefix).pointers,
      concurrency: 1,
      heartbeatIntervalMs: 60_000,
      abortGraceMs: 50,
      handler: (ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), { once: true });
        }),
    });
    await worker.start();
    await workerBus.flush();
    const clientBus = await connect();
    const relay = await startRelay(clientBus);
    cleanups.push(() => relay.stop());
    const client = createClient({ bus: clientBus, pointers: stores(prefix).pointers, senderId: 'it-client', tenantId: 'tenant-it' });
    cleanups.push(() => client.close());
    const ids = ['d1', 'd2', 'd3'].map((id) => `${id}-${randomBytes(2).toString('hex')}`);
    for (const jobId of ids) await client.submit({ topic, input: {}, jobId });
    await eventually(() => expect(worker.stats().activeJobs).toBe(1));
    // d2 and d3 reach the worker's connection and wait in the subscription behind the busy slot.
    await new Promise((r) => setTimeout(r, 100));
    await worker.drain(100);
    const outcomes = await Promise.all(ids.map((id) => client.waitForResult(id, { timeoutMs: 5000 })));
    expect(outcomes.map((o) => o.status)).toEqual([JobStatus.FAILED_RETRYABLE, JobStatus.FAILED_RETRYABLE, JobStatus.FAILED_RETRYABLE]);
    expect(worker.stats()).toMatchObject({ state: 'stopped', activeJobs: 0 });
    expect(workerBus.status().connected).toBe(true);
  });
});
