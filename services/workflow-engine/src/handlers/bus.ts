import type { Bus, BusMessage, Subscription } from '@cordum/bus';
import { type Logger, isSafeId, isSafeTenantId, toError } from '@cordum/core';
import {
  type JobFinalOutcome,
  type JobState,
  JobStatus,
  QueueGroups,
  Subjects,
  decodePacket,
  decodeWorkflowCommand,
  isTerminalJobState,
} from '@cordum/protocol';
import { type JobStore, type PointerStore, jobFinalFence, outcomeFenceValue } from '@cordum/store';
import type { WorkflowEngineMetrics } from '../metrics.js';
import type { WorkflowEngineOptions } from '../options.js';
import { type PrefetchedOutput, jobResultEvent, looksLikeWorkflowJob, runOfJob } from '../runs/job-events.js';
import type { RunProcessor } from '../runs/processor.js';

// Thin bus adapters. sys.workflow.command is a doorbell ("run X of tenant T has work"): the run and its inbox
// in the store are the command. sys.job.result is only a wake-up: the job's terminal state comes from the
// JobStore (the scheduler writes it, owning job-level retries) and is reduced in the run's next pass.
//
// The result message races the scheduler's terminal write: the engine often reads the job a moment before
// the write. It does not poll then: the scheduler rings again after its terminal write of a workflow job —
// a job-final doorbell, `{kind: 'event', run_id, job_id, outcome}` on sys.workflow.command — carrying the
// outcome it wrote. The engine acts on that outcome without reading the job, but only in a run write that
// requires the job's final fence (raised by the same terminal write, @cordum/store model/fence.ts) to hold it:
// the store confirms the outcome atomically, and a write it refuses makes the engine read the job instead.
// The result message's first look reads the output it names together with the job, so the doorbell usually
// finds it read already. One wake-up per job is in flight in an instance, and a job already delivered is not
// looked at again. A FAILED job is delivered only with its result message, which says whether the failure
// was fatal (FAILED_FATAL: no step retry). A lost doorbell (or one another instance got) costs the slow
// fallback looks (resultWaitMs in all), then the reconciler's stale sweep.

export type BusHandlersDeps = {
  bus: Bus;
  jobs: JobStore;
  pointers: PointerStore;
  processor: RunProcessor;
  logger: Logger;
  metrics: WorkflowEngineMetrics;
  options: WorkflowEngineOptions;
  /** Work started by a handler that outlives it (result waits), awaited on stop. */
  track(work: Promise<unknown>): void;
  isStopped(): boolean;
};

/** Fallback looks while no doorbell came (ms after the previous look). */
const FALLBACK_GAPS_MS = [25, 50, 100, 250, 500, 1000];
/** Jobs whose result this instance delivered, remembered to drop the other wake-up of the same job. */
const DELIVERED_MEMORY = 10_000;

/** A wake-up in flight for one job. */
type Wait = {
  /** The job's result message came (it alone says whether a failure is fatal). */
  result: boolean;
  fatal: boolean;
  /** A message came while the job was being read: read again before waiting. */
  rung: boolean;
  /** Ends the current wait early (a doorbell). */
  wake: (() => void) | undefined;
  /** The result pointer the result message named: looks read it together with the job, once. */
  resultPtr: string | undefined;
  /** The output read from resultPtr. */
  prefetched: PrefetchedOutput | undefined;
  /** Delivered on a doorbell's word (see wake): the wait is over. */
  handled: boolean;
};

type Source =
  | { kind: 'result'; fatal: boolean; resultPtr: string }
  | { kind: 'doorbell'; tenant: string; runId: string; outcome: JobFinalOutcome | undefined };

type Look = 'done' | 'not_terminal' | 'failed_needs_result';

function createResultWakeups(deps: BusHandlersDeps) {
  const waits = new Map<string, Wait>();
  const delivered = new Set<string>();

  function remember(jobId: string): void {
    if (delivered.size >= DELIVERED_MEMORY) delivered.delete(delivered.values().next().value as string);
    delivered.add(jobId);
  }

  /**
   * One look at the job: done (queued, or nothing to do) or not yet deliverable. The first look after the
   * result message reads the output it named in the same store round trip as the job (used only if the
   * job's record names that pointer), so a later doorbell finds the output read already.
   */
  async function lookOnce(jobId: string, w: Wait, outcome: 'terminal' | 'terminal_after_doorbell' | 'terminal_after_poll'): Promise<Look> {
    const ptr = w.resultPtr !== undefined && w.prefetched?.pointer !== w.resultPtr ? w.resultPtr : undefined;
    const [job, prefetched] = await Promise.all([
      deps.jobs.get(jobId),
      ptr === undefined ? undefined : deps.pointers.get(ptr).then((payload) => ({ pointer: ptr, payload }), () => undefined),
    ]);
    if (prefetched !== undefined) w.prefetched = prefetched;
    if (job === undefined) {
      deps.metrics.resultWakeups.inc({ outcome: 'unknown_job' });
      return 'done';
    }
    const owner = runOfJob(job);
    if (owner === undefined) {
      deps.metrics.resultWakeups.inc({ outcome: 'not_workflow' });
      return 'done';
    }
    if (job.state === 'FAILED' && !w.result) return 'failed_needs_result';
    const event = await jobResultEvent(job, deps.pointers, {
      maxOutputBytes: deps.options.maxOutputBytes,
      fatal: w.fatal,
      ...(w.prefetched === undefined ? {} : { prefetched: w.prefetched }),
    });
    if (event === undefined) return 'not_terminal';
    await deps.processor.deliverResult(owner.tenant, owner.runId, event);
    deps.metrics.resultWakeups.inc({ outcome });
    remember(jobId);
    return 'done';
  }

  /** Waits for a doorbell or the fallback gap; false when the wait is over (stopped, or resultWaitMs spent). */
  async function pause(w: Wait, started: number, i: number): Promise<boolean> {
    const gap = FALLBACK_GAPS_MS[Math.min(i, FALLBACK_GAPS_MS.length - 1)] as number;
    if (deps.isStopped() || Date.now() - started + gap > deps.options.resultWaitMs) return false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        w.wake = undefined;
        resolve();
      }, gap);
      w.wake = () => {
        clearTimeout(timer);
        w.wake = undefined;
        resolve();
      };
    });
    return true;
  }

  /** Looks until the job is delivered, waiting for a doorbell between looks. */
  async function follow(jobId: string, w: Wait, first: Look): Promise<void> {
    const started = Date.now();
    let look = first;
    let woken = false;
    for (let i = 0; look !== 'done'; i++) {
      // Only a result message is worth waiting for; a doorbell that finds nothing to deliver (a FAILED job,
      // whose result message says whether it is fatal) leaves it to that message or the reconciler.
      if (!w.result && !w.rung) return;
      if (w.handled) return;
      if (!w.rung) {
        if (!(await pause(w, started, i))) {
          deps.metrics.resultWakeups.inc({ outcome: 'not_terminal' });
          deps.logger.debug({ job_id: jobId }, 'result wake-up: job still not terminal; left to the reconciler');
          return;
        }
        if (w.handled) return;
        woken = w.rung;
      } else woken = true;
      w.rung = false;
      look = await lookOnce(jobId, w, woken ? 'terminal_after_doorbell' : 'terminal_after_poll');
    }
  }

  /**
   * A job-final doorbell's outcome, delivered without reading the job: the run write that acts on it requires
   * the job's final fence (raised by the scheduler's terminal write) to hold that very outcome, so the store
   * still decides; a write it refuses makes the engine read the job (RunProcessor.deliverResult). Ends the
   * job's wait, whose result message may have read the output already.
   */
  async function deliverOnWord(jobId: string, source: Extract<Source, { kind: 'doorbell' }>, running: Wait | undefined): Promise<void> {
    const outcome = source.outcome as JobFinalOutcome;
    const w: Wait = running ?? { result: false, fatal: false, rung: false, wake: undefined, resultPtr: undefined, prefetched: undefined, handled: false };
    w.handled = true;
    w.wake?.();
    if (running === undefined) waits.set(jobId, w);
    try {
      const fields = {
        id: jobId,
        state: outcome.state as JobState,
        resultPtr: outcome.result_ptr ?? null,
        errorCode: outcome.error_code ?? null,
        errorMessage: outcome.error_message ?? null,
      };
      const event = await jobResultEvent(fields, deps.pointers, {
        maxOutputBytes: deps.options.maxOutputBytes,
        fatal: w.fatal,
        ...(w.prefetched === undefined ? {} : { prefetched: w.prefetched }),
      });
      if (event === undefined) return; // Not a terminal state (wake() lets only terminal ones through).
      const value = outcomeFenceValue({ ...fields, tenant: source.tenant, runId: source.runId });
      // Not remembered as delivered: if the store does not confirm the outcome, the job's own result message
      // must still be looked at (a later duplicate costs a read; the reducer ignores it).
      await deps.processor.deliverResult(source.tenant, source.runId, event, { fence: jobFinalFence(jobId), value });
      deps.metrics.resultWakeups.inc({ outcome: 'terminal_on_doorbell_word' });
    } catch (err) {
      deps.metrics.resultWakeups.inc({ outcome: 'failed' });
      deps.logger.warn({ job_id: jobId, err: toError(err).message }, 'result wake-up failed; the reconciler finds the result');
    } finally {
      if (running === undefined) waits.delete(jobId);
    }
  }

  /**
   * A wake-up for a job. Resolves once the first look is done (a durable result delivery is acked once its
   * result is queued); waiting for the scheduler's write happens outside, tracked.
   */
  async function wake(jobId: string, source: Source): Promise<void> {
    if (delivered.has(jobId)) {
      deps.metrics.resultWakeups.inc({ outcome: 'duplicate' });
      return;
    }
    const running = waits.get(jobId);
    // A FAILED job's result message says whether the failure is fatal: without it, read the job as usual.
    const outcome = source.kind === 'doorbell' ? source.outcome : undefined;
    if (source.kind === 'doorbell' && outcome !== undefined && isTerminalJobState(outcome.state as JobState) && (outcome.state !== 'FAILED' || running?.result === true)) {
      await deliverOnWord(jobId, source, running);
      return;
    }
    if (running !== undefined) {
      if (source.kind === 'result') {
        running.result = true;
        running.fatal ||= source.fatal;
        running.resultPtr = source.resultPtr === '' ? running.resultPtr : source.resultPtr;
      }
      running.rung = true;
      running.wake?.();
      return;
    }
    const w: Wait = {
      result: source.kind === 'result',
      fatal: source.kind === 'result' && source.fatal,
      rung: false,
      wake: undefined,
      resultPtr: source.kind === 'result' && source.resultPtr !== '' ? source.resultPtr : undefined,
      prefetched: undefined,
      handled: false,
    };
    waits.set(jobId, w);
    const fail = (err: unknown): void => {
      deps.metrics.resultWakeups.inc({ outcome: 'failed' });
      deps.logger.warn({ job_id: jobId, err: toError(err).message }, 'result wake-up failed; the reconciler finds the result');
    };
    let first: Look;
    try {
      first = await lookOnce(jobId, w, source.kind === 'result' ? 'terminal' : 'terminal_after_doorbell');
    } catch (err) {
      waits.delete(jobId);
      fail(err);
      return;
    }
    if (first === 'done') {
      waits.delete(jobId);
      return;
    }
    deps.track(
      follow(jobId, w, first)
        .catch(fail)
        .finally(() => waits.delete(jobId)),
    );
  }

  return { wake };
}

type ResultWakeups = ReturnType<typeof createResultWakeups>;

async function onCommand(msg: BusMessage, deps: BusHandlersDeps, wakeups: ResultWakeups): Promise<void> {
  const cmd = decodeWorkflowCommand(msg.data);
  if (cmd === undefined || !isSafeTenantId(cmd.tenant) || !isSafeId(cmd.run_id)) {
    deps.metrics.doorbells.inc({ kind: 'invalid', outcome: 'dropped' });
    deps.logger.warn({ subject: msg.subject }, 'malformed workflow command dropped');
    return;
  }
  if (cmd.job_id !== undefined) {
    // A scheduler's job-final doorbell: the job, not the whole run, is what to look at.
    deps.metrics.doorbells.inc({ kind: 'job_final', outcome: 'accepted' });
    if (looksLikeWorkflowJob(cmd.job_id)) await wakeups.wake(cmd.job_id, { kind: 'doorbell', tenant: cmd.tenant, runId: cmd.run_id, outcome: cmd.outcome });
    return;
  }
  deps.metrics.doorbells.inc({ kind: cmd.kind, outcome: 'accepted' });
  await deps.processor.process(cmd.tenant, cmd.run_id);
}

async function onResult(msg: BusMessage, deps: BusHandlersDeps, wakeups: ResultWakeups): Promise<void> {
  let jobId: string;
  let fatal: boolean;
  let resultPtr: string;
  try {
    const packet = decodePacket(msg.data);
    if (packet.payload.case !== 'jobResult') return;
    jobId = packet.payload.value.jobId;
    fatal = packet.payload.value.status === JobStatus.FAILED_FATAL;
    resultPtr = packet.payload.value.resultPtr;
  } catch {
    return; // The scheduler counts malformed results; a wake-up has nothing to add.
  }
  if (!looksLikeWorkflowJob(jobId)) return;
  await wakeups.wake(jobId, { kind: 'result', fatal, resultPtr });
}

export async function subscribeBusHandlers(deps: BusHandlersDeps): Promise<Subscription[]> {
  const { bus, options } = deps;
  const queue = QueueGroups.workflowEngine;
  const wakeups = createResultWakeups(deps);
  const subs = [
    await bus.subscribe(Subjects.workflowCommand, (m) => onCommand(m, deps, wakeups), { queue, concurrency: options.concurrency }),
    await bus.subscribe(Subjects.jobResult, (m) => onResult(m, deps, wakeups), { queue, concurrency: options.concurrency }),
  ];
  await bus.flush();
  return subs;
}
