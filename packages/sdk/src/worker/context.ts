import { InvalidError, type Logger, TerminalError } from '@cordum/core';
import type { JobRequest } from '@cordum/protocol';
import type { ArtifactStore, PointerStore } from '@cordum/store';
import { clampPercent } from './load.js';
import type { ArtifactWriteOptions, JobContext } from './types.js';

/** Tenant of jobs whose request names none (upstream's default tenant). */
export const DEFAULT_TENANT = 'default';

/** Lease the scheduler holds per attempt when the request does not say (CORDUM_LEASE_MS in env). */
export const DEFAULT_LEASE_MS = 30_000;
export const LEASE_ENV = 'CORDUM_LEASE_MS';

export function tenantOf(request: JobRequest): string {
  if (request.tenantId !== '') return request.tenantId;
  if (request.meta !== undefined && request.meta.tenantId !== '') return request.meta.tenantId;
  return DEFAULT_TENANT;
}

/** The attempt's lease: CORDUM_LEASE_MS from the request env when it is a positive integer, else 30 s. */
export function leaseMsOf(request: JobRequest): number {
  const raw = request.env[LEASE_ENV];
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return DEFAULT_LEASE_MS;
  const ms = Number(raw.trim());
  return ms > 0 ? ms : DEFAULT_LEASE_MS;
}

/** budget.deadline_ms as a number of ms, or undefined when unset. */
export function deadlineMsOf(request: JobRequest): number | undefined {
  const ms = request.budget?.deadlineMs ?? 0n;
  if (ms <= 0n) return undefined;
  return ms > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ms);
}

/** The scheduler's attempt number from a dispatch msg-id `<job_id>#<attempt>`. */
export function attemptOf(jobId: string, msgId: string | undefined): number | undefined {
  if (msgId === undefined || !msgId.startsWith(`${jobId}#`)) return undefined;
  const tail = msgId.slice(jobId.length + 1);
  if (!/^\d+$/.test(tail)) return undefined;
  const n = Number(tail);
  return Number.isSafeInteger(n) ? n : undefined;
}

export type JobContextDeps = {
  request: JobRequest;
  traceId: string;
  tenantId: string;
  attempt: number | undefined;
  signal: AbortSignal;
  deadlineAt: number | undefined;
  logger: Logger;
  pointers: PointerStore;
  artifacts: ArtifactStore | undefined;
  /** Publishes one JobProgress (best effort, never throws). */
  progress: (percent: number, message: string) => Promise<void>;
  /** Collects pointers written through writeArtifact, reported in artifact_ptrs. */
  artifactWritten: (pointer: string) => void;
};

export function createJobContext(deps: JobContextDeps): JobContext {
  const { request } = deps;
  let input: Promise<Uint8Array> | undefined;
  const readInput = async (): Promise<Uint8Array> => {
    if (request.contextPtr === '') return new Uint8Array(0);
    const payload = await deps.pointers.require(request.contextPtr);
    return payload.bytes;
  };
  // ALLOW_WITH_CONSTRAINTS budgets.max_artifact_bytes, passed by the scheduler in env: enforced here, where
  // the bytes are written.
  const artifactBudget = Number(request.env['CORDUM_MAX_ARTIFACT_BYTES'] ?? '0');
  let artifactBytes = 0;
  const ctx: JobContext = {
    jobId: request.jobId,
    topic: request.topic,
    traceId: deps.traceId,
    tenantId: deps.tenantId,
    ...(deps.attempt === undefined ? {} : { attempt: deps.attempt }),
    request,
    labels: request.labels,
    env: request.env,
    signal: deps.signal,
    ...(deps.deadlineAt === undefined ? {} : { deadlineAt: deps.deadlineAt }),
    logger: deps.logger,
    input() {
      // Read once: in-process retries and repeated calls must not hit the store again. A failed read is
      // not cached, so a retry after a transient store error reads afresh.
      input ??= readInput().catch((err: unknown) => {
        input = undefined;
        throw err;
      });
      return input.then((bytes) => bytes.slice());
    },
    async json<T = unknown>(): Promise<T> {
      const bytes = await ctx.input();
      if (bytes.byteLength === 0) {
        throw new InvalidError(`job ${request.jobId} has no input; expected JSON`, {
          details: { job_id: request.jobId },
        });
      }
      try {
        return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as T;
      } catch (err) {
        throw new InvalidError(`the input of job ${request.jobId} is not valid JSON`, {
          cause: err,
          details: { job_id: request.jobId, context_ptr: request.contextPtr },
        });
      }
    },
    async progress(percent, message = '') {
      if (Number.isNaN(percent)) throw new RangeError('progress percent must be a number between 0 and 100');
      await deps.progress(Math.round(clampPercent(percent)), message);
    },
    async writeArtifact(content, options: ArtifactWriteOptions = {}) {
      if (deps.artifacts === undefined) {
        throw new TerminalError('this worker has no artifact store; pass `artifacts` to createWorker');
      }
      const size = typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
      if (Number.isFinite(artifactBudget) && artifactBudget > 0 && artifactBytes + size > artifactBudget) {
        throw new TerminalError(
          `artifact budget exceeded: ${artifactBytes + size} bytes written, the policy allows ${artifactBudget}`,
          { code: 'payload_too_large', details: { job_id: request.jobId, max_artifact_bytes: artifactBudget } },
        );
      }
      artifactBytes += size;
      const meta = await deps.artifacts.put({
        tenant: deps.tenantId,
        content,
        contentType: options.contentType ?? defaultArtifactType(content),
        ...(options.retention === undefined ? {} : { retention: options.retention }),
        labels: { ...options.labels, job_id: request.jobId },
      });
      deps.artifactWritten(meta.pointer);
      return meta.pointer;
    },
  };
  return ctx;
}

function defaultArtifactType(content: Uint8Array | string): string {
  return typeof content === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
}
