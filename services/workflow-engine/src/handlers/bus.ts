import type { Bus, BusMessage, Subscription } from '@cordum/bus';
import { type Logger, isSafeId, isSafeTenantId, toError } from '@cordum/core';
import { JobStatus, QueueGroups, Subjects, decodePacket, decodeWorkflowCommand } from '@cordum/protocol';
import type { JobStore, PointerStore } from '@cordum/store';
import type { WorkflowEngineMetrics } from '../metrics.js';
import type { WorkflowEngineOptions } from '../options.js';
import { jobResultEvent, looksLikeWorkflowJob, runOfJob } from '../runs/job-events.js';
import type { RunProcessor } from '../runs/processor.js';

// Thin bus adapters. sys.workflow.command is a doorbell ("run X of tenant T has work"): the run and its inbox
// in the store are the command. sys.job.result is only a wake-up: the job's terminal state is read from the
// JobStore (the scheduler writes it, owning job-level retries), queued in the run's inbox, and the run is
// processed. The JobStore may lag the result message by a few ms (the scheduler is settling it as we read),
// so a non-terminal job is polled with growing gaps for resultWaitMs; past that the stale sweep finds it.

export type BusHandlersDeps = {
  bus: Bus;
  jobs: JobStore;
  pointers: PointerStore;
  processor: RunProcessor;
  logger: Logger;
  metrics: WorkflowEngineMetrics;
  options: WorkflowEngineOptions;
  /** Work started by a handler that outlives it (result polls), awaited on stop. */
  track(work: Promise<unknown>): void;
  isStopped(): boolean;
};

const POLL_GAPS_MS = [1, 1, 1, 2, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 1000];

async function onCommand(msg: BusMessage, deps: BusHandlersDeps): Promise<void> {
  const cmd = decodeWorkflowCommand(msg.data);
  if (cmd === undefined || !isSafeTenantId(cmd.tenant) || !isSafeId(cmd.run_id)) {
    deps.metrics.doorbells.inc({ kind: 'invalid', outcome: 'dropped' });
    deps.logger.warn({ subject: msg.subject }, 'malformed workflow command dropped');
    return;
  }
  deps.metrics.doorbells.inc({ kind: cmd.kind, outcome: 'accepted' });
  await deps.processor.process(cmd.tenant, cmd.run_id);
}

/** One look at the job: done (queued, or nothing to do) or not yet terminal. */
async function lookOnce(jobId: string, fatal: boolean, polled: boolean, deps: BusHandlersDeps): Promise<'done' | 'not_terminal'> {
  const job = await deps.jobs.get(jobId);
  if (job === undefined) {
    deps.metrics.resultWakeups.inc({ outcome: 'unknown_job' });
    return 'done';
  }
  const owner = runOfJob(job);
  if (owner === undefined) {
    deps.metrics.resultWakeups.inc({ outcome: 'not_workflow' });
    return 'done';
  }
  const event = await jobResultEvent(job, deps.pointers, { maxOutputBytes: deps.options.maxOutputBytes, fatal });
  if (event === undefined) return 'not_terminal';
  deps.metrics.resultWakeups.inc({ outcome: polled ? 'terminal_after_poll' : 'terminal' });
  await deps.processor.deliverResult(owner.tenant, owner.runId, event);
  return 'done';
}

async function poll(jobId: string, fatal: boolean, deps: BusHandlersDeps): Promise<void> {
  const started = Date.now();
  for (let i = 0; ; i++) {
    const gap = POLL_GAPS_MS[Math.min(i, POLL_GAPS_MS.length - 1)] as number;
    if (deps.isStopped() || Date.now() - started + gap > deps.options.resultWaitMs) {
      deps.metrics.resultWakeups.inc({ outcome: 'not_terminal' });
      deps.logger.debug({ job_id: jobId }, 'result wake-up: job still not terminal; left to the reconciler');
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, gap));
    if ((await lookOnce(jobId, fatal, true, deps)) === 'done') return;
  }
}

async function onResult(msg: BusMessage, deps: BusHandlersDeps): Promise<void> {
  let jobId: string;
  let fatal: boolean;
  try {
    const packet = decodePacket(msg.data);
    if (packet.payload.case !== 'jobResult') return;
    jobId = packet.payload.value.jobId;
    fatal = packet.payload.value.status === JobStatus.FAILED_FATAL;
  } catch {
    return; // The scheduler counts malformed results; a wake-up has nothing to add.
  }
  if (!looksLikeWorkflowJob(jobId)) return;
  const fail = (err: unknown): void => {
    deps.metrics.resultWakeups.inc({ outcome: 'failed' });
    deps.logger.warn({ job_id: jobId, err: toError(err).message }, 'result wake-up failed; the reconciler finds the result');
  };
  // The first look is part of the handler (a durable delivery is acked once the result is queued); waiting
  // for a JobStore that lags the message happens outside it.
  try {
    if ((await lookOnce(jobId, fatal, false, deps)) === 'done') return;
  } catch (err) {
    fail(err);
    return;
  }
  deps.track(poll(jobId, fatal, deps).catch(fail));
}

export async function subscribeBusHandlers(deps: BusHandlersDeps): Promise<Subscription[]> {
  const { bus, options } = deps;
  const queue = QueueGroups.workflowEngine;
  const subs = [
    await bus.subscribe(Subjects.workflowCommand, (m) => onCommand(m, deps), { queue, concurrency: options.concurrency }),
    await bus.subscribe(Subjects.jobResult, (m) => onResult(m, deps), { queue, concurrency: options.concurrency }),
  ];
  await bus.flush();
  return subs;
}
