import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bus } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import { type Worker, createWorker } from '@cordum/sdk';
import { type JobState, isTerminalJobState } from '@cordum/protocol';
import type { Stores } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import {
  type NatsServer,
  type NodeProcess,
  type RedisServer,
  eventually,
  startNats,
  startNodeProcess,
  startRedis,
  uniquePrefix,
} from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { submitStored } from './testing/harness.js';

// The crash test: a real scheduler process (services/scheduler/dist, built by `npm test`) is SIGKILLed while
// 5,000 jobs flow, then restarted. Every job must reach exactly one terminal transition in the JobStore, and a
// job may run twice only if its attempt's lease expired in between.

const JOBS = 5000;
const TOPIC = 'job.crash.echo';
const LEASE_SECONDS = 3;

let nats: NatsServer;
let redis: RedisServer;
let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
  dir = await mkdtemp(join(tmpdir(), 'cordum-crash-'));
  await writeFile(join(dir, 'pools.yaml'), `topics:\n  ${TOPIC}: default\npools:\n  default:\n    requires: []\n`);
  await writeFile(join(dir, 'timeouts.yaml'), `topics:\n  ${TOPIC}: { timeout_seconds: ${LEASE_SECONDS}, max_retries: 5 }\n`);
});
afterAll(async () => {
  await Promise.all([nats?.stop(), redis?.stop(), rm(dir, { recursive: true, force: true })]);
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

function startSchedulerProcess(prefix: string, jetstream: boolean): Promise<NodeProcess> {
  return startNodeProcess({
    script: 'services/scheduler/dist/main.js',
    env: {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      CORDUM_REDIS_PREFIX: prefix,
      NATS_USE_JETSTREAM: jetstream ? 'true' : 'false',
      NATS_JS_ACK_WAIT: '2s',
      CORDUM_POLICY_MODE: 'allow-all',
      POOL_CONFIG_PATH: join(dir, 'pools.yaml'),
      TIMEOUT_CONFIG_PATH: join(dir, 'timeouts.yaml'),
      SCHEDULER_TICK_INTERVAL: '100ms',
      SCHEDULER_METRICS_ADDR: '127.0.0.1:0',
      CORDUM_LOG_LEVEL: 'info',
    },
    ready: /scheduler ready/,
  });
}

async function bus(jetstream: boolean): Promise<Bus> {
  const b = await connectNatsBus({ servers: nats.url, jetstream, ackWaitMs: 2000 });
  cleanup.push(() => b.close());
  return b;
}

async function countTerminal(stores: Stores): Promise<number> {
  const counts = await stores.jobs.countByState('default');
  return Object.entries(counts).reduce((n, [state, c]) => n + (isTerminalJobState(state as JobState) ? c : 0), 0);
}

for (const jetstream of [false, true]) {
  const mode = jetstream ? 'JetStream' : 'core NATS';
  describe(`scheduler crash on ${mode}`, () => {
    it(`SIGKILL mid-flow: ${JOBS} jobs, each with exactly one terminal transition, repeats only after a lease expiry`, async () => {
      const prefix = uniquePrefix('crash');
      const stores = createRedisStores({ url: redis.url, prefix });
      cleanup.push(() => stores.close());
      let scheduler = await startSchedulerProcess(prefix, jetstream);
      cleanup.push(() => scheduler.stop('SIGKILL'));

      const executions = new Map<string, number>();
      const workers: Worker[] = [];
      for (const n of [1, 2]) {
        const worker = createWorker({
          bus: await bus(jetstream),
          pointers: stores.pointers,
          workerId: `crash-w${n}`,
          topics: [TOPIC],
          pool: 'default',
          concurrency: 64,
          heartbeatIntervalMs: 500,
          handler: (ctx) => {
            executions.set(ctx.jobId, (executions.get(ctx.jobId) ?? 0) + 1);
            return Promise.resolve({ result: { ok: true } });
          },
        });
        await worker.start();
        workers.push(worker);
        cleanup.push(() => worker.drain(2000));
      }

      // Submit like the gateway (record first), 64 at a time, while the scheduler is killed and restarted.
      const submitBus = await bus(jetstream);
      const ids: string[] = [];
      let next = 0;
      const submitting = Promise.all(
        Array.from({ length: 64 }, async () => {
          for (let i = next++; i < JOBS; i = next++) {
            ids.push(await submitStored(submitBus, stores, { topic: TOPIC, jobId: `crash-${i}`, graceMs: 2000 }));
          }
        }),
      );
      await eventually(async () => expect(await countTerminal(stores)).toBeGreaterThanOrEqual(JOBS * 0.3), 60_000, 50);
      await scheduler.stop('SIGKILL');
      const killedAt = await countTerminal(stores);
      expect(killedAt).toBeLessThan(JOBS);
      scheduler = await startSchedulerProcess(prefix, jetstream);
      await submitting;
      expect(ids).toHaveLength(JOBS);
      await eventually(async () => expect(await countTerminal(stores)).toBe(JOBS), 90_000, 250);

      let repeats = 0;
      let repeatedJobs = 0;
      const unexplained: string[] = [];
      const badTerminal: string[] = [];
      for (const id of ids) {
        const events = await stores.jobs.events(id);
        const terminal = events.filter((e) => isTerminalJobState(e.to) && (e.from === null || !isTerminalJobState(e.from)));
        if (terminal.length !== 1 || terminal[0]?.to !== 'SUCCEEDED') {
          if (badTerminal.length === 0) process.stdout.write(`${JSON.stringify({ first_bad_job: id, events })}\n`);
          badTerminal.push(`${id}: ${terminal.map((e) => e.to).join(',')}`);
        }
        const runs = executions.get(id) ?? 0;
        if (runs > 1) {
          repeatedJobs++;
          repeats += runs - 1;
          const leaseExpiries = events.filter((e) => e.reason.includes('lease_expired')).length;
          if (leaseExpiries < runs - 1) unexplained.push(`${id}: ran ${runs} times, ${leaseExpiries} lease expiries`);
        }
      }
      const report = { test: 'scheduler-crash', mode, jobs: JOBS, terminal_when_killed: killedAt, repeated_jobs: repeatedJobs, repeated_executions: repeats };
      process.stdout.write(`${JSON.stringify(report)}\n`);
      expect(badTerminal).toEqual([]);
      expect(unexplained).toEqual([]);
      expect([...executions.values()].filter((n) => n === 0)).toEqual([]);
      for (const w of workers) expect(w.stats().state).toBe('running');
    }, 180_000);
  });
}
