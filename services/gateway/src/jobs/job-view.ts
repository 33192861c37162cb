import type { JsonValue } from '@cordum/core';
import { ActorType, type JobRequest, JobPriority, decodeStoredRequest } from '@cordum/protocol';
import type { DlqEntry, JobEvent, JobRecord, Payload } from '@cordum/store';

// The API shapes of jobs and DLQ entries (snake_case; times are store-clock epoch milliseconds).

export type JobSummary = {
  id: string;
  tenant: string;
  topic: string;
  state: string;
  wait_reason: string | null;
  attempts: number;
  version: number;
  trace_id: string;
  created_at: number;
  updated_at: number;
  due_at: number | null;
  lease_expires_at: number | null;
  deadline_at: number | null;
  worker_id: string | null;
  result_ptr: string | null;
  error_code: string | null;
  error_message: string | null;
  labels: Record<string, string>;
};

export type PayloadView = {
  pointer: string;
  size_bytes: number;
  content_type: string;
  /** False when the payload is larger than the inline limit, missing or expired (read it through the pointer). */
  inlined: boolean;
  expired: boolean;
  json?: JsonValue;
  text?: string;
  base64?: string;
};

export type JobEventView = { at: number; from: string | null; to: string; actor: string; reason: string; attempt: number; version: number };

export type JobDetail = JobSummary & {
  context_ptr: string;
  priority: string;
  principal_id: string;
  actor_id: string;
  actor_type: string;
  capability: string;
  risk_tags: string[];
  requires: string[];
  pack_id: string;
  idempotency_key: string;
  parent_job_id: string;
  workflow_id: string;
  memory_id: string;
  budget: { max_input_tokens: number; max_output_tokens: number; max_total_tokens: number; deadline_ms: number } | null;
  submitted_by: string | null;
  decision: JsonValue;
  approval: JsonValue;
  job_hash: string | null;
  events: JobEventView[];
  context: PayloadView | null;
  result: PayloadView | null;
  dlq: DlqEntryView | null;
};

export type DlqEntryView = {
  job_id: string;
  tenant: string;
  topic: string;
  status: string;
  reason: string;
  reason_code: string;
  error_code: number;
  last_state: string | null;
  attempts: number;
  created_at: number;
  trace_id: string;
  labels: Record<string, string>;
  decision: JsonValue;
};

export function jobSummary(job: JobRecord): JobSummary {
  return {
    id: job.id,
    tenant: job.tenant,
    topic: job.topic,
    state: job.state,
    wait_reason: job.waitReason,
    attempts: job.attempts,
    version: job.version,
    trace_id: job.traceId,
    created_at: job.createdAt,
    updated_at: job.updatedAt,
    due_at: job.dueAt,
    lease_expires_at: job.leaseExpiresAt,
    deadline_at: job.deadlineAt,
    worker_id: job.workerId,
    result_ptr: job.resultPtr,
    error_code: job.errorCode,
    error_message: job.errorMessage,
    labels: { ...job.labels },
  };
}

export function priorityName(p: JobPriority): string {
  switch (p) {
    case JobPriority.INTERACTIVE:
      return 'interactive';
    case JobPriority.BATCH:
      return 'batch';
    case JobPriority.CRITICAL:
      return 'critical';
    case JobPriority.UNSPECIFIED:
      return '';
    default:
      return '';
  }
}

export function actorTypeName(t: ActorType): string {
  switch (t) {
    case ActorType.HUMAN:
      return 'human';
    case ActorType.SERVICE:
      return 'service';
    case ActorType.UNSPECIFIED:
      return '';
    default:
      return '';
  }
}

/** A payload inlined when small enough: JSON parsed, other UTF-8 text as text, anything else as base64. */
export function payloadView(pointer: string, payload: Payload | undefined, inlineMax: number): PayloadView {
  if (payload === undefined) return { pointer, size_bytes: 0, content_type: '', inlined: false, expired: true };
  const size = payload.bytes.byteLength;
  const view: PayloadView = { pointer, size_bytes: size, content_type: payload.contentType, inlined: false, expired: false };
  if (size > inlineMax) return view;
  const text = Buffer.from(payload.bytes).toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(Buffer.from(payload.bytes));
  if (isText && payload.contentType.includes('json')) {
    try {
      return { ...view, inlined: true, json: JSON.parse(text) as JsonValue };
    } catch {
      // not JSON after all: shown as text below
    }
  }
  if (isText) return { ...view, inlined: true, text };
  return { ...view, inlined: true, base64: Buffer.from(payload.bytes).toString('base64') };
}

export function requestOf(job: JobRecord): JobRequest | undefined {
  try {
    return decodeStoredRequest(job.data['request']);
  } catch {
    return undefined;
  }
}

export function eventView(e: JobEvent): JobEventView {
  return { at: e.at, from: e.from, to: e.to, actor: e.actor, reason: e.reason, attempt: e.attempt, version: e.version };
}

export function jobDetail(
  job: JobRecord,
  extra: { events: JobEvent[]; context: PayloadView | null; result: PayloadView | null; dlq: DlqEntry | undefined },
): JobDetail {
  const request = requestOf(job);
  const meta = request?.meta;
  const budget = request?.budget;
  const text = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);
  return {
    ...jobSummary(job),
    context_ptr: request?.contextPtr ?? '',
    priority: request === undefined ? '' : priorityName(request.priority),
    principal_id: request?.principalId ?? '',
    actor_id: meta?.actorId ?? '',
    actor_type: meta === undefined ? '' : actorTypeName(meta.actorType),
    capability: meta?.capability ?? '',
    risk_tags: [...(meta?.riskTags ?? [])],
    requires: [...(meta?.requires ?? [])],
    pack_id: meta?.packId ?? '',
    idempotency_key: meta?.idempotencyKey ?? '',
    parent_job_id: request?.parentJobId ?? '',
    workflow_id: request?.workflowId ?? '',
    memory_id: request?.memoryId ?? '',
    budget:
      budget === undefined
        ? null
        : {
            max_input_tokens: Number(budget.maxInputTokens),
            max_output_tokens: Number(budget.maxOutputTokens),
            max_total_tokens: Number(budget.maxTotalTokens),
            deadline_ms: Number(budget.deadlineMs),
          },
    submitted_by: text(job.data['submitted_by']),
    decision: job.data['decision'] ?? null,
    approval: job.data['approval'] ?? null,
    job_hash: text(job.data['job_hash']),
    events: extra.events.map(eventView),
    context: extra.context,
    result: extra.result,
    dlq: extra.dlq === undefined ? null : dlqView(extra.dlq),
  };
}

export function dlqView(entry: DlqEntry): DlqEntryView {
  const labels = entry.data['labels'];
  const trace = entry.data['trace_id'];
  return {
    job_id: entry.jobId,
    tenant: entry.tenant,
    topic: entry.topic,
    status: entry.status,
    reason: entry.reason,
    reason_code: entry.reasonCode,
    error_code: entry.errorCode,
    last_state: entry.lastState,
    attempts: entry.attempts,
    created_at: entry.createdAt,
    trace_id: typeof trace === 'string' ? trace : '',
    labels:
      labels !== null && typeof labels === 'object' && !Array.isArray(labels)
        ? Object.fromEntries(Object.entries(labels).filter((kv): kv is [string, string] => typeof kv[1] === 'string'))
        : {},
    decision: entry.data['decision'] ?? null,
  };
}
