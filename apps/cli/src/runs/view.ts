import type { RunDetail, RunSummary, StepRunView, TimelineEntry } from '../gateway/workflow-types.js';
import { type Column, formatAge, formatElapsed, formatLabels, formatTime, renderFields, renderTable } from '../output/format.js';
import type { Style } from '../output/style.js';

// How workflow runs look in table output, and what changed between two polls of a run.

export const RUN_STATUSES = ['pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

export function isTerminalRunStatus(status: string): boolean {
  return TERMINAL.has(status);
}

export function runColumns(now: number, style: Style): Column<RunSummary>[] {
  return [
    { header: 'run', value: (r) => r.id },
    { header: 'workflow', value: (r) => `${r.workflow_id}@${r.workflow_revision}` },
    { header: 'status', value: (r) => r.status, style: (t) => style.state(t) },
    { header: 'age', value: (r) => formatAge(r.created_at, now) },
    { header: 'took', value: (r) => took(r.started_at, r.completed_at) },
    { header: 'by', value: (r) => r.triggered_by ?? '-' },
    { header: 'flags', value: (r) => [r.dry_run ? 'dry-run' : '', r.rerun_of === null ? '' : `rerun of ${r.rerun_of}`].filter((x) => x !== '').join(', ') },
  ];
}

function took(start: number | null, end: number | null): string {
  return start === null || end === null ? '-' : formatElapsed(Math.max(0, end - start));
}

function ms(iso: string | undefined): number | null {
  if (iso === undefined) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

export type StepRow = { id: string; type: string; step: StepRunView };

/** The run's steps in definition order, each with its type ('job' for anything the engine dispatches). */
export function stepRows(run: Pick<RunDetail, 'steps' | 'definition'>): StepRow[] {
  const defs = run.definition.steps ?? {};
  const ids = [...Object.keys(defs), ...Object.keys(run.steps).filter((id) => !(id in defs))];
  return ids.map((id) => ({ id, type: defs[id]?.type ?? 'job', step: run.steps[id] ?? { status: 'pending' } }));
}

/** A few words on a step beyond its status: the job, the error, why it was skipped, who decided. */
export function stepDetail(step: StepRunView): string {
  const parts: string[] = [];
  if (step.error?.message !== undefined) parts.push(`${step.error.code ? `${step.error.code}: ` : ''}${step.error.message}`);
  if (step.skip_reason !== undefined) parts.push(step.skip_reason);
  if (step.approval?.decision !== undefined && step.error === undefined) parts.push(`${step.approval.decision} by ${step.approval.by ?? '?'}${step.approval.reason ? ` (${step.approval.reason})` : ''}`);
  if (step.items !== undefined && step.items.length > 0) {
    const done = step.items.filter((i) => i.status === 'succeeded').length;
    parts.push(`${done}/${step.items.length} items succeeded`);
  }
  if (step.next_attempt_at !== undefined) parts.push(`retry at ${step.next_attempt_at}`);
  return parts.join('; ');
}

export function stepTable(run: RunDetail, style: Style): string[] {
  return renderTable<StepRow>(
    [
      { header: 'step', value: (r) => r.id },
      { header: 'type', value: (r) => r.type },
      { header: 'status', value: (r) => r.step.status ?? 'pending', style: (t) => style.state(t) },
      { header: 'attempts', value: (r) => String(r.step.attempts ?? 0) },
      { header: 'job', value: (r) => r.step.job_id ?? '-' },
      { header: 'took', value: (r) => took(ms(r.step.started_at), ms(r.step.completed_at)) },
      { header: 'detail', value: (r) => stepDetail(r.step) },
    ],
    stepRows(run),
    style,
  );
}

/** The full view of `run get` (and the end of `run watch`). */
export function runDetailLines(run: RunDetail, style: Style, now: number): string[] {
  const lines = renderFields(
    [
      ['run', run.id],
      ['workflow', `${run.workflow_id} (revision ${run.workflow_revision}${run.workflow_version === null ? '' : `, version ${run.workflow_version}`})`],
      ['status', style.state(run.status)],
      ['error', run.error === null ? undefined : `${run.error.code ? `${run.error.code}: ` : ''}${run.error.message ?? ''}`],
      ['created', `${formatTime(run.created_at)} (${formatAge(run.created_at, now)} ago)`],
      ['took', run.completed_at === null ? undefined : took(run.started_at, run.completed_at)],
      ['triggered by', run.triggered_by ?? undefined],
      ['dry run', run.dry_run ? 'yes' : undefined],
      ['rerun of', run.rerun_of === null ? undefined : `${run.rerun_of}${run.rerun_step === null ? '' : ` from step ${run.rerun_step}`}`],
      ['idempotency key', run.idempotency_key ?? undefined],
      ['labels', Object.keys(run.labels).length === 0 ? undefined : formatLabels(run.labels)],
      ['cancel', run.cancel_requested === null ? undefined : 'requested'],
      ['pending events', run.pending_events.length === 0 ? undefined : run.pending_events.map((e) => e.type).join(', ')],
    ],
    style,
  );
  return [...lines, '', ...stepTable(run, style)];
}

export type StepChange = { readonly id: string; readonly type: string; readonly from: string | null; readonly to: string; readonly step: StepRunView };

/** The steps whose status differs between two polls of a run (all of them against `undefined`, except pending ones). */
export function stepChanges(before: RunDetail | undefined, after: RunDetail): StepChange[] {
  const out: StepChange[] = [];
  for (const row of stepRows(after)) {
    const to = row.step.status ?? 'pending';
    const from = before === undefined ? null : (before.steps[row.id]?.status ?? 'pending');
    if (from === to || (from === null && to === 'pending')) continue;
    out.push({ id: row.id, type: row.type, from, to, step: row.step });
  }
  return out;
}

/** One line for a step change: `step build: running (job r1:build@1)`. */
export function stepChangeLine(c: StepChange, style: Style): string {
  const detail = [c.step.job_id === undefined || c.to === 'succeeded' ? '' : `job ${c.step.job_id}`, stepDetail(c.step)].filter((x) => x !== '').join('; ');
  return `step ${c.id}: ${style.state(c.to)}${detail === '' ? '' : ` (${detail})`}`;
}

/** Timeline entries as a table. */
export function timelineTable(items: readonly TimelineEntry[], style: Style): string[] {
  return renderTable<TimelineEntry>(
    [
      { header: 'seq', value: (e) => String(e.seq) },
      { header: 'time', value: (e) => e.time ?? formatTime(e.at) },
      { header: 'type', value: (e) => e.type },
      { header: 'step', value: (e) => e.step_id ?? '-' },
      { header: 'status', value: (e) => e.status ?? '-', style: (t) => style.state(t) },
      { header: 'message', value: (e) => e.message ?? (e.job_id === undefined ? '' : `job ${e.job_id}`) },
    ],
    items,
    style,
  );
}
