import type { JsonValue } from '@cordum/core';
import type { CompiledStep } from './definition.js';
import type { EvalResult, ExpressionScope } from './expression.js';
import type { DispatchJobCommand, ItemRun, JobMetaFields, JsonObject, StepRun, WorkflowRun } from './model.js';
import type { CompiledTemplate } from './template.js';

// Building the expression scope of a run and the DispatchJob command of one attempt. Both the reducer and
// reconcileCommands use buildDispatch, so a command re-derived after a crash is the one first issued.

/** `steps.<id>` as expressions see it: status and attempts always, output/result_ptr/error when present. */
export function stepsView(run: WorkflowRun): JsonObject {
  const out: JsonObject = {};
  for (const [id, s] of Object.entries(run.steps)) {
    const v: JsonObject = { status: s.status, attempts: s.attempts };
    if (s.output !== undefined) v.output = s.output;
    if (s.result_ptr !== undefined) v.result_ptr = s.result_ptr;
    if (s.error !== undefined) v.error = { code: s.error.code, message: s.error.message };
    out[id] = v;
  }
  return out;
}

export function makeScope(run: WorkflowRun, steps: JsonObject, item: JsonValue = null): ExpressionScope {
  return { input: run.input, steps, ctx: run.context, item };
}

/** Job id of an attempt: `<run>:<step>@<n>`, or `<run>:<step>[<i>]@<n>` for a fan-out item. */
export function jobIdOf(runId: string, stepId: string, attempt: number, itemIndex?: number): string {
  return itemIndex === undefined ? `${runId}:${stepId}@${attempt}` : `${runId}:${stepId}[${itemIndex}]@${attempt}`;
}

export type DispatchExtras = {
  idempotencyKey?: string;
  metaLabels?: Record<string, string>;
  routeLabels?: Record<string, string>;
};

/** Evaluates the templated meta strings and labels of a step; the error names the field. */
export function evaluateExtras(c: CompiledStep, scope: ExpressionScope): { ok: true; value: DispatchExtras } | { ok: false; error: string } {
  const out: DispatchExtras = {};
  const key = evalOptional(c.idempotencyKey, scope);
  if (!key.ok) return key;
  if (key.value !== undefined) out.idempotencyKey = stringOf(key.value);
  const meta = evalOptional(c.metaLabels, scope);
  if (!meta.ok) return meta;
  if (meta.value !== undefined) out.metaLabels = labelsOf(meta.value);
  const route = evalOptional(c.routeLabels, scope);
  if (!route.ok) return route;
  if (route.value !== undefined) out.routeLabels = labelsOf(route.value);
  return { ok: true, value: out };
}

function evalOptional(t: CompiledTemplate | undefined, scope: ExpressionScope): { ok: true; value: JsonValue | undefined } | { ok: false; error: string } {
  if (t === undefined) return { ok: true, value: undefined };
  const r: EvalResult = t.evaluate(scope);
  return r;
}

export function buildDispatch(
  run: WorkflowRun,
  c: CompiledStep,
  step: StepRun,
  item: ItemRun | undefined,
  extras: DispatchExtras,
): DispatchJobCommand {
  const target = item ?? step;
  const attempt = target.attempts;
  const jobId = jobIdOf(run.id, c.id, attempt, item?.index);
  const def = c.def;
  const env: Record<string, string> = { workflow_id: run.workflow_id, run_id: run.id, step_id: c.id };
  if (run.tenant_id !== undefined) env.tenant_id = run.tenant_id;
  if (run.team_id !== undefined) env.team_id = run.team_id;
  if (run.dry_run) env.dry_run = 'true';
  if (item !== undefined) {
    env.foreach_index = String(item.index);
    env.foreach_item = JSON.stringify(item.item);
  }
  if (attempt > (target.attempt_base ?? 0) + 1) env.retry_of_job = jobIdOf(run.id, c.id, attempt - 1, item?.index);

  const labels: Record<string, string> = { ...(extras.routeLabels ?? def.route_labels ?? {}) };
  labels.workflow_id = run.workflow_id;
  labels.run_id = run.id;
  labels.step_id = c.id;
  if (def.worker_id !== undefined) labels.worker_id = def.worker_id;
  if (run.dry_run) labels.dry_run = 'true';

  const m = def.meta ?? {};
  const meta: JobMetaFields = {
    risk_tags: [...(m.risk_tags ?? [])],
    requires: [...(m.requires ?? [])],
    labels: { ...(extras.metaLabels ?? m.labels ?? {}) },
  };
  if (run.tenant_id !== undefined) meta.tenant_id = run.tenant_id;
  if (m.actor_id !== undefined) meta.actor_id = m.actor_id;
  if (m.actor_type !== undefined) meta.actor_type = m.actor_type;
  const idem = extras.idempotencyKey ?? m.idempotency_key;
  if (idem !== undefined) meta.idempotency_key = idem;
  if (m.capability !== undefined) meta.capability = m.capability;
  if (m.pack_id !== undefined) meta.pack_id = m.pack_id;

  const cmd: DispatchJobCommand = {
    type: 'dispatch_job',
    job_id: jobId,
    run_id: run.id,
    workflow_id: run.workflow_id,
    step_id: c.id,
    attempt,
    topic: c.topic,
    input: target.input ?? (item === undefined ? run.input : { ...run.input, item: item.item }),
    env,
    labels,
    meta,
    memory_id: typeof run.input.memory_id === 'string' && run.input.memory_id !== '' ? run.input.memory_id : `run:${run.id}`,
    dry_run: run.dry_run,
  };
  if (item !== undefined) cmd.item_index = item.index;
  if (def.worker_id !== undefined) cmd.adapter_id = def.worker_id;
  if (c.timeoutMs !== undefined) cmd.deadline_ms = c.timeoutMs;
  if (typeof run.input.priority === 'string' && run.input.priority !== '') cmd.priority = run.input.priority;
  if (run.tenant_id !== undefined) cmd.tenant_id = run.tenant_id;
  if (run.principal_id !== undefined) cmd.principal_id = run.principal_id;
  if (run.trace_id !== undefined) cmd.trace_id = run.trace_id;
  return cmd;
}

export function stringOf(v: JsonValue): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function labelsOf(v: JsonValue): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v)) out[k] = stringOf(x);
  return out;
}
