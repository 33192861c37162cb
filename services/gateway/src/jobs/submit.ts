import { create } from '@bufbuild/protobuf';
import { DeniedError, InvalidError, findSecretRefs, newId, newTraceId, toError } from '@cordum/core';
import { ActorType, type JobRequest, JobPriority, JobRequestSchema, isJobTopic } from '@cordum/protocol';
import type { GatewayContext } from '../context.js';
import { type Principal, hasRole } from '../auth/principal.js';
import type { SubmitJobBody } from '../http/schemas.js';
import { enqueueJob } from './enqueue.js';

// POST /api/v1/jobs: upstream's fields, the tenant and principal always from the caller, an optional
// idempotency key (tenant-scoped: a repeat returns the original job), `secret://` references flagged for policy.

const DEFAULT_TOPIC = 'job.default';
const DEFAULT_MAX_INPUT_TOKENS = 8000;
const DEFAULT_MAX_OUTPUT_TOKENS = 1024;
/** Labels the control plane owns: placement/bookkeeping (cordum.*) and approvals (approval_*). */
const RESERVED_LABEL = /^(cordum\.|approval_)/;
const UTF8 = new TextEncoder();

export type SubmitResult = { jobId: string; traceId: string; created: boolean };

const PRIORITY: Readonly<Record<NonNullable<SubmitJobBody['priority']>, JobPriority>> = {
  interactive: JobPriority.INTERACTIVE,
  batch: JobPriority.BATCH,
  critical: JobPriority.CRITICAL,
};

function checkLabels(labels: Record<string, string>): void {
  const reserved = Object.keys(labels).filter((k) => RESERVED_LABEL.test(k));
  if (reserved.length > 0) {
    throw new InvalidError(`labels ${reserved.join(', ')} are reserved (cordum.* and approval_* belong to the control plane)`, {
      details: { field: 'labels', reserved },
    });
  }
}

/** JSON bytes of a body value; a value nested too deep to serialise is the caller's 400, not a 500. */
function jsonBytes(value: unknown, field: string): Uint8Array {
  try {
    return UTF8.encode(JSON.stringify(value));
  } catch (err) {
    throw new InvalidError(`${field} is not representable as JSON: ${toError(err).message}`, { details: { field } });
  }
}

/** The job's input bytes: `input` verbatim, or upstream's {prompt, context, topic, tenant_id, …} document. */
function inputOf(body: SubmitJobBody, topic: string, tenant: string, nowMs: number): Uint8Array {
  if (body.input !== undefined) {
    if (body.prompt !== undefined || body.context !== undefined) {
      throw new InvalidError('give either input (the whole job input) or prompt/context, not both', { details: { field: 'input' } });
    }
    return jsonBytes(body.input, 'input');
  }
  if (body.prompt === undefined && body.context === undefined) {
    throw new InvalidError('prompt is required (or give context or input)', { details: { field: 'prompt' } });
  }
  const doc: Record<string, unknown> = { topic, tenant_id: tenant, created_at: new Date(nowMs).toISOString() };
  if (body.prompt !== undefined) doc['prompt'] = body.prompt;
  if (body.context !== undefined) doc['context'] = body.context;
  if (body.priority !== undefined) doc['priority'] = body.priority;
  if (body.adapter_id !== undefined) doc['adapter_id'] = body.adapter_id;
  return jsonBytes(doc, body.context === undefined ? 'prompt' : 'context');
}

/**
 * findSecretRefs searches 64 levels deep and not in object keys: a `secret://` anywhere in the stored input
 * flags the job all the same, so nesting cannot hide a reference from policy.
 */
function flagUnreachedSecretRefs(request: JobRequest, input: Uint8Array): void {
  if (!Buffer.from(input.buffer, input.byteOffset, input.byteLength).includes('secret://')) return;
  request.labels['secrets_present'] = 'true';
  if (request.meta === undefined) return;
  request.meta.labels['secrets_present'] = 'true';
  if (!request.meta.riskTags.includes('secrets')) request.meta.riskTags.push('secrets');
}

/** The JobRequest of a submit (contextPtr is set when the input is stored). Throws for a body policy cannot trust. */
export function buildSubmitRequest(body: SubmitJobBody, principal: Principal, jobId: string): JobRequest {
  const topic = body.topic ?? DEFAULT_TOPIC;
  if (!isJobTopic(topic)) {
    throw new InvalidError(`topic must start with "job." and be a valid subject (dot-separated tokens), got ${JSON.stringify(topic)}`, {
      details: { field: 'topic' },
    });
  }
  const asked = body.tenant_id ?? body.org_id;
  if (body.tenant_id !== undefined && body.org_id !== undefined && body.tenant_id !== body.org_id) {
    throw new InvalidError('tenant_id and org_id differ; give one', { details: { field: 'tenant_id' } });
  }
  if (asked !== undefined && asked !== principal.tenant) {
    throw new DeniedError(`your key belongs to tenant ${principal.tenant}; it cannot submit jobs for tenant ${asked}`, {
      code: 'permission_denied',
      details: { field: 'tenant_id' },
    });
  }
  const principalId = body.principal_id ?? principal.id;
  if (principalId !== principal.id && !hasRole(principal, 'admin')) {
    throw new DeniedError('submitting on behalf of another principal needs the admin role', {
      code: 'permission_denied',
      details: { field: 'principal_id' },
    });
  }
  const labels = { ...body.labels };
  checkLabels(labels);
  const riskTags = [...(body.risk_tags ?? [])];
  // secret:// references are never resolved here; policy sees that they are there.
  const secrets = findSecretRefs([body.prompt, body.context, body.input]);
  if (secrets.length > 0) {
    if (!riskTags.includes('secrets')) riskTags.push('secrets');
    labels['secrets_present'] = 'true';
  }
  const maxInput = body.max_input_tokens ?? DEFAULT_MAX_INPUT_TOKENS;
  const maxOutput = body.max_output_tokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
  const env: Record<string, string> = {
    tenant_id: principal.tenant,
    max_input_tokens: String(maxInput),
    max_output_tokens: String(maxOutput),
  };
  if (body.team_id !== undefined) env['team_id'] = body.team_id;
  if (body.project_id !== undefined) env['project_id'] = body.project_id;
  if (body.memory_id !== undefined) env['memory_id'] = body.memory_id;
  if (body.context_mode !== undefined) env['context_mode'] = body.context_mode;
  return create(JobRequestSchema, {
    jobId,
    topic,
    priority: body.priority === undefined ? JobPriority.UNSPECIFIED : PRIORITY[body.priority],
    adapterId: body.adapter_id ?? '',
    env,
    memoryId: body.memory_id ?? '',
    contextHints: {
      maxInputTokens: maxInput,
      allowSummarization: body.allow_summarization ?? false,
      allowRetrieval: body.allow_retrieval ?? false,
      tags: [...(body.tags ?? [])],
    },
    budget: {
      maxInputTokens: BigInt(maxInput),
      maxOutputTokens: BigInt(maxOutput),
      maxTotalTokens: BigInt(body.max_total_tokens ?? 0),
      deadlineMs: BigInt(body.deadline_ms ?? 0),
    },
    tenantId: principal.tenant,
    principalId,
    labels,
    meta: {
      tenantId: principal.tenant,
      actorId: body.actor_id ?? principalId,
      actorType: body.actor_type === 'human' ? ActorType.HUMAN : body.actor_type === 'service' ? ActorType.SERVICE : ActorType.UNSPECIFIED,
      idempotencyKey: body.idempotency_key ?? '',
      capability: body.capability ?? '',
      riskTags,
      requires: [...(body.requires ?? [])],
      packId: body.pack_id ?? '',
      labels: { ...labels },
    },
  });
}

/** The original job of an idempotency key, when it exists in the caller's tenant. */
async function existing(ctx: GatewayContext, tenant: string, jobId: string): Promise<SubmitResult | undefined> {
  const job = await ctx.stores.jobs.get(jobId);
  if (job === undefined || job.tenant !== tenant) return undefined;
  return { jobId: job.id, traceId: job.traceId, created: false };
}

export async function submitJob(ctx: GatewayContext, principal: Principal, body: SubmitJobBody): Promise<SubmitResult> {
  let jobId = newId();
  const request = buildSubmitRequest(body, principal, jobId);
  const tenant = principal.tenant;
  const context = { bytes: inputOf(body, request.topic, tenant, ctx.clock.now()), contentType: 'application/json' };
  flagUnreachedSecretRefs(request, context.bytes);
  const key = body.idempotency_key;
  if (key !== undefined) {
    const claim = await ctx.stores.idempotency.claim({ tenant, scope: 'job', key }, jobId);
    if (!claim.claimed) {
      const found = await existing(ctx, tenant, claim.value);
      if (found !== undefined) {
        ctx.metrics.submits.inc({ outcome: 'duplicate' });
        return found;
      }
      // The key is held but its job was never written (the first submit died between claim and create, or is
      // still writing): finish the submission under the claimed id. Write-once context and create-once job
      // make the race with a live first submit safe: one create wins, the other answers with its job.
      jobId = claim.value;
      request.jobId = jobId;
    }
  }
  const traceId = newTraceId();
  try {
    const job = await enqueueJob(ctx, {
      request,
      tenant,
      traceId,
      context,
      submittedBy: principal.id,
      reason: `submitted by ${principal.id}`,
    });
    ctx.metrics.submits.inc({ outcome: 'created' });
    return { jobId: job.id, traceId: job.traceId, created: true };
  } catch (err) {
    if (key !== undefined && (err as { code?: unknown }).code === 'already_exists') {
      const found = await existing(ctx, tenant, jobId);
      if (found !== undefined) {
        ctx.metrics.submits.inc({ outcome: 'duplicate' });
        return found;
      }
    }
    throw err;
  }
}
