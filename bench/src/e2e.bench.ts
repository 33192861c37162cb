import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Bus } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import { JobStatus } from '@cordum/protocol';
import { createClient } from '@cordum/sdk';
import { createRedisStores } from '@cordum/store/redis';
import { type NatsServer, type NodeProcess, type RedisServer, freePort, startNats, startNodeProcess, startRedis } from '@cordum/testkit';
import { Queue, QueueEvents } from 'bullmq';
import { type BenchResult, percentile, round } from './harness.js';

// End to end on real NATS + Redis: echo jobs submitted through the bus, a scheduler process and two echo
// worker processes, then BullMQ with two worker processes doing the same echo work on the same Redis.
// Throughput = N jobs with 256 in flight; latency = submit → result at a fixed offered load.

const TOPIC = 'job.bench.echo';
const JOBS = Number(process.env['BENCH_E2E_JOBS'] ?? '5000');
const RATE = Number(process.env['BENCH_E2E_RATE'] ?? '1000');
const RATE_SECONDS = Number(process.env['BENCH_E2E_SECONDS'] ?? '5');
const IN_FLIGHT = 256;
// Policy is on: the scheduler decides in-process from a bundle (embedded), or asks a kernel process over
// gRPC (kernel); allow-all skips policy (to measure its cost).
const POLICY_MODE = process.env['BENCH_POLICY_MODE'] ?? 'embedded';
// Ten rules of the usual kinds; the echo jobs match none until the last, so every rule is considered.
const POLICY = `version: bench
default_decision: deny
rules:
${Array.from({ length: 9 }, (_, i) => `  - id: deny-${i}\n    match: { topics: ["job.other${i}.*"], risk_tags: [prod] }\n    decision: deny\n`).join('')}  - id: allow-echo
    match: { topics: ["job.bench.*"] }
    decision: allow
`;

type Measured = { jobsPerSec: number; p50: number; p99: number };

async function paced<T>(total: number, perSecond: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const start = performance.now();
  const all: Promise<T>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    all.push(fn(i));
  }
  return Promise.all(all);
}

async function withConcurrency(total: number, concurrency: number, fn: (i: number) => Promise<number>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) latencies.push(await fn(i));
    }),
  );
  return latencies;
}

function summarise(latencies: number[], seconds: number, count: number): Measured {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { jobsPerSec: Math.round(count / seconds), p50: round(percentile(sorted, 0.5)), p99: round(percentile(sorted, 0.99)) };
}

async function cordum(nats: NatsServer, redis: RedisServer, jetstream: boolean): Promise<{ throughput: Measured; latency: Measured }> {
  const dir = await mkdtemp(join(tmpdir(), 'cordum-bench-'));
  const pools = join(dir, 'pools.yaml');
  const timeouts = join(dir, 'timeouts.yaml');
  await writeFile(pools, `topics:\n  ${TOPIC}: default\npools:\n  default:\n    requires: []\n`);
  await writeFile(timeouts, `topics:\n  ${TOPIC}: { timeout_seconds: 60, max_retries: 2 }\n`);
  const policyPath = join(dir, 'policy.yaml');
  await writeFile(policyPath, POLICY);
  const prefix = `bench${jetstream ? 'js' : 'core'}${Date.now()}:`;
  const common = {
    NATS_URL: nats.url,
    REDIS_URL: redis.url,
    CORDUM_REDIS_PREFIX: prefix,
    NATS_USE_JETSTREAM: jetstream ? '1' : '0',
    CORDUM_LOG_LEVEL: 'warn',
    LOG_LEVEL: 'warn',
  };
  const procs: NodeProcess[] = [];
  const buses: Bus[] = [];
  const policy = { SAFETY_POLICY_PATH: policyPath, SAFETY_POLICY_CONFIG_DISABLE: 'true' };
  const kernelAddr = `127.0.0.1:${await freePort()}`;
  try {
    if (POLICY_MODE === 'kernel') {
      procs.push(
        await startNodeProcess({
          script: 'services/safety-kernel/dist/main.js',
          env: { ...common, ...policy, SAFETY_KERNEL_ADDR: kernelAddr, SAFETY_KERNEL_METRICS_ADDR: '127.0.0.1:0', CORDUM_LOG_LEVEL: 'info' },
          ready: /safety kernel ready/,
        }),
      );
    }
    procs.push(
      await startNodeProcess({
        script: 'services/scheduler/dist/main.js',
        env: {
          ...common,
          CORDUM_POLICY_MODE: POLICY_MODE,
          ...(POLICY_MODE === 'embedded' ? policy : {}),
          ...(POLICY_MODE === 'kernel' ? { SAFETY_KERNEL_ADDR: kernelAddr } : {}),
          POOL_CONFIG_PATH: pools,
          TIMEOUT_CONFIG_PATH: timeouts,
          SCHEDULER_METRICS_ADDR: '127.0.0.1:0',
          CORDUM_LOG_LEVEL: 'info',
        },
        ready: /scheduler ready/,
        nodeArgs: (process.env['BENCH_SCHEDULER_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
      }),
    );
    for (const n of [1, 2]) {
      procs.push(
        await startNodeProcess({
          script: 'examples/echo-worker/dist/worker.js',
          env: { ...common, WORKER_ID: `bench-echo-${n}`, ECHO_TOPIC: TOPIC, WORKER_CONCURRENCY: '128', LOG_LEVEL: 'info' },
          ready: /echo worker ready/,
        }),
      );
    }
    const bus = await connectNatsBus({ servers: nats.url, jetstream });
    buses.push(bus);
    const stores = createRedisStores({ url: redis.url, prefix });
    const client = createClient({ bus, pointers: stores.pointers, senderId: 'bench-client', tenantId: 'default' });
    await new Promise((r) => setTimeout(r, 500)); // heartbeats reach the scheduler
    const run = async (): Promise<number> => {
      const t0 = performance.now();
      const out = await client.run({ topic: TOPIC, input: { prompt: 'echo' }, timeoutMs: 60_000 });
      if (out.status !== JobStatus.SUCCEEDED) throw new Error(`job ${out.jobId} ended ${JobStatus[out.status]}: ${out.errorMessage}`);
      return performance.now() - t0;
    };
    await withConcurrency(200, 50, run); // warm-up
    const t0 = performance.now();
    const tl = await withConcurrency(JOBS, IN_FLIGHT, run);
    const throughput = summarise(tl, (performance.now() - t0) / 1000, JOBS);
    const ll = await paced(RATE * RATE_SECONDS, RATE, run);
    const latency = summarise(ll, RATE_SECONDS, ll.length);
    await client.close();
    await stores.close();
    return { throughput, latency: { ...latency, jobsPerSec: RATE } };
  } finally {
    for (const p of procs.reverse()) await p.stop();
    for (const b of buses) await b.close();
  }
}

async function bullmq(redis: RedisServer): Promise<{ throughput: Measured; latency: Measured }> {
  const url = new URL(redis.url);
  const connection = { host: url.hostname, port: Number(url.port) };
  const name = `bench${Date.now()}`;
  const procs: NodeProcess[] = [];
  for (let n = 0; n < 2; n++) {
    procs.push(
      await startNodeProcess({
        script: 'bench/dist/e2e/bullmq-worker.js',
        env: { REDIS_URL: redis.url, BULLMQ_QUEUE: name, WORKER_CONCURRENCY: '128' },
        ready: /bullmq worker ready/,
      }),
    );
  }
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  // One waitUntilFinished listener per job in flight.
  events.setMaxListeners(IN_FLIGHT * 4 + 100);
  queue.setMaxListeners(IN_FLIGHT * 4 + 100);
  await events.waitUntilReady();
  try {
    const run = async (): Promise<number> => {
      const t0 = performance.now();
      const job = await queue.add('echo', { prompt: 'echo' }, { removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } });
      await job.waitUntilFinished(events, 60_000);
      return performance.now() - t0;
    };
    await withConcurrency(200, 50, run);
    const t0 = performance.now();
    const tl = await withConcurrency(JOBS, IN_FLIGHT, run);
    const throughput = summarise(tl, (performance.now() - t0) / 1000, JOBS);
    const ll = await paced(RATE * RATE_SECONDS, RATE, run);
    return { throughput, latency: { ...summarise(ll, RATE_SECONDS, ll.length), jobsPerSec: RATE } };
  } catch (err) {
    for (const p of procs) process.stderr.write(`--- bullmq worker output:\n${p.output()}\n`);
    throw err;
  } finally {
    await events.close();
    await queue.close();
    for (const p of procs) await p.stop();
  }
}

export async function e2eBenchmarks(): Promise<BenchResult[]> {
  const [nats, redis] = await Promise.all([startNats(), startRedis()]);
  const results: BenchResult[] = [];
  try {
    const bull = await bullmq(redis);
    const report = (name: string, m: Measured, notes: string): BenchResult => ({
      name,
      ops: name.includes('latency') ? RATE * RATE_SECONDS : JOBS,
      seconds: 0,
      ops_per_sec: m.jobsPerSec,
      p50_ms: m.p50,
      p99_ms: m.p99,
      notes,
    });
    results.push(report('e2e.bullmq.throughput', bull.throughput, `${JOBS} jobs, ${IN_FLIGHT} in flight, 2 worker processes`));
    results.push(report('e2e.bullmq.latency', bull.latency, `offered ${RATE} jobs/s for ${RATE_SECONDS}s`));
    for (const jetstream of [false, true]) {
      const mode = jetstream ? 'jetstream' : 'core';
      const c = await cordum(nats, redis, jetstream);
      const ratio = round(c.throughput.jobsPerSec / bull.throughput.jobsPerSec);
      results.push(report(`e2e.cordum.${mode}.throughput`, c.throughput, `${JOBS} echo jobs via the bus, scheduler (policy ${POLICY_MODE}) + 2 echo worker processes; ratio to BullMQ ${ratio}`));
      results.push(report(`e2e.cordum.${mode}.latency`, c.latency, `offered ${RATE} jobs/s for ${RATE_SECONDS}s; submit → result`));
    }
  } finally {
    await Promise.all([nats.stop(), redis.stop()]);
  }
  return results;
}
