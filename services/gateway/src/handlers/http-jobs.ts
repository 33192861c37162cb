import type { GatewayContext } from '../context.js';
import { type GatewayApp, principalOf } from '../http/types.js';
import {
  CancelBody,
  CancelResponse,
  DecisionsQuery,
  DecisionsResponse,
  ERROR_RESPONSES,
  JobDetail,
  JobIdParams,
  JobPage,
  ListJobsQuery,
  RemediateBody,
  RemediateResponse,
  SubmitJobBody,
  SubmitJobResponse,
  TraceParams,
  TraceResponse,
} from '../http/schemas.js';
import { cancelJob, jobDecisions, jobDetailOf, listJobs, remediateJob, traceJobs } from '../jobs/jobs.js';
import { submitJob } from '../jobs/submit.js';

// Thin HTTP adapters for jobs: validate (schemas), call the feature code, shape the answer.

export function registerJobRoutes(app: GatewayApp, ctx: GatewayContext): void {
  app.post(
    '/api/v1/jobs',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['jobs'],
        summary: 'Submit a job',
        description:
          'Stores the input behind a write-once context pointer, records the job PENDING, then asks a scheduler to run it. 201 for a new job; 200 with the original job for a repeated idempotency_key.',
        body: SubmitJobBody,
        response: { 200: SubmitJobResponse, 201: SubmitJobResponse, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      // An absent body is allowed through validation; submit then says what is missing.
      const out = await submitJob(ctx, principalOf(request), request.body ?? {});
      return reply.code(out.created ? 201 : 200).send({ job_id: out.jobId, trace_id: out.traceId });
    },
  );

  app.get(
    '/api/v1/jobs',
    {
      config: { role: 'viewer' },
      schema: { tags: ['jobs'], summary: 'List jobs of your tenant, newest first', querystring: ListJobsQuery, response: { 200: JobPage, ...ERROR_RESPONSES } },
    },
    async (request) => {
      const page = await listJobs(ctx, principalOf(request), request.query);
      return { items: page.items, next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/api/v1/jobs/:id',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['jobs'],
        summary: 'A job: state, wait reason, events, decision, approval, input and result (inlined when small), DLQ entry',
        params: JobIdParams,
        response: { 200: JobDetail, ...ERROR_RESPONSES },
      },
    },
    (request) => jobDetailOf(ctx, principalOf(request), request.params.id),
  );

  app.get(
    '/api/v1/jobs/:id/decisions',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['jobs'],
        summary: 'Policy decision records of a job, newest first',
        params: JobIdParams,
        querystring: DecisionsQuery,
        response: { 200: DecisionsResponse, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const out = await jobDecisions(ctx, principalOf(request), request.params.id, request.query);
      return { job_id: request.params.id, decision: out.decision, items: out.items, next_cursor: out.nextCursor };
    },
  );

  app.post(
    '/api/v1/jobs/:id/cancel',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['jobs'],
        summary: 'Cancel a job',
        description:
          '200 when the job is cancelled at once (it had not reached a worker); 202 when the cancel was sent to the scheduler and worker; 409 when the job already ended.',
        params: JobIdParams,
        body: CancelBody,
        response: { 200: CancelResponse, 202: CancelResponse, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const out = await cancelJob(ctx, principalOf(request), request.params.id, request.body?.reason);
      return reply.code(out.cancelRequested ? 202 : 200).send({ id: out.id, state: out.state, cancel_requested: out.cancelRequested });
    },
  );

  app.post(
    '/api/v1/jobs/:id/remediate',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['jobs'],
        summary: 'Apply a remediation offered by the job\'s policy decision, as a new job',
        params: JobIdParams,
        body: RemediateBody,
        response: { 201: RemediateResponse, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const out = await remediateJob(ctx, principalOf(request), request.params.id, request.body?.remediation_id);
      return reply.code(201).send({
        job_id: out.jobId,
        trace_id: out.traceId,
        remediation_of: out.remediationOf,
        remediation_id: out.remediationId,
      });
    },
  );

  app.get(
    '/api/v1/traces/:trace_id',
    {
      config: { role: 'viewer' },
      schema: { tags: ['jobs'], summary: 'Jobs of a trace, oldest first', params: TraceParams, response: { 200: TraceResponse, ...ERROR_RESPONSES } },
    },
    async (request) => ({ trace_id: request.params.trace_id, items: await traceJobs(ctx, principalOf(request), request.params.trace_id) }),
  );
}
