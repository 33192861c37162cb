import { JobStatus } from './gen/cordum/agent/v1/job_pb.js';

// Control-plane job states. The wire enum JobStatus has no APPROVAL_REQUIRED; the store and API do.
export const JOB_STATES = [
  'PENDING',
  'APPROVAL_REQUIRED',
  'SCHEDULED',
  'DISPATCHED',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'DENIED',
] as const;

export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_JOB_STATES: ReadonlySet<JobState> = new Set<JobState>([
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'DENIED',
]);

// Allowed moves. SCHEDULED is re-entered from DISPATCHED/RUNNING when an attempt's lease expires or its
// worker is lost (attempt + 1); APPROVAL_REQUIRED returns to PENDING only through an approval record.
// Staying in the same non-terminal state is always allowed (lease renewals, wait-reason updates).
const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  PENDING: ['APPROVAL_REQUIRED', 'SCHEDULED', 'DENIED', 'FAILED', 'CANCELLED', 'TIMEOUT'],
  APPROVAL_REQUIRED: ['PENDING', 'DENIED', 'FAILED', 'CANCELLED', 'TIMEOUT'],
  SCHEDULED: ['PENDING', 'DISPATCHED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'DENIED', 'CANCELLED', 'TIMEOUT'],
  DISPATCHED: ['SCHEDULED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMEOUT'],
  RUNNING: ['SCHEDULED', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMEOUT'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
  TIMEOUT: [],
  DENIED: [],
};

export function isJobState(value: string): value is JobState {
  return (JOB_STATES as readonly string[]).includes(value);
}

export function isTerminalJobState(state: JobState): boolean {
  return TERMINAL_JOB_STATES.has(state);
}

export function canTransition(from: JobState, to: JobState): boolean {
  if (from === to) return !isTerminalJobState(from);
  return TRANSITIONS[from].includes(to);
}

export function allowedTransitions(from: JobState): readonly JobState[] {
  return TRANSITIONS[from];
}

/** Wire status of a control-plane state (APPROVAL_REQUIRED travels as PENDING). */
export function jobStateToStatus(state: JobState): JobStatus {
  switch (state) {
    case 'PENDING':
    case 'APPROVAL_REQUIRED':
      return JobStatus.PENDING;
    case 'SCHEDULED':
      return JobStatus.SCHEDULED;
    case 'DISPATCHED':
      return JobStatus.DISPATCHED;
    case 'RUNNING':
      return JobStatus.RUNNING;
    case 'SUCCEEDED':
      return JobStatus.SUCCEEDED;
    case 'FAILED':
      return JobStatus.FAILED;
    case 'CANCELLED':
      return JobStatus.CANCELLED;
    case 'TIMEOUT':
      return JobStatus.TIMEOUT;
    case 'DENIED':
      return JobStatus.DENIED;
  }
}

/**
 * Control-plane state for a wire status. FAILED_RETRYABLE maps to FAILED here; whether it is retried is the
 * scheduler's decision. UNSPECIFIED and unknown values map to FAILED, never to success.
 */
export function jobStatusToState(status: JobStatus): JobState {
  switch (status) {
    case JobStatus.PENDING:
      return 'PENDING';
    case JobStatus.SCHEDULED:
      return 'SCHEDULED';
    case JobStatus.DISPATCHED:
      return 'DISPATCHED';
    case JobStatus.RUNNING:
      return 'RUNNING';
    case JobStatus.SUCCEEDED:
      return 'SUCCEEDED';
    case JobStatus.CANCELLED:
      return 'CANCELLED';
    case JobStatus.DENIED:
      return 'DENIED';
    case JobStatus.TIMEOUT:
      return 'TIMEOUT';
    case JobStatus.FAILED:
    case JobStatus.FAILED_RETRYABLE:
    case JobStatus.FAILED_FATAL:
    case JobStatus.UNSPECIFIED:
      return 'FAILED';
    default:
      return 'FAILED';
  }
}

/** Machine-readable answer to "why is this job not moving?". */
export const WAIT_REASONS = [
  'no_pool_mapping',
  'no_workers',
  'pool_overloaded',
  'tenant_limit',
  'actor_limit',
  'awaiting_approval',
  'backoff_until',
  'throttled',
  'safety_unavailable',
] as const;

export type WaitReason = (typeof WAIT_REASONS)[number];
