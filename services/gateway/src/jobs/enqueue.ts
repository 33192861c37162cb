import { createHash } from 'node:crypto';
import { toError } from '@cordum/core';
import {
  JOB_STORED_HEADER,
  type JobRequest,
  JobRequestSchema,
  Subjects,
  encodeBinary,
  encodeJobRequestPacket,
  storedRequestOf,
  submitMsgId,
} from '@cordum/protocol';
import type { JobRecord } from '@cordum/store';
import type { GatewayContext } from '../context.js';

// Store first, doorbell second: the input goes behind its write-once context pointer, the job is created
// PENDING with a due time (so a scheduler's pending replayer recovers it if the submit below is lost), and
// only then is sys.job.submit published with the stored-job header. Submit, DLQ retry and remediation all
// enqueue through here.

/** The key of the reference a context holds when its payload was moved to the artifact store. */
export const ARTIFACT_REFERENCE_KEY = 'cordum_artifact';

export type EnqueueInput = {
  /** jobId, topic, tenant and labels set; contextPtr is set here. */
  request: JobRequest;
  tenant: string;
  traceId: string;
  context: { bytes: Uint8Array; contentType: string };
  /** Principal (or service) recorded as the submitter and on the creation event. */
  submittedBy: string;
  reason: string;
  /** Extra keys of the record's data (e.g. retry_of). */
  data?: Record<string, string>;
};

/**
 * A payload above the inline limit is stored as an artifact; the context then holds a small JSON reference
 * `{"cordum_artifact": {pointer, size_bytes, sha256, content_type}}`. The job hash covers the reference and
 * so, through sha256, the artifact's bytes.
 */
async function contextBytes(ctx: GatewayContext, input: EnqueueInput): Promise<{ bytes: Uint8Array; contentType: string }> {
  const max = ctx.options.contextInlineMaxBytes;
  const { bytes, contentType } = input.context;
  if (max <= 0 || bytes.byteLength <= max) return input.context;
  const meta = await ctx.stores.artifacts.put({
    tenant: input.tenant,
    content: bytes,
    contentType,
    retention: 'standard',
    labels: { job_id: input.request.jobId, kind: 'job_input' },
  });
  const reference = {
    [ARTIFACT_REFERENCE_KEY]: {
      pointer: meta.pointer,
      size_bytes: meta.sizeBytes,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      content_type: contentType,
    },
  };
  return { bytes: new TextEncoder().encode(JSON.stringify(reference)), contentType: 'application/json' };
}

export async function enqueueJob(ctx: GatewayContext, input: EnqueueInput): Promise<JobRecord> {
  const { request } = input;
  const payload = await contextBytes(ctx, input);
  request.contextPtr = await ctx.stores.pointers.putContext(request.jobId, {
    tenant: input.tenant,
    bytes: payload.bytes,
    contentType: payload.contentType,
  });
  const now = await ctx.stores.jobs.now();
  // Encoded once: the record's data.request (what encodeStoredRequest gives) and the doorbell's payload.
  const encoded = encodeBinary(JobRequestSchema, request);
  const record = await ctx.stores.jobs.create({
    id: request.jobId,
    tenant: input.tenant,
    topic: request.topic,
    traceId: input.traceId,
    labels: { ...request.labels },
    data: { request: storedRequestOf(encoded), submitted_by: input.submittedBy, ...input.data },
    dueAt: now + ctx.options.submitGraceMs,
    actor: input.submittedBy,
    reason: input.reason,
  });
  await publishSubmit(ctx, request, input.traceId, submitMsgId(request.jobId), encoded);
  return record;
}

/**
 * Rings the scheduler's doorbell for a stored job. A lost publish only costs latency: the job's due time
 * brings it to a scheduler anyway, so a failure here is logged, not returned. `encoded` is the request's
 * bytes when the caller has them already.
 */
export async function publishSubmit(
  ctx: GatewayContext,
  request: JobRequest,
  traceId: string,
  msgId: string,
  encoded?: Uint8Array,
): Promise<void> {
  try {
    const packet = encodeJobRequestPacket({
      traceId,
      senderId: ctx.options.instanceId,
      createdAtMs: Date.now(),
      request: encoded ?? encodeBinary(JobRequestSchema, request),
    });
    await ctx.bus.publish(Subjects.jobSubmit, packet, { headers: { [JOB_STORED_HEADER]: '1' }, msgId });
  } catch (err) {
    ctx.logger.warn({ job_id: request.jobId, err: toError(err).message }, 'submit publish failed; the job is stored and a scheduler replays it when due');
  }
}
