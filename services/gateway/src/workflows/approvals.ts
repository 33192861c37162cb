import type { Page } from '@cordum/store';
import type { WorkflowRun } from '@cordum/workflow';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';

// Workflow approval steps waiting for a human, for GET /api/v1/approvals beside the jobs held by policy.
// A run with a waiting approval step has run status `waiting` (the reducer derives it), so the run
// store's status index finds them without scanning every run.

export type WorkflowStepApproval = {
  kind: 'workflow_step';
  run_id: string;
  workflow_id: string;
  step_id: string;
  step_name: string | null;
  waiting_since: number | null;
  triggered_by: string | null;
  dry_run: boolean;
  /** `<run_id>/<step_id>`: approve with POST /api/v1/workflow-runs/{run_id}/steps/{step_id}/approve. */
  approval_ref: string;
};

/** Waiting approval steps of the tenant's waiting runs, newest run first; paged by run. */
export async function listWaitingSteps(
  ctx: GatewayContext,
  principal: Principal,
  query: { limit: number; cursor: string | null },
): Promise<Page<WorkflowStepApproval>> {
  const page = await ctx.stores.runs.list({ tenant: principal.tenant, status: 'waiting', limit: query.limit, cursor: query.cursor });
  const items: WorkflowStepApproval[] = [];
  for (const record of page.items) {
    const run = record.doc as unknown as WorkflowRun;
    for (const [stepId, step] of Object.entries(run.steps)) {
      const def = run.definition.steps[stepId];
      if (def?.type !== 'approval' || step.status !== 'waiting') continue;
      const since = step.started_at === undefined ? Number.NaN : Date.parse(step.started_at);
      items.push({
        kind: 'workflow_step',
        run_id: record.id,
        workflow_id: record.workflowId,
        step_id: stepId,
        step_name: def.name ?? null,
        waiting_since: Number.isNaN(since) ? null : since,
        triggered_by: run.triggered_by ?? null,
        dry_run: run.dry_run,
        approval_ref: `${record.id}/${stepId}`,
      });
    }
  }
  return { items, nextCursor: page.nextCursor };
}

/** Cursors of the second part of the approvals list (after the held jobs); job cursors are base64url and never contain ':'. */
const STEP_CURSOR = 'wf:';

/**
 * One list of both kinds (or of `kind` only): held jobs first (the job store's pages and cursors, unchanged), then the waiting
 * workflow steps. A page that runs out of jobs is filled with steps; cursors of the step part start with
 * `wf:`. A run with several waiting steps contributes all of them, so a page may exceed `limit` by a few.
 */
export async function withWorkflowSteps<J>(
  ctx: GatewayContext,
  principal: Principal,
  query: { limit?: number | undefined; cursor?: string | undefined; kind?: 'job' | 'workflow_step' | undefined },
  listJobs: (query: { limit: number; cursor?: string }) => Promise<Page<J>>,
): Promise<Page<J | WorkflowStepApproval>> {
  const limit = query.limit ?? 50;
  const cursor = query.cursor;
  if (cursor?.startsWith(STEP_CURSOR) === true || query.kind === 'workflow_step') {
    const rest = cursor?.startsWith(STEP_CURSOR) === true ? cursor.slice(STEP_CURSOR.length) : (cursor ?? '');
    if (query.kind === 'job') return { items: [], nextCursor: null };
    return stepsPage(ctx, principal, limit, rest === '' ? null : rest, []);
  }
  const jobs = await listJobs({ limit, ...(cursor === undefined ? {} : { cursor }) });
  if (jobs.nextCursor !== null || query.kind === 'job') return jobs;
  const room = limit - jobs.items.length;
  if (room <= 0) {
    const more = await ctx.stores.runs.list({ tenant: principal.tenant, status: 'waiting', limit: 1 });
    return { items: jobs.items, nextCursor: more.items.length === 0 ? null : STEP_CURSOR };
  }
  return stepsPage(ctx, principal, room, null, jobs.items);
}

async function stepsPage<J>(
  ctx: GatewayContext,
  principal: Principal,
  limit: number,
  cursor: string | null,
  before: J[],
): Promise<Page<J | WorkflowStepApproval>> {
  const steps = await listWaitingSteps(ctx, principal, { limit, cursor });
  return { items: [...before, ...steps.items], nextCursor: steps.nextCursor === null ? null : `${STEP_CURSOR}${steps.nextCursor}` };
}
