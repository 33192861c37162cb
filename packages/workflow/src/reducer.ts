import { backoffDelay, type JsonValue } from '@cordum/core';
import { type CompiledStep, type CompiledWorkflow, compileWorkflow } from './definition.js';
import { buildDispatch, evaluateExtras, jobIdOf, makeScope, stepsView, stringOf } from './dispatch.js';
import { type ExpressionScope, truthy } from './expression.js';
import { descendantsOf, ancestorsOf } from './graph.js';
import {
  ALERT_SEVERITIES,
  type AlertSeverity,
  type ItemRun,
  type JobResultEvent,
  type JsonObject,
  type RunCommand,
  type RunEvent,
  type RunStatus,
  type RunTimer,
  type StepError,
  type StepRun,
  type StepStatus,
  type TimelineEntry,
  type TimelineType,
  type TimerKind,
  type WorkflowRun,
} from './model.js';
import { checkAgainstSchema } from './schema.js';

/** What the reducer may ask of its host; everything else it needs is in the run record. */
export type ReduceEnv = {
  /**
   * Resolves `input_schema_id` / `output_schema_id` from the schema registry (looked up after
   * `run.schemas`). It must answer the same way for the same id while a run is alive (pure), for example
   * a snapshot loaded before the call.
   */
  resolveSchema?: (id: string) => JsonObject | undefined;
  /** The compiled definition, when the host already has it (must have the run's definition_hash). */
  compiled?: CompiledWorkflow;
};

export type IgnoredEvent = { event: RunEvent; reason: string };

export type ReduceResult = {
  /** The next record; `version` is one more than the input's when `changed`. The input is never mutated. */
  run: WorkflowRun;
  /** To execute after the record is stored (each is idempotent by its job, timer or alert id). */
  commands: RunCommand[];
  /** To append to the run's timeline (seq continues the run's `timeline_seq`). */
  timeline: TimelineEntry[];
  /** Duplicate, stale or out-of-place events, with the reason (for logs and metrics). */
  ignored: IgnoredEvent[];
  changed: boolean;
};

export const TERMINAL_STEP_STATUSES: ReadonlySet<StepStatus> = new Set(['succeeded', 'failed', 'cancelled', 'timed_out', 'skipped']);
export const TERMINAL_RUN_STATUSES: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

/**
 * The workflow state machine: applies `events` in order to `run` at time `now` (epoch ms) and returns the
 * next record, the commands to execute, the timeline entries to append and the events it ignored.
 * Deterministic (same inputs, same outputs), pure (the input run is not changed) and idempotent for
 * duplicates: a result for a job that is not the current attempt of a running step, a second result for
 * the same job, a timer that is no longer armed or an approval for a step that is not waiting is ignored.
 * Reducing a batch equals reducing its events one at a time. Timers whose due time is <= now fire even
 * without a `timer_fired` event, so `reduce(run, [], now)` is also the reconciler's tick.
 */
export function reduce(run: WorkflowRun, events: readonly RunEvent[], now: number, env: ReduceEnv = {}): ReduceResult {
  const compiled = env.compiled?.hash === run.definition_hash ? env.compiled : compileWorkflow(run.definition);
  // Copy-on-write: the draft is a shallow copy whose step and timer maps are its own; a step is copied the
  // first time this reduction changes it (Reduction.own), the context the first time an output is recorded.
  // Everything else is shared with the input and never written in place, so the input is never mutated and
  // a reduce costs what it touches, not the size of the run.
  const draft: WorkflowRun = { ...run, steps: { ...run.steps }, timers: { ...run.timers } };
  const r = new Reduction(draft, compiled, now, env);
  r.advance();
  for (const event of events) {
    r.apply(event);
    r.advance();
  }
  const next = r.run;
  const changed = r.dirty;
  if (changed) {
    next.version = run.version + 1;
    next.updated_at = new Date(now).toISOString();
  }
  return { run: next, commands: r.commands, timeline: r.timeline, ignored: r.ignored, changed };
}

type Target = { step: StepRun; item?: ItemRun };

/** Where a job id lives in the run: its step and, for a fan-out item, the item's index. */
type JobPlace = { stepId: string; index?: number };

/** The step (and fan-out item) a job id of this run names, read from its shape (jobIdOf); undefined for others. */
function placeOf(runId: string, jobId: string): JobPlace | undefined {
  const at = jobId.lastIndexOf('@');
  if (at <= runId.length + 1 || !jobId.startsWith(`${runId}:`)) return undefined;
  const step = jobId.slice(runId.length + 1, at);
  if (!step.endsWith(']')) return { stepId: step };
  const open = step.lastIndexOf('[');
  const index = Number(step.slice(open + 1, -1));
  return open > 0 && Number.isSafeInteger(index) ? { stepId: step.slice(0, open), index } : undefined;
}

/** Whether pump() would start an item or complete the step (so the step needs copying first). */
function pumpWouldChange(c: CompiledStep, step: StepRun): boolean {
  const items = step.items ?? [];
  let running = 0;
  let startable = false;
  let allSucceeded = true;
  for (const it of items) {
    if (it.status === 'running') running++;
    else if (it.status === 'pending' && it.next_attempt_at === undefined) startable = true;
    if (it.status !== 'succeeded') allSucceeded = false;
  }
  return allSucceeded || (startable && (c.maxParallel <= 0 || running < c.maxParallel));
}

/** A copy of a step the reduction may change: its fields and its items' fields (nested values are replaced, never edited). */
function copyStep(step: StepRun): StepRun {
  const copy: StepRun = { ...step };
  if (step.items !== undefined) copy.items = step.items.map((it) => ({ ...it }));
  return copy;
}

class Reduction {
  readonly commands: RunCommand[] = [];
  readonly timeline: TimelineEntry[] = [];
  readonly ignored: IgnoredEvent[] = [];
  /**
   * Set by every change of the record. Each change either appends a timeline entry or arms, disarms or
   * fires a timer, so those four places are enough (the test driver compares against a full diff).
   */
  dirty = false;
  private readonly nowIso: string;
  private view: JsonObject | undefined;
  /** Steps this reduction has copied (and so may change). */
  private readonly owned = new Set<string>();
  /** 'steps': context and context.steps are this reduction's own; 'deep': the whole context is. */
  private contextOwned: 'no' | 'steps' | 'deep' = 'no';

  constructor(
    readonly run: WorkflowRun,
    private readonly compiled: CompiledWorkflow,
    private readonly now: number,
    private readonly env: ReduceEnv,
  ) {
    this.nowIso = new Date(now).toISOString();
  }

  // ------------------------------------------------------------------------------------------------------
  // Events

  apply(event: RunEvent): void {
    switch (event.type) {
      case 'run_started':
        return this.onStarted(event);
      case 'job_result':
        return this.onJobResult(event);
      case 'timer_fired': {
        const timer = this.run.timers[event.timer_id];
        if (timer === undefined) return this.ignore(event, 'timer is not armed (already fired or cancelled)');
        return this.fire(timer, false);
      }
      case 'step_approved':
      case 'step_rejected':
        return this.onApproval(event);
      case 'cancel_requested':
        if (TERMINAL_RUN_STATUSES.has(this.run.status)) return this.ignore(event, `run is already ${this.run.status}`);
        this.run.cancel_requested = { at: this.nowIso, ...pick(event, ['by', 'reason']) };
        this.log('cancel_requested', { message: event.reason ?? 'cancel requested', data: pick(event, ['by', 'reason']) });
        return this.endRun('cancelled', { code: 'run_cancelled', message: `run cancelled${event.by === undefined ? '' : ` by ${event.by}`}${event.reason === undefined ? '' : `: ${event.reason}`}` });
      case 'rerun_from':
        return this.onRerun(event);
    }
  }

  private onStarted(event: RunEvent): void {
    if (this.run.status !== 'pending') return this.ignore(event, `run is already ${this.run.status}`);
    this.run.started_at = this.nowIso;
    this.setRunStatus('running');
    const schema = this.compiled.definition.input_schema;
    if (schema !== undefined) {
      const check = checkAgainstSchema(schema, this.run.input);
      if (!check.ok) return this.endRun('failed', { code: 'run_input_invalid', message: `run input: ${check.error}` });
    }
    this.armRunTimeout();
  }

  private onJobResult(event: JobResultEvent): void {
    const place = placeOf(this.run.id, event.job_id);
    const seen = place === undefined || !Object.hasOwn(this.run.steps, place.stepId) ? undefined : this.run.steps[place.stepId];
    const current = place?.index === undefined ? seen : seen?.items?.[place.index];
    if (place === undefined || current?.job_id !== event.job_id) return this.ignore(event, 'not the current attempt of any step');
    if (current.status !== 'running') return this.ignore(event, 'attempt already completed');
    const step = this.own(place.stepId);
    const item = place.index === undefined ? undefined : (step.items as ItemRun[])[place.index];
    const target: Target = item === undefined ? { step } : { step, item };
    const c = this.step(place.stepId);
    this.disarm(`${event.job_id}:timeout`);
    const resultPtr = event.result_ptr !== undefined && event.result_ptr !== '' ? event.result_ptr : undefined;
    this.log('step_completed', {
      step_id: c.id,
      job_id: event.job_id,
      status: event.state,
      ...(resultPtr === undefined ? {} : { result_ptr: resultPtr }),
      ...(event.error === undefined ? {} : { message: event.error.message ?? event.error.code ?? '' }),
      ...(target.item === undefined ? {} : { data: { item_index: target.item.index } }),
    });
    switch (event.state) {
      case 'succeeded':
        return this.attemptSucceeded(c, target, event.output, resultPtr);
      case 'cancelled':
        return this.attemptFinal(c, target, 'cancelled', { code: 'job_cancelled', message: jobMessage(event, 'the job was cancelled') });
      case 'denied':
        return this.attemptFinal(c, target, 'failed', { code: 'job_denied', message: jobMessage(event, 'policy denied the job') });
      case 'timed_out':
        return this.attemptFailed(c, target, 'timed_out', { code: 'job_timed_out', message: jobMessage(event, 'the job timed out') }, event.retryable !== false);
      case 'failed':
        return this.attemptFailed(c, target, 'failed', { code: 'job_failed', message: jobMessage(event, 'the job failed') }, event.retryable !== false);
    }
  }

  private onApproval(event: Extract<RunEvent, { type: 'step_approved' | 'step_rejected' }>): void {
    const seen = this.run.steps[event.step_id];
    const c = this.compiled.steps.get(event.step_id);
    if (seen === undefined || c === undefined) return this.ignore(event, 'unknown step');
    if (c.kind !== 'approval') return this.ignore(event, 'not an approval step');
    if (seen.status !== 'waiting') return this.ignore(event, `step is ${seen.status}, not waiting for approval`);
    const step = this.own(event.step_id);
    const approved = event.type === 'step_approved';
    step.approval = { decision: approved ? 'approved' : 'rejected', by: event.by, at: this.nowIso, ...pick(event, ['reason']) };
    step.output = { approved, by: event.by, ...(event.reason === undefined ? {} : { reason: event.reason }) };
    this.disarm(`${jobIdOf(this.run.id, c.id, step.attempts)}:timeout`);
    this.log(approved ? 'step_approved' : 'step_rejected', {
      step_id: c.id,
      ...(event.reason === undefined ? {} : { message: event.reason }),
      data: pick(event, ['by', 'reason']),
    });
    if (approved) this.succeed(c, step, step.output);
    else {
      this.recordOutput(c, step, step.output, undefined);
      this.finish(c, step, 'failed', {
        code: 'approval_rejected',
        message: `rejected by ${event.by}${event.reason === undefined ? '' : `: ${event.reason}`}`,
      });
    }
  }

  private onRerun(event: Extract<RunEvent, { type: 'rerun_from' }>): void {
    const problem = rerunProblem(this.run, this.compiled, event.step_id, { inPlace: true });
    if (problem !== undefined) {
      this.log('rerun_rejected', { step_id: event.step_id, message: problem, data: pick(event, ['by']) });
      return this.ignore(event, problem);
    }
    const reset = rerunSet(this.run, this.compiled, event.step_id);
    this.ownContext('deep');
    for (const id of this.compiled.order) {
      if (!reset.has(id)) continue;
      const from = (this.run.steps[id] as StepRun).status;
      this.run.steps[id] = resetStep(this.run, this.step(id), this.run.steps[id] as StepRun);
      this.owned.add(id);
      this.log('step_status', { step_id: id, status: 'pending', data: { from, reason: 'rerun' } });
    }
    delete this.run.completed_at;
    delete this.run.error;
    delete this.run.cancel_requested;
    this.run.rerun_step = event.step_id;
    this.invalidate();
    this.log('rerun_requested', { step_id: event.step_id, data: { ...pick(event, ['by']), reset: [...reset].sort() } });
    this.setRunStatus('running');
    this.armRunTimeout();
  }

  // ------------------------------------------------------------------------------------------------------
  // Scheduling

  /** Fires due timers, starts every step whose dependencies allow it, tops up fan-outs, derives the status. */
  advance(): void {
    // Earliest first; a timer armed by a firing one (a zero backoff) fires in the same pass.
    for (let guard = 0; guard < 100_000; guard++) {
      let next: RunTimer | undefined;
      for (const t of Object.values(this.run.timers)) {
        if (t.due_ms > this.now) continue;
        if (next === undefined || t.due_ms < next.due_ms || (t.due_ms === next.due_ms && t.timer_id < next.timer_id)) next = t;
      }
      if (next === undefined) break;
      this.fire(next, true);
    }
    if (this.run.status !== 'running' && this.run.status !== 'waiting') return;
    for (const id of this.compiled.order) {
      const step = this.run.steps[id] as StepRun;
      if (step.status === 'pending' && step.next_attempt_at === undefined) this.tryStart(this.step(id));
      else if (step.status === 'running' && step.items !== undefined && pumpWouldChange(this.step(id), step)) this.pump(this.step(id), this.own(id));
    }
    this.deriveRunStatus();
  }

  private tryStart(c: CompiledStep): void {
    for (const d of c.deps) if (!TERMINAL_STEP_STATUSES.has((this.run.steps[d] as StepRun).status)) return;
    const step = this.own(c.id);
    const blocked =
      c.triggerRule === 'all_succeeded'
        ? c.deps.filter((d) => this.run.steps[d]?.status !== 'succeeded')
        : c.triggerRule === 'none_failed'
          ? c.deps.filter((d) => !['succeeded', 'skipped'].includes(this.run.steps[d]?.status ?? ''))
          : [];
    if (blocked.length > 0) {
      return this.skip(c, step, 'dependency_not_succeeded', `dependencies did not succeed: ${blocked.map((d) => `${d} (${this.run.steps[d]?.status ?? '?'})`).join(', ')}`);
    }
    const scope = this.scope();
    if (c.condition !== undefined && c.kind !== 'condition') {
      const r = c.condition.evaluate(scope);
      if (!r.ok) {
        this.log('step_condition_failed', { step_id: c.id, message: r.error });
        return this.finish(c, step, 'failed', { code: 'expression_failed', message: `condition: ${r.error}` });
      }
      const pass = truthy(r.value);
      this.log('step_condition_evaluated', { step_id: c.id, data: { value: r.value, passed: pass } });
      if (!pass) return this.skip(c, step, 'condition_false', `condition "${c.condition.source}" is false`);
    }
    step.started_at = this.nowIso;
    switch (c.kind) {
      case 'condition':
        return this.runCondition(c, step, scope);
      case 'approval':
        step.attempts += 1;
        this.setStepStatus(c.id, step, 'waiting');
        this.log('step_waiting', { step_id: c.id, message: 'waiting for approval' });
        if (c.timeoutMs !== undefined) {
          this.arm(`${jobIdOf(this.run.id, c.id, step.attempts)}:timeout`, 'step_timeout', this.now + c.timeoutMs, c.id, undefined, step.attempts);
        }
        return;
      case 'delay':
        return this.runDelay(c, step, scope);
      case 'notify':
        return this.runNotify(c, step, scope);
      case 'job':
        return c.forEach === undefined ? this.startJob(c, step, scope) : this.startFanOut(c, step, scope);
    }
  }

  private runCondition(c: CompiledStep, step: StepRun, scope: ExpressionScope): void {
    const r = (c.condition as NonNullable<CompiledStep['condition']>).evaluate(scope);
    if (!r.ok) {
      this.log('step_condition_failed', { step_id: c.id, message: r.error });
      return this.finish(c, step, 'failed', { code: 'expression_failed', message: `condition: ${r.error}` });
    }
    const value = truthy(r.value);
    this.log('step_condition_evaluated', { step_id: c.id, data: { value } });
    this.succeed(c, step, value);
  }

  private runDelay(c: CompiledStep, step: StepRun, scope: ExpressionScope): void {
    let dueMs: number;
    if (c.delayMs !== undefined) dueMs = this.now + c.delayMs;
    else if (c.def.delay_until !== undefined) {
      let text: JsonValue = c.def.delay_until;
      if (c.delayUntil !== undefined) {
        const r = c.delayUntil.evaluate(scope);
        if (!r.ok) {
          this.log('step_delay_failed', { step_id: c.id, message: r.error });
          return this.finish(c, step, 'failed', { code: 'expression_failed', message: r.error });
        }
        text = r.value;
      }
      const at = typeof text === 'string' ? Date.parse(text) : Number.NaN;
      if (Number.isNaN(at)) {
        const message = `delay_until "${stringOf(text)}" is not an RFC 3339 time`;
        this.log('step_delay_failed', { step_id: c.id, message });
        return this.finish(c, step, 'failed', { code: 'delay_invalid', message });
      }
      dueMs = at;
    } else dueMs = this.now + (c.timeoutMs ?? 0);
    step.attempts += 1;
    const delayMs = Math.max(0, dueMs - this.now);
    this.log('step_delay_started', { step_id: c.id, data: { delay_ms: delayMs, until: new Date(Math.max(dueMs, this.now)).toISOString() } });
    if (delayMs === 0) {
      this.log('step_delay_completed', { step_id: c.id });
      return this.succeed(c, step, null);
    }
    this.setStepStatus(c.id, step, 'running');
    this.arm(`${jobIdOf(this.run.id, c.id, step.attempts)}:delay`, 'delay', dueMs, c.id, undefined, step.attempts);
  }

  private runNotify(c: CompiledStep, step: StepRun, scope: ExpressionScope): void {
    const r = c.input === undefined ? { ok: true as const, value: this.run.input as JsonValue } : c.input.evaluate(scope);
    if (!r.ok) {
      this.log('step_event_failed', { step_id: c.id, message: r.error });
      return this.finish(c, step, 'failed', { code: 'expression_failed', message: r.error });
    }
    step.attempts += 1;
    const payload = r.value !== null && typeof r.value === 'object' && !Array.isArray(r.value) ? r.value : { message: r.value };
    const take = (...keys: string[]): string | undefined => {
      for (const k of keys) {
        const v = payload[k];
        if (v !== undefined && v !== null && v !== '') return stringOf(v);
      }
      return undefined;
    };
    const details: Record<string, string> = {};
    for (const [k, v] of Object.entries(payload)) {
      if (!['level', 'severity', 'message', 'code', 'component', 'source_component'].includes(k)) details[k] = stringOf(v);
    }
    const code = take('code');
    const alertId = jobIdOf(this.run.id, c.id, step.attempts);
    this.commands.push({
      type: 'emit_alert',
      alert_id: alertId,
      run_id: this.run.id,
      workflow_id: this.run.workflow_id,
      step_id: c.id,
      severity: severityOf(take('severity', 'level')),
      message: take('message') ?? `workflow ${this.run.workflow_id} step ${c.id}`,
      source_component: take('source_component', 'component') ?? 'workflow-engine',
      ...(code === undefined ? {} : { code }),
      details,
      ...(this.run.trace_id === undefined ? {} : { trace_id: this.run.trace_id }),
      dry_run: this.run.dry_run,
    });
    this.log('step_event_emitted', { step_id: c.id, data: { alert_id: alertId, payload } });
    step.input = payload;
    this.succeed(c, step, payload);
  }

  private startJob(c: CompiledStep, step: StepRun, scope: ExpressionScope): void {
    const input = this.stepInput(c, step, scope, undefined);
    if (input === undefined) return;
    // Only a templated payload is stored; the default (the run input) is derived again when needed.
    if (c.input !== undefined) step.input = input;
    this.startAttempt(c, { step }, scope);
  }

  private startFanOut(c: CompiledStep, step: StepRun, scope: ExpressionScope): void {
    const r = (c.forEach as NonNullable<CompiledStep['forEach']>).evaluate(scope);
    if (!r.ok) return this.finish(c, step, 'failed', { code: 'expression_failed', message: `for_each: ${r.error}` });
    if (r.value !== null && !Array.isArray(r.value)) {
      return this.finish(c, step, 'failed', { code: 'for_each_not_list', message: `for_each "${c.forEach?.source ?? ''}" is not a list` });
    }
    const values = r.value ?? [];
    const base = step.attempts;
    step.items = values.map((item, index) => ({ index, item, status: 'pending', attempts: base, ...(base > 0 ? { attempt_base: base } : {}) }));
    if (values.length === 0) return this.succeed(c, step, []);
    this.setStepStatus(c.id, step, 'running');
    this.pump(c, step);
  }

  /** Starts pending fan-out items up to max_parallel; completes the step when every item succeeded. */
  private pump(c: CompiledStep, step: StepRun): void {
    const items = step.items as ItemRun[];
    let running = 0;
    for (const it of items) if (it.status === 'running') running++;
    const cap = c.maxParallel > 0 ? c.maxParallel : Number.POSITIVE_INFINITY;
    for (const it of items) {
      if (running >= cap || step.status !== 'running') break;
      if (it.status !== 'pending' || it.next_attempt_at !== undefined) continue;
      const scope = this.scope(it.item);
      if (it.input === undefined) {
        // A templated payload is evaluated once per item and stored (retries send the same bytes); the
        // default payload (run input plus `item`) is derived again instead of copied into every item.
        const input = this.stepInput(c, step, scope, it);
        if (input === undefined) return;
        if (c.input !== undefined) it.input = input;
      }
      if (this.startAttempt(c, { step, item: it }, scope)) running++;
    }
    if (step.status === 'running' && items.every((it) => it.status === 'succeeded')) {
      this.succeed(c, step, items.map((it) => it.output ?? null));
    }
  }

  /** Evaluates and validates the payload; on failure finishes the step and returns undefined. */
  private stepInput(c: CompiledStep, step: StepRun, scope: ExpressionScope, item: ItemRun | undefined): JsonValue | undefined {
    let value: JsonValue;
    if (c.input !== undefined) {
      const r = c.input.evaluate(scope);
      if (!r.ok) {
        const err = { code: 'expression_failed', message: r.error };
        if (item === undefined) this.finish(c, step, 'failed', err);
        else this.failItemPermanently(c, step, item, 'failed', err);
        return undefined;
      }
      value = r.value;
    } else {
      value = item === undefined ? this.run.input : { ...this.run.input, item: item.item };
    }
    const schema = this.schemaFor(c.def.input_schema, c.def.input_schema_id);
    const problem = schema === undefined ? undefined : schema.ok ? checkProblem(schema.schema, value) : schema.error;
    if (problem !== undefined) {
      this.log('step_input_invalid', { step_id: c.id, message: problem, ...(item === undefined ? {} : { data: { item_index: item.index } }) });
      const err = { code: schema?.ok === false ? schema.code : 'step_input_invalid', message: `input: ${problem}` };
      if (item === undefined) this.finish(c, step, 'failed', err);
      else this.failItemPermanently(c, step, item, 'failed', err);
      return undefined;
    }
    return value;
  }

  /** Dispatches the next attempt of a job step or item. False when the step failed instead. */
  private startAttempt(c: CompiledStep, t: Target, scope: ExpressionScope): boolean {
    const extras = evaluateExtras(c, scope);
    if (!extras.ok) {
      const err = { code: 'expression_failed', message: extras.error };
      if (t.item === undefined) this.finish(c, t.step, 'failed', err);
      else this.failItemPermanently(c, t.step, t.item, 'failed', err);
      return false;
    }
    const target = t.item ?? t.step;
    target.attempts += 1;
    if (t.item !== undefined) t.step.attempts = Math.max(t.step.attempts, t.item.attempts);
    const jobId = jobIdOf(this.run.id, c.id, target.attempts, t.item?.index);
    target.job_id = jobId;
    target.started_at ??= this.nowIso;
    delete target.next_attempt_at;
    if (t.item === undefined) this.setStepStatus(c.id, t.step, 'running');
    else t.item.status = 'running';
    const cmd = buildDispatch(this.run, c, t.step, t.item, extras.value);
    this.commands.push(cmd);
    this.log('step_dispatched', {
      step_id: c.id,
      job_id: jobId,
      data: {
        attempt: target.attempts,
        topic: cmd.topic,
        dry_run: this.run.dry_run,
        ...(t.item === undefined ? {} : { foreach_index: t.item.index }),
      },
    });
    if (c.timeoutMs !== undefined) this.arm(`${jobId}:timeout`, 'step_timeout', this.now + c.timeoutMs, c.id, t.item?.index, target.attempts);
    return true;
  }

  // ------------------------------------------------------------------------------------------------------
  // Outcomes

  private attemptSucceeded(c: CompiledStep, t: Target, output: JsonValue | undefined, resultPtr: string | undefined): void {
    const out = output === undefined ? undefined : structuredClone(output);
    const schema = this.schemaFor(c.def.output_schema, c.def.output_schema_id);
    if (schema !== undefined) {
      const problem = !schema.ok ? schema.error : out === undefined ? 'the result payload was not provided to validate' : checkProblem(schema.schema, out);
      if (problem !== undefined) {
        this.log('step_output_invalid', { step_id: c.id, message: problem, ...(resultPtr === undefined ? {} : { result_ptr: resultPtr }) });
        const err = { code: schema.ok ? 'step_output_invalid' : schema.code, message: `output: ${problem}` };
        if (t.item === undefined) return this.finish(c, t.step, 'failed', err);
        return this.failItemPermanently(c, t.step, t.item, 'failed', err);
      }
    }
    if (t.item === undefined) {
      if (resultPtr !== undefined) t.step.result_ptr = resultPtr;
      return this.succeed(c, t.step, out, resultPtr);
    }
    const it = t.item;
    it.status = 'succeeded';
    it.completed_at = this.nowIso;
    if (out !== undefined) it.output = out;
    if (resultPtr !== undefined) it.result_ptr = resultPtr;
    delete it.error;
    this.pump(c, t.step);
  }

  /** A failed or timed-out attempt: retry with backoff while the policy allows, else final. */
  private attemptFailed(c: CompiledStep, t: Target, status: 'failed' | 'timed_out', error: StepError, retryable: boolean): void {
    const target = t.item ?? t.step;
    const used = target.attempts - (target.attempt_base ?? 0);
    if (!retryable || used > c.retry.maxRetries) return this.attemptFinal(c, t, status, error);
    const delay = backoffDelay(used, { initialMs: c.retry.initialMs, maxMs: c.retry.maxMs, multiplier: c.retry.multiplier, jitter: 'none' });
    const due = this.now + delay;
    target.error = error;
    target.next_attempt_at = new Date(due).toISOString();
    if (t.item === undefined) this.setStepStatus(c.id, t.step, 'pending', { reason: 'retry' });
    else t.item.status = 'pending';
    const jobId = target.job_id ?? jobIdOf(this.run.id, c.id, target.attempts, t.item?.index);
    this.log('step_retry_scheduled', {
      step_id: c.id,
      job_id: jobId,
      message: error.message,
      data: { attempt: target.attempts + 1, delay_ms: delay, ...(t.item === undefined ? {} : { foreach_index: t.item.index }) },
    });
    this.arm(`${jobId}:retry`, 'retry_backoff', due, c.id, t.item?.index, target.attempts);
  }

  private attemptFinal(c: CompiledStep, t: Target, status: 'failed' | 'timed_out' | 'cancelled', error: StepError): void {
    if (t.item === undefined) return this.finish(c, t.step, status, error);
    return this.failItemPermanently(c, t.step, t.item, status, error);
  }

  /**
   * An item failed for good: the fan-out step fails (always `failed`, whatever the item's outcome, so that
   * the step's status does not depend on which item finished first) and its other items are cancelled.
   */
  private failItemPermanently(c: CompiledStep, step: StepRun, item: ItemRun, status: StepStatus, error: StepError): void {
    item.status = status;
    item.error = error;
    item.completed_at = this.nowIso;
    this.cancelItems(c, step, `item ${item.index} ${status}`);
    this.finish(c, step, 'failed', { code: error.code, message: `item ${item.index}: ${error.message}` });
  }

  private cancelItems(c: CompiledStep, step: StepRun, reason: string): void {
    for (const it of step.items ?? []) {
      if (TERMINAL_STEP_STATUSES.has(it.status)) continue;
      if (it.status === 'running' && it.job_id !== undefined) {
        this.cancelJob(c.id, it.job_id, reason);
        this.disarm(`${it.job_id}:timeout`);
      }
      if (it.next_attempt_at !== undefined) this.disarm(`${jobIdOf(this.run.id, c.id, it.attempts, it.index)}:retry`);
      delete it.next_attempt_at;
      it.status = 'cancelled';
      it.completed_at = this.nowIso;
    }
  }

  private succeed(c: CompiledStep, step: StepRun, output: JsonValue | undefined, resultPtr?: string): void {
    this.recordOutput(c, step, output, resultPtr);
    delete step.error;
    this.finish(c, step, 'succeeded');
  }

  /** Records the output on the step, in `context.steps` and at `output_path`. */
  private recordOutput(c: CompiledStep, step: StepRun, output: JsonValue | undefined, resultPtr: string | undefined): void {
    if (output !== undefined) step.output = output;
    const entry: JsonObject = {};
    if (resultPtr !== undefined) entry.result_ptr = resultPtr;
    if (output !== undefined) entry.output = output;
    const deep = c.def.output_path !== undefined && output !== undefined;
    const context = this.ownContext(deep ? 'deep' : 'steps');
    const steps = (context.steps ??= {}) as JsonObject;
    steps[c.id] = entry;
    if (deep) setPath(context, c.def.output_path as string, output);
  }

  private finish(c: CompiledStep, step: StepRun, status: StepStatus, error?: StepError): void {
    if (error !== undefined) step.error = error;
    delete step.next_attempt_at;
    step.completed_at = this.nowIso;
    if (step.items !== undefined && status !== 'succeeded') this.cancelItems(c, step, `step ${status}`);
    for (const id of Object.keys(this.run.timers)) {
      const t = this.run.timers[id] as RunTimer;
      if (t.step_id === c.id) this.disarm(id);
    }
    this.setStepStatus(c.id, step, status, error === undefined ? undefined : { code: error.code, message: error.message });
  }

  private skip(c: CompiledStep, step: StepRun, reason: string, message: string): void {
    step.skip_reason = reason;
    step.completed_at = this.nowIso;
    this.setStepStatus(c.id, step, 'skipped', { reason, message });
  }

  // ------------------------------------------------------------------------------------------------------
  // Timers

  private fire(timer: RunTimer, auto: boolean): void {
    delete this.run.timers[timer.timer_id];
    this.dirty = true;
    if (auto) this.commands.push({ type: 'cancel_timer', timer_id: timer.timer_id, run_id: this.run.id });
    if (timer.kind === 'run_timeout') {
      if (TERMINAL_RUN_STATUSES.has(this.run.status)) return;
      const sec = this.compiled.definition.timeout_sec ?? 0;
      return this.endRun('timed_out', { code: 'run_timed_out', message: `the run did not finish within ${sec} s` });
    }
    if (timer.step_id === undefined || this.run.steps[timer.step_id] === undefined) return;
    const step = this.own(timer.step_id);
    const c = this.step(timer.step_id);
    const item = timer.item_index === undefined ? undefined : step.items?.[timer.item_index];
    if (timer.item_index !== undefined && item === undefined) return;
    const target = item ?? step;
    if (timer.attempt !== undefined && target.attempts !== timer.attempt) return;
    const t: Target = item === undefined ? { step } : { step, item };
    switch (timer.kind) {
      case 'retry_backoff':
        if (target.status !== 'pending' || target.next_attempt_at === undefined) return;
        delete target.next_attempt_at;
        if (item === undefined) {
          if (!this.runIsLive()) return;
          this.startAttempt(c, t, this.scope());
        } else if (step.status === 'running') this.pump(c, step);
        return;
      case 'delay':
        if (step.status !== 'running') return;
        this.log('step_delay_completed', { step_id: c.id });
        return this.succeed(c, step, null);
      case 'step_timeout': {
        const secs = (c.timeoutMs ?? 0) / 1000;
        if (c.kind === 'approval') {
          if (step.status !== 'waiting') return;
          this.log('step_timeout', { step_id: c.id, message: `no decision within ${secs} s` });
          return this.finish(c, step, 'timed_out', { code: 'approval_timed_out', message: `no approval decision within ${secs} s` });
        }
        if (target.status !== 'running' || target.job_id === undefined) return;
        this.log('step_timeout', { step_id: c.id, job_id: target.job_id, message: `no result within ${secs} s` });
        this.cancelJob(c.id, target.job_id, 'step timeout');
        return this.attemptFailed(c, t, 'timed_out', { code: 'step_timeout', message: `no result within ${secs} s` }, true);
      }
    }
  }

  private arm(timerId: string, kind: TimerKind, dueMs: number, stepId: string | undefined, itemIndex: number | undefined, attempt: number | undefined): void {
    const timer: RunTimer = { timer_id: timerId, kind, due_ms: dueMs };
    if (stepId !== undefined) timer.step_id = stepId;
    if (itemIndex !== undefined) timer.item_index = itemIndex;
    if (attempt !== undefined) timer.attempt = attempt;
    this.run.timers[timerId] = timer;
    this.dirty = true;
    this.commands.push({ type: 'start_timer', timer_id: timerId, run_id: this.run.id, kind, due_ms: dueMs, ...(stepId === undefined ? {} : { step_id: stepId }) });
  }

  private disarm(timerId: string): void {
    if (this.run.timers[timerId] === undefined) return;
    delete this.run.timers[timerId];
    this.dirty = true;
    this.commands.push({ type: 'cancel_timer', timer_id: timerId, run_id: this.run.id });
  }

  private armRunTimeout(): void {
    const sec = this.compiled.definition.timeout_sec;
    if (sec === undefined || sec <= 0) return;
    this.disarm(`${this.run.id}:timeout`);
    this.arm(`${this.run.id}:timeout`, 'run_timeout', this.now + Math.round(sec * 1000), undefined, undefined, undefined);
  }

  // ------------------------------------------------------------------------------------------------------
  // Run status

  /** Cancel or run timeout: every unfinished step is cancelled, running jobs get a CancelJob. */
  private endRun(status: 'cancelled' | 'timed_out' | 'failed', error: StepError): void {
    for (const id of this.compiled.order) {
      if (TERMINAL_STEP_STATUSES.has((this.run.steps[id] as StepRun).status)) continue;
      const step = this.own(id);
      const c = this.step(id);
      if (step.status === 'running' && step.items === undefined && step.job_id !== undefined && c.kind === 'job') {
        this.cancelJob(id, step.job_id, error.message);
      }
      this.finish(c, step, 'cancelled', { code: error.code, message: error.message });
    }
    for (const id of Object.keys(this.run.timers)) this.disarm(id);
    this.run.error = error;
    this.run.completed_at = this.nowIso;
    this.setRunStatus(status, error.message);
  }

  private deriveRunStatus(): void {
    if (!this.runIsLive()) return;
    let live = false;
    let waiting = false;
    let failed: [string, StepRun] | undefined;
    let timedOut: [string, StepRun] | undefined;
    for (const id of this.compiled.order) {
      const s = this.run.steps[id] as StepRun;
      if (!TERMINAL_STEP_STATUSES.has(s.status)) {
        live = true;
        if (s.status === 'waiting') waiting = true;
      } else if (failed === undefined && (s.status === 'failed' || s.status === 'cancelled')) failed = [id, s];
      else if (timedOut === undefined && s.status === 'timed_out') timedOut = [id, s];
    }
    if (!live) {
      const culprit = failed ?? timedOut;
      for (const id of Object.keys(this.run.timers)) this.disarm(id);
      this.run.completed_at = this.nowIso;
      if (culprit === undefined) return this.setRunStatus('succeeded');
      const [id, s] = culprit;
      this.run.error = { code: s.error?.code ?? 'step_failed', message: `step ${id}: ${s.error?.message ?? s.status}`, step_id: id };
      return this.setRunStatus(failed === undefined ? 'timed_out' : 'failed', this.run.error.message);
    }
    this.setRunStatus(waiting ? 'waiting' : 'running');
  }

  private runIsLive(): boolean {
    return this.run.status === 'running' || this.run.status === 'waiting';
  }

  private setRunStatus(status: RunStatus, message?: string): void {
    if (this.run.status === status) return;
    const from = this.run.status;
    this.run.status = status;
    this.log('run_status', { status, ...(message === undefined ? {} : { message }), data: { from } });
  }

  private setStepStatus(id: string, step: StepRun, status: StepStatus, extra?: { reason?: string; code?: string; message?: string }): void {
    if (step.status === status) return;
    const from = step.status;
    step.status = status;
    this.invalidate();
    const data: JsonObject = { from };
    if (extra?.reason !== undefined) data.reason = extra.reason;
    if (extra?.code !== undefined) data.code = extra.code;
    this.log('step_status', { step_id: id, status, ...(extra?.message === undefined ? {} : { message: extra.message }), data });
  }

  // ------------------------------------------------------------------------------------------------------
  // Helpers

  private cancelJob(stepId: string, jobId: string, reason: string): void {
    this.commands.push({ type: 'cancel_job', job_id: jobId, run_id: this.run.id, step_id: stepId, reason });
    this.log('job_cancel_requested', { step_id: stepId, job_id: jobId, message: reason });
  }

  private schemaFor(
    inline: JsonObject | undefined,
    id: string | undefined,
  ): { ok: true; schema: JsonObject } | { ok: false; code: string; error: string } | undefined {
    if (inline !== undefined) return { ok: true, schema: inline };
    if (id === undefined) return undefined;
    const schema = this.run.schemas?.[id] ?? this.env.resolveSchema?.(id);
    if (schema === undefined) return { ok: false, code: 'schema_not_found', error: `schema "${id}" is not registered` };
    return { ok: true, schema };
  }

  private scope(item: JsonValue = null): ExpressionScope {
    this.view ??= stepsView(this.run);
    return makeScope(this.run, this.view, item);
  }

  private invalidate(): void {
    this.view = undefined;
  }

  /** The step, copied on its first change in this reduction: the input run's objects are never written. */
  private own(id: string): StepRun {
    const step = this.run.steps[id] as StepRun;
    if (this.owned.has(id)) return step;
    const copy = copyStep(step);
    this.run.steps[id] = copy;
    this.owned.add(id);
    return copy;
  }

  /** The run's context, copied on its first change: `steps` copies it and context.steps, `deep` all of it. */
  private ownContext(level: 'steps' | 'deep'): JsonObject {
    if (this.contextOwned === 'deep' || (level === 'steps' && this.contextOwned === 'steps')) return this.run.context;
    if (level === 'deep') {
      this.run.context = structuredClone(this.run.context);
    } else {
      const steps = this.run.context.steps;
      this.run.context = { ...this.run.context };
      if (steps !== null && typeof steps === 'object' && !Array.isArray(steps)) this.run.context.steps = { ...steps };
    }
    this.contextOwned = level;
    return this.run.context;
  }

  private step(id: string): CompiledStep {
    const c = this.compiled.steps.get(id);
    if (c === undefined) throw new Error(`run ${this.run.id} has step ${id} that its definition lacks`);
    return c;
  }

  private ignore(event: RunEvent, reason: string): void {
    this.ignored.push({ event, reason });
  }

  private log(type: TimelineType, fields: Partial<Omit<TimelineEntry, 'seq' | 'time' | 'type' | 'run_id' | 'workflow_id'>>): void {
    this.dirty = true;
    this.run.timeline_seq += 1;
    this.timeline.push({ seq: this.run.timeline_seq, time: this.nowIso, type, run_id: this.run.id, workflow_id: this.run.workflow_id, ...fields });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Rerun

/** Why a rerun from `stepId` is not possible, or undefined. `inPlace` reruns also need a finished run. */
export function rerunProblem(run: WorkflowRun, compiled: CompiledWorkflow, stepId: string, options: { inPlace: boolean }): string | undefined {
  if (!compiled.steps.has(stepId)) return `unknown step "${stepId}"`;
  if (options.inPlace && !TERMINAL_RUN_STATUSES.has(run.status)) return `the run is ${run.status}; only a finished run can be rerun in place`;
  for (const d of [...ancestorsOf(stepId, compiled.deps)].sort()) {
    const s = run.steps[d];
    if (s === undefined || (s.status !== 'succeeded' && s.status !== 'skipped')) {
      return `step ${d}, which ${stepId} depends on, is ${s?.status ?? 'missing'}; rerun from ${d} instead`;
    }
  }
  return undefined;
}

/** The steps a rerun from `stepId` runs again: it, everything downstream, and every step that did not succeed. */
export function rerunSet(run: WorkflowRun, compiled: CompiledWorkflow, stepId: string): Set<string> {
  const out = new Set<string>([stepId, ...descendantsOf(stepId, compiled.deps)]);
  for (const id of compiled.order) {
    const s = run.steps[id];
    if (s === undefined || (s.status !== 'succeeded' && s.status !== 'skipped')) out.add(id);
  }
  return out;
}

/** Back to pending for a rerun; the attempt counter is kept so that new job ids never collide with old ones. */
export function resetStep(run: WorkflowRun, c: CompiledStep, step: StepRun): StepRun {
  const fresh: StepRun = { step_id: step.step_id, status: 'pending', attempts: step.attempts };
  if (step.attempts > 0) fresh.attempt_base = step.attempts;
  const steps = run.context.steps;
  if (steps !== null && typeof steps === 'object' && !Array.isArray(steps)) delete steps[c.id];
  if (c.def.output_path !== undefined) deletePath(run.context, c.def.output_path);
  return fresh;
}

// ---------------------------------------------------------------------------------------------------------

function checkProblem(schema: JsonObject, value: JsonValue): string | undefined {
  const r = checkAgainstSchema(schema, value);
  return r.ok ? undefined : r.error;
}

function jobMessage(event: JobResultEvent, fallback: string): string {
  const code = event.error?.code;
  const message = event.error?.message;
  if (code !== undefined && code !== '' && message !== undefined && message !== '') return `${code}: ${message}`;
  return message !== undefined && message !== '' ? message : code !== undefined && code !== '' ? code : fallback;
}

function severityOf(level: string | undefined): AlertSeverity {
  const up = (level ?? '').toUpperCase();
  if (up === 'WARN') return 'WARNING';
  if (up === 'FATAL') return 'CRITICAL';
  return (ALERT_SEVERITIES as readonly string[]).includes(up) ? (up as AlertSeverity) : 'INFO';
}

function pick<T extends object, K extends keyof T>(obj: T, keys: readonly K[]): { [P in K]?: Exclude<T[P], undefined> } {
  const out: { [P in K]?: Exclude<T[P], undefined> } = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k] as Exclude<T[K], undefined>;
  return out;
}

export function setPath(root: JsonObject, path: string, value: JsonValue): void {
  const parts = path.split('.');
  let cur: JsonObject = root;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[part] = {};
    cur = cur[part] as JsonObject;
  }
  cur[parts[parts.length - 1] as string] = value;
}

export function deletePath(root: JsonObject, path: string): void {
  const parts = path.split('.');
  let cur: JsonValue | undefined = root;
  for (const part of parts.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return;
    cur = cur[part];
  }
  if (cur !== null && cur !== undefined && typeof cur === 'object' && !Array.isArray(cur)) delete cur[parts[parts.length - 1] as string];
}
