import type { JsonValue } from '@cordum/core';
import type { InboxEvent, RunRecord, RunTimelineEntry } from '@cordum/store';

// Runs as the API shows them: the store's columns (status, versions, times in store-clock ms) and the
// engine's document (@cordum/workflow's WorkflowRun, snake_case like upstream's run object). Read
// defensively: the document is JSON another process wrote.

type Obj = Record<string, JsonValue>;

const str = (v: JsonValue | undefined): string | null => (typeof v === 'string' && v !== '' ? v : null);
const obj = (v: JsonValue | undefined): Obj | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : null);

function ms(v: JsonValue | undefined): number | null {
  if (typeof v !== 'string') return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

export type RunSummary = {
  id: string;
  workflow_id: string;
  workflow_revision: number;
  workflow_version: string | null;
  status: string;
  version: number;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  completed_at: number | null;
  idempotency_key: string | null;
  labels: Record<string, string>;
  dry_run: boolean;
  triggered_by: string | null;
  rerun_of: string | null;
  rerun_step: string | null;
  error: Obj | null;
};

export type PendingEvent = { seq: number; at: number; type: string };

export type RunDetail = RunSummary & {
  definition_hash: string;
  definition: Obj;
  input: Obj;
  context: Obj;
  steps: Record<string, Obj>;
  cancel_requested: Obj | null;
  pending_events: PendingEvent[];
};

export function runSummary(r: RunRecord): RunSummary {
  const d = r.doc;
  return {
    id: r.id,
    workflow_id: r.workflowId,
    workflow_revision: r.workflowVersion,
    workflow_version: str(d['workflow_version']),
    status: r.status,
    version: r.version,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    started_at: ms(d['started_at']),
    completed_at: ms(d['completed_at']),
    idempotency_key: r.idempotencyKey,
    labels: { ...r.labels },
    dry_run: d['dry_run'] === true,
    triggered_by: str(d['triggered_by']),
    rerun_of: str(d['rerun_of']),
    rerun_step: str(d['rerun_step']),
    error: obj(d['error']),
  };
}

export function runDetail(r: RunRecord, inbox: readonly InboxEvent[]): RunDetail {
  const d = r.doc;
  const steps: Record<string, Obj> = {};
  for (const [id, s] of Object.entries(obj(d['steps']) ?? {})) {
    const step = obj(s);
    if (step !== null) steps[id] = step;
  }
  return {
    ...runSummary(r),
    definition_hash: str(d['definition_hash']) ?? '',
    definition: obj(d['definition']) ?? {},
    input: obj(d['input']) ?? {},
    context: obj(d['context']) ?? {},
    steps,
    cancel_requested: obj(d['cancel_requested']),
    pending_events: inbox.map((e) => ({ seq: e.seq, at: e.at, type: str(e.event['type']) ?? 'unknown' })),
  };
}

/** A timeline entry: upstream's fields (time, type, run_id, step_id, job_id, status, result_ptr, message, data) plus its position. */
export function timelineEntryView(e: RunTimelineEntry): Obj & { seq: number; at: number; type: string } {
  return { ...e.data, seq: e.seq, at: e.at, type: str(e.data['type']) ?? 'unknown' };
}
