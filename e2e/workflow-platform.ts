import type { Bus } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import { type JsonValue, createStaticPdp, newId } from '@cordum/core';
import { Subjects, encodeWorkflowCommand } from '@cordum/protocol';
import { type Scheduler, createScheduler } from '@cordum/scheduler';
import { type JobContext, type Worker, createWorker } from '@cordum/sdk';
import type { Stores } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import { uniquePrefix } from '@cordum/testkit';
import { type JsonObject, type RunEvent, type WorkflowDefinition, type WorkflowRun, createRun } from '@cordum/workflow';
import { type WorkflowEngine, createWorkflowEngine } from '@cordum/workflow-engine';

// The workflow platform on real NATS and Redis for e2e tests: a real scheduler (allow-all policy, topics
// job.wfe.* routed to one pool), SDK workers and, unless a test runs its own process, an in-process workflow
// engine. The gateway's part — store the run, then ring sys.workflow.command; queue an event, then ring — is
// played by startRun/sendEvent, exactly as the gateway's routes do it.

export const TOPICS = ['job.wfe.echo', 'job.wfe.flaky', 'job.wfe.slow', 'job.wfe.bad'] as const;

export type Execution = { jobId: string; topic: string; env: Record<string, string>; labels: Record<string, string>; start: number; end: number; input: unknown };

export type Platform = {
  prefix: string;
  stores: Stores;
  bus: Bus;
  scheduler: Scheduler;
  engine: WorkflowEngine | undefined;
  /** Per job id: how many times a worker handler ran it. */
  executions: Map<string, number>;
  log: Execution[];
  startRun(definition: Record<string, unknown>, options?: { input?: JsonObject; runId?: string; dryRun?: boolean; tenant?: string }): Promise<string>;
  sendEvent(runId: string, event: RunEvent, tenant?: string): Promise<void>;
  startExisting(run: WorkflowRun, tenant?: string): Promise<void>;
  run(runId: string, tenant?: string): Promise<WorkflowRun>;
  waitFor(runId: string, done: (r: WorkflowRun) => boolean, timeoutMs?: number, tenant?: string): Promise<WorkflowRun>;
  stop(): Promise<void>;
};

export const isTerminal = (r: WorkflowRun): boolean => ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(r.status);

/** The test workers' behaviour, by topic (see TOPICS). */
async function handle(ctx: JobContext): Promise<{ result: unknown }> {
  const input = await ctx.json<Record<string, JsonValue>>();
  const sleep = typeof input['sleep_ms'] === 'number' ? input['sleep_ms'] : 0;
  const wait = (ms: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error('aborted'));
      });
    });
  switch (ctx.topic) {
    case 'job.wfe.flaky':
      // Fails its first attempt of the step (the step's retry makes a second job), then echoes.
      if (ctx.env['step_attempt'] === '1') throw new Error('flaky: first attempt fails');
      break;
    case 'job.wfe.slow':
      await wait(typeof input['ms'] === 'number' ? input['ms'] : 60_000);
      break;
    case 'job.wfe.bad':
      return { result: { not: 'what the schema wants' } };
    default:
      if (sleep > 0) await wait(sleep);
  }
  return { result: { echo: input, dry_run: ctx.env['dry_run'] === 'true' } };
}

export async function startPlatform(options: {
  natsUrl: string;
  redisUrl: string;
  /** false: the test runs the engine itself (e.g. as a process). */
  engine?: boolean;
  engineOptions?: Parameters<typeof createWorkflowEngine>[0]['options'];
  workers?: number;
  workerConcurrency?: number;
}): Promise<Platform> {
  const prefix = uniquePrefix('wfe');
  const closers: (() => Promise<unknown>)[] = [];
  const stores = createRedisStores({ url: options.redisUrl, prefix });
  closers.push(() => stores.close());
  const connect = async (): Promise<Bus> => {
    const b = await connectNatsBus({ servers: options.natsUrl });
    closers.push(() => b.close());
    return b;
  };
  const bus = await connect();
  const scheduler = createScheduler({
    bus: await connect(),
    stores,
    pdp: createStaticPdp(),
    options: {
      instanceId: `sched-${newId().slice(-6)}`,
      tickMs: 100,
      submitGraceMs: 1000,
      bootstrap: { pools: { topics: { 'job.wfe.*': 'default' }, pools: { default: { requires: [] } } }, timeouts: { topics: { 'job.wfe.*': { timeout_seconds: 60, max_retries: 2 } } } },
    },
  });
  await scheduler.start();
  closers.push(() => scheduler.stop());

  const executions = new Map<string, number>();
  const log: Execution[] = [];
  const workers: Worker[] = [];
  for (let n = 0; n < (options.workers ?? 2); n++) {
    const worker = createWorker({
      bus: await connect(),
      pointers: stores.pointers,
      workerId: `wfe-w${n}-${newId().slice(-4)}`,
      topics: [...TOPICS],
      pool: 'default',
      concurrency: options.workerConcurrency ?? 32,
      heartbeatIntervalMs: 500,
      handler: async (ctx) => {
        executions.set(ctx.jobId, (executions.get(ctx.jobId) ?? 0) + 1);
        const start = Date.now();
        const input = await ctx.json();
        try {
          return await handle(ctx);
        } finally {
          log.push({ jobId: ctx.jobId, topic: ctx.topic, env: { ...ctx.env }, labels: { ...ctx.labels }, start, end: Date.now(), input });
        }
      },
    });
    await worker.start();
    workers.push(worker);
    closers.push(() => worker.drain(1000));
  }

  let engine: WorkflowEngine | undefined;
  if (options.engine !== false) {
    engine = createWorkflowEngine({
      bus: await connect(),
      stores,
      options: { instanceId: `wfe-${newId().slice(-6)}`, reconcileIntervalMs: 200, staleAfterMs: 2000, commandGraceMs: 1000, ...options.engineOptions },
    });
    await engine.start();
    const e = engine;
    closers.push(() => e.stop());
  }

  async function run(runId: string, tenant = 'default'): Promise<WorkflowRun> {
    const rec = await stores.runs.get(tenant, runId);
    if (rec === undefined) throw new Error(`no run ${runId}`);
    return rec.doc as unknown as WorkflowRun;
  }

  return {
    prefix,
    stores,
    bus,
    scheduler,
    engine,
    executions,
    log,
    async startRun(definition, o = {}) {
      const tenant = o.tenant ?? 'default';
      const def = definition as unknown as WorkflowDefinition;
      const wf = await stores.workflows.put(tenant, def.id, def);
      const id = o.runId ?? `run-${newId()}`;
      const now = await stores.runs.now();
      const doc = createRun({ id, definition: def, input: o.input ?? {}, now, tenant_id: tenant, workflow_revision: wf.version, dry_run: o.dryRun ?? false });
      const res = await stores.runs.create({ tenant, id, workflowId: def.id, workflowVersion: wf.version, doc, dueAt: now + 5000 });
      if (res.outcome !== 'created') throw new Error(`run not created: ${res.outcome}`);
      await bus.publish(Subjects.workflowCommand, encodeWorkflowCommand({ kind: 'start', tenant, run_id: id }));
      return id;
    },
    async startExisting(doc, tenant = 'default') {
      const res = await stores.runs.create({ tenant, id: doc.id, workflowId: doc.workflow_id, workflowVersion: doc.workflow_revision ?? 1, doc, dueAt: (await stores.runs.now()) + 5000 });
      if (res.outcome !== 'created') throw new Error(`run not created: ${res.outcome}`);
      await bus.publish(Subjects.workflowCommand, encodeWorkflowCommand({ kind: 'start', tenant, run_id: doc.id }));
    },
    async sendEvent(runId, event, tenant = 'default') {
      const res = await stores.runs.pushEvent(tenant, runId, event);
      if (res.outcome !== 'queued') throw new Error(`event not queued: ${res.outcome}`);
      await bus.publish(Subjects.workflowCommand, encodeWorkflowCommand({ kind: 'event', tenant, run_id: runId }));
    },
    run,
    async waitFor(runId, done, timeoutMs = 20_000, tenant = 'default') {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const r = await run(runId, tenant);
        if (done(r)) return r;
        if (Date.now() > until) {
          throw new Error(`run ${runId} did not get there: ${JSON.stringify({ status: r.status, steps: Object.fromEntries(Object.entries(r.steps).map(([k, v]) => [k, v.status])) })}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async stop() {
      for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    },
  };
}
