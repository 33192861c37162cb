import { type BackoffOptions, backoffDelay } from '@cordum/core';
import { ErrorCode, JobStatus } from '@cordum/protocol';

// What an attempt may take and what happens when it ends: pure functions of the job, its topic's timeouts
// and the policy constraints, so every scheduler instance decides the same way.

export type AttemptPolicy = {
  /** An attempt's lease: renewed by each JobProgress; when it runs out the attempt is lost. */
  leaseMs: number;
  /** First attempt included. */
  maxAttempts: number;
  /**
   * Whether a failed attempt is retried. Not for jobs of workflow steps: the step's own `retry` decides,
   * so retries never multiply. Lost attempts (lease expiry, or a worker handing the job back with
   * JOB_WORKER_UNAVAILABLE) are retried either way.
   */
  retryFailures: boolean;
};

export type AttemptPolicyInput = {
  topicTimeoutMs: number | undefined;
  topicMaxRetries: number | undefined;
  constraintMaxRetries: number | undefined;
  defaultLeaseMs: number;
  defaultMaxRetries: number;
  workflowJob: boolean;
};

export function attemptPolicy(input: AttemptPolicyInput): AttemptPolicy {
  // A policy constraint can only tighten the topic's retries.
  const topicRetries = input.topicMaxRetries ?? input.defaultMaxRetries;
  const retries =
    input.constraintMaxRetries === undefined ? topicRetries : Math.min(topicRetries, input.constraintMaxRetries);
  return {
    leaseMs: input.topicTimeoutMs ?? input.defaultLeaseMs,
    maxAttempts: 1 + Math.max(0, retries),
    retryFailures: !input.workflowJob,
  };
}

export type Outcome =
  | { kind: 'succeed' }
  | { kind: 'retry'; delayMs: number; reasonCode: string; errorCode: ErrorCode; message: string }
  | { kind: 'finish'; state: 'FAILED' | 'CANCELLED' | 'DENIED' | 'TIMEOUT'; reasonCode: string; errorCode: ErrorCode; message: string; dlq: boolean }
  | { kind: 'progress' };

export type ResultFacts = {
  status: JobStatus;
  errorCode: ErrorCode;
  errorCodeText: string;
  errorMessage: string;
  attempts: number;
};

/** What a worker's result means for the job. */
export function outcomeOfResult(result: ResultFacts, policy: AttemptPolicy, backoff: BackoffOptions, random?: () => number): Outcome {
  const message = result.errorMessage;
  switch (result.status) {
    case JobStatus.SUCCEEDED:
      return { kind: 'succeed' };
    case JobStatus.CANCELLED:
      return { kind: 'finish', state: 'CANCELLED', reasonCode: 'cancelled', errorCode: result.errorCode, message, dlq: false };
    case JobStatus.DENIED:
      return { kind: 'finish', state: 'DENIED', reasonCode: 'worker_denied', errorCode: ErrorCode.SAFETY_DENIED, message, dlq: true };
    case JobStatus.TIMEOUT:
      return { kind: 'finish', state: 'TIMEOUT', reasonCode: 'worker_timeout', errorCode: ErrorCode.JOB_TIMEOUT, message, dlq: true };
    case JobStatus.FAILED_FATAL:
      return failure(result, 'job_failed', false);
    case JobStatus.FAILED:
    case JobStatus.FAILED_RETRYABLE: {
      // JOB_WORKER_UNAVAILABLE: the worker handed the job back (draining, topic not served here) — the attempt
      // was lost, the job did not fail, so it is retried like a lost lease, workflow step or not.
      const handedBack = result.status === JobStatus.FAILED_RETRYABLE && result.errorCode === ErrorCode.JOB_WORKER_UNAVAILABLE;
      if (!policy.retryFailures && !handedBack) return failure(result, 'job_failed', false);
      if (result.attempts >= policy.maxAttempts) return failure(result, 'max_retries_exceeded', true);
      return {
        kind: 'retry',
        delayMs: backoffDelay(result.attempts, backoff, random),
        reasonCode: result.errorCodeText === '' ? 'job_failed' : result.errorCodeText,
        errorCode: result.errorCode,
        message,
      };
    }
    case JobStatus.UNSPECIFIED:
      return failure(result, 'job_failed', false);
    case JobStatus.PENDING:
    case JobStatus.SCHEDULED:
    case JobStatus.DISPATCHED:
    case JobStatus.RUNNING:
      return { kind: 'progress' };
    default:
      return failure(result, 'job_failed', false);
  }
}

function failure(result: ResultFacts, reasonCode: string, exhausted: boolean): Outcome {
  const code = result.errorCodeText !== '' && !exhausted ? result.errorCodeText : reasonCode;
  return {
    kind: 'finish',
    state: 'FAILED',
    reasonCode: code,
    errorCode: result.errorCode,
    message: exhausted ? `gave up after ${result.attempts} attempts: ${result.errorMessage}` : result.errorMessage,
    dlq: true,
  };
}

/** What a lost attempt (lease ran out, worker gone) means for the job. */
export function outcomeOfLostAttempt(attempts: number, policy: AttemptPolicy, backoff: BackoffOptions, random?: () => number): Outcome {
  if (attempts >= policy.maxAttempts) {
    return {
      kind: 'finish',
      state: 'FAILED',
      reasonCode: 'max_retries_exceeded',
      errorCode: ErrorCode.JOB_WORKER_UNAVAILABLE,
      message: `attempt ${attempts} of ${policy.maxAttempts} lost its lease (worker lost or silent); no attempts left`,
      dlq: true,
    };
  }
  return {
    kind: 'retry',
    delayMs: backoffDelay(attempts, backoff, random),
    reasonCode: 'lease_expired',
    errorCode: ErrorCode.JOB_WORKER_UNAVAILABLE,
    message: `attempt ${attempts} lost its lease (worker lost or silent)`,
  };
}
