import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connectNatsBus } from '@cordum/bus/nats';
import { newId } from '@cordum/core';
import { Subjects, encodeWorkflowCommand } from '@cordum/protocol';
import { type Stores } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import { type NodeProcess, freePort, startNats, startNodeProcess, startRedis } from '@cordum/testkit';
import { type WorkflowDefinition, type WorkflowRun, createRun } from '@cordum/workflow';
import { type BenchResult, percentile, round } from './harness.js';

// Workflows end to end on real NATS + Redis: a workflow-engine process, a scheduler process (no policy, to
// isolate the engine) and two echo worker processes. Two shapes:
//  - a 1,000-item for_each fan-out (no max_parallel): every item a job;
//  - a 200-step chain, each step's input templated from the previous step's output.
// Engine overhead per step is measured from the stores' own clock (Redis TIME): from the moment the
// scheduler recorded a job terminal to the moment the engine had stored the next step's job (chain), i.e.
// result wake-up + JobStore read + reduce + compare-and-set + dispatch. The engine's mean reduce and
// compare-and-set times come from its /metrics.

const TOPIC = 'job.bench.wf';
const FAN = Number(process.env['BENCH_WF_FANOUT'] ?? '1000');
const CHAIN = Number(process.env['BENCH_WF_CHAIN'] ?? '200');

type Harness = { stores: Stores; start(def: WorkflowDefinition, input?: Record<string, unknown>): Promise<string>; wait(id: string, timeoutMs: number): Promise<WorkflowRun> };

async function harness(natsUrl: string, stores: Stores): Promise<Harness & { close(): Promise<void> }> {
  const bus = await connectNatsBus({ servers: natsUrl });
  return {
    stores,
    async start(def, input = {}) {
      const wf = await stores.workflows.put('default', def.id, def);
      const id = `bench-${newId()}`;
      const now = await stores.runs.now();
      const doc = createRun({ id, definition: def, input: input as never, now, tenant_id: 'default', workflow_revision: wf.version });
      await stores.runs.create({ tenant: 'default', id, workflowId: def.id, workflowVersion: wf.version, doc, dueAt: now + 10_000 });
      await bus.publish(Subjects.workflowCommand, encodeWorkflowCommand({ kind: 'start', tenant: 'default', run_id: id }));
      return id;
    },
    async wait(id, timeoutMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const rec = await stores.runs.get('default', id);
        const run = rec?.doc as unknown as WorkflowRun | undefined;
        if (run !== undefined && ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(run.status)) return run;
        if (Date.now() > until) throw new Error(`run ${id} did not finish in ${timeoutMs} ms (${run?.status ?? 'missing'})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => bus.close(),
  };
}

/** Store-clock ms at which a job reached a terminal state. */
async function terminalAt(stores: Stores, jobId: string): Promise<number> {
  const events = await stores.jobs.events(jobId);
  const done = events.find((e) => ['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'DENIED'].includes(e.to));
  if (done === undefined) throw new Error(`job ${jobId} is not terminal`);
  return done.at;
}

type EngineTotals = { reduce: [number, number]; cas: [number, number] };

/** The engine's reduce and compare-and-set histograms (sum s, count) from its /metrics. */
async function engineTotals(metricsPort: number): Promise<EngineTotals> {
  const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
  const num = (name: string): number => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? '0');
  return {
    reduce: [num('cordum_workflow_reduce_seconds_sum'), num('cordum_workflow_reduce_seconds_count')],
    cas: [num('cordum_workflow_cas_seconds_sum'), num('cordum_workflow_cas_seconds_count')],
  };
}

/** How many values there are of each whole number (the overheads are whole ms). */
function histogram(values: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of [...values].sort((a, b) => a - b)) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

/** Mean ms between two readings. */
const meanMs = (a: [number, number], b: [number, number]): number => round(((b[0] - a[0]) / Math.max(1, b[1] - a[1])) * 1000);

export async function workflowBenchmarks(): Promise<BenchResult[]> {
  const [nats, redis] = await Promise.all([startNats(), startRedis()]);
  const procs: NodeProcess[] = [];
  const results: BenchResult[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'cordum-bench-wf-'));
  const pools = join(dir, 'pools.yaml');
  const timeouts = join(dir, 'timeouts.yaml');
  await writeFile(pools, `topics:\n  ${TOPIC}: default\npools:\n  default:\n    requires: []\n`);
  await writeFile(timeouts, `topics:\n  ${TOPIC}: { timeout_seconds: 120, max_retries: 1 }\n`);
  const prefix = `bench-wf-${newId().slice(-6)}:`;
  const common = { NATS_URL: nats.url, REDIS_URL: redis.url, CORDUM_REDIS_PREFIX: prefix, CORDUM_LOG_LEVEL: 'warn' };
  const stores = createRedisStores({ url: redis.url, prefix });
  let h: Awaited<ReturnType<typeof harness>> | undefined;
  try {
    const engineMetrics = await freePort();
    procs.push(
      await startNodeProcess({
        script: 'services/scheduler/dist/main.js',
        env: { ...common, CORDUM_LOG_LEVEL: 'info', CORDUM_POLICY_MODE: 'allow-all', POOL_CONFIG_PATH: pools, TIMEOUT_CONFIG_PATH: timeouts, SCHEDULER_METRICS_ADDR: '127.0.0.1:0' },
        ready: /scheduler ready/,
      }),
      await startNodeProcess({
        script: 'services/workflow-engine/dist/main.js',
        env: { ...common, CORDUM_LOG_LEVEL: 'info', WORKFLOW_ENGINE_METRICS_ADDR: `127.0.0.1:${engineMetrics}` },
        ready: /workflow engine ready/,
        nodeArgs: (process.env['BENCH_ENGINE_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
      }),
    );
    for (const n of [1, 2]) {
      procs.push(
        await startNodeProcess({
          script: 'examples/echo-worker/dist/worker.js',
          env: { ...common, CORDUM_LOG_LEVEL: 'info', WORKER_ID: `bench-wf-echo-${n}`, ECHO_TOPIC: TOPIC, WORKER_CONCURRENCY: '128', LOG_LEVEL: 'info' },
          ready: /echo worker ready/,
        }),
      );
    }
    h = await harness(nats.url, stores);
    await new Promise((r) => setTimeout(r, 500)); // heartbeats reach the scheduler

    // Warm-up: a short chain and a small fan-out.
    const warm: WorkflowDefinition = { id: 'warm', steps: { a: { id: 'a', type: 'worker', topic: TOPIC }, b: { id: 'b', type: 'worker', topic: TOPIC, depends_on: ['a'], for_each: 'input.xs' } } };
    await h.wait(await h.start(warm, { xs: Array.from({ length: 50 }, (_, i) => i) }), 60_000);

    // Fan-out.
    const fan: WorkflowDefinition = { id: 'fanout', steps: { each: { id: 'each', type: 'worker', topic: TOPIC, for_each: 'input.items', input: { i: '${item}' } } } };
    let t0 = performance.now();
    const fanId = await h.start(fan, { items: Array.from({ length: FAN }, (_, i) => i) });
    const fanRun = await h.wait(fanId, 300_000);
    const fanSeconds = (performance.now() - t0) / 1000;
    if (fanRun.status !== 'succeeded') throw new Error(`fan-out run ended ${fanRun.status}`);
    const fanJobs = (fanRun.steps['each']?.items ?? []).map((it) => it.job_id as string);
    const created = await Promise.all(fanJobs.map(async (id) => (await stores.jobs.get(id))?.createdAt ?? 0));
    const ended = await Promise.all(fanJobs.map((id) => terminalAt(stores, id)));
    const runRec = await stores.runs.get('default', fanId);
    results.push({
      name: `workflow fan-out ${FAN} items (for_each, echo jobs)`,
      ops: FAN,
      seconds: round(fanSeconds),
      ops_per_sec: Math.round(FAN / fanSeconds),
      notes: `all ${FAN} jobs stored by the engine within ${Math.max(...created) - Math.min(...created)} ms of each other; last job terminal → run succeeded ${(runRec?.updatedAt ?? 0) - Math.max(...ended)} ms`,
    });

    // Chain.
    const steps: WorkflowDefinition['steps'] = {};
    for (let i = 0; i < CHAIN; i++) {
      steps[`s${i}`] = {
        id: `s${i}`,
        type: 'worker',
        topic: TOPIC,
        ...(i === 0 ? { input: { n: 0 } } : { depends_on: [`s${i - 1}`], input: { n: `\${steps.s${i - 1}.output.echo.n}`, step: i } }),
      };
    }
    const before = await engineTotals(engineMetrics);
    t0 = performance.now();
    const chainId = await h.start({ id: 'chain', steps });
    const chainRun = await h.wait(chainId, 300_000);
    const chainSeconds = (performance.now() - t0) / 1000;
    if (chainRun.status !== 'succeeded') throw new Error(`chain run ended ${chainRun.status}`);
    const overheads: number[] = [];
    for (let i = 1; i < CHAIN; i++) {
      const prev = chainRun.steps[`s${i - 1}`]?.job_id as string;
      const next = chainRun.steps[`s${i}`]?.job_id as string;
      const nextJob = await stores.jobs.get(next);
      overheads.push((nextJob?.createdAt ?? 0) - (await terminalAt(stores, prev)));
    }
    const sorted = [...overheads].sort((a, b) => a - b);
    const after = await engineTotals(engineMetrics);
    results.push({
      name: `workflow chain of ${CHAIN} echo steps`,
      ops: CHAIN,
      seconds: round(chainSeconds),
      ops_per_sec: Math.round(CHAIN / chainSeconds),
      p50_ms: round(percentile(sorted, 0.5)),
      p99_ms: round(percentile(sorted, 0.99)),
      notes:
        `p50/p99 = engine overhead per step (job terminal in the JobStore → next step's job stored, store clock, 1 ms resolution; target p50 <= 2 ms), ` +
        `mean ${round(overheads.reduce((a, b) => a + b, 0) / overheads.length)} ms (the two stamps' millisecond rounding averages out over the steps), ` +
        `steps by overhead ms ${JSON.stringify(histogram(overheads))}; ` +
        `${round((chainSeconds * 1000) / CHAIN)} ms per step end to end; engine means per pass in the chain: reduce ${meanMs(before.reduce, after.reduce)} ms, compare-and-set ${meanMs(before.cas, after.cas)} ms`,
    });
  } finally {
    await h?.close();
    await stores.close();
    for (const p of procs.reverse()) await p.stop();
    await Promise.all([nats.stop(), redis.stop()]);
  }
  return results;
}
