// The data of the workflow engine: definitions (upstream Cordum shape, loaded unchanged), run records, the
// events a run reacts to, the commands it asks its host to execute and the timeline entries it appends.
// Everything here is plain JSON (no Date, no bigint, no class) so that a store can persist it as is and a
// service can compare-and-set it by `version`. Field names are snake_case like every wire and REST shape.
import type { JsonValue } from '@cordum/core';

export type JsonObject = { [key: string]: JsonValue };

// ---------------------------------------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------------------------------------

/** Step types the engine executes itself; every other `type` dispatches a job to the step's topic. */
export const BUILTIN_STEP_TYPES = ['approval', 'condition', 'delay', 'notify'] as const;
export type BuiltinStepType = (typeof BUILTIN_STEP_TYPES)[number];

/**
 * When a step may start, given its dependencies' outcomes (`trigger_rule`, our opt-in; upstream has none):
 * - `all_succeeded` (default): every dependency succeeded. A failed, cancelled, timed-out or skipped
 *   dependency marks the step `skipped` (reason `dependency_not_succeeded`).
 * - `none_failed`: every dependency succeeded or was skipped (joins after a condition-gated branch).
 * - `all_done`: every dependency reached any terminal status (clean-up and error-handler steps; read
 *   `steps.<id>.status` in `condition` to choose).
 */
export const TRIGGER_RULES = ['all_succeeded', 'none_failed', 'all_done'] as const;
export type TriggerRule = (typeof TRIGGER_RULES)[number];

/** Upstream `retry`: up to max_retries further attempts, delay initial·multiplier^(n-1) capped at max. */
export type RetryPolicy = {
  max_retries?: number;
  /** Default 1. */
  initial_backoff_sec?: number;
  /** Default 300. */
  max_backoff_sec?: number;
  /** Default 2. */
  multiplier?: number;
};

/** Upstream `meta`: copied to the job's JobMetadata. */
export type StepMeta = {
  actor_id?: string;
  /** `human` or `service`. */
  actor_type?: string;
  idempotency_key?: string;
  pack_id?: string;
  capability?: string;
  risk_tags?: string[];
  requires?: string[];
  labels?: Record<string, string>;
};

/**
 * One node of the DAG. `id` is always the key in the `steps` map. Unknown fields of an upstream
 * definition are kept (and reported as warnings), never rejected.
 */
export type StepDefinition = {
  id: string;
  name?: string;
  /** Built-in type or anything else (worker, llm, http, …) which dispatches a job. Default `worker`. */
  type: string;
  /** Job topic; default `job.workflow.<workflow id>`. */
  topic?: string;
  /** Becomes the job's adapter_id and label `worker_id` (a hint, not a pin). */
  worker_id?: string;
  depends_on?: string[];
  /** Gate (any type but `condition`): falsy ⇒ `skipped`. On a `condition` step: its boolean output. */
  condition?: string;
  /** Fan-out expression: a list; one job per item. */
  for_each?: string;
  /** Fan-out concurrency cap; 0 or absent = no cap. */
  max_parallel?: number;
  /** Job payload; string leaves may hold `${…}` templates. Absent ⇒ the run input. */
  input?: JsonObject;
  input_schema?: JsonObject;
  input_schema_id?: string;
  output_schema?: JsonObject;
  output_schema_id?: string;
  /** Dotted path in `run.context` where the output is also written. */
  output_path?: string;
  meta?: StepMeta;
  retry?: RetryPolicy;
  /** Job deadline and step timeout; on approval steps the approval timeout. */
  timeout_sec?: number;
  delay_sec?: number;
  /** RFC 3339 time (may be a `${…}` template) for delay steps. */
  delay_until?: string;
  /** Copied to the job's labels (for example `preferred_pool`). */
  route_labels?: Record<string, string>;
  trigger_rule?: TriggerRule;
};

export type WorkflowDefinition = {
  id: string;
  org_id?: string;
  team_id?: string;
  name?: string;
  description?: string;
  /** Upstream's free-form version string (numbers are accepted and kept as strings). */
  version?: string;
  /** Run timeout (upstream kept the field but never used it). */
  timeout_sec?: number;
  input_schema?: JsonObject;
  parameters?: JsonValue[];
  config?: JsonObject;
  created_by?: string;
  created_at?: string;
  updated_at?: string;
  steps: Record<string, StepDefinition>;
};

// ---------------------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------------------

export const RUN_STATUSES = ['pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const STEP_STATUSES = [
  'pending',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
  'skipped',
] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** Version of the run record layout; bumped (with a migration) if the shape ever changes incompatibly. */
export const RUN_FORMAT = 1;

/** A step's or run's failure: a stable snake_case code (see docs/workflows.md) and a sentence. */
export type StepError = { code: string; message: string };

export type ApprovalRecord = {
  decision: 'approved' | 'rejected';
  by: string;
  reason?: string;
  at: string;
};

/** One element of a `for_each` fan-out. */
export type ItemRun = {
  index: number;
  item: JsonValue;
  status: StepStatus;
  /** Attempt number of the latest attempt (job ids use it); numbering continues across reruns. */
  attempts: number;
  /** Attempts numbered up to this belong to earlier generations (reruns); retries count from here. */
  attempt_base?: number;
  job_id?: string;
  /**
   * The evaluated payload when the step has a templated `input` (re-dispatching after a crash or a retry
   * sends the same bytes). Absent when the payload is the default (run input plus `item`), which is
   * derived instead of copied into every item.
   */
  input?: JsonValue;
  output?: JsonValue;
  result_ptr?: string;
  error?: StepError;
  started_at?: string;
  completed_at?: string;
  next_attempt_at?: string;
};

export type StepRun = {
  step_id: string;
  status: StepStatus;
  /**
   * Number of the latest attempt; job ids are `<run>:<step>@<attempt>`. Never decreases, even across reruns,
   * so a job id is never reused. For a fan-out step: the highest attempt number of any item.
   */
  attempts: number;
  /** Attempts numbered up to this belong to earlier generations (reruns); retries count from here. */
  attempt_base?: number;
  started_at?: string;
  completed_at?: string;
  /** Set while a retry waits for its backoff timer. */
  next_attempt_at?: string;
  /** The evaluated templated payload (job steps with `input`), or the alert payload of a notify step. */
  input?: JsonValue;
  output?: JsonValue;
  result_ptr?: string;
  /** The last failure (kept while a retry waits). */
  error?: StepError;
  /** Job id of the latest attempt. */
  job_id?: string;
  /** Why a step was skipped: `condition_false` or `dependency_not_succeeded`. */
  skip_reason?: string;
  approval?: ApprovalRecord;
  /** for_each: the evaluated items, fixed when the step starts. */
  items?: ItemRun[];
};

export const TIMER_KINDS = ['step_timeout', 'retry_backoff', 'delay', 'run_timeout'] as const;
export type TimerKind = (typeof TIMER_KINDS)[number];

/** An armed timer. The host keeps a durable copy (from StartTimer) and reports `timer_fired` when due. */
export type RunTimer = {
  timer_id: string;
  kind: TimerKind;
  /** Epoch milliseconds. */
  due_ms: number;
  step_id?: string;
  item_index?: number;
  attempt?: number;
};

export type WorkflowRun = {
  format: typeof RUN_FORMAT;
  id: string;
  workflow_id: string;
  /** The definition's `version` string at start. */
  workflow_version?: string;
  /** The WorkflowStore version (1, 2, …) the run was started from, when the host has one. */
  workflow_revision?: number;
  /** sha256 of the canonical JSON of `definition`. */
  definition_hash: string;
  /** The definition the run is pinned to: later edits of the workflow never change a started run. */
  definition: WorkflowDefinition;
  tenant_id?: string;
  org_id?: string;
  team_id?: string;
  input: JsonObject;
  /** `{ steps: { <id>: { result_ptr?, output? } } }` plus whatever `output_path` writes. */
  context: JsonObject;
  status: RunStatus;
  /** Keyed by step id, one entry per step of the definition. */
  steps: Record<string, StepRun>;
  /** Armed timers by id. */
  timers: Record<string, RunTimer>;
  /** Compare-and-set counter: `reduce` increments it by one whenever it changes the record. */
  version: number;
  /** Sequence number of the last timeline entry produced for this run. */
  timeline_seq: number;
  created_at: string;
  updated_at: string;
  started_at?: string;
  completed_at?: string;
  error?: StepError & { step_id?: string };
  triggered_by?: string;
  principal_id?: string;
  trace_id?: string;
  labels?: Record<string, string>;
  metadata?: Record<string, string>;
  idempotency_key?: string;
  rerun_of?: string;
  rerun_step?: string;
  dry_run: boolean;
  cancel_requested?: { by?: string; reason?: string; at: string };
  /** Schema-registry documents by id, resolved by the host when the run is created (optional). */
  schemas?: Record<string, JsonObject>;
};

// ---------------------------------------------------------------------------------------------------------
// Events (in)
// ---------------------------------------------------------------------------------------------------------

/** Terminal job states as the JobStore reports them. */
export const JOB_OUTCOMES = ['succeeded', 'failed', 'cancelled', 'timed_out', 'denied'] as const;
export type JobOutcome = (typeof JOB_OUTCOMES)[number];

export type RunStartedEvent = { type: 'run_started' };
export type JobResultEvent = {
  type: 'job_result';
  job_id: string;
  state: JobOutcome;
  /** The result payload when the host read it (required for output_schema checks and expressions). */
  output?: JsonValue;
  result_ptr?: string;
  error?: { code?: string; message?: string };
  /** false for a fatal failure (FAILED_FATAL): no step retry. Default true. */
  retryable?: boolean;
};
export type TimerFiredEvent = { type: 'timer_fired'; timer_id: string };
export type StepApprovedEvent = { type: 'step_approved'; step_id: string; by: string; reason?: string };
export type StepRejectedEvent = { type: 'step_rejected'; step_id: string; by: string; reason?: string };
export type CancelRequestedEvent = { type: 'cancel_requested'; by?: string; reason?: string };
export type RerunFromEvent = { type: 'rerun_from'; step_id: string; by?: string };

export type RunEvent =
  | RunStartedEvent
  | JobResultEvent
  | TimerFiredEvent
  | StepApprovedEvent
  | StepRejectedEvent
  | CancelRequestedEvent
  | RerunFromEvent;

// ---------------------------------------------------------------------------------------------------------
// Commands (out). Every command carries a stable id so that executing it twice is harmless.
// ---------------------------------------------------------------------------------------------------------

/** JobMetadata fields (snake_case); the host maps them to the wire type. */
export type JobMetaFields = {
  tenant_id?: string;
  actor_id?: string;
  actor_type?: string;
  idempotency_key?: string;
  capability?: string;
  risk_tags: string[];
  requires: string[];
  pack_id?: string;
  labels: Record<string, string>;
};

export type DispatchJobCommand = {
  type: 'dispatch_job';
  /** `<run>:<step>@<attempt>` or `<run>:<step>[<i>]@<attempt>`: the idempotency key of the dispatch. */
  job_id: string;
  run_id: string;
  workflow_id: string;
  step_id: string;
  attempt: number;
  item_index?: number;
  topic: string;
  /** The payload to store behind the job's context pointer. */
  input: JsonValue;
  /** JobRequest.env (workflow_id, run_id, step_id, foreach_index, foreach_item, dry_run, …). */
  env: Record<string, string>;
  /** JobRequest.labels: route_labels, meta labels and run identity labels. */
  labels: Record<string, string>;
  meta: JobMetaFields;
  adapter_id?: string;
  /** Relative job deadline (JobRequest.budget.deadline_ms) from `timeout_sec`. */
  deadline_ms?: number;
  /** `input.priority` of the run when set (upstream default BATCH is the host's choice). */
  priority?: string;
  /** `input.memory_id` of the run, else `run:<run id>`. */
  memory_id: string;
  tenant_id?: string;
  principal_id?: string;
  trace_id?: string;
  dry_run: boolean;
};

export type CancelJobCommand = { type: 'cancel_job'; job_id: string; run_id: string; step_id: string; reason: string };

export type StartTimerCommand = {
  type: 'start_timer';
  timer_id: string;
  run_id: string;
  kind: TimerKind;
  /** Epoch milliseconds. */
  due_ms: number;
  step_id?: string;
};

export type CancelTimerCommand = { type: 'cancel_timer'; timer_id: string; run_id: string };

/** A SystemAlert on `sys.workflow.event` from a notify step. */
export type EmitAlertCommand = {
  type: 'emit_alert';
  /** `<run>:<step>@<attempt>` (`[i]` for fan-out items): dedupe key. */
  alert_id: string;
  run_id: string;
  workflow_id: string;
  step_id: string;
  /** INFO, WARNING, ERROR or CRITICAL. */
  severity: AlertSeverity;
  message: string;
  source_component: string;
  code?: string;
  details: Record<string, string>;
  trace_id?: string;
  dry_run: boolean;
};

export const ALERT_SEVERITIES = ['INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export type RunCommand = DispatchJobCommand | CancelJobCommand | StartTimerCommand | CancelTimerCommand | EmitAlertCommand;

// ---------------------------------------------------------------------------------------------------------
// Timeline (append-only)
// ---------------------------------------------------------------------------------------------------------

export const TIMELINE_TYPES = [
  'run_status',
  'step_status',
  'step_dispatched',
  'step_completed',
  'step_input_invalid',
  'step_output_invalid',
  'step_retry_scheduled',
  'step_timeout',
  'step_waiting',
  'step_approved',
  'step_rejected',
  'step_condition_evaluated',
  'step_condition_failed',
  'step_delay_started',
  'step_delay_completed',
  'step_delay_failed',
  'step_event_emitted',
  'step_event_failed',
  'job_cancel_requested',
  'cancel_requested',
  'rerun_requested',
  'rerun_rejected',
] as const;
export type TimelineType = (typeof TIMELINE_TYPES)[number];

export type TimelineEntry = {
  /** 1, 2, 3, … per run: lets the host append exactly once. */
  seq: number;
  time: string;
  type: TimelineType;
  run_id: string;
  workflow_id: string;
  step_id?: string;
  job_id?: string;
  status?: string;
  result_ptr?: string;
  message?: string;
  data?: JsonObject;
};
