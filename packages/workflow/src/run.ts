import { InvalidError, isSafeId, type JsonValue } from '@cordum/core';
import { type CompiledWorkflow, compileWorkflow } from './definition.js';
import { buildDispatch, evaluateExtras, jobIdOf, makeScope, stepsView } from './dispatch.js';
import { type JsonObject, RUN_FORMAT, type RunCommand, type StepRun, type WorkflowDefinition, type WorkflowRun } from './model.js';
import { rerunProblem, rerunSet, setPath, TERMINAL_STEP_STATUSES } from './reducer.js';
import { checkAgainstSchema } from './schema.js';

export type CreateRunOptions = {
  id: string;
  /** A definition (YAML/JSON text or object, validated here: WorkflowError) or an already compiled one. */
  definition: unknown;
  input?: JsonObject;
  /** Epoch ms. */
  now: number;
  tenant_id?: string;
  org_id?: string;
  team_id?: string;
  triggered_by?: string;
  principal_id?: string;
  trace_id?: string;
  labels?: Record<string, string>;
  metadata?: Record<string, string>;
  idempotency_key?: string;
  dry_run?: boolean;
  workflow_revision?: number;
  /** Schema-registry documents the run's steps refer to, resolved now (see ReduceEnv.resolveSchema). */
  schemas?: Record<string, JsonObject>;
};

/**
 * A new run in status `pending`, version 1, pinned to the definition (embedded with its hash). Nothing runs
 * until the host reduces a `run_started` event. Throws InvalidError for a bad id.
 */
export function createRun(options: CreateRunOptions): WorkflowRun {
  if (!isSafeId(options.id)) throw new InvalidError('run id must be 1-200 characters of A-Z a-z 0-9 . _ : @ # - [ ]');
  const compiled = isCompiled(options.definition) ? options.definition : compileWorkflow(options.definition);
  const def = compiled.definition;
  const iso = new Date(options.now).toISOString();
  const steps: Record<string, StepRun> = {};
  for (const id of compiled.order) steps[id] = { step_id: id, status: 'pending', attempts: 0 };
  const run: WorkflowRun = {
    format: RUN_FORMAT,
    id: options.id,
    workflow_id: def.id,
    definition_hash: compiled.hash,
    definition: structuredClone(def),
    input: structuredClone(options.input ?? {}),
    context: { steps: {} },
    status: 'pending',
    steps,
    timers: {},
    version: 1,
    timeline_seq: 0,
    created_at: iso,
    updated_at: iso,
    dry_run: options.dry_run ?? false,
  };
  if (def.version !== undefined) run.workflow_version = def.version;
  const optional = [
    'workflow_revision',
    'tenant_id',
    'org_id',
    'team_id',
    'triggered_by',
    'principal_id',
    'trace_id',
    'labels',
    'metadata',
    'idempotency_key',
    'schemas',
  ] as const;
  for (const k of optional) {
    const v = options[k];
    if (v !== undefined) (run as Record<string, unknown>)[k] = structuredClone(v);
  }
  return run;
}

export type PrepareRerunOptions = {
  /** Id of the new run. */
  id: string;
  /** Step to rerun from: it and everything downstream run again. */
  from_step: string;
  now: number;
  triggered_by?: string;
  principal_id?: string;
  trace_id?: string;
  idempotency_key?: string;
  /** Defaults to the source run's flag. */
  dry_run?: boolean;
};

/**
 * A new pending run that reruns `source` from a step (upstream's rerun: a new run with `rerun_of` and
 * `rerun_step`). Same input, same pinned definition; steps that succeeded or were skipped and are not
 * downstream of `from_step` keep their recorded status, outputs and result pointers (the same immutable
 * pointers, nothing re-executed); the rest start fresh. Throws InvalidError (code invalid_argument) when a
 * dependency of `from_step` did not succeed.
 */
export function prepareRerun(source: WorkflowRun, options: PrepareRerunOptions): WorkflowRun {
  const compiled = compileWorkflow(source.definition);
  const problem = rerunProblem(source, compiled, options.from_step, { inPlace: false });
  if (problem !== undefined) throw new InvalidError(`cannot rerun run ${source.id} from ${options.from_step}: ${problem}`, { details: { run_id: source.id, step_id: options.from_step } });
  const run = createRun({
    id: options.id,
    definition: compiled,
    input: source.input,
    now: options.now,
    dry_run: options.dry_run ?? source.dry_run,
    ...pickDefined(source, ['tenant_id', 'org_id', 'team_id', 'labels', 'metadata', 'schemas', 'workflow_revision']),
    ...pickDefined(options, ['triggered_by', 'principal_id', 'trace_id', 'idempotency_key']),
  });
  run.rerun_of = source.id;
  run.rerun_step = options.from_step;
  const again = rerunSet(source, compiled, options.from_step);
  const ctxSteps = run.context.steps as JsonObject;
  for (const id of compiled.order) {
    if (again.has(id)) continue;
    const kept = structuredClone(source.steps[id] as StepRun);
    run.steps[id] = kept;
    const entry = (source.context.steps as JsonObject | undefined)?.[id];
    if (entry !== undefined) ctxSteps[id] = structuredClone(entry);
    const path = compiled.steps.get(id)?.def.output_path;
    if (path !== undefined && kept.output !== undefined) setPath(run.context, path, structuredClone(kept.output));
  }
  return run;
}

/** Why `rerun_from` (in place) or prepareRerun would refuse, or undefined; for the gateway's 400/409. */
export function checkRerun(run: WorkflowRun, stepId: string, options: { inPlace?: boolean } = {}): string | undefined {
  return rerunProblem(run, compileWorkflow(run.definition), stepId, { inPlace: options.inPlace ?? false });
}

/**
 * The commands that must be in effect for a run as stored: a DispatchJob for every running attempt (same
 * job id and payload as first issued; the host skips ids its JobStore already has) and a StartTimer for
 * every armed timer. A reconciler calls this after a crash between storing a run and executing its
 * commands. EmitAlert and CancelJob are not re-derived: alerts are best effort, and a job whose cancel was
 * lost finishes as a stale attempt whose result the reducer ignores.
 */
export function reconcileCommands(run: WorkflowRun, options: { compiled?: CompiledWorkflow } = {}): RunCommand[] {
  const compiled = options.compiled?.hash === run.definition_hash ? options.compiled : compileWorkflow(run.definition);
  const out: RunCommand[] = [];
  if (run.status !== 'running' && run.status !== 'waiting') return out;
  const view = stepsView(run);
  for (const id of compiled.order) {
    const step = run.steps[id];
    const c = compiled.steps.get(id);
    if (step === undefined || c === undefined || c.kind !== 'job' || TERMINAL_STEP_STATUSES.has(step.status)) continue;
    const targets = step.items === undefined ? [undefined] : step.items.filter((it) => it.status === 'running');
    for (const item of targets) {
      const target = item ?? step;
      if (target.status !== 'running' || target.job_id === undefined) continue;
      if (target.job_id !== jobIdOf(run.id, id, target.attempts, item?.index)) continue;
      const extras = evaluateExtras(c, makeScope(run, view, item?.item ?? null));
      out.push(buildDispatch(run, c, step, item, extras.ok ? extras.value : {}));
    }
  }
  for (const t of Object.values(run.timers).sort((a, b) => a.due_ms - b.due_ms || (a.timer_id < b.timer_id ? -1 : 1))) {
    out.push({ type: 'start_timer', timer_id: t.timer_id, run_id: run.id, kind: t.kind, due_ms: t.due_ms, ...(t.step_id === undefined ? {} : { step_id: t.step_id }) });
  }
  return out;
}

/** Checks a run input against the definition's `input_schema` (the gateway's 400 before creating a run). */
export function validateRunInput(definition: WorkflowDefinition | CompiledWorkflow, input: JsonValue): { ok: true } | { ok: false; error: string } {
  const def = isCompiled(definition) ? definition.definition : definition;
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return { ok: false, error: 'run input must be a JSON object' };
  if (def.input_schema === undefined) return { ok: true };
  return checkAgainstSchema(def.input_schema, input);
}

/** Earliest armed timer (epoch ms), or undefined: when the host should next wake this run. */
export function nextDueMs(run: WorkflowRun): number | undefined {
  let min: number | undefined;
  for (const t of Object.values(run.timers)) if (min === undefined || t.due_ms < min) min = t.due_ms;
  return min;
}

export function isRunTerminal(run: Pick<WorkflowRun, 'status'>): boolean {
  return run.status === 'succeeded' || run.status === 'failed' || run.status === 'cancelled' || run.status === 'timed_out';
}

/** Step runs in a stable order for display: the definition's dependency order. */
export function stepsInOrder(run: WorkflowRun): StepRun[] {
  return compileWorkflow(run.definition)
    .order.map((id) => run.steps[id])
    .filter((s): s is StepRun => s !== undefined);
}

function isCompiled(d: unknown): d is CompiledWorkflow {
  return typeof d === 'object' && d !== null && (d as CompiledWorkflow).steps instanceof Map;
}

function pickDefined<T extends object, K extends keyof T>(obj: T, keys: readonly K[]): { [P in K]?: Exclude<T[P], undefined> } {
  const out: { [P in K]?: Exclude<T[P], undefined> } = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k] as Exclude<T[K], undefined>;
  return out;
}
