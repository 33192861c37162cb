import { create } from '@bufbuild/protobuf';
import type { Bus, BusMessage, Subscription } from '@cordum/bus';
import { type Logger, isCordumError, isSafeId, isSafeTenantId, toError } from '@cordum/core';
import {
  type BusPacket,
  ErrorCode,
  JobRequestSchema,
  JobStatus,
  PacketError,
  QueueGroups,
  JOB_STORED_HEADER,
  Subjects,
  cancelledAttempt,
  decodePacket,
  encodePacket,
  errorCodeToString,
  isJobTopic,
  newPacket,
  validatePacket,
} from '@cordum/protocol';
import type { IdempotencyStore, JobStore } from '@cordum/store';
import { type Engine, encodeRequest } from '../engine.js';
import type { SchedulerMetrics } from '../metrics.js';
import type { SchedulerOptions } from '../options.js';
import type { WorkerRegistry } from '../routing/workers.js';

// Thin bus adapters: decode and validate, then hand the job to the engine.

export type BusHandlersDeps = {
  bus: Bus;
  engine: Engine;
  jobs: JobStore;
  idempotency: IdempotencyStore;
  registry: WorkerRegistry;
  logger: Logger;
  metrics: SchedulerMetrics;
  options: SchedulerOptions;
  /** This process's clock (worker liveness). */
  now: () => number;
  /** The store's clock (due times). */
  storeNow: () => number;
  onConfigChanged: () => void;
};

function decode(msg: BusMessage, deps: BusHandlersDeps, expect: BusPacket['payload']['case'][]): BusPacket | undefined {
  let packet: BusPacket;
  try {
    packet = decodePacket(msg.data);
  } catch (err) {
    const code = err instanceof PacketError ? err.code : ErrorCode.PROTOCOL_MALFORMED_PACKET;
    deps.metrics.rejected.inc({ code: errorCodeToString(code) });
    deps.logger.warn({ subject: msg.subject, err: toError(err).message }, 'malformed packet rejected');
    return undefined;
  }
  const check = validatePacket(packet, { expect: expect.filter((c) => c !== undefined) });
  if (!check.ok) {
    deps.metrics.rejected.inc({ code: errorCodeToString(check.code) });
    deps.logger.warn({ subject: msg.subject, code: errorCodeToString(check.code), reason: check.reason }, 'packet rejected');
    if (packet.payload.case === 'jobRequest' && packet.payload.value.jobId !== '') {
      void reject(deps, packet, check.code, check.reason);
    }
    return undefined;
  }
  return packet;
}

/**
 * The attempt a result belongs to, from its msg-id `jobres:<job_id>#<attempt>` (docs/protocol.md; the SDK sets
 * it), or 0 when the worker gave none (CAP workers of other SDKs).
 */
function resultAttempt(jobId: string, msgId: string | undefined): number {
  const prefix = `jobres:${jobId}#`;
  if (msgId === undefined || !msgId.startsWith(prefix)) return 0;
  const tail = msgId.slice(prefix.length);
  return /^[1-9]\d{0,8}$/.test(tail) ? Number(tail) : 0;
}

/** Tells a submitter its packet was refused (there is no job record for a packet we cannot trust). */
async function reject(deps: BusHandlersDeps, packet: BusPacket, code: ErrorCode, reason: string): Promise<void> {
  if (packet.payload.case !== 'jobRequest') return;
  const result = newPacket({
    traceId: packet.traceId,
    senderId: deps.options.instanceId,
    payload: {
      case: 'jobResult',
      value: {
        jobId: packet.payload.value.jobId,
        status: JobStatus.FAILED,
        errorCode: errorCodeToString(code),
        errorCodeEnum: code,
        errorMessage: reason,
      },
    },
  });
  await deps.bus.publish(Subjects.jobResult, encodePacket(result)).catch(() => undefined);
}

async function onSubmit(msg: BusMessage, deps: BusHandlersDeps): Promise<void> {
  const packet = decode(msg, deps, ['jobRequest']);
  if (packet === undefined || packet.payload.case !== 'jobRequest') return;
  const request = packet.payload.value;
  const tenant = request.tenantId || request.meta?.tenantId || 'default';
  if (!isSafeId(request.jobId) || !isJobTopic(request.topic) || !isSafeTenantId(tenant)) {
    deps.metrics.intake.inc({ outcome: 'invalid' });
    await reject(deps, packet, ErrorCode.JOB_INVALID_INPUT, 'job_id, topic (job.*) and tenant must be valid identifiers');
    return;
  }
  // Submitters that wrote the job first (the gateway) say so; a raw CAP client never does, so for it the
  // create comes first and a second read is only needed on a redelivery.
  const stored = msg.headers[JOB_STORED_HEADER] === '1';
  let job = stored ? await deps.jobs.get(request.jobId) : undefined;
  if (job === undefined) {
    // A raw CAP client: nothing wrote the job before publishing, so the scheduler records it now.
    const key = request.meta?.idempotencyKey ?? '';
    if (key !== '') {
      const claim = await deps.idempotency.claim({ tenant, scope: 'job', key }, request.jobId);
      if (!claim.claimed && claim.value !== request.jobId) {
        deps.metrics.intake.inc({ outcome: 'duplicate' });
        deps.logger.info({ job_id: request.jobId, original: claim.value }, 'duplicate submit (idempotency key) ignored');
        // The submitter may be waiting for this job id's result: tell it which job holds the key.
        await reject(deps, packet, ErrorCode.JOB_DUPLICATE, `idempotency key already used by job ${claim.value}`);
        return;
      }
    }
    const record = create(JobRequestSchema, request);
    if (record.tenantId === '') record.tenantId = tenant;
    try {
      job = await deps.jobs.create({
        id: request.jobId,
        tenant,
        topic: request.topic,
        traceId: packet.traceId,
        labels: { ...request.labels },
        data: { request: encodeRequest(record), submitted_by: packet.senderId },
        // If processing below fails (store or kernel hiccup, crash), the job is not lost: this due time
        // brings it back to a scheduler; any decision made below replaces or clears it.
        dueAt: deps.storeNow() + deps.options.submitGraceMs,
        actor: packet.senderId || 'bus',
        reason: 'submitted on sys.job.submit',
      });
    } catch (err) {
      if (!(isCordumError(err) && err.code === 'already_exists')) throw err;
      job = await deps.jobs.get(request.jobId);
    }
  }
  if (job === undefined) return;
  deps.metrics.intake.inc({ outcome: job.state === 'PENDING' ? 'accepted' : 'redelivered' });
  // Redeliveries of jobs already past PENDING are no-ops inside advance().
  await deps.engine.advance(job.id, job);
}

export async function subscribeBusHandlers(deps: BusHandlersDeps): Promise<Subscription[]> {
  const { bus, engine } = deps;
  const queue = QueueGroups.scheduler;
  const concurrency = deps.options.concurrency;
  return Promise.all([
    bus.subscribe(Subjects.jobSubmit, (m) => onSubmit(m, deps), { queue, concurrency }),
    bus.subscribe(
      Subjects.jobResult,
      async (m) => {
        const packet = decode(m, deps, ['jobResult']);
        if (packet?.payload.case !== 'jobResult') return;
        const r = packet.payload.value;
        await engine.onResult({
          job_id: r.jobId,
          status: r.status,
          result_ptr: r.resultPtr,
          worker_id: r.workerId,
          error_code: r.errorCode,
          error_code_enum: r.errorCodeEnum,
          error_message: r.errorMessage,
          execution_ms: Number(r.executionMs),
          artifact_ptrs: [...r.artifactPtrs],
          attempt: resultAttempt(r.jobId, m.msgId),
        });
      },
      { queue, concurrency },
    ),
    bus.subscribe(
      Subjects.jobProgress,
      async (m) => {
        const packet = decode(m, deps, ['jobProgress']);
        if (packet?.payload.case !== 'jobProgress') return;
        await engine.onProgress(packet.payload.value.jobId, packet.senderId);
      },
      { queue, concurrency },
    ),
    bus.subscribe(
      Subjects.jobCancel,
      async (m) => {
        const packet = decode(m, deps, ['jobCancel']);
        if (packet?.payload.case !== 'jobCancel') return;
        // A scheduler's attempt-scoped cancel (lease expiry, any instance) is for the worker; the job itself
        // has already moved on.
        if (cancelledAttempt(m.headers) !== undefined) return;
        const c = packet.payload.value;
        await engine.onCancel(c.jobId, c.reason, c.requestedBy);
      },
      { queue, concurrency },
    ),
    bus.subscribe(Subjects.heartbeat, (m) => {
      const packet = decode(m, deps, ['heartbeat']);
      if (packet?.payload.case !== 'heartbeat') return;
      deps.registry.heartbeat(packet.payload.value, deps.now());
      deps.engine.capacityChanged(packet.payload.value.workerId);
    }),
    bus.subscribe(Subjects.handshake, (m) => {
      const packet = decode(m, deps, ['handshake']);
      if (packet?.payload.case === 'handshake') deps.registry.handshake(packet.payload.value, packet.senderId, deps.now());
    }),
    bus.subscribe(Subjects.configChanged, () => deps.onConfigChanged()),
  ]);
}
