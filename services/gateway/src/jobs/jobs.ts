import { randomBytes } from 'node:crypto';
import { clone, create } from '@bufbuild/protobuf';
import { ConflictError, InvalidError, type JsonValue, NotFoundError, RetryableError, isCordumError, isSafeId, newId, toError } from '@cordum/core';
import {
  JobMetadataSchema,
  JobRequestSchema,
  type JobState,
  Subjects,
  encodePacket,
  isJobTopic,
  isTerminalJobState,
  jobStateToStatus,
  newPacket,
} from '@cordum/protocol';
import type { JobRecord, Page } from '@cordum/store';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { ListJobsQuery } from '../http/schemas.js';
import { enqueueJob } from './enqueue.js';
import { type JobDetail, type JobSummary, jobDetail, jobSummary, payloadView, requestOf } from './job-view.js';

// Reading and steering jobs. Every read is scoped to the caller's tenant: another tenant's job is "not
// found", never "forbidden", so ids of other tenants cannot be probed.

/** Audit kind of the decision record the policy decision point writes per check (subject: the job id). */
export const DECISION_RECORD_KIND = 'policy.decision';

export async function getJob(ctx: GatewayContext, principal: Principal, id: string): Promise<JobRecord> {
  const job = await ctx.stores.jobs.get(id);
  if (job === undefined || job.tenant !== principal.tenant) {
    throw new NotFoundError(`job ${id} not found`, { details: { job_id: id } });
  }
  return job;
}

export async function jobDetailOf(ctx: GatewayContext, principal: Principal, id: string): Promise<JobDetail> {
  const job = await getJob(ctx, principal, id);
  const request = requestOf(job);
  const inline = ctx.options.resultInlineMaxBytes;
  const read = async (pointer: string | null | undefined) => {
    if (pointer === null || pointer === undefined || pointer === '') return null;
    const payload = await ctx.stores.pointers.get(pointer);
    // A payload written by another tenant is never shown (pointers are opaque strings a worker could forge).
    return payloadView(pointer, payload?.tenant === job.tenant ? payload : undefined, inline);
  };
  const [events, context, result, dlq] = await Promise.all([
    ctx.stores.jobs.events(id),
    read(request?.contextPtr),
    read(job.resultPtr),
    ctx.stores.dlq.get(job.tenant, id),
  ]);
  return jobDetail(job, { events, context, result, dlq });
}

/** Epoch seconds, milliseconds or microseconds (told apart by size, as upstream), or an RFC 3339 time → ms. */
export function parseTimeFilter(raw: string, field: string): number {
  const text = raw.trim();
  if (/^\d{1,17}$/.test(text)) {
    const n = Number(text);
    if (n < 1e11) return n * 1000;
    if (n < 1e14) return n;
    return Math.floor(n / 1000);
  }
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) {
    throw new InvalidError(`${field} must be epoch seconds, milliseconds or microseconds, or an RFC 3339 time`, { details: { field } });
  }
  return ms;
}

export async function listJobs(ctx: GatewayContext, principal: Principal, query: ListJobsQuery): Promise<Page<JobSummary>> {
  if (query.tenant !== undefined && query.tenant !== principal.tenant) {
    throw new NotFoundError(`tenant ${query.tenant} not found`, { details: { tenant: query.tenant } });
  }
  const page = await ctx.stores.jobs.list({
    tenant: principal.tenant,
    limit: query.limit ?? 50,
    cursor: query.cursor ?? null,
    ...(query.state === undefined ? {} : { state: query.state }),
    ...(query.topic === undefined ? {} : { topic: query.topic }),
    ...(query.created_after === undefined ? {} : { createdAfter: parseTimeFilter(query.created_after, 'created_after') }),
    ...(query.created_before === undefined ? {} : { createdBefore: parseTimeFilter(query.created_before, 'created_before') }),
  });
  return { items: page.items.map(jobSummary), nextCursor: page.nextCursor };
}

/** A decision record as the API shows it: the record's data plus its audit id, time and writer. */
export type DecisionRecordView = { [key: string]: JsonValue; id: string; at: number; actor: string };

export async function jobDecisions(
  ctx: GatewayContext,
  principal: Principal,
  id: string,
  query: { limit?: number; cursor?: string },
): Promise<{ decision: JsonValue; items: DecisionRecordView[]; nextCursor: string | null }> {
  const job = await getJob(ctx, principal, id);
  const page = await ctx.stores.audit.list(job.tenant, {
    kind: DECISION_RECORD_KIND,
    subject: id,
    limit: query.limit ?? 50,
    cursor: query.cursor ?? null,
  });
  return {
    decision: job.data['decision'] ?? null,
    items: page.items.map((e) => ({ ...e.data, id: e.id, at: e.at, actor: e.actor })),
    nextCursor: page.nextCursor,
  };
}

async function audit(ctx: GatewayContext, principal: Principal, kind: string, subject: string, data: Record<string, JsonValue>): Promise<void> {
  try {
    await ctx.stores.audit.append({ tenant: principal.tenant, kind, actor: principal.id, subject, data });
  } catch (err) {
    ctx.logger.warn({ kind, subject, err: toError(err).message }, 'audit entry not written');
  }
}

export { audit as appendAudit };

/** A synthetic terminal result for a job the gateway ended itself (workflows wait on sys.job.result). */
export async function publishOutcome(ctx: GatewayContext, job: JobRecord, state: JobState, reasonCode: string, message: string): Promise<void> {
  const packet = newPacket({
    traceId: job.traceId,
    senderId: ctx.options.instanceId,
    payload: {
      case: 'jobResult',
      value: { jobId: job.id, status: jobStateToStatus(state), errorCode: reasonCode, errorMessage: message },
    },
  });
  await ctx.bus.publish(Subjects.jobResult, encodePacket(packet), { msgId: `result:${job.id}:${state}` }).catch((err: unknown) => {
    ctx.logger.warn({ job_id: job.id, err: toError(err).message }, 'could not publish the job outcome (the store has it)');
  });
}

export type CancelOutcome = { id: string; state: JobState; cancelRequested: boolean };

/**
 * Cancels a job. A job no worker has yet (PENDING, APPROVAL_REQUIRED) is cancelled here with a compare-and-set,
 * so a cancel never waits on a scheduler; for any other live job the JobCancel below asks the scheduler (which
 * records CANCELLED) and the worker (which stops). A terminal job is a 409.
 */
export async function cancelJob(ctx: GatewayContext, principal: Principal, id: string, reason: string | undefined): Promise<CancelOutcome> {
  let job = await getJob(ctx, principal, id);
  const message = reason === undefined || reason === '' ? `cancelled by ${principal.id}` : reason;
  let cancelledHere = false;
  for (let tries = 0; tries < 3; tries++) {
    if (isTerminalJobState(job.state)) {
      throw new ConflictError(`job ${id} is already ${job.state}`, { details: { job_id: id, state: job.state } });
    }
    if (job.state !== 'PENDING' && job.state !== 'APPROVAL_REQUIRED') break;
    try {
      job = await ctx.stores.jobs.transition(id, {
        from: ['PENDING', 'APPROVAL_REQUIRED'],
        to: 'CANCELLED',
        actor: principal.id,
        reason: message,
        patch: { errorCode: 'cancelled', errorMessage: message, dueAt: null, waitReason: null, data: { cancel: { by: principal.id, reason: message } } },
      });
      cancelledHere = true;
      break;
    } catch (err) {
      if (!(isCordumError(err) && err.code === 'state_conflict')) throw err;
      job = await getJob(ctx, principal, id);
    }
  }
  const cancel = newPacket({
    traceId: job.traceId,
    senderId: ctx.options.instanceId,
    payload: { case: 'jobCancel', value: { jobId: id, reason: message, requestedBy: principal.id } },
  });
  let published = true;
  await ctx.bus.publish(Subjects.jobCancel, encodePacket(cancel)).catch((err: unknown) => {
    published = false;
    ctx.logger.warn({ job_id: id, err: toError(err).message }, 'could not publish the job cancel');
  });
  if (cancelledHere) await publishOutcome(ctx, job, 'CANCELLED', 'cancelled', message);
  else if (!published) throw new RetryableError('the cancel could not be delivered (bus unavailable); retry', { retryAfterMs: 1000 });
  await audit(ctx, principal, 'job.cancel', id, { reason: message, state: job.state });
  return { id, state: job.state, cancelRequested: !cancelledHere };
}

type Remediation = {
  id: string;
  title: string;
  replacement_topic: string;
  replacement_capability: string;
  add_labels: Record<string, string>;
  remove_labels: string[];
};

function str(obj: Record<string, unknown>, ...keys: string[]): string {
  for (const k of keys) if (typeof obj[k] === 'string') return obj[k];
  return '';
}

function remediationsIn(value: unknown): Remediation[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const list = (value as Record<string, unknown>)['remediations'];
  if (!Array.isArray(list)) return [];
  return list.flatMap((r: unknown): Remediation[] => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) return [];
    const o = r as Record<string, unknown>;
    const add = o['add_labels'] ?? o['addLabels'];
    const remove = o['remove_labels'] ?? o['removeLabels'];
    return [
      {
        id: str(o, 'id'),
        title: str(o, 'title'),
        replacement_topic: str(o, 'replacement_topic', 'replacementTopic'),
        replacement_capability: str(o, 'replacement_capability', 'replacementCapability'),
        add_labels:
          add !== null && typeof add === 'object' && !Array.isArray(add)
            ? Object.fromEntries(Object.entries(add).filter((kv): kv is [string, string] => typeof kv[1] === 'string'))
            : {},
        remove_labels: Array.isArray(remove) ? remove.filter((x): x is string => typeof x === 'string') : [],
      },
    ];
  });
}

/** The remediations the job's policy decision offered: the stored decision, else the newest decision record. */
async function remediationsOf(ctx: GatewayContext, job: JobRecord): Promise<Remediation[]> {
  const stored = remediationsIn(job.data['decision']);
  if (stored.length > 0) return stored;
  const records = await ctx.stores.audit.list(job.tenant, { kind: DECISION_RECORD_KIND, subject: job.id, limit: 1 });
  return remediationsIn(records.items[0]?.data);
}

const CONTROL_LABEL = /^(cordum\.|approval_)/;

/** Copies a job's input to a new job id (write-once pointers are never shared between jobs). */
async function copyContext(ctx: GatewayContext, pointer: string, tenant: string): Promise<{ bytes: Uint8Array; contentType: string }> {
  if (pointer === '') return { bytes: new Uint8Array(0), contentType: 'application/json' };
  const payload = await ctx.stores.pointers.get(pointer);
  if (payload === undefined || payload.tenant !== tenant) {
    throw new NotFoundError(`the input of the original job (${pointer}) has expired`, { code: 'input_expired', details: { context_ptr: pointer } });
  }
  return { bytes: payload.bytes, contentType: payload.contentType };
}

export { copyContext };

export type RemediateOutcome = { jobId: string; traceId: string; remediationOf: string; remediationId: string };

/** Applies a remediation the policy offered as a new job (replacement topic/capability, label changes, same input). */
export async function remediateJob(
  ctx: GatewayContext,
  principal: Principal,
  id: string,
  remediationId: string | undefined,
): Promise<RemediateOutcome> {
  const job = await getJob(ctx, principal, id);
  const offered = await remediationsOf(ctx, job);
  if (offered.length === 0) {
    throw new ConflictError(`the policy decision of job ${id} offers no remediation`, { details: { job_id: id } });
  }
  let chosen: Remediation | undefined;
  if (remediationId !== undefined) {
    chosen = offered.find((r) => r.id === remediationId);
    if (chosen === undefined) {
      throw new NotFoundError(`remediation ${remediationId} is not offered for job ${id}`, {
        details: { job_id: id, offered: offered.map((r) => r.id) },
      });
    }
  } else if (offered.length === 1) {
    chosen = offered[0];
  } else {
    throw new InvalidError('the decision offers several remediations: give remediation_id', {
      details: { field: 'remediation_id', offered: offered.map((r) => r.id) },
    });
  }
  if (chosen === undefined) throw new ConflictError('no remediation');
  const original = requestOf(job);
  if (original === undefined) throw new ConflictError(`job ${id} has no stored request to remediate`, { details: { job_id: id } });
  const request = clone(JobRequestSchema, original);
  request.jobId = newId();
  request.parentJobId = job.id;
  if (chosen.replacement_topic !== '') {
    if (!isJobTopic(chosen.replacement_topic)) {
      throw new InvalidError(`the remediation's replacement topic ${chosen.replacement_topic} is not a job topic`, { details: { remediation_id: chosen.id } });
    }
    request.topic = chosen.replacement_topic;
  }
  const meta = (request.meta ??= create(JobMetadataSchema, { tenantId: job.tenant }));
  if (chosen.replacement_capability !== '') meta.capability = chosen.replacement_capability;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(original.labels)) if (!CONTROL_LABEL.test(k)) labels[k] = v;
  labels['remediation_of'] = job.id;
  if (chosen.id !== '') labels['remediation_id'] = chosen.id;
  for (const [k, v] of Object.entries(chosen.add_labels)) if (k.trim() !== '' && !CONTROL_LABEL.test(k)) labels[k] = v;
  for (const k of chosen.remove_labels) delete labels[k];
  request.labels = labels;
  meta.labels = { ...labels };
  const context = await copyContext(ctx, original.contextPtr, job.tenant);
  const created = await enqueueJob(ctx, {
    request,
    tenant: job.tenant,
    traceId: job.traceId,
    context,
    submittedBy: principal.id,
    reason: `remediation ${chosen.id} of ${job.id} by ${principal.id}`,
    data: { remediation_of: job.id },
  });
  ctx.metrics.submits.inc({ outcome: 'remediation' });
  await audit(ctx, principal, 'job.remediate', job.id, { new_job_id: created.id, remediation_id: chosen.id });
  return { jobId: created.id, traceId: created.traceId, remediationOf: job.id, remediationId: chosen.id };
}

/** `<old>-<kind>-<8 hex>`, or a fresh id when that would be too long. */
export function derivedJobId(old: string, kind: string): string {
  const id = `${old}-${kind}-${randomBytes(4).toString('hex')}`;
  return isSafeId(id) ? id : newId();
}

/**
 * Jobs of a trace, oldest first. The job store has no trace index yet, so this scans the tenant's newest
 * `traceScanLimit` jobs: older members of a long-lived trace are not found.
 */
export async function traceJobs(ctx: GatewayContext, principal: Principal, traceId: string): Promise<JobSummary[]> {
  const found: JobRecord[] = [];
  let cursor: string | null = null;
  let scanned = 0;
  while (scanned < ctx.options.traceScanLimit) {
    const page: Page<JobRecord> = await ctx.stores.jobs.list({ tenant: principal.tenant, limit: 500, cursor });
    scanned += page.items.length;
    for (const j of page.items) if (j.traceId === traceId) found.push(j);
    if (page.nextCursor === null) break;
    cursor = page.nextCursor;
  }
  if (found.length === 0) throw new NotFoundError(`trace ${traceId} not found`, { details: { trace_id: traceId } });
  return found.sort((a, b) => a.createdAt - b.createdAt).map(jobSummary);
}

