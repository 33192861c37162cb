import type { Bus } from '@cordum/bus';
import { type Logger, isCordumError, newTraceId, toError } from '@cordum/core';
import {
  AlertSeverity,
  JOB_STORED_HEADER,
  type JobRequest,
  JobRequestSchema,
  Subjects,
  contextPointer,
  encodeBinary,
  encodeJobRequestPacket,
  encodePacket,
  newPacket,
  storedRequestOf,
  submitMsgId,
} from '@cordum/protocol';
import type { JobRecord, JobStore, PointerStore } from '@cordum/store';
import type {
  CancelJobCommand,
  CompiledWorkflow,
  DispatchJobCommand,
  EmitAlertCommand,
  RunCommand,
  TimelineEntry,
  WorkflowRun,
} from '@cordum/workflow';
import type { StoreClock } from '../clock/store-clock.js';
import type { WorkflowEngineMetrics } from '../metrics.js';
import type { WorkflowEngineOptions } from '../options.js';
import { jobRequestOf } from './job-request.js';

// Executes the commands of a stored run. Every command is idempotent by its id, because after a crash the
// reconciler executes re-derived commands again:
//  - dispatch_job: the input behind the job's write-once context pointer and the job created PENDING in the
//    JobStore (create-once by job id), sent together, then the stored-job doorbell on sys.job.submit. A job
//    that already exists is not created again; it is re-announced only while still PENDING (a scheduler
//    dedupes). A job whose input could not be written is not announced.
//  - cancel_job: a job no worker has (PENDING, APPROVAL_REQUIRED) is cancelled in the store with a
//    compare-and-set, as the gateway does; JobCancel on sys.job.cancel tells the scheduler and the worker.
//    A job not created yet is created CANCELLED, so that an instance about to dispatch it cannot.
//  - emit_alert: a SystemAlert on sys.workflow.event (best effort, not re-derived after a crash).
//  - start_timer / cancel_timer: nothing here; timers are the run's due time in the store.
// Run and step status changes go out on sys.workflow.event too, as SystemAlerts with details
// {kind: run|step, tenant, run_id, workflow_id, step_id?, status} (the gateway streams them to WebSockets).

export const ENGINE_ACTOR = 'workflow-engine';

/** A dispatch's input write and job create, settled (or the error that kept them from being sent). */
type Stored =
  | { request: JobRequest; encoded: Uint8Array; traceId: string; put: PromiseSettledResult<string>; created: PromiseSettledResult<JobRecord> }
  | { failed: unknown };

/** Dispatches stored ahead of executing, by job id (Executor.storeAhead). */
export type StoredAhead = ReadonlyMap<string, Promise<Stored>>;

/** The most dispatches of one pass stored together with its run write (the rest follow it). */
const AHEAD_MAX = 64;

const isFenceDown = (r: PromiseSettledResult<unknown>): boolean => r.status === 'rejected' && isCordumError(r.reason) && r.reason.code === 'fence_down';
const fenceWasDown = (s: Stored): boolean => !('failed' in s) && (isFenceDown(s.put) || isFenceDown(s.created));

/** The dispatches of a reduction that execute() runs: a job also cancelled by it is neither dispatched nor cancelled. */
function partition(commands: readonly RunCommand[]): { cancels: CancelJobCommand[]; rest: RunCommand[] } {
  const dispatched = new Set(commands.flatMap((c) => (c.type === 'dispatch_job' ? [c.job_id] : [])));
  const cancelled = new Set(commands.flatMap((c) => (c.type === 'cancel_job' ? [c.job_id] : [])));
  return {
    // Such a job needs no CANCELLED record either: the write that won for this reduction never had it
    // dispatched, so no instance can be about to create it.
    cancels: commands.filter((c): c is CancelJobCommand => c.type === 'cancel_job' && !dispatched.has(c.job_id)),
    rest: commands.filter((c) => c.type !== 'cancel_job' && !(c.type === 'dispatch_job' && cancelled.has(c.job_id))),
  };
}

export type ExecutorDeps = {
  bus: Bus;
  jobs: JobStore;
  pointers: PointerStore;
  clock: StoreClock;
  logger: Logger;
  metrics: WorkflowEngineMetrics;
  options: WorkflowEngineOptions;
};

export type Executor = {
  /**
   * Stores the inputs and jobs of (up to 64 of) the reduction's dispatches now, fenced on the run write sent
   * just before (RunUpdate.fence): they are written only if that write happens. Call it in the same tick as
   * the write so that all of it is one store round trip; hand the result to execute().
   */
  storeAhead(tenant: string, run: WorkflowRun, compiled: CompiledWorkflow, commands: readonly RunCommand[], fence: string): StoredAhead;
  /** Executes the commands; resolves with how many failed (each failure is logged). */
  execute(tenant: string, run: WorkflowRun, compiled: CompiledWorkflow, commands: readonly RunCommand[], ahead?: StoredAhead): Promise<number>;
  /** Publishes run/step status changes found in timeline entries (best effort). */
  publishStatus(tenant: string, run: WorkflowRun, entries: readonly TimelineEntry[]): Promise<void>;
};

const ALERT_SEVERITY: Readonly<Record<string, AlertSeverity>> = {
  INFO: AlertSeverity.INFO,
  WARNING: AlertSeverity.WARNING,
  ERROR: AlertSeverity.ERROR,
  CRITICAL: AlertSeverity.CRITICAL,
};

/** Runs `fn` over `items`, at most `limit` at once. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i] as T);
  });
  await Promise.all(lanes);
}

export function createExecutor(deps: ExecutorDeps): Executor {
  const { bus, jobs, pointers, logger, metrics, options } = deps;

  /** The stored-job doorbell; `encoded` is the request's bytes (encodeBinary), the same the record holds. */
  async function publishSubmit(jobId: string, encoded: Uint8Array, traceId: string): Promise<void> {
    const packet = encodeJobRequestPacket({ traceId, senderId: options.instanceId, createdAtMs: Date.now(), request: encoded });
    await bus.publish(Subjects.jobSubmit, packet, { headers: { [JOB_STORED_HEADER]: '1' }, msgId: submitMsgId(jobId) });
  }

  /**
   * Writes a dispatch's input and job. The input's pointer is known before it is written
   * (PointerStore.putContext writes contextPointer), so both go out together, and with `fence` also together
   * with the run write they are fenced on. Never rejects: the outcomes are returned.
   */
  function store(tenant: string, run: WorkflowRun, compiled: CompiledWorkflow, cmd: DispatchJobCommand, fence?: string): Promise<Stored> {
    let request: JobRequest;
    let encoded: Uint8Array;
    try {
      request = jobRequestOf(cmd, {
        tenant,
        stepIndex: Math.max(0, compiled.order.indexOf(cmd.step_id)),
        contextPtr: contextPointer(cmd.job_id),
        defaultPriority: options.defaultPriority,
      });
      // Encoded once: the record's data.request and the doorbell's payload.
      encoded = encodeBinary(JobRequestSchema, request);
    } catch (err) {
      return Promise.resolve({ failed: err });
    }
    const traceId = cmd.trace_id ?? run.trace_id ?? newTraceId();
    const fenced = fence === undefined ? {} : { fence };
    return Promise.allSettled([
      pointers.putContext(cmd.job_id, { tenant, bytes: JSON.stringify(cmd.input ?? null), contentType: 'application/json', ...fenced }),
      jobs.create({
        id: cmd.job_id,
        tenant,
        topic: cmd.topic,
        traceId,
        labels: { ...request.labels },
        data: { request: storedRequestOf(encoded), submitted_by: ENGINE_ACTOR, run_id: run.id, step_id: cmd.step_id },
        dueAt: deps.clock.now() + options.submitGraceMs,
        actor: ENGINE_ACTOR,
        reason: `workflow ${run.workflow_id} run ${run.id} step ${cmd.step_id} attempt ${cmd.attempt}`,
        ...fenced,
      }),
    ]).then(([put, created]) => ({ request, encoded, traceId, put, created }));
  }

  async function dispatch(tenant: string, run: WorkflowRun, compiled: CompiledWorkflow, cmd: DispatchJobCommand, early?: Promise<Stored>): Promise<'ok' | 'duplicate'> {
    let stored = early === undefined ? undefined : await early;
    // Sent with a run write that lost, or ahead of it: write them now.
    if (stored === undefined || fenceWasDown(stored)) stored = await store(tenant, run, compiled, cmd);
    if ('failed' in stored) throw stored.failed;
    const { put, created, encoded, traceId } = stored;
    // Without its input the job is not announced: the command fails and is re-derived (the input written
    // again, the stored job then announced as a duplicate below). Should the input never be written, a
    // scheduler's pending replayer takes the job after submitGraceMs and it fails for its missing input.
    if (put.status === 'rejected') throw put.reason;
    if (put.value !== contextPointer(cmd.job_id)) throw new Error(`the pointer store wrote the input of ${cmd.job_id} at ${put.value}, not ${contextPointer(cmd.job_id)}`);
    if (created.status === 'rejected') {
      const err: unknown = created.reason;
      if (!(isCordumError(err) && err.code === 'already_exists')) throw err;
      const existing = await jobs.get(cmd.job_id);
      if (existing === undefined || existing.tenant !== tenant) throw err;
      // Created by an earlier pass that may have died before its doorbell: ring again while nobody took it.
      if (existing.state === 'PENDING') await publishSubmit(cmd.job_id, encoded, existing.traceId);
      return 'duplicate';
    }
    metrics.stepsDispatched.inc({ dry_run: cmd.dry_run ? 'true' : 'false' });
    try {
      await publishSubmit(cmd.job_id, encoded, traceId);
    } catch (err) {
      // The job is stored and due: a scheduler's pending replayer takes it after submitGraceMs.
      logger.warn({ run_id: run.id, step_id: cmd.step_id, job_id: cmd.job_id, tenant, err: toError(err).message }, 'submit publish failed; the stored job is replayed when due');
    }
    logger.debug({ run_id: run.id, step_id: cmd.step_id, job_id: cmd.job_id, tenant, topic: cmd.topic }, 'step dispatched');
    return 'ok';
  }

  /**
   * Records a job that does not exist yet as CANCELLED. Another instance may be between the run write that
   * dispatched it and the job's create: that create then finds the job, already final, and never announces
   * it. False when the job exists after all (it was created meanwhile) or cannot be recorded.
   */
  async function recordCancelled(tenant: string, run: WorkflowRun, cmd: CancelJobCommand): Promise<boolean> {
    const topic = run.definition.steps[cmd.step_id]?.topic;
    if (topic === undefined) return false;
    try {
      await jobs.create({
        id: cmd.job_id,
        tenant,
        topic,
        state: 'CANCELLED',
        labels: { workflow_id: run.workflow_id, run_id: run.id, step_id: cmd.step_id },
        data: { submitted_by: ENGINE_ACTOR, run_id: run.id, step_id: cmd.step_id, cancel: { by: ENGINE_ACTOR, reason: cmd.reason } },
        actor: ENGINE_ACTOR,
        reason: `cancelled before it was dispatched: ${cmd.reason}`,
      });
      return true;
    } catch (err) {
      if (isCordumError(err) && err.code === 'already_exists') return false;
      throw err;
    }
  }

  async function cancel(tenant: string, run: WorkflowRun, cmd: CancelJobCommand): Promise<'ok' | 'duplicate'> {
    let job = await jobs.get(cmd.job_id);
    if (job === undefined) {
      if (await recordCancelled(tenant, run, cmd)) return 'ok';
      job = await jobs.get(cmd.job_id);
    }
    if (job === undefined || job.tenant !== tenant) return 'duplicate';
    if (job.state === 'PENDING' || job.state === 'APPROVAL_REQUIRED') {
      try {
        await jobs.transition(cmd.job_id, {
          from: ['PENDING', 'APPROVAL_REQUIRED'],
          to: 'CANCELLED',
          actor: ENGINE_ACTOR,
          reason: cmd.reason,
          patch: { errorCode: 'cancelled', errorMessage: cmd.reason, dueAt: null, waitReason: null, data: { cancel: { by: ENGINE_ACTOR, reason: cmd.reason } } },
        });
        return 'ok';
      } catch (err) {
        if (!(isCordumError(err) && err.code === 'state_conflict')) throw err;
      }
    }
    const after = await jobs.get(cmd.job_id);
    if (after === undefined || after.state === 'SUCCEEDED' || after.state === 'FAILED' || after.state === 'CANCELLED' || after.state === 'TIMEOUT' || after.state === 'DENIED') {
      return 'duplicate';
    }
    const packet = newPacket({
      traceId: job.traceId,
      senderId: options.instanceId,
      payload: { case: 'jobCancel', value: { jobId: cmd.job_id, reason: cmd.reason, requestedBy: `${ENGINE_ACTOR}:${run.id}` } },
    });
    await bus.publish(Subjects.jobCancel, encodePacket(packet));
    return 'ok';
  }

  async function alert(tenant: string, run: WorkflowRun, cmd: EmitAlertCommand): Promise<'ok'> {
    const details: Record<string, string> = {
      ...cmd.details,
      kind: 'alert',
      tenant,
      run_id: run.id,
      workflow_id: run.workflow_id,
      step_id: cmd.step_id,
      alert_id: cmd.alert_id,
    };
    if (cmd.code !== undefined) details['code'] = cmd.code;
    if (cmd.trace_id !== undefined) details['trace_id'] = cmd.trace_id;
    if (cmd.dry_run) details['dry_run'] = 'true';
    const traceId = cmd.trace_id ?? run.trace_id ?? run.id;
    const packet = newPacket({
      traceId,
      senderId: options.instanceId,
      payload: {
        case: 'alert',
        value: {
          message: cmd.message,
          severity: ALERT_SEVERITY[cmd.severity] ?? AlertSeverity.INFO,
          sourceComponent: cmd.source_component,
          details,
          traceId,
          ...(cmd.code === undefined ? {} : { code: cmd.code }),
        },
      },
    });
    await bus.publish(Subjects.workflowEvent, encodePacket(packet));
    return 'ok';
  }

  return {
    storeAhead(tenant, run, compiled, commands, fence) {
      const ahead = new Map<string, Promise<Stored>>();
      for (const cmd of partition(commands).rest) {
        if (cmd.type !== 'dispatch_job' || ahead.size >= AHEAD_MAX) continue;
        ahead.set(cmd.job_id, store(tenant, run, compiled, cmd, fence));
      }
      return ahead;
    },

    async execute(tenant, run, compiled, commands, ahead) {
      let failed = 0;
      const run1 = async (cmd: RunCommand): Promise<void> => {
        const log = { run_id: run.id, tenant, ...('step_id' in cmd && cmd.step_id !== undefined ? { step_id: cmd.step_id } : {}), ...('job_id' in cmd ? { job_id: cmd.job_id } : {}) };
        try {
          let outcome: 'ok' | 'duplicate';
          switch (cmd.type) {
            case 'dispatch_job':
              outcome = await dispatch(tenant, run, compiled, cmd, ahead?.get(cmd.job_id));
              break;
            case 'cancel_job':
              outcome = await cancel(tenant, run, cmd);
              break;
            case 'emit_alert':
              outcome = await alert(tenant, run, cmd);
              break;
            case 'start_timer':
            case 'cancel_timer':
              return;
          }
          metrics.commands.inc({ type: cmd.type, outcome });
        } catch (err) {
          failed++;
          metrics.commands.inc({ type: cmd.type, outcome: 'failed' });
          logger.warn({ ...log, command: cmd.type, err: toError(err).message }, 'command failed; the reconciler retries it');
        }
      };
      // Cancels first (a cancelled step's job must not outlive it), then dispatches and alerts.
      const { cancels, rest } = partition(commands);
      await eachLimited(cancels, 32, run1);
      await eachLimited(rest, 64, run1);
      return failed;
    },

    async publishStatus(tenant, run, entries) {
      const publishes: Promise<void>[] = [];
      for (const e of entries) {
        if (e.type !== 'run_status' && e.type !== 'step_status') continue;
        const status = e.status ?? '';
        const kind = e.type === 'run_status' ? 'run' : 'step';
        const details: Record<string, string> = { kind, tenant, run_id: run.id, workflow_id: run.workflow_id, status };
        if (kind === 'step' && e.step_id !== undefined) details['step_id'] = e.step_id;
        const severity =
          status === 'failed' || status === 'timed_out' ? AlertSeverity.ERROR : status === 'cancelled' ? AlertSeverity.WARNING : AlertSeverity.INFO;
        const traceId = run.trace_id ?? run.id;
        const message =
          kind === 'run' ? `run ${run.id} of workflow ${run.workflow_id} is ${status}` : `step ${e.step_id ?? '?'} of run ${run.id} is ${status}`;
        const packet = newPacket({
          traceId,
          senderId: options.instanceId,
          payload: { case: 'alert', value: { message: e.message === undefined ? message : `${message}: ${e.message}`, severity, sourceComponent: ENGINE_ACTOR, details, traceId } },
        });
        publishes.push(bus.publish(Subjects.workflowEvent, encodePacket(packet)));
      }
      const results = await Promise.allSettled(publishes);
      const lost = results.filter((r) => r.status === 'rejected').length;
      if (lost > 0) logger.warn({ run_id: run.id, tenant, lost }, 'could not publish run/step status events');
    },
  };
}

