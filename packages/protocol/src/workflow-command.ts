// `sys.workflow.command`: the doorbell between the gateway and the workflow engine. The store is the source of
// truth: the gateway first creates the `pending` run (RunStore.create) or queues the event in the run's inbox
// (RunStore.pushEvent: approve/reject a step, cancel, rerun), and only then publishes this message, which
// says "run <run_id> of <tenant> has work". The engine re-reads the run and its inbox; a lost doorbell costs
// latency (the engine's reconciler finds due runs), never a command. JSON, snake_case, versioned.

export const WORKFLOW_COMMAND_VERSION = 1;

export const WORKFLOW_COMMAND_KINDS = ['start', 'event'] as const;
export type WorkflowCommandKind = (typeof WORKFLOW_COMMAND_KINDS)[number];

export type WorkflowCommand = {
  v: typeof WORKFLOW_COMMAND_VERSION;
  /** `start`: a new pending run; `event`: the run's inbox has new events. */
  kind: WorkflowCommandKind;
  tenant: string;
  run_id: string;
  /** Who rang (principal id), for logs only. */
  by?: string;
  /**
   * `event` only: the job of this run whose terminal state was just written to the JobStore (a scheduler
   * rings after that write, see jobFinalCommand). The engine re-reads the job; the store stays the truth.
   */
  job_id?: string;
  /**
   * With job_id: the terminal outcome the scheduler wrote. An engine may act on it without reading the job
   * only if the store confirms it in the same write (the job's final fence, @cordum/store model/fence.ts).
   */
  outcome?: JobFinalOutcome;
};

/** A job's terminal outcome as stored: state (a JobState name), result pointer, error code and message. */
export type JobFinalOutcome = { state: string; result_ptr?: string; error_code?: string; error_message?: string };

function decodeOutcome(raw: unknown): JobFinalOutcome | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  if (typeof o['state'] !== 'string' || o['state'] === '') return undefined;
  const out: JobFinalOutcome = { state: o['state'] };
  for (const k of ['result_ptr', 'error_code', 'error_message'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'string') return undefined;
    out[k] = v;
  }
  return out;
}

export function encodeWorkflowCommand(command: Omit<WorkflowCommand, 'v'>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: WORKFLOW_COMMAND_VERSION, ...command }));
}

/** The command, or undefined when the bytes are not a valid version-1 command (callers count and drop those). */
export function decodeWorkflowCommand(bytes: Uint8Array): WorkflowCommand | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  if (o['v'] !== WORKFLOW_COMMAND_VERSION) return undefined;
  if (typeof o['kind'] !== 'string' || !(WORKFLOW_COMMAND_KINDS as readonly string[]).includes(o['kind'])) return undefined;
  if (typeof o['tenant'] !== 'string' || o['tenant'] === '' || typeof o['run_id'] !== 'string' || o['run_id'] === '') return undefined;
  const command: WorkflowCommand = { v: WORKFLOW_COMMAND_VERSION, kind: o['kind'] as WorkflowCommandKind, tenant: o['tenant'], run_id: o['run_id'] };
  if (typeof o['by'] === 'string') command.by = o['by'];
  if (command.kind === 'event' && typeof o['job_id'] === 'string' && o['job_id'] !== '') {
    command.job_id = o['job_id'];
    const outcome = decodeOutcome(o['outcome']);
    if (outcome !== undefined) command.outcome = outcome;
  }
  return command;
}

/**
 * The run a workflow job belongs to: its `run_id` label (the engine sets it at dispatch) when the job id has
 * the workflow shape `<run>:<step>@<n>` / `<run>:<step>[<i>]@<n>` under that run; undefined for other jobs.
 */
export function workflowRunOfJob(jobId: string, labels: Readonly<Record<string, string>>): string | undefined {
  const runId = labels['run_id'];
  if (runId === undefined || runId === '' || !jobId.startsWith(`${runId}:`)) return undefined;
  return /^.+@\d+$/.test(jobId.slice(runId.length + 1)) ? runId : undefined;
}

/**
 * The doorbell a scheduler rings right after it wrote a workflow job's terminal state (undefined for a job
 * that is not a workflow job): `{kind: 'event', tenant, run_id, job_id, outcome}` on sys.workflow.command.
 * It says "look at this job now": the engine, which may have got the job's sys.job.result before the write,
 * acts on the outcome only in a run write the store checks against the job's final fence, or reads the
 * job from the JobStore, instead of polling for it.
 */
export function jobFinalCommand(job: {
  id: string;
  tenant: string;
  labels: Readonly<Record<string, string>>;
  state?: string;
  resultPtr?: string | null;
  errorCode?: string | null;
  errorMessage?: string | null;
}): Omit<WorkflowCommand, 'v'> | undefined {
  const runId = workflowRunOfJob(job.id, job.labels);
  if (runId === undefined || job.tenant === '') return undefined;
  const command: Omit<WorkflowCommand, 'v'> = { kind: 'event', tenant: job.tenant, run_id: runId, job_id: job.id };
  if (job.state !== undefined) {
    const outcome: JobFinalOutcome = { state: job.state };
    if (job.resultPtr != null && job.resultPtr !== '') outcome.result_ptr = job.resultPtr;
    if (job.errorCode != null && job.errorCode !== '') outcome.error_code = job.errorCode;
    if (job.errorMessage != null && job.errorMessage !== '') outcome.error_message = job.errorMessage;
    command.outcome = outcome;
  }
  return command;
}

/** Whether a job id has the shape of a workflow job (`<run>:<step>@<n>`, `<run>:<step>[<i>]@<n>`): a cheap pre-filter. */
export function looksLikeWorkflowJobId(jobId: string): boolean {
  return /^.+:.+@\d+$/.test(jobId);
}
