import type { DecisionRecord, JobDetail, JobEvent, JobSummary, PayloadView } from '../gateway/types.js';
import { type Column, compactJson, formatAge, formatLabels, formatTime, renderFields } from '../output/format.js';
import type { Style } from '../output/style.js';

// How jobs look in table output.

export function jobColumns(now: number, style: Style): Column<JobSummary>[] {
  return [
    { header: 'id', value: (j) => j.id },
    { header: 'state', value: (j) => j.state, style: (t) => style.state(t) },
    { header: 'wait', value: (j) => j.wait_reason ?? '-' },
    { header: 'topic', value: (j) => j.topic },
    { header: 'attempts', value: (j) => String(j.attempts) },
    { header: 'age', value: (j) => formatAge(j.created_at, now) },
  ];
}

/** The short view of `job status`. */
export function jobStatusLines(job: JobDetail, style: Style): string[] {
  const decision = job.decision ?? undefined;
  return renderFields(
    [
      ['job', job.id],
      ['state', style.state(job.state)],
      ['wait reason', job.wait_reason ?? undefined],
      ['attempts', String(job.attempts)],
      ['decision', decision?.decision === undefined ? undefined : `${style.state(decision.decision)}${decision.rule_id ? ` (rule ${decision.rule_id})` : ''}`],
      ['error', job.error_code === null ? undefined : `${job.error_code}${job.error_message ? `: ${job.error_message}` : ''}`],
      ['result', job.result_ptr ?? undefined],
    ],
    style,
  );
}

function payloadText(p: PayloadView): string | undefined {
  if (p === null) return undefined;
  if (p.expired) return `${p.pointer} (expired)`;
  if (!p.inlined) return `${p.pointer} (${p.size_bytes} bytes, ${p.content_type}; too large to inline)`;
  if (p.json !== undefined) return compactJson(p.json);
  if (p.text !== undefined) return p.text;
  return `${p.pointer} (${p.size_bytes} bytes, base64)`;
}

/** The full view of `job get`. */
export function jobDetailLines(job: JobDetail, style: Style, now: number): string[] {
  const d = job.decision ?? undefined;
  const remediations = (d?.remediations ?? []).map((r) => r.id ?? '').filter((id) => id !== '');
  return renderFields(
    [
      ['job', job.id],
      ['state', style.state(job.state)],
      ['wait reason', job.wait_reason ?? undefined],
      ['topic', job.topic],
      ['tenant', job.tenant],
      ['trace', job.trace_id],
      ['created', `${formatTime(job.created_at)} (${formatAge(job.created_at, now)} ago)`],
      ['updated', `${formatTime(job.updated_at)} (${formatAge(job.updated_at, now)} ago)`],
      ['attempts', String(job.attempts)],
      ['priority', job.priority || undefined],
      ['principal', job.principal_id || undefined],
      ['capability', job.capability || undefined],
      ['risk tags', job.risk_tags.length === 0 ? undefined : job.risk_tags.join(',')],
      ['requires', job.requires.length === 0 ? undefined : job.requires.join(',')],
      ['pack', job.pack_id || undefined],
      ['labels', formatLabels(job.labels)],
      ['parent', job.parent_job_id || undefined],
      ['worker', job.worker_id ?? undefined],
      ['decision', d?.decision === undefined ? undefined : `${style.state(d.decision)}${d.rule_id ? ` (rule ${d.rule_id})` : ''}${d.reason ? `: ${d.reason}` : ''}`],
      ['remediations', remediations.length === 0 ? undefined : remediations.join(', ')],
      ['approval', job.approval === null ? undefined : compactJson(job.approval)],
      ['job hash', job.job_hash ?? undefined],
      ['error', job.error_code === null ? undefined : `${job.error_code}${job.error_message ? `: ${job.error_message}` : ''}`],
      ['input', payloadText(job.context)],
      ['result', payloadText(job.result)],
      ['dlq', job.dlq === null ? undefined : `${job.dlq.reason_code}: ${job.dlq.reason}`],
    ],
    style,
  );
}

export type LogEntry = { at: number; kind: 'state' | 'decision'; text: string };

/** `job logs`: the state transitions and the policy decisions of a job, oldest first. */
export function jobLogEntries(events: readonly JobEvent[], decisions: readonly DecisionRecord[]): LogEntry[] {
  const out: LogEntry[] = [];
  for (const e of events) {
    const move = `${e.from ?? '∅'} → ${e.to}`;
    out.push({ at: e.at, kind: 'state', text: `${move}  by ${e.actor}${e.reason ? `: ${e.reason}` : ''}` });
  }
  for (const d of decisions) {
    const what = typeof d.decision === 'string' ? d.decision : 'decision';
    out.push({
      at: d.at,
      kind: 'decision',
      text: `${what}${d.rule_id ? ` (rule ${d.rule_id})` : ''}${d.reason ? `: ${d.reason}` : ''}${d.snapshot ? ` [snapshot ${d.snapshot}]` : ''}`,
    });
  }
  // Stable sort: at equal times the order above (state changes, then decisions) holds.
  return out.map((e, i) => ({ e, i })).sort((a, b) => a.e.at - b.e.at || a.i - b.i).map(({ e }) => e);
}

export function logLines(entries: readonly LogEntry[], style: Style): string[] {
  return entries.map((e) => `${style.dim(formatTime(e.at))}  ${e.kind === 'state' ? 'state   ' : 'policy  '}${e.text}`);
}
