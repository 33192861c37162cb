import { type NodeProcess, type NatsServer, type RedisServer, startNats, startNodeProcess, startRedis } from '@cordum/testkit';
import type { WorkflowRun } from '@cordum/workflow';
import { createWorkflowEngine } from '@cordum/workflow-engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Platform, isTerminal, startPlatform } from './workflow-platform.js';

// The engine's crash test: a real workflow-engine process (services/workflow-engine/dist, built by `npm test`)
// is SIGKILLed repeatedly while 50 runs execute (jobs through a real scheduler and SDK workers), then
// restarted. Every run must complete with the same outputs as an undisturbed run of the same inputs, and no
// job may run twice: the workers' per-job-id execution counters are all exactly 1.

const RUNS = 50;
const KILLS = 5;

const definition = {
  id: 'crashy',
  steps: {
    a: { topic: 'job.wfe.echo', input: { k: '${input.k}', sleep_ms: 100 } },
    fan: { topic: 'job.wfe.echo', depends_on: ['a'], for_each: 'input.items', max_parallel: 2, input: { k: '${input.k}', i: '${item}', sleep_ms: 150 } },
    b: { topic: 'job.wfe.echo', depends_on: ['a'], input: { x: '${steps.a.output.echo.k}', sleep_ms: 200 } },
    join: { topic: 'job.wfe.echo', depends_on: ['fan', 'b'], input: { fan: '${steps.fan.output}', b: '${steps.b.output.echo.x}' } },
    pause: { type: 'delay', delay_sec: 1, depends_on: ['join'] },
    last: { topic: 'job.wfe.echo', depends_on: ['pause'], input: { done: '${steps.join.output.echo.b}' } },
  },
};

const inputOf = (k: number): { k: number; items: number[] } => ({ k, items: [k, k + 1, k + 2, k + 3, k + 4, k + 5] });

let nats: NatsServer;
let redis: RedisServer;
let p: Platform;

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
  p = await startPlatform({ natsUrl: nats.url, redisUrl: redis.url, engine: false, workerConcurrency: 64 });
});
afterAll(async () => {
  await p?.stop();
  await Promise.all([nats?.stop(), redis?.stop()]);
});

function outputsOf(run: WorkflowRun): Record<string, unknown> {
  return Object.fromEntries(Object.entries(run.steps).map(([id, s]) => [id, { status: s.status, output: s.output ?? null }]));
}

function startEngineProcess(): Promise<NodeProcess> {
  return startNodeProcess({
    script: 'services/workflow-engine/dist/main.js',
    env: {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      CORDUM_REDIS_PREFIX: p.prefix,
      WORKFLOW_RECONCILE_INTERVAL: '200ms',
      WORKFLOW_STALE_AFTER: '1s',
      WORKFLOW_COMMAND_GRACE: '500ms',
      WORKFLOW_ENGINE_METRICS_ADDR: '127.0.0.1:0',
      CORDUM_LOG_LEVEL: 'info',
    },
    ready: /workflow engine ready/,
  });
}

async function allDone(ids: string[]): Promise<boolean> {
  const runs = await Promise.all(ids.map((id) => p.run(id)));
  return runs.every(isTerminal);
}

describe('workflow engine crash', () => {
  it(`SIGKILL ${KILLS} times while ${RUNS} runs execute: same outputs as undisturbed, every job run exactly once`, async () => {
    // The reference: the same inputs through an undisturbed in-process engine.
    const steady = createWorkflowEngine({ bus: p.bus, stores: p.stores, options: { instanceId: 'steady', reconcileIntervalMs: 200 } });
    await steady.start();
    const reference = await Promise.all(Array.from({ length: RUNS }, (_, k) => p.startRun(definition, { runId: `ref-${k}`, input: inputOf(k) })));
    const expected = await Promise.all(reference.map(async (id) => outputsOf(await p.waitFor(id, isTerminal, 60_000))));
    await steady.stop();
    for (const o of expected) expect(Object.values(o).every((s) => (s as { status: string }).status === 'succeeded')).toBe(true);

    // The same inputs again, the engine a process that is killed and restarted while they run.
    let engine = await startEngineProcess();
    const ids = await Promise.all(Array.from({ length: RUNS }, (_, k) => p.startRun(definition, { runId: `crash-${k}`, input: inputOf(k) })));
    let kills = 0;
    for (; kills < KILLS; kills++) {
      await new Promise((r) => setTimeout(r, 400 + Math.floor(Math.random() * 500)));
      if (await allDone(ids)) break;
      await engine.stop('SIGKILL');
      await new Promise((r) => setTimeout(r, 150));
      engine = await startEngineProcess();
    }
    try {
      const deadline = Date.now() + 90_000;
      while (!(await allDone(ids))) {
        if (Date.now() > deadline) throw new Error('runs did not finish after the last restart');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await engine.stop('SIGTERM');
    }

    const actual = await Promise.all(ids.map(async (id) => outputsOf(await p.run(id))));
    expect(actual).toEqual(expected);
    const crashJobs = [...p.executions.entries()].filter(([id]) => id.startsWith('crash-'));
    expect(crashJobs.length).toBe(RUNS * 10);
    expect(crashJobs.filter(([, n]) => n !== 1)).toEqual([]);
    process.stdout.write(`${JSON.stringify({ test: 'workflow-engine-crash', runs: RUNS, kills, jobs: crashJobs.length })}\n`);
    expect(kills).toBeGreaterThanOrEqual(3);
  }, 180_000);
});
