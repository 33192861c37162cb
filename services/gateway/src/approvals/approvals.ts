import { ConflictError, type JsonValue, isCordumError, toError } from '@cordum/core';
import { ErrorCode, JobStatus, Subjects, computeJobHash, encodePacket, newPacket } from '@cordum/protocol';
import type { JobRecord, Page } from '@cordum/store';
import { type Principal, ROLES, hasRole } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { ApprovalBody } from '../http/schemas.js';
import { publishSubmit } from '../jobs/enqueue.js';
import { type JobSummary, jobSummary, requestOf } from '../jobs/job-view.js';
import { appendAudit, getJob, publishOutcome } from '../jobs/jobs.js';
import { type WorkflowStepApproval, withWorkflowSteps } from '../workflows/approvals.js';

// Approvals. Only this gateway-written, compare-and-set record moves a job APPROVAL_REQUIRED → PENDING; it is
// bound to the job hash (the request and the bytes behind its write-once context pointer) and to the policy
// snapshot the decision came from. The scheduler then checks policy again and honours the approval only if
// the hash and snapshot still match (a DENY still wins); a changed policy asks for approval again.

export type ApprovalItem = {
  kind: 'job';
  job: JobSummary;
  decision: JsonValue;
  policy_snapshot: string;
  policy_rule_id: string;
  policy_reason: string;
  constraints: JsonValue;
  job_hash: string;
  approval_required: boolean;
  approval_ref: string;
};

function decisionOf(job: JobRecord): Record<string, JsonValue> {
  const d = job.data['decision'];
  return d !== null && typeof d === 'object' && !Array.isArray(d) ? d : {};
}

const text = (v: JsonValue | undefined): string => (typeof v === 'string' ? v : '');

/**
 * GET /approvals: held jobs, then workflow approval steps waiting for a decision (kind `workflow_step`;
 * src/workflows/approvals.ts), or one kind only.
 */
export function listApprovals(
  ctx: GatewayContext,
  principal: Principal,
  query: { limit?: number; cursor?: string; kind?: 'job' | 'workflow_step' },
): Promise<Page<ApprovalItem | WorkflowStepApproval>> {
  return withWorkflowSteps(ctx, principal, query, (q) => listJobApprovals(ctx, principal, q));
}

async function listJobApprovals(
  ctx: GatewayContext,
  principal: Principal,
  query: { limit?: number; cursor?: string },
): Promise<Page<ApprovalItem>> {
  const page = await ctx.stores.jobs.list({
    tenant: principal.tenant,
    state: 'APPROVAL_REQUIRED',
    limit: query.limit ?? 50,
    cursor: query.cursor ?? null,
  });
  return {
    items: page.items.map((job) => {
      const d = decisionOf(job);
      return {
        kind: 'job' as const,
        job: jobSummary(job),
        decision: job.data['decision'] ?? null,
        policy_snapshot: text(d['snapshot']),
        policy_rule_id: text(d['rule_id']),
        policy_reason: text(d['reason']),
        constraints: d['constraints'] ?? null,
        job_hash: text(job.data['job_hash']),
        approval_required: true,
        approval_ref: job.id,
      };
    }),
    nextCursor: page.nextCursor,
  };
}

type Checked = { job: JobRecord; hash: string; snapshot: string };

/** Re-derives what the approver is deciding on and refuses (409) when it is not what they saw or what policy held. */
async function check(ctx: GatewayContext, principal: Principal, id: string, body: ApprovalBody, verb: string): Promise<Checked> {
  const job = await getJob(ctx, principal, id);
  if (job.state !== 'APPROVAL_REQUIRED') {
    throw new ConflictError(`job ${id} is ${job.state}, not waiting for approval`, {
      code: 'state_conflict',
      details: { job_id: id, current_state: job.state },
    });
  }
  const request = requestOf(job);
  if (request === undefined) throw new ConflictError(`job ${id} has no stored request; it cannot be ${verb}`, { details: { job_id: id } });
  const context = request.contextPtr === '' ? new Uint8Array(0) : (await ctx.stores.pointers.require(request.contextPtr)).bytes;
  const hash = computeJobHash(request, context);
  const held = text(job.data['job_hash']);
  const snapshot = text(decisionOf(job)['snapshot']);
  const mismatches: Record<string, JsonValue> = {};
  if (held !== hash) mismatches['job_hash'] = { held_for_approval: held, current: hash };
  if (body.expected_job_hash !== undefined && body.expected_job_hash !== hash) {
    mismatches['expected_job_hash'] = { expected: body.expected_job_hash, current: hash };
  }
  if (body.expected_policy_snapshot !== undefined && body.expected_policy_snapshot !== snapshot) {
    mismatches['expected_policy_snapshot'] = { expected: body.expected_policy_snapshot, current: snapshot };
  }
  if (Object.keys(mismatches).length > 0) {
    ctx.metrics.approvals.inc({ outcome: 'conflict' });
    throw new ConflictError(`job ${id} changed since it was shown for approval (${Object.keys(mismatches).join(', ')}); review it again`, {
      details: { job_id: id, ...mismatches },
    });
  }
  return { job, hash, snapshot };
}

function topRole(principal: Principal): string {
  return [...ROLES].reverse().find((r) => r !== 'secops' && hasRole(principal, r)) ?? '';
}

export type ApprovalOutcome = { jobId: string; state: string; approval: Record<string, JsonValue> };

async function transitionOrConflict(ctx: GatewayContext, fn: () => Promise<JobRecord>, id: string): Promise<JobRecord> {
  try {
    return await fn();
  } catch (err) {
    if (isCordumError(err) && err.code === 'state_conflict') {
      ctx.metrics.approvals.inc({ outcome: 'conflict' });
      throw new ConflictError(`job ${id} changed while the decision was being recorded; review it again`, {
        code: 'state_conflict',
        details: { job_id: id, ...err.details },
      });
    }
    throw err;
  }
}

export async function approveJob(ctx: GatewayContext, principal: Principal, id: string, body: ApprovalBody): Promise<ApprovalOutcome> {
  const { job, hash, snapshot } = await check(ctx, principal, id, body, 'approved');
  const at = await ctx.stores.jobs.now();
  const approval: Record<string, JsonValue> = {
    by: principal.id,
    role: topRole(principal),
    reason: body.reason ?? '',
    job_hash: hash,
    policy_snapshot: snapshot,
    at,
  };
  if (body.note !== undefined) approval['note'] = body.note;
  const moved = await transitionOrConflict(
    ctx,
    () =>
      ctx.stores.jobs.transition(id, {
        from: 'APPROVAL_REQUIRED',
        to: 'PENDING',
        expectedVersion: job.version,
        actor: principal.id,
        reason: body.reason === undefined || body.reason === '' ? `approved by ${principal.id}` : `approved by ${principal.id}: ${body.reason}`,
        // Due now: if the doorbell below is lost, a scheduler's timer picks the job up at once.
        patch: { data: { approval }, dueAt: at, waitReason: null },
      }),
    id,
  );
  ctx.metrics.approvals.inc({ outcome: 'granted' });
  await appendAudit(ctx, principal, 'approval.granted', id, { ...approval, rule_id: text(decisionOf(job)['rule_id']) });
  const request = requestOf(moved);
  // A fresh msg-id per approval: JetStream would drop a second `jobreq:<id>` inside its dedupe window.
  if (request !== undefined) await publishSubmit(ctx, request, moved.traceId, `jobreq:${id}:approved:${moved.version}`);
  return { jobId: id, state: moved.state, approval };
}

/** Rejecting ends the job DENIED (reason approval_rejected) with a DLQ entry, as upstream: who and why are kept. */
export async function rejectJob(ctx: GatewayContext, principal: Principal, id: string, body: ApprovalBody): Promise<ApprovalOutcome> {
  const { job, hash, snapshot } = await check(ctx, principal, id, body, 'rejected');
  const at = await ctx.stores.jobs.now();
  const reason = body.reason === undefined || body.reason === '' ? `rejected by ${principal.id}` : body.reason;
  const approval: Record<string, JsonValue> = {
    by: principal.id,
    role: topRole(principal),
    reason,
    decision: 'rejected',
    job_hash: hash,
    policy_snapshot: snapshot,
    at,
  };
  if (body.note !== undefined) approval['note'] = body.note;
  const done = await transitionOrConflict(
    ctx,
    () =>
      ctx.stores.jobs.transition(id, {
        from: 'APPROVAL_REQUIRED',
        to: 'DENIED',
        expectedVersion: job.version,
        actor: principal.id,
        reason: `rejected by ${principal.id}: ${reason}`,
        patch: { data: { approval }, errorCode: 'approval_rejected', errorMessage: reason, dueAt: null, waitReason: null },
      }),
    id,
  );
  ctx.metrics.approvals.inc({ outcome: 'rejected' });
  await appendAudit(ctx, principal, 'approval.rejected', id, { ...approval, rule_id: text(decisionOf(job)['rule_id']) });
  await ctx.stores.dlq
    .put({
      jobId: done.id,
      tenant: done.tenant,
      topic: done.topic,
      status: 'DENIED',
      reasonCode: 'approval_rejected',
      reason,
      errorCode: ErrorCode.SAFETY_DENIED,
      lastState: 'APPROVAL_REQUIRED',
      attempts: done.attempts,
      data: {
        request: done.data['request'] ?? null,
        labels: { ...done.labels },
        trace_id: done.traceId,
        decision: done.data['decision'] ?? null,
        approval,
      },
    })
    .catch((err: unknown) => ctx.logger.error({ job_id: id, err: toError(err).message }, 'DLQ write failed'));
  const dlqPacket = newPacket({
    traceId: done.traceId,
    senderId: ctx.options.instanceId,
    payload: {
      case: 'jobResult',
      value: { jobId: id, status: JobStatus.DENIED, errorCode: 'approval_rejected', errorCodeEnum: ErrorCode.SAFETY_DENIED, errorMessage: reason },
    },
  });
  await ctx.bus.publish(Subjects.jobDlq, encodePacket(dlqPacket)).catch(() => undefined);
  await publishOutcome(ctx, done, 'DENIED', 'approval_rejected', reason);
  return { jobId: id, state: done.state, approval };
}
