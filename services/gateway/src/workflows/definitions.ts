import { DeniedError, type JsonValue, NotFoundError, newId } from '@cordum/core';
import type { WorkflowRecord } from '@cordum/store';
import { type WorkflowProblem, definitionHash, validateWorkflow } from '@cordum/workflow';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { appendAudit } from '../jobs/jobs.js';

// Workflow definitions of the caller's tenant. A put validates and compiles the definition first
// (@cordum/workflow: unknown dependencies, cycles, bad expressions and schemas are a 400 naming the path),
// then stores it as the next immutable revision; runs pin the revision they start with, so editing or
// deleting a workflow never changes a run that is already going. Another tenant's workflow is "not found".

export type WorkflowSummary = {
  id: string;
  revision: number;
  sha256: string;
  created_at: number;
  name: string | null;
  description: string | null;
  version: string | null;
  step_count: number;
};

export type WorkflowDetail = WorkflowSummary & { definition: Record<string, JsonValue> };

const text = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);

export function workflowSummary(r: WorkflowRecord): WorkflowSummary {
  const steps = r.doc['steps'];
  return {
    id: r.id,
    revision: r.version,
    sha256: r.sha256,
    created_at: r.createdAt,
    name: text(r.doc['name']),
    description: text(r.doc['description']),
    version: text(r.doc['version']),
    step_count: steps !== null && typeof steps === 'object' && !Array.isArray(steps) ? Object.keys(steps).length : 0,
  };
}

export type PutWorkflowOutcome = WorkflowSummary & { created: boolean; unchanged: boolean; warnings: WorkflowProblem[] };

/**
 * Validates and stores a definition (JSON object or YAML text). A definition equal to the latest revision
 * writes nothing (`unchanged`), so applying the same file again is harmless; any change is a new revision.
 */
export async function putWorkflow(
  ctx: GatewayContext,
  principal: Principal,
  source: unknown,
  options: { expectedRevision?: number | undefined } = {},
): Promise<PutWorkflowOutcome> {
  const { definition, warnings } = validateWorkflow(source, { id: newId(ctx.clock.now()) });
  if (definition.org_id !== undefined && definition.org_id !== '' && definition.org_id !== principal.tenant) {
    throw new DeniedError(`your key belongs to tenant ${principal.tenant}; it cannot define workflows of org ${definition.org_id}`, {
      code: 'permission_denied',
      details: { field: 'org_id' },
    });
  }
  const tenant = principal.tenant;
  const latest = await ctx.stores.workflows.get(tenant, definition.id);
  const expected = options.expectedRevision;
  if (latest !== undefined && latest.sha256 === definitionHash(definition) && (expected === undefined || expected === latest.version)) {
    return { ...workflowSummary(latest), created: false, unchanged: true, warnings };
  }
  const record = await ctx.stores.workflows.put(tenant, definition.id, definition, expected === undefined ? {} : { expectedVersion: expected });
  await appendAudit(ctx, principal, 'workflow.put', definition.id, { revision: record.version, sha256: record.sha256 });
  return { ...workflowSummary(record), created: latest === undefined, unchanged: false, warnings };
}

/** The latest revision, or an older one (`revision`, readable even after a delete). */
export async function getWorkflowRecord(ctx: GatewayContext, principal: Principal, id: string, revision?: number): Promise<WorkflowRecord> {
  const record =
    revision === undefined ? await ctx.stores.workflows.get(principal.tenant, id) : await ctx.stores.workflows.getVersion(principal.tenant, id, revision);
  if (record === undefined) {
    throw new NotFoundError(revision === undefined ? `workflow ${id} not found` : `workflow ${id} has no revision ${revision}`, {
      details: { workflow_id: id, ...(revision === undefined ? {} : { revision }) },
    });
  }
  return record;
}

export async function getWorkflow(ctx: GatewayContext, principal: Principal, id: string, revision?: number): Promise<WorkflowDetail> {
  const record = await getWorkflowRecord(ctx, principal, id, revision);
  return { ...workflowSummary(record), definition: { ...record.doc } };
}

export async function listWorkflows(
  ctx: GatewayContext,
  principal: Principal,
  query: { limit?: number; cursor?: string },
): Promise<{ items: WorkflowSummary[]; nextCursor: string | null }> {
  const page = await ctx.stores.workflows.list(principal.tenant, { limit: query.limit ?? 50, cursor: query.cursor ?? null });
  return { items: page.items.map(workflowSummary), nextCursor: page.nextCursor };
}

/** Removes the workflow from get and list; its revisions stay readable for the runs pinned to them. */
export async function deleteWorkflow(ctx: GatewayContext, principal: Principal, id: string): Promise<void> {
  const deleted = await ctx.stores.workflows.delete(principal.tenant, id);
  if (!deleted) throw new NotFoundError(`workflow ${id} not found`, { details: { workflow_id: id } });
  await appendAudit(ctx, principal, 'workflow.delete', id, {});
}
