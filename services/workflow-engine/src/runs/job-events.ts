import type { JsonValue } from '@cordum/core';
import { ErrorCode, type JobState, errorCodeFromString, isTerminalJobState } from '@cordum/protocol';
import type { JobRecord, Payload, PointerStore } from '@cordum/store';
import type { JobOutcome, JobResultEvent } from '@cordum/workflow';

// A terminal job as the reducer's job_result event. The JobStore's terminal state is the only truth the
// engine acts on: the scheduler owns job-level retries (lost leases), so a FAILED job is final for its
// attempt and the step's own `retry` decides what comes next.

const OUTCOMES: Readonly<Partial<Record<JobState, JobOutcome>>> = {
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TIMEOUT: 'timed_out',
  DENIED: 'denied',
};

/**
 * Failures another attempt cannot fix (bad or expired input, no permission): the step is not retried. The
 * wake-up also passes `fatal` when the worker said FAILED_FATAL. Anything else FAILED is retried per the
 * step's `retry`.
 */
const FATAL_CODES: ReadonlySet<ErrorCode> = new Set([ErrorCode.JOB_INVALID_INPUT, ErrorCode.JOB_PERMISSION_DENIED]);

/** The workflow run a job belongs to (labels written at dispatch), or undefined for other jobs. */
export function runOfJob(job: JobRecord): { tenant: string; runId: string; stepId: string | undefined } | undefined {
  const runId = job.labels['run_id'];
  if (runId === undefined || runId === '') return undefined;
  return { tenant: job.tenant, runId, stepId: job.labels['step_id'] };
}

/** Whether a job id has the shape of a workflow job (`<run>:<step>@<n>` or `<run>:<step>[i]@<n>`): a cheap pre-filter. */
export function looksLikeWorkflowJob(jobId: string): boolean {
  return /^.+:.+@\d+$/.test(jobId);
}

/** A result payload read alongside the job record, named by the pointer it was read from. */
export type PrefetchedOutput = { pointer: string; payload: Payload | undefined };

/** Reads a result payload as JSON (or text); undefined when absent, too large or unreadable. */
async function readOutput(pointers: Pick<PointerStore, 'get'>, ptr: string, maxBytes: number, prefetched: PrefetchedOutput | undefined): Promise<JsonValue | undefined> {
  const payload = prefetched?.pointer === ptr ? prefetched.payload : await pointers.get(ptr);
  if (payload === undefined || payload.bytes.byteLength > maxBytes) return undefined;
  const text = new TextDecoder().decode(payload.bytes);
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return payload.contentType.startsWith('text/') || payload.contentType === 'application/json' ? text : undefined;
  }
}

/** What a job_result event is made of: a terminal job's record, or the outcome its final doorbell carried. */
export type JobOutcomeFields = Pick<JobRecord, 'id' | 'state' | 'resultPtr' | 'errorCode' | 'errorMessage'>;

/** The job_result event of a terminal job; undefined while the job is not terminal. */
export async function jobResultEvent(
  job: JobOutcomeFields,
  pointers: Pick<PointerStore, 'get'>,
  options: { maxOutputBytes: number; fatal?: boolean; prefetched?: PrefetchedOutput },
): Promise<JobResultEvent | undefined> {
  if (!isTerminalJobState(job.state)) return undefined;
  const state = OUTCOMES[job.state] ?? 'failed';
  const event: JobResultEvent = { type: 'job_result', job_id: job.id, state };
  if (job.resultPtr !== null && job.resultPtr !== '') {
    event.result_ptr = job.resultPtr;
    if (state === 'succeeded') {
      const output = await readOutput(pointers, job.resultPtr, options.maxOutputBytes, options.prefetched);
      if (output !== undefined) event.output = output;
    }
  }
  if (state !== 'succeeded') {
    const error: { code?: string; message?: string } = {};
    if (job.errorCode !== null && job.errorCode !== '') error.code = job.errorCode;
    if (job.errorMessage !== null && job.errorMessage !== '') error.message = job.errorMessage;
    if (error.code !== undefined || error.message !== undefined) event.error = error;
    if (state === 'failed' && (options.fatal === true || (job.errorCode !== null && FATAL_CODES.has(errorCodeFromString(job.errorCode))))) event.retryable = false;
  }
  return event;
}
