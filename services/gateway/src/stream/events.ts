import { type JsonValue, isSafeTenantId } from '@cordum/core';
import {
  type BusPacket,
  type JobRequest,
  JobPriority,
  JobStatus,
  type SystemAlert,
  Subjects,
  cancelledAttempt,
  jobStatusToState,
} from '@cordum/protocol';

// What the stream sends: bus traffic turned into snake_case JSON frames. Pure: the tenant of a job event is
// resolved by the hub (the job store is the authority), never trusted from a cache of packets.

export const STREAM_KINDS = ['job', 'progress', 'dlq', 'run', 'alert'] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];

export function isStreamKind(value: string): value is StreamKind {
  return (STREAM_KINDS as readonly string[]).includes(value);
}

/** One event as a socket receives it (`type: "event"`). Fields that do not apply are null. */
export type EventFrame = {
  type: 'event';
  kind: StreamKind;
  /** What happened: submitted, result, cancel_requested, progress, dlq, alert, or a workflow event name. */
  event: string;
  /** The bus subject it came from. */
  subject: string;
  tenant_id: string;
  /** When the packet was created (ISO 8601). */
  time: string;
  trace_id: string | null;
  job_id: string | null;
  run_id: string | null;
  workflow_id: string | null;
  step_id: string | null;
  topic: string | null;
  /** The job state this event moves the job to (results, DLQ, submit); the worker's hint for progress. */
  state: string | null;
  data: Record<string, JsonValue>;
};

/**
 * An event before tenancy is settled. `tenant` is what the packet itself says (a JobRequest's tenant, an
 * alert's details); job events that do not carry one (results, progress, cancels, DLQ) name `jobId` for the
 * hub to look up in the job store, which also fills topic and run ids the packet lacks.
 */
export type DraftEvent = {
  frame: Omit<EventFrame, 'tenant_id'>;
  tenant: string | undefined;
  /** The job whose record decides the tenant (preferred over `tenant` when it exists). */
  lookupJob: string | undefined;
};

/** Bus subjects the stream listens to (fan-out, no queue group: every gateway instance serves its own sockets). */
export const STREAM_SUBJECTS: readonly string[] = ['sys.job.>', Subjects.workflowEvent, Subjects.alert];

const PRIORITY: Readonly<Record<number, string>> = {
  [JobPriority.UNSPECIFIED]: 'unspecified',
  [JobPriority.INTERACTIVE]: 'interactive',
  [JobPriority.BATCH]: 'batch',
  [JobPriority.CRITICAL]: 'critical',
};

const SEVERITY = ['unspecified', 'info', 'warning', 'error', 'critical'] as const;

function timeOf(packet: BusPacket, nowMs: number): string {
  const ts = packet.createdAt;
  const ms = ts === undefined ? nowMs : Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
  return new Date(Number.isFinite(ms) && ms > 0 ? ms : nowMs).toISOString();
}

const orNull = (s: string | undefined): string | null => (s === undefined || s === '' ? null : s);

function base(subject: string, packet: BusPacket, nowMs: number): Omit<EventFrame, 'tenant_id' | 'kind' | 'event' | 'data'> {
  return {
    type: 'event',
    subject,
    time: timeOf(packet, nowMs),
    trace_id: orNull(packet.traceId),
    job_id: null,
    run_id: null,
    workflow_id: null,
    step_id: null,
    topic: null,
    state: null,
  };
}

/** The tenant a JobRequest names (the field, then its metadata); undefined when it names none or an unsafe one. */
export function requestTenant(request: JobRequest): string | undefined {
  const tenant = request.tenantId || request.meta?.tenantId || '';
  return tenant !== '' && isSafeTenantId(tenant) ? tenant : undefined;
}

function submitted(subject: string, packet: BusPacket, request: JobRequest, nowMs: number): DraftEvent {
  const labels = request.labels;
  return {
    frame: {
      ...base(subject, packet, nowMs),
      kind: 'job',
      event: 'submitted',
      job_id: orNull(request.jobId),
      run_id: orNull(labels['run_id']),
      workflow_id: orNull(request.workflowId || labels['workflow_id']),
      step_id: orNull(labels['step_id']),
      topic: orNull(request.topic),
      state: 'PENDING',
      data: {
        priority: PRIORITY[request.priority] ?? 'unspecified',
        principal_id: request.principalId,
        parent_job_id: orNull(request.parentJobId),
        labels: { ...labels },
      },
    },
    tenant: requestTenant(request),
    lookupJob: orNull(request.jobId) ?? undefined,
  };
}

/** A SystemAlert's details are the workflow engine's contract: tenant_id (required), run_id, workflow_id, step_id, job_id, event, kind. */
function alertEvent(subject: string, packet: BusPacket, alert: SystemAlert, nowMs: number): DraftEvent {
  const details: Record<string, string> = { ...alert.details };
  const take = (key: string): string | null => {
    const v = details[key];
    delete details[key];
    return orNull(v);
  };
  const tenant = take('tenant_id') ?? take('tenant');
  delete details['tenant'];
  const runId = take('run_id');
  const declared = take('kind');
  const kind: StreamKind = subject === Subjects.workflowEvent && runId !== null && declared !== 'alert' ? 'run' : 'alert';
  const event = take('event') ?? (kind === 'run' ? 'run_event' : 'alert');
  const jobId = take('job_id');
  const safeTenant = tenant !== null && isSafeTenantId(tenant) ? tenant : undefined;
  return {
    frame: {
      ...base(subject, packet, nowMs),
      trace_id: orNull(alert.traceId) ?? orNull(packet.traceId),
      kind,
      event,
      job_id: jobId,
      run_id: runId,
      workflow_id: take('workflow_id'),
      step_id: take('step_id'),
      state: take('status'),
      data: {
        severity: SEVERITY[alert.severity] ?? (alert.level.toLowerCase() || 'unspecified'),
        message: alert.message,
        source_component: alert.sourceComponent || alert.component,
        details,
      },
    },
    tenant: safeTenant,
    // An alert that names no tenant but a job belongs to the job's tenant.
    lookupJob: safeTenant === undefined ? (jobId ?? undefined) : undefined,
  };
}

/**
 * The draft event of one bus message, or undefined for traffic the stream does not show (heartbeats are not
 * under these subjects; unknown sys.job.* subjects and payloads that do not belong to their subject are skipped).
 */
export function draftEvent(subject: string, packet: BusPacket, headers: Readonly<Record<string, string>>, nowMs: number): DraftEvent | undefined {
  const payload = packet.payload;
  const job = (jobId: string, kind: StreamKind, event: string, state: string | null, data: Record<string, JsonValue>): DraftEvent => ({
    frame: { ...base(subject, packet, nowMs), kind, event, job_id: orNull(jobId), state, data },
    tenant: undefined,
    lookupJob: orNull(jobId) ?? undefined,
  });
  switch (subject) {
    case Subjects.jobSubmit:
      return payload.case === 'jobRequest' ? submitted(subject, packet, payload.value, nowMs) : undefined;
    case Subjects.jobResult:
    case Subjects.jobDlq: {
      if (payload.case !== 'jobResult') return undefined;
      const r = payload.value;
      const dlq = subject === Subjects.jobDlq;
      return job(r.jobId, dlq ? 'dlq' : 'job', dlq ? 'dlq' : 'result', jobStatusToState(r.status), {
        ...(dlq ? { reason_code: r.errorCode } : { result_ptr: r.resultPtr, execution_ms: Number(r.executionMs), artifact_ptrs: [...r.artifactPtrs] }),
        worker_id: r.workerId,
        error_code: r.errorCode,
        error_message: r.errorMessage,
      });
    }
    case Subjects.jobProgress: {
      if (payload.case !== 'jobProgress') return undefined;
      const p = payload.value;
      return job(p.jobId, 'progress', 'progress', p.status === JobStatus.UNSPECIFIED ? null : jobStatusToState(p.status), {
        percent: p.percent,
        message: p.message,
        step_id: p.stepId,
        result_ptr: p.resultPtr,
        artifact_ptrs: [...p.artifactPtrs],
      });
    }
    case Subjects.jobCancel: {
      if (payload.case !== 'jobCancel') return undefined;
      const c = payload.value;
      const attempt = cancelledAttempt(headers);
      return job(c.jobId, 'job', 'cancel_requested', null, {
        reason: c.reason,
        requested_by: c.requestedBy,
        // Set when only the current attempt is cancelled (a lease expired): the job itself goes on.
        attempt: attempt ?? null,
      });
    }
    case Subjects.workflowEvent:
    case Subjects.alert:
      return payload.case === 'alert' ? alertEvent(subject, packet, payload.value, nowMs) : undefined;
    default:
      return undefined;
  }
}

/** Facts about a job from its store record: the tenant decides who may see its events. */
export type JobFacts = { tenant: string; topic: string; runId: string | null; workflowId: string | null; stepId: string | null };

/** The final frame: tenancy settled by the record when there is one, else by the packet; undefined = send to nobody. */
export function settleEvent(draft: DraftEvent, facts: JobFacts | undefined): EventFrame | undefined {
  const tenant = facts?.tenant ?? draft.tenant;
  if (tenant === undefined) return undefined;
  const f = draft.frame;
  return {
    ...f,
    tenant_id: tenant,
    topic: f.topic ?? facts?.topic ?? null,
    run_id: f.run_id ?? facts?.runId ?? null,
    workflow_id: f.workflow_id ?? facts?.workflowId ?? null,
    step_id: f.step_id ?? facts?.stepId ?? null,
  };
}
