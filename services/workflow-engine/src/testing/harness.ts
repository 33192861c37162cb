import type { Bus } from '@cordum/bus';
import { createMemoryBroker } from '@cordum/bus/memory';
import { type JsonValue, type Metrics, createMetrics, newId } from '@cordum/core';
import {
  type BusPacket,
  type JobRequest,
  JobStatus,
  Subjects,
  decodePacket,
  encodePacket,
  encodeWorkflowCommand,
  jobFinalCommand,
  newPacket,
} from '@cordum/protocol';
import { type JobRecord, type Stores, jobFinalFence } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import { type JsonObject, type RunEvent, type WorkflowDefinition, type WorkflowRun, createRun } from '@cordum/workflow';
import { type WorkflowEngine, type WorkflowEngineOptions, createWorkflowEngine } from '../index.js';

// Test scaffolding for the engine on the memory bus and stores. The gateway's part (store the run, then ring
// the doorbell; queue an event, then ring) is played by startRun/sendEvent. The scheduler's part is played by
// a JobDriver: it takes stored jobs from sys.job.submit and moves them through the JobStore the way the
// scheduler does (PENDING → SCHEDULED → RUNNING → terminal with the job's final fence, result pointer), then
// publishes the result and rings the job-final doorbell — the e2e tests run the real scheduler and SDK
// workers instead.

export type StartRunOptions = {
  tenant?: string;
  runId?: string;
  input?: JsonObject;
  dryRun?: boolean;
  /** Skip the doorbell (a lost start command). */
  silent?: boolean;
  traceId?: string;
};

export type Outcome =
  | { state: 'SUCCEEDED'; output?: JsonValue }
  | { state: 'FAILED'; code?: string; message?: string; fatal?: boolean }
  | { state: 'TIMEOUT' | 'CANCELLED' | 'DENIED' }
  | 'hang';

export type JobDriver = {
  /** Every request taken, in order. */
  readonly received: JobRequest[];
  /** How often each job id was taken. */
  readonly counts: Map<string, number>;
  /** Jobs left hanging ('hang'), to finish later. */
  finish(jobId: string, outcome: Exclude<Outcome, 'hang'>): Promise<void>;
  /** Stops reacting to results on the bus (the JobStore still gets the outcome). */
  muteResults(mute: boolean): void;
  stop(): Promise<void>;
};

export type Harness = {
  bus: Bus;
  stores: Stores;
  metrics: Metrics;
  engine: WorkflowEngine;
  /** Packets on sys.workflow.event, decoded. */
  events: BusPacket[];
  startRun(definition: WorkflowDefinition | Record<string, unknown>, options?: StartRunOptions): Promise<string>;
  sendEvent(runId: string, event: RunEvent, options?: { tenant?: string; key?: string }): Promise<void>;
  run(runId: string, tenant?: string): Promise<WorkflowRun>;
  waitFor(runId: string, done: (run: WorkflowRun) => boolean, timeoutMs?: number, tenant?: string): Promise<WorkflowRun>;
  jobs(handler: (req: JobRequest, input: JsonValue) => Outcome | Promise<Outcome>): Promise<JobDriver>;
  stop(): Promise<void>;
};

export async function createHarness(options: Partial<WorkflowEngineOptions> = {}): Promise<Harness> {
  const broker = createMemoryBroker({ mode: 'core' });
  const bus = broker.connect();
  const stores = createMemoryStores();
  const metrics = createMetrics();
  const engine = createWorkflowEngine({
    bus,
    stores,
    metrics,
    options: { instanceId: `wfe-${newId().slice(-6)}`, reconcileIntervalMs: 50, resultWaitMs: 500, ...options },
  });
  const events: BusPacket[] = [];
  await bus.subscribe(Subjects.workflowEvent, (m) => {
    events.push(decodePacket(m.data));
  });
  await engine.start();
  const drivers: JobDriver[] = [];

  async function run(runId: string, tenant = 'default'): Promise<WorkflowRun> {
    const rec = await stores.runs.get(tenant, runId);
    if (rec === undefined) throw new Error(`no run ${runId}`);
    return rec.doc as unknown as WorkflowRun;
  }

  return {
    bus,
    stores,
    metrics,
    engine,
    events,
    async startRun(definition, o = {}) {
      const tenant = o.tenant ?? 'default';
      const def = definition as WorkflowDefinition;
      const wf = await stores.workflows.put(tenant, def.id, def);
      const id = o.runId ?? `run-${newId()}`;
      const doc = createRun({
        id,
        definition: def,
        input: o.input ?? {},
        now: await stores.runs.now(),
        tenant_id: tenant,
        workflow_revision: wf.version,
        dry_run: o.dryRun ?? false,
        ...(o.traceId === undefined ? {} : { trace_id: o.traceId }),
      });
      const res = await stores.runs.create({ tenant, id, workflowId: def.id, workflowVersion: wf.version, doc, dueAt: (await stores.runs.now()) + 60_000 });
      if (res.outcome !== 'created') throw new Error(`run not created: ${res.outcome}`);
      if (o.silent !== true) await bus.publish(Subjects.workflowCommand, encodeWorkflowCommand({ kind: 'start', tenant, run_id: id }));
      return id;
    },
    async sendEvent(runId, event, o = {}) {
      const tenant = o.tenant ?? 'default';
      const res = await stores.runs.pushEvent(tenant, runId, event, o.key === undefined ? {} : { key: o.key });
      if (res.outcome !== 'queued' && res.outcome !== 'duplicate') throw new Error(`event not queued: ${res.outcome}`);
      await bus.publish(Subjects.workflowCommand, encodeWorkflowCommand({ kind: 'event', tenant, run_id: runId }));
    },
    run,
    async waitFor(runId, done, timeoutMs = 5000, tenant = 'default') {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const r = await run(runId, tenant);
        if (done(r)) return r;
        if (Date.now() > until) throw new Error(`run ${runId} did not get there: ${JSON.stringify({ status: r.status, steps: Object.fromEntries(Object.entries(r.steps).map(([k, v]) => [k, v.status])) })}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async jobs(handler) {
      const driver = await startJobDriver(bus, stores, handler);
      drivers.push(driver);
      return driver;
    },
    async stop() {
      await engine.stop();
      for (const d of drivers) await d.stop();
      await bus.close();
    },
  };
}

const STATUS: Record<string, JobStatus> = {
  SUCCEEDED: JobStatus.SUCCEEDED,
  FAILED: JobStatus.FAILED,
  TIMEOUT: JobStatus.TIMEOUT,
  CANCELLED: JobStatus.CANCELLED,
  DENIED: JobStatus.DENIED,
};

/** Plays scheduler + worker for stored jobs (see the file header). */
async function startJobDriver(
  bus: Bus,
  stores: Stores,
  handler: (req: JobRequest, input: JsonValue) => Outcome | Promise<Outcome>,
): Promise<JobDriver> {
  const received: JobRequest[] = [];
  const counts = new Map<string, number>();
  let muted = false;

  async function finish(jobId: string, outcome: Exclude<Outcome, 'hang'>): Promise<void> {
    const job = await stores.jobs.get(jobId);
    if (job === undefined) throw new Error(`no job ${jobId}`);
    let resultPtr: string | null = null;
    if (outcome.state === 'SUCCEEDED' && outcome.output !== undefined) {
      resultPtr = await stores.pointers.putResult(jobId, { tenant: job.tenant, bytes: JSON.stringify(outcome.output) });
    }
    const done: JobRecord = await stores.jobs.transition(jobId, {
      from: ['RUNNING'],
      to: outcome.state,
      actor: 'test-scheduler',
      patch: {
        resultPtr,
        ...(outcome.state === 'FAILED' ? { errorCode: outcome.code ?? 'job_failed', errorMessage: outcome.message ?? 'failed' } : {}),
      },
      fence: jobFinalFence(jobId),
    });
    if (muted) return;
    const status = outcome.state === 'FAILED' && outcome.fatal === true ? JobStatus.FAILED_FATAL : (STATUS[outcome.state] as JobStatus);
    const packet = newPacket({
      traceId: done.traceId,
      senderId: 'test-scheduler',
      payload: { case: 'jobResult', value: { jobId, status, resultPtr: resultPtr ?? '', workerId: 'test-worker' } },
    });
    await bus.publish(Subjects.jobResult, encodePacket(packet));
    // As the scheduler does after a workflow job's terminal write: the job-final doorbell with the outcome.
    const bell = jobFinalCommand(done);
    if (bell !== undefined) await bus.publish(Subjects.workflowCommand, encodeWorkflowCommand(bell));
  }

  const sub = await bus.subscribe(Subjects.jobSubmit, async (m) => {
    const packet = decodePacket(m.data);
    if (packet.payload.case !== 'jobRequest') return;
    const req = packet.payload.value;
    // Like a scheduler: the stored record decides; a second submit of a taken job is a no-op.
    try {
      await stores.jobs.transition(req.jobId, { from: 'PENDING', to: 'SCHEDULED', actor: 'test-scheduler', patch: { dueAt: null } });
    } catch {
      return;
    }
    await stores.jobs.transition(req.jobId, { from: 'SCHEDULED', to: 'RUNNING', actor: 'test-scheduler', patch: { workerId: 'test-worker' } });
    received.push(req);
    counts.set(req.jobId, (counts.get(req.jobId) ?? 0) + 1);
    const payload = await stores.pointers.get(req.contextPtr);
    const input = payload === undefined ? null : (JSON.parse(new TextDecoder().decode(payload.bytes)) as JsonValue);
    const outcome = await handler(req, input);
    if (outcome === 'hang') return;
    await finish(req.jobId, outcome);
  });
  await bus.flush();
  return {
    received,
    counts,
    finish,
    muteResults(mute) {
      muted = mute;
    },
    stop: () => sub.drain(),
  };
}
