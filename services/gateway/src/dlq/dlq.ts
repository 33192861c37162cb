import { clone } from '@bufbuild/protobuf';
import { ConflictError, NotFoundError, toError } from '@cordum/core';
import { JobRequestSchema, decodeStoredRequest } from '@cordum/protocol';
import type { Page } from '@cordum/store';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { enqueueJob } from '../jobs/enqueue.js';
import { type DlqEntryView, dlqView } from '../jobs/job-view.js';
import { appendAudit, copyContext, derivedJobId } from '../jobs/jobs.js';

// The dead-letter queue of the caller's tenant. A retry is a new job that keeps everything the original
// asked for — meta, labels, priority, budget, env — (upstream dropped them), with its own copy of the input.

export async function listDlq(
  ctx: GatewayContext,
  principal: Principal,
  query: { limit?: number; cursor?: string; reason_code?: string },
): Promise<Page<DlqEntryView>> {
  const page = await ctx.stores.dlq.list(principal.tenant, {
    limit: query.limit ?? 50,
    cursor: query.cursor ?? null,
    ...(query.reason_code === undefined ? {} : { reasonCode: query.reason_code }),
  });
  return { items: page.items.map(dlqView), nextCursor: page.nextCursor };
}

export async function getDlqEntry(ctx: GatewayContext, principal: Principal, jobId: string): Promise<DlqEntryView> {
  const entry = await ctx.stores.dlq.get(principal.tenant, jobId);
  if (entry === undefined) throw new NotFoundError(`no DLQ entry for job ${jobId}`, { details: { job_id: jobId } });
  return dlqView(entry);
}

export type RetryOutcome = { jobId: string; traceId: string; retryOf: string };

export async function retryDlqEntry(ctx: GatewayContext, principal: Principal, jobId: string): Promise<RetryOutcome> {
  const entry = await ctx.stores.dlq.get(principal.tenant, jobId);
  if (entry === undefined) throw new NotFoundError(`no DLQ entry for job ${jobId}`, { details: { job_id: jobId } });
  let original = decodeStoredRequest(entry.data['request']);
  let traceId = typeof entry.data['trace_id'] === 'string' ? entry.data['trace_id'] : '';
  if (original === undefined) {
    // Older entries may lack the request: the job record still has it while it is retained.
    const job = await ctx.stores.jobs.get(jobId);
    if (job !== undefined && job.tenant === principal.tenant) {
      original = decodeStoredRequest(job.data['request']);
      traceId ||= job.traceId;
    }
  }
  if (original === undefined) {
    throw new ConflictError(`the DLQ entry of job ${jobId} holds no request to rebuild the job from`, { details: { job_id: jobId } });
  }
  const request = clone(JobRequestSchema, original);
  request.jobId = derivedJobId(jobId, 'retry');
  request.labels = { ...original.labels, retry_of_job: jobId, dlq_entry: jobId };
  request.env = { ...original.env, retry_of_job: jobId };
  if (request.meta !== undefined) request.meta.labels = { ...request.meta.labels, retry_of_job: jobId, dlq_entry: jobId };
  const context = await copyContext(ctx, original.contextPtr, principal.tenant);
  // Claim the entry first: of concurrent retries only the one that removes it makes a job; the others are 404.
  if (!(await ctx.stores.dlq.delete(principal.tenant, jobId))) {
    throw new NotFoundError(`no DLQ entry for job ${jobId}`, { details: { job_id: jobId } });
  }
  let created: Awaited<ReturnType<typeof enqueueJob>>;
  try {
    created = await enqueueJob(ctx, {
      request,
      tenant: principal.tenant,
      traceId: traceId === '' ? jobId : traceId,
      context,
      submittedBy: principal.id,
      reason: `retry of ${jobId} (DLQ ${entry.reasonCode}) by ${principal.id}`,
      data: { retry_of: jobId },
    });
  } catch (err) {
    // No job was made: the entry comes back, so the retry can be asked for again.
    await ctx.stores.dlq.put(entry).catch((e: unknown) => ctx.logger.error({ job_id: jobId, err: toError(e).message }, 'DLQ entry not restored after a failed retry'));
    throw err;
  }
  ctx.metrics.submits.inc({ outcome: 'retry' });
  await appendAudit(ctx, principal, 'dlq.retry', jobId, { new_job_id: created.id, reason_code: entry.reasonCode });
  return { jobId: created.id, traceId: created.traceId, retryOf: jobId };
}

export async function deleteDlqEntry(ctx: GatewayContext, principal: Principal, jobId: string): Promise<void> {
  const deleted = await ctx.stores.dlq.delete(principal.tenant, jobId);
  if (!deleted) throw new NotFoundError(`no DLQ entry for job ${jobId}`, { details: { job_id: jobId } });
  await appendAudit(ctx, principal, 'dlq.delete', jobId, {});
}
