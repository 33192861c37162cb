import {
  ConflictError,
  DeniedError,
  InvalidError,
  type JsonValue,
  NotFoundError,
  RetryableError,
  isPlainObject,
  newId,
  newTraceId,
} from '@cordum/core';
import { type NewRunTimelineEntry, type RunRecord, type RunStatus, isTerminalRunStatus } from '@cordum/store';
import {
  type CompiledWorkflow,
  type JsonObject,
  type WorkflowRun,
  checkRerun,
  compileWorkflow,
  createRun,
  prepareRerun,
  validateRunInput,
} from '@cordum/workflow';
import type { Principal } from '../auth/principal.js';
import { effectiveConfig } from '../config-docs/config-docs.js';
import type { GatewayContext } from '../context.js';
import { appendAudit } from '../jobs/jobs.js';
import { depthExceeds } from '../schema-registry/json-schema.js';
import { getWorkflowRecord } from './definitions.js';
import { ringDoorbell } from './doorbell.js';
import { maxConcurrentRuns } from './limits.js';
import { type RunDetail, type RunSummary, runDetail, runSummary, timelineEntryView } from './run-view.js';
import { type StartDecision, checkRunStart } from './start-policy.js';

// Workflow runs of the caller's tenant. The store is the source of truth and the bus only a doorbell:
//   start / rerun  RunStore.create writes the `pending` run, its tenant-scoped idempotency key and its
//                  concurrency slot in one atomic call, due a grace period later (so a reconciler starts it if
//                  the doorbell is lost); only then is `start` published on sys.workflow.command.
//   cancel, approve, reject  RunStore.pushEvent queues the event in the run's inbox (deduplicated by key),
//                  then `event` is published. The engine applies inbox events in its next compare-and-set.
// Another tenant's run is "not found", never "forbidden".

/** Retry-After of a start refused by the concurrency limit: runs take seconds to minutes to finish. */
export const RUN_LIMIT_RETRY_MS = 10_000;

type Doc = WorkflowRun;
const docOf = (r: RunRecord): Doc => r.doc as unknown as Doc;

export async function getRunRecord(ctx: GatewayContext, principal: Principal, runId: string, workflowId?: string): Promise<RunRecord> {
  const run = await ctx.stores.runs.get(principal.tenant, runId);
  if (run === undefined || (workflowId !== undefined && run.workflowId !== workflowId)) {
    throw new NotFoundError(
      workflowId === undefined ? `run ${runId} not found` : `run ${runId} of workflow ${workflowId} not found`,
      { details: { run_id: runId, ...(workflowId === undefined ? {} : { workflow_id: workflowId }) } },
    );
  }
  return run;
}

// ─── Start and rerun ──────────────────────────────────────────────────────────────────────────────────

export type StartRunOptions = {
  idempotencyKey?: string | undefined;
  dryRun?: boolean | undefined;
  teamId?: string | undefined;
  orgId?: string | undefined;
  revision?: number | undefined;
};

export type StartRunOutcome = {
  run_id: string;
  workflow_id: string;
  workflow_revision: number;
  status: RunStatus;
  dry_run: boolean;
  created: boolean;
  rerun_of: string | null;
  rerun_step: string | null;
  policy: StartDecision | null;
};

/** Schema-registry documents the definition refers to, pinned into the run (a run never sees a later edit). */
async function resolveSchemas(ctx: GatewayContext, tenant: string, compiled: CompiledWorkflow): Promise<Record<string, JsonObject> | undefined> {
  const wanted = new Map<string, string>();
  for (const step of compiled.steps.values()) {
    for (const id of [step.def.input_schema_id, step.def.output_schema_id]) if (id !== undefined && id !== '') wanted.set(id, step.id);
  }
  if (wanted.size === 0) return undefined;
  const out: Record<string, JsonObject> = {};
  for (const [id, stepId] of wanted) {
    const record = await ctx.stores.schemas.get(tenant, id);
    if (record === undefined || !isPlainObject(record.schema)) {
      throw new InvalidError(`step ${stepId} refers to schema ${id}, which is not registered in your tenant: register it (POST /api/v1/schemas) first`, {
        details: { step_id: stepId, schema_id: id },
      });
    }
    out[id] = record.schema;
  }
  return out;
}

type NewRunPlan = {
  principal: Principal;
  workflowId: string;
  workflowRevision: number;
  compiled: CompiledWorkflow;
  teamId: string | undefined;
  idempotencyKey: string | undefined;
  dryRun: boolean;
  /** Builds the pending run document once the id, time and trace id are known. */
  build: (run: { id: string; now: number; traceId: string }) => WorkflowRun;
  message: string;
};

/** Limit, policy, then the one atomic create, then the doorbell. Shared by start and rerun. */
async function createPendingRun(ctx: GatewayContext, plan: NewRunPlan): Promise<StartRunOutcome> {
  const { principal, workflowId } = plan;
  const tenant = principal.tenant;
  const effective = await effectiveConfig(ctx, principal, {
    workflow_id: workflowId,
    ...(plan.teamId === undefined ? {} : { team_id: plan.teamId }),
  });
  const limit = maxConcurrentRuns(effective.data);
  const now = await ctx.stores.runs.now();
  const id = newId(now);
  const policy = await checkRunStart(ctx, principal, {
    runId: id,
    workflowId,
    compiled: plan.compiled,
    teamId: plan.teamId,
    effective: effective.data,
    idempotencyKey: plan.idempotencyKey,
    dryRun: plan.dryRun,
  });
  const doc = plan.build({ id, now, traceId: newTraceId() });
  const created: NewRunTimelineEntry = {
    key: 'created',
    data: {
      time: new Date(now).toISOString(),
      type: 'run_status',
      run_id: id,
      workflow_id: workflowId,
      status: 'pending',
      message: plan.message,
      data: {
        by: principal.id,
        workflow_revision: plan.workflowRevision,
        dry_run: plan.dryRun,
        ...(plan.idempotencyKey === undefined ? {} : { idempotency_key: plan.idempotencyKey }),
        ...(doc.rerun_of === undefined ? {} : { rerun_of: doc.rerun_of }),
        ...(doc.rerun_step === undefined ? {} : { rerun_step: doc.rerun_step }),
        ...(policy === undefined ? {} : { policy: { ...policy } }),
      },
    },
  };
  const result = await ctx.stores.runs.create({
    tenant,
    id,
    workflowId,
    workflowVersion: plan.workflowRevision,
    doc,
    dueAt: now + ctx.options.submitGraceMs,
    timeline: [created],
    ...(plan.idempotencyKey === undefined ? {} : { idempotencyKey: plan.idempotencyKey }),
    ...(limit > 0 ? { maxActive: limit } : {}),
  });
  switch (result.outcome) {
    case 'limit_reached':
      throw new RetryableError(
        `tenant ${tenant} already has ${result.active} workflow runs going (limit ${result.limit}); retry once one finishes`,
        { code: 'quota_exceeded', retryAfterMs: RUN_LIMIT_RETRY_MS, details: { active: result.active, limit: result.limit } },
      );
    case 'existing': {
      const run = result.run;
      if (run.workflowId !== workflowId) {
        throw new ConflictError(`idempotency key ${plan.idempotencyKey ?? ''} was used for run ${run.id} of workflow ${run.workflowId}`, {
          details: { run_id: run.id, workflow_id: run.workflowId },
        });
      }
      const d = docOf(run);
      return {
        run_id: run.id,
        workflow_id: run.workflowId,
        workflow_revision: run.workflowVersion,
        status: run.status,
        dry_run: d.dry_run === true,
        created: false,
        rerun_of: d.rerun_of ?? null,
        rerun_step: d.rerun_step ?? null,
        policy: policy ?? null,
      };
    }
    case 'created':
      await ringDoorbell(ctx, 'start', tenant, id, principal.id);
      return {
        run_id: id,
        workflow_id: workflowId,
        workflow_revision: plan.workflowRevision,
        status: result.run.status,
        dry_run: plan.dryRun,
        created: true,
        rerun_of: doc.rerun_of ?? null,
        rerun_step: doc.rerun_step ?? null,
        policy: policy ?? null,
      };
  }
}

/** Deepest run input accepted (objects and arrays), as for registered schemas. */
const MAX_RUN_INPUT_DEPTH = 128;

/** POST /workflows/{id}/runs: validates the input against input_schema, checks policy and the limit, creates the run. */
export async function startRun(
  ctx: GatewayContext,
  principal: Principal,
  workflowId: string,
  input: unknown,
  options: StartRunOptions = {},
): Promise<StartRunOutcome> {
  if (options.orgId !== undefined && options.orgId !== principal.tenant) {
    throw new DeniedError(`your key belongs to tenant ${principal.tenant}; it cannot start runs in org ${options.orgId}`, {
      code: 'permission_denied',
      details: { field: 'org_id' },
    });
  }
  // A deleted workflow starts no more runs, not even of an older revision (those stay readable for their runs).
  const latest = await getWorkflowRecord(ctx, principal, workflowId);
  const record = options.revision === undefined || options.revision === latest.version ? latest : await getWorkflowRecord(ctx, principal, workflowId, options.revision);
  const compiled = compileWorkflow(record.doc);
  const runInput = input === undefined || input === null ? {} : input;
  // The run document copies the input (structuredClone, JSON): a deeper one would overflow the stack there.
  if (depthExceeds(runInput, MAX_RUN_INPUT_DEPTH)) {
    throw new InvalidError(`run input nests deeper than ${MAX_RUN_INPUT_DEPTH} levels`, {
      details: { field: 'input', workflow_id: workflowId, max_depth: MAX_RUN_INPUT_DEPTH },
    });
  }
  const valid = validateRunInput(compiled, runInput as JsonValue);
  if (!valid.ok) {
    throw new InvalidError(`run input does not match the input_schema of workflow ${workflowId}: ${valid.error}`, {
      details: { field: 'input', workflow_id: workflowId, error: valid.error },
    });
  }
  const schemas = await resolveSchemas(ctx, principal.tenant, compiled);
  const dryRun = options.dryRun === true;
  return createPendingRun(ctx, {
    principal,
    workflowId,
    workflowRevision: record.version,
    compiled,
    teamId: options.teamId,
    idempotencyKey: options.idempotencyKey,
    dryRun,
    message: `run created by ${principal.id}`,
    build: ({ id, now, traceId }) =>
      createRun({
        id,
        definition: compiled,
        input: runInput as JsonObject,
        now,
        tenant_id: principal.tenant,
        org_id: principal.tenant,
        triggered_by: principal.id,
        principal_id: principal.id,
        trace_id: traceId,
        dry_run: dryRun,
        workflow_revision: record.version,
        ...(options.teamId === undefined ? {} : { team_id: options.teamId }),
        ...(options.idempotencyKey === undefined ? {} : { idempotency_key: options.idempotencyKey }),
        ...(schemas === undefined ? {} : { schemas }),
      }),
  });
}

/**
 * POST /workflow-runs/{id}/rerun: always a new run (upstream's shape: `rerun_of`, `rerun_step`) on the
 * source's pinned definition and input. With from_step, the steps it does not reach keep their recorded
 * outputs and pointers (nothing re-executed) and it and everything downstream run again; the dependencies of
 * from_step must have succeeded (409 otherwise). Without from_step, everything runs again. Same policy check,
 * limit and idempotency key as a start.
 */
export async function rerunRun(
  ctx: GatewayContext,
  principal: Principal,
  runId: string,
  body: { from_step?: string | undefined; dry_run?: boolean | undefined },
  options: { idempotencyKey?: string | undefined } = {},
): Promise<StartRunOutcome> {
  const source = await getRunRecord(ctx, principal, runId);
  const doc = docOf(source);
  const compiled = compileWorkflow(doc.definition);
  const from = body.from_step;
  if (from !== undefined) {
    if (!compiled.steps.has(from)) {
      throw new InvalidError(`run ${runId} has no step ${from}`, { details: { field: 'from_step', run_id: runId, step_id: from } });
    }
    const problem = checkRerun(doc, from);
    if (problem !== undefined) {
      throw new ConflictError(`cannot rerun run ${runId} from ${from}: ${problem}`, {
        code: 'state_conflict',
        details: { run_id: runId, step_id: from, current_status: source.status },
      });
    }
  }
  const dryRun = body.dry_run ?? doc.dry_run === true;
  const teamId = typeof doc.team_id === 'string' && doc.team_id !== '' ? doc.team_id : undefined;
  return createPendingRun(ctx, {
    principal,
    workflowId: source.workflowId,
    workflowRevision: source.workflowVersion,
    compiled,
    teamId,
    idempotencyKey: options.idempotencyKey,
    dryRun,
    message: from === undefined ? `rerun of ${runId} by ${principal.id}` : `rerun of ${runId} from step ${from} by ${principal.id}`,
    build: ({ id, now, traceId }) => {
      const who = { triggered_by: principal.id, principal_id: principal.id, trace_id: traceId, dry_run: dryRun };
      const key = options.idempotencyKey === undefined ? {} : { idempotency_key: options.idempotencyKey };
      if (from !== undefined) return prepareRerun(doc, { id, from_step: from, now, ...who, ...key });
      const run = createRun({
        id,
        definition: compiled,
        input: doc.input,
        now,
        ...who,
        ...key,
        ...pick(doc, ['tenant_id', 'org_id', 'team_id', 'labels', 'metadata', 'schemas', 'workflow_revision']),
      });
      run.rerun_of = runId;
      return run;
    },
  });
}

function pick<T extends object, K extends keyof T>(obj: T, keys: readonly K[]): { [P in K]?: Exclude<T[P], undefined> } {
  const out: { [P in K]?: Exclude<T[P], undefined> } = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k] as Exclude<T[K], undefined>;
  return out;
}

// ─── Reads ────────────────────────────────────────────────────────────────────────────────────────────

export async function getRun(ctx: GatewayContext, principal: Principal, runId: string): Promise<RunDetail> {
  const run = await getRunRecord(ctx, principal, runId);
  const inbox = await ctx.stores.runs.inbox(principal.tenant, runId, { limit: 100 });
  return runDetail(run, inbox);
}

export async function listRuns(
  ctx: GatewayContext,
  principal: Principal,
  query: { limit?: number; cursor?: string; status?: RunStatus; workflow_id?: string; org_id?: string },
): Promise<{ items: RunSummary[]; nextCursor: string | null }> {
  if (query.org_id !== undefined && query.org_id !== principal.tenant) {
    throw new NotFoundError(`org ${query.org_id} not found`, { details: { org_id: query.org_id } });
  }
  const page = await ctx.stores.runs.list({
    tenant: principal.tenant,
    limit: query.limit ?? 50,
    cursor: query.cursor ?? null,
    ...(query.status === undefined ? {} : { status: query.status }),
    ...(query.workflow_id === undefined ? {} : { workflowId: query.workflow_id }),
  });
  return { items: page.items.map(runSummary), nextCursor: page.nextCursor };
}

export async function runTimeline(
  ctx: GatewayContext,
  principal: Principal,
  runId: string,
  query: { limit?: number; cursor?: string },
): Promise<{ items: ReturnType<typeof timelineEntryView>[]; nextCursor: string | null }> {
  await getRunRecord(ctx, principal, runId);
  const page = await ctx.stores.runs.timeline(principal.tenant, runId, { limit: query.limit ?? 200, cursor: query.cursor ?? null });
  return { items: page.items.map(timelineEntryView), nextCursor: page.nextCursor };
}

/** Deletes a finished run (its timeline, inbox and idempotency key go with it); a live run must be cancelled first. */
export async function deleteRun(ctx: GatewayContext, principal: Principal, runId: string): Promise<void> {
  const run = await getRunRecord(ctx, principal, runId);
  if (!isTerminalRunStatus(run.status)) {
    throw new ConflictError(`run ${runId} is ${run.status}; cancel it before deleting it`, {
      code: 'state_conflict',
      details: { run_id: runId, current_status: run.status },
    });
  }
  if (!(await ctx.stores.runs.delete(principal.tenant, runId))) throw new NotFoundError(`run ${runId} not found`, { details: { run_id: runId } });
  await appendAudit(ctx, principal, 'workflow.run.delete', runId, { workflow_id: run.workflowId, status: run.status });
}

// ─── Cancel, approve, reject: inbox event first, then the doorbell ────────────────────────────────────

function finished(run: RunRecord, action: string): ConflictError {
  return new ConflictError(`run ${run.id} is ${run.status}; it cannot be ${action}`, {
    code: 'state_conflict',
    details: { run_id: run.id, current_status: run.status },
  });
}

export type CancelRunOutcome = { run_id: string; status: RunStatus; cancel_requested: true; duplicate: boolean };

export async function cancelRun(
  ctx: GatewayContext,
  principal: Principal,
  runId: string,
  body: { reason?: string | undefined },
  workflowId?: string,
): Promise<CancelRunOutcome> {
  const run = await getRunRecord(ctx, principal, runId, workflowId);
  if (isTerminalRunStatus(run.status)) throw finished(run, 'cancelled');
  const event = { type: 'cancel_requested', by: principal.id, ...(body.reason === undefined ? {} : { reason: body.reason }) };
  const pushed = await ctx.stores.runs.pushEvent(principal.tenant, runId, event, { key: 'cancel' });
  switch (pushed.outcome) {
    case 'not_found':
      throw new NotFoundError(`run ${runId} not found`, { details: { run_id: runId } });
    case 'terminal':
      throw finished({ ...run, status: pushed.status }, 'cancelled');
    case 'queued':
      await appendAudit(ctx, principal, 'workflow.run.cancel', runId, { workflow_id: run.workflowId, reason: body.reason ?? '' });
      await ringDoorbell(ctx, 'event', principal.tenant, runId, principal.id);
      return { run_id: runId, status: run.status, cancel_requested: true, duplicate: false };
    case 'duplicate':
      // Ring again: harmless, and it helps if the first doorbell was lost.
      await ringDoorbell(ctx, 'event', principal.tenant, runId, principal.id);
      return { run_id: runId, status: run.status, cancel_requested: true, duplicate: true };
  }
}

export type StepDecision = 'approved' | 'rejected';

export type StepDecisionOutcome = { run_id: string; step_id: string; decision: StepDecision; by: string; reason: string | null; queued: true };

/**
 * Approves or rejects an approval step that is waiting. 409 when the step is not an approval step, is not
 * waiting, or already has a decision queued (the first decision wins: the inbox key is per step attempt).
 * The engine records the decision (who, why, when) on the step and in the timeline when it applies it.
 */
export async function decideStep(
  ctx: GatewayContext,
  principal: Principal,
  runId: string,
  stepId: string,
  decision: StepDecision,
  body: { reason?: string | undefined; note?: string | undefined },
  workflowId?: string,
): Promise<StepDecisionOutcome> {
  const verb = decision === 'approved' ? 'approve' : 'reject';
  const run = await getRunRecord(ctx, principal, runId, workflowId);
  const doc = docOf(run);
  const def = doc.definition?.steps?.[stepId];
  const step = doc.steps?.[stepId];
  if (def === undefined || step === undefined) {
    throw new NotFoundError(`run ${runId} has no step ${stepId}`, { details: { run_id: runId, step_id: stepId } });
  }
  if (def.type !== 'approval') {
    throw new ConflictError(`step ${stepId} of run ${runId} is a ${def.type} step, not an approval step; there is nothing to ${verb}`, {
      code: 'state_conflict',
      details: { run_id: runId, step_id: stepId, step_type: def.type },
    });
  }
  if (isTerminalRunStatus(run.status) || step.status !== 'waiting') {
    throw new ConflictError(`step ${stepId} of run ${runId} is ${step.status} (run ${run.status}), not waiting for approval`, {
      code: 'state_conflict',
      details: { run_id: runId, step_id: stepId, current_status: step.status, run_status: run.status },
    });
  }
  const event = {
    type: decision === 'approved' ? 'step_approved' : 'step_rejected',
    step_id: stepId,
    by: principal.id,
    ...(body.reason === undefined ? {} : { reason: body.reason }),
  };
  const pushed = await ctx.stores.runs.pushEvent(principal.tenant, runId, event, { key: `approval:${stepId}:${step.attempts}` });
  switch (pushed.outcome) {
    case 'not_found':
      throw new NotFoundError(`run ${runId} not found`, { details: { run_id: runId } });
    case 'terminal':
      throw finished({ ...run, status: pushed.status }, `${verb}d`);
    case 'duplicate':
      throw new ConflictError(`step ${stepId} of run ${runId} already has a decision waiting to be applied; the first decision wins`, {
        code: 'state_conflict',
        details: { run_id: runId, step_id: stepId, current_status: step.status },
      });
    case 'queued':
      await appendAudit(ctx, principal, decision === 'approved' ? 'workflow.step.approved' : 'workflow.step.rejected', runId, {
        workflow_id: run.workflowId,
        step_id: stepId,
        reason: body.reason ?? '',
        ...(body.note === undefined ? {} : { note: body.note }),
      });
      await ringDoorbell(ctx, 'event', principal.tenant, runId, principal.id);
      return { run_id: runId, step_id: stepId, decision, by: principal.id, reason: body.reason ?? null, queued: true };
  }
}
