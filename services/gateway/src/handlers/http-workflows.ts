import { InvalidError } from '@cordum/core';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../context.js';
import { ERROR_RESPONSES } from '../http/schemas.js';
import {
  CancelRunBody,
  CancelRunResponse,
  GetWorkflowQuery,
  PutWorkflowBody,
  PutWorkflowQuery,
  PutWorkflowResponse,
  RerunBody,
  RunDetail,
  RunList,
  RunListQuery,
  RunParams,
  StartRunBody,
  StartRunQuery,
  StartRunResponse,
  StepDecisionBody,
  StepDecisionResponse,
  StepParams,
  TimelinePage,
  TimelineQuery,
  UpstreamApproveBody,
  WorkflowDetail,
  WorkflowList,
  WorkflowListQuery,
  WorkflowParams,
  WorkflowRunParams,
  WorkflowRunStepParams,
} from '../http/schemas-workflows.js';
import { type GatewayApp, principalOf } from '../http/types.js';
import { deleteWorkflow, getWorkflow, listWorkflows, putWorkflow } from '../workflows/definitions.js';
import { cancelRun, decideStep, deleteRun, getRun, listRuns, rerunRun, runTimeline, startRun } from '../workflows/runs.js';

// Thin HTTP adapters for workflows and runs (upstream Cordum's paths). Roles: reads viewer; start, cancel
// and rerun operator; defining and deleting workflows, deleting runs and step approve/reject admin (a
// definition decides which topics jobs go to, like a pack install; approvals match job approvals).

/** Content types a definition may be sent as besides application/json. */
export const YAML_CONTENT_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

const MAX_IDEMPOTENCY_KEY = 256;

/** Upstream's three spellings: Idempotency-Key, X-Idempotency-Key, ?idempotency_key. */
function idempotencyKeyOf(request: FastifyRequest, query: string | undefined): string | undefined {
  const header = request.headers['idempotency-key'] ?? request.headers['x-idempotency-key'];
  const raw = typeof header === 'string' ? header : Array.isArray(header) ? header[0] : query;
  if (raw === undefined) return undefined;
  const key = raw.trim();
  if (key === '' || key.length > MAX_IDEMPOTENCY_KEY || [...key].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    throw new InvalidError(`the idempotency key must be 1-${MAX_IDEMPOTENCY_KEY} printable characters`, { details: { field: 'idempotency_key' } });
  }
  return key;
}

export function registerWorkflowRoutes(app: GatewayApp, ctx: GatewayContext): void {
  // ─── Definitions ────────────────────────────────────────────────────────────────────────────────────

  // The create route also takes YAML: the parser lives in this encapsulated scope only, so no other route
  // accepts YAML bodies.
  void app.register((scope: FastifyInstance, _options, done) => {
    scope.addContentTypeParser(YAML_CONTENT_TYPES, { parseAs: 'string' }, (_request, body, parsed) => parsed(null, body));
    const yamlApp = scope.withTypeProvider<TypeBoxTypeProvider>();
    yamlApp.post(
      '/api/v1/workflows',
      {
        config: { role: 'admin' },
        schema: {
          tags: ['workflows'],
          summary: 'Create or update a workflow definition (JSON or YAML)',
          description:
            'Validates the definition (unknown dependencies, cycles, bad expressions or schemas: 400 workflow_invalid listing every problem with its path) and stores it as the next revision. 201 for a new workflow, 200 for a new revision or an unchanged definition.',
          querystring: PutWorkflowQuery,
          body: PutWorkflowBody,
          response: { 200: PutWorkflowResponse, 201: PutWorkflowResponse, ...ERROR_RESPONSES },
        },
      },
      async (request, reply) => {
        if (request.body === undefined || request.body === null) throw new InvalidError('body: send a workflow definition (JSON or YAML)', { details: { location: 'body' } });
        const { created, ...out } = await putWorkflow(ctx, principalOf(request), request.body, { expectedRevision: request.query.expected_revision });
        return reply.code(created ? 201 : 200).send(out);
      },
    );
    done();
  });

  app.get(
    '/api/v1/workflows',
    {
      config: { role: 'viewer' },
      schema: { tags: ['workflows'], summary: 'Workflows of your tenant (latest revisions), by id', querystring: WorkflowListQuery, response: { 200: WorkflowList, ...ERROR_RESPONSES } },
    },
    async (request) => {
      const page = await listWorkflows(ctx, principalOf(request), request.query);
      return { items: page.items, next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/api/v1/workflows/:id',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['workflows'],
        summary: 'A workflow definition (latest, or ?revision=n)',
        params: WorkflowParams,
        querystring: GetWorkflowQuery,
        response: { 200: WorkflowDetail, ...ERROR_RESPONSES },
      },
    },
    (request) => getWorkflow(ctx, principalOf(request), request.params.id, request.query.revision),
  );

  app.delete(
    '/api/v1/workflows/:id',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['workflows'],
        summary: 'Delete a workflow (runs already started keep their pinned revision)',
        params: WorkflowParams,
        response: { 204: Type.Null(), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await deleteWorkflow(ctx, principalOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  // ─── Runs ───────────────────────────────────────────────────────────────────────────────────────────

  app.post(
    '/api/v1/workflows/:id/runs',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['workflows'],
        summary: 'Start a run (the body is the run input)',
        description:
          'Checks the input against input_schema (400), asks policy (403 denied, 429 throttled, 503 kernel down), then creates the pending run, its idempotency key and its concurrency slot in one atomic write (429 quota_exceeded with Retry-After at the tenant\'s limit) and rings the workflow engine. 201 for a new run; 200 with the first run for a repeated Idempotency-Key.',
        params: WorkflowParams,
        querystring: StartRunQuery,
        body: StartRunBody,
        response: { 200: StartRunResponse, 201: StartRunResponse, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const out = await startRun(ctx, principalOf(request), request.params.id, request.body ?? {}, {
        idempotencyKey: idempotencyKeyOf(request, q.idempotency_key),
        dryRun: q.dry_run,
        teamId: q.team_id,
        orgId: q.org_id,
        revision: q.revision,
      });
      return reply.code(out.created ? 201 : 200).send(out);
    },
  );

  app.get(
    '/api/v1/workflows/:id/runs',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['workflows'],
        summary: 'Runs of one workflow, newest first',
        params: WorkflowParams,
        querystring: RunListQuery,
        response: { 200: RunList, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const page = await listRuns(ctx, principalOf(request), { ...request.query, workflow_id: request.params.id });
      return { items: page.items, next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/api/v1/workflow-runs',
    {
      config: { role: 'viewer' },
      schema: { tags: ['workflows'], summary: 'Runs of your tenant, newest first', querystring: RunListQuery, response: { 200: RunList, ...ERROR_RESPONSES } },
    },
    async (request) => {
      const page = await listRuns(ctx, principalOf(request), request.query);
      return { items: page.items, next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/api/v1/workflow-runs/:id',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['workflows'],
        summary: 'A run: status, steps, input, context, pinned definition, events not yet applied',
        params: RunParams,
        response: { 200: RunDetail, ...ERROR_RESPONSES },
      },
    },
    (request) => getRun(ctx, principalOf(request), request.params.id),
  );

  app.delete(
    '/api/v1/workflow-runs/:id',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['workflows'],
        summary: 'Delete a finished run with its timeline (409 while it is live: cancel it first)',
        params: RunParams,
        response: { 204: Type.Null(), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await deleteRun(ctx, principalOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/v1/workflow-runs/:id/timeline',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['workflows'],
        summary: 'The run\'s append-only timeline, oldest first',
        params: RunParams,
        querystring: TimelineQuery,
        response: { 200: TimelinePage, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const page = await runTimeline(ctx, principalOf(request), request.params.id, request.query);
      return { items: page.items, next_cursor: page.nextCursor };
    },
  );

  const cancelSchema = {
    tags: ['workflows'],
    summary: 'Cancel a run',
    description: 'Queues cancel_requested in the run\'s inbox, then rings the engine (202). 409 when the run already finished.',
    body: CancelRunBody,
    response: { 202: CancelRunResponse, ...ERROR_RESPONSES },
  };

  app.post('/api/v1/workflow-runs/:id/cancel', { config: { role: 'operator' }, schema: { ...cancelSchema, params: RunParams } }, async (request, reply) => {
    const out = await cancelRun(ctx, principalOf(request), request.params.id, request.body ?? {});
    return reply.code(202).send(out);
  });

  // Upstream's path.
  app.post(
    '/api/v1/workflows/:id/runs/:run_id/cancel',
    { config: { role: 'operator' }, schema: { ...cancelSchema, params: WorkflowRunParams } },
    async (request, reply) => {
      const out = await cancelRun(ctx, principalOf(request), request.params.run_id, request.body ?? {}, request.params.id);
      return reply.code(202).send(out);
    },
  );

  app.post(
    '/api/v1/workflow-runs/:id/rerun',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['workflows'],
        summary: 'Rerun as a new run, optionally from a step',
        description:
          'A new run on the same pinned definition and input (rerun_of, rerun_step). from_step reuses the recorded outputs of the steps it does not reach and runs it and everything downstream again; its dependencies must have succeeded (409). Same policy check, limit and Idempotency-Key as a start.',
        params: RunParams,
        body: RerunBody,
        response: { 200: StartRunResponse, 201: StartRunResponse, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const out = await rerunRun(ctx, principalOf(request), request.params.id, request.body ?? {}, {
        idempotencyKey: idempotencyKeyOf(request, undefined),
      });
      return reply.code(out.created ? 201 : 200).send(out);
    },
  );

  const decision = (verb: 'approve' | 'reject') => ({
    config: { role: 'admin' as const },
    schema: {
      tags: ['workflows'],
      summary: verb === 'approve' ? 'Approve a waiting approval step' : 'Reject a waiting approval step (the step fails, so does the run)',
      description:
        'Queues the decision (who, why) in the run\'s inbox, then rings the engine (202). 409 when the step is not an approval step, is not waiting, or already has a decision queued.',
      params: StepParams,
      body: StepDecisionBody,
      response: { 202: StepDecisionResponse, ...ERROR_RESPONSES },
    },
  });

  app.post('/api/v1/workflow-runs/:id/steps/:step_id/approve', decision('approve'), async (request, reply) => {
    const out = await decideStep(ctx, principalOf(request), request.params.id, request.params.step_id, 'approved', request.body ?? {});
    return reply.code(202).send(out);
  });

  app.post('/api/v1/workflow-runs/:id/steps/:step_id/reject', decision('reject'), async (request, reply) => {
    const out = await decideStep(ctx, principalOf(request), request.params.id, request.params.step_id, 'rejected', request.body ?? {});
    return reply.code(202).send(out);
  });

  // Upstream's path: one route, `{"approved": false}` rejects.
  app.post(
    '/api/v1/workflows/:id/runs/:run_id/steps/:step_id/approve',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['workflows'],
        summary: 'Approve (or with approved=false reject) a waiting approval step (upstream\'s path)',
        params: WorkflowRunStepParams,
        body: UpstreamApproveBody,
        response: { 202: StepDecisionResponse, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { approved, ...body } = request.body ?? {};
      const p = request.params;
      const out = await decideStep(ctx, principalOf(request), p.run_id, p.step_id, approved === false ? 'rejected' : 'approved', body, p.id);
      return reply.code(202).send(out);
    },
  );
}
