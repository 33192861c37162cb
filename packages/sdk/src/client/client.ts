import type { Bus, BusMessage, Subscription } from '@cordum/bus';
import {
  type Clock,
  InvalidError,
  type Logger,
  RetryableError,
  createSilentLogger,
  isSafeId,
  isSafeTenantId,
  newId,
  newTraceId,
  systemClock,
  toError,
} from '@cordum/core';
import {
  type ActorType,
  type ErrorCode,
  type JobPriority,
  type JobResult,
  JobStatus,
  type KeyInput,
  type PacketVerifier,
  Subjects,
  effectiveErrorCode,
  isJobTopic,
  submitMsgId,
  validatePacket,
} from '@cordum/protocol';
import type { PointerStore } from '@cordum/store';
import { createPacketSender, receivePacket, signingKey } from '../wire.js';

// Stops a wait's timer; abort() without a reason would build a DOMException per job.
const WAIT_DONE = new Error('wait finished');

// A raw CAP client: writes the input behind a context pointer, publishes the JobRequest on sys.job.submit and
// watches sys.job.result. Real deployments submit through the gateway (HTTP/gRPC), which adds
// authentication, tenancy, idempotency and the durable job record; this client talks to the bus and the
// pointer store directly, for `cordum dev`, tests and CAP-level integrations.

export type ClientOptions = {
  bus: Bus;
  pointers: PointerStore;
  /** sender_id of submitted packets. */
  senderId: string;
  /** Tenant of every job this client submits (request.tenant_id, meta.tenant_id, the input's owner). */
  tenantId: string;
  signing?: {
    /** Signs submits and cancels. */
    privateKey?: KeyInput;
    /** Checks results; results it rejects are ignored. */
    verifier?: PacketVerifier;
  };
  /** Jobs whose latest result is remembered for waitForResult (oldest dropped first). Default 10,000. */
  maxBufferedResults?: number;
  logger?: Logger;
  clock?: Clock;
};

export type SubmitMeta = {
  actorId?: string;
  actorType?: ActorType;
  idempotencyKey?: string;
  capability?: string;
  riskTags?: readonly string[];
  requires?: readonly string[];
  packId?: string;
  labels?: Readonly<Record<string, string>>;
};

export type SubmitBudget = {
  /** Relative: the job must finish within this many ms of its submission. */
  deadlineMs?: number;
  maxInputTokens?: number;
  maxOutputTokens?: number;
  maxTotalTokens?: number;
};

export type SubmitOptions = {
  /** `job.…` */
  topic: string;
  /** JSON value (stored as application/json) or bytes (application/octet-stream unless contentType says). */
  input: unknown;
  contentType?: string;
  /** Default: a new UUIDv7. */
  jobId?: string;
  /** Default: a new W3C trace id. */
  traceId?: string;
  labels?: Readonly<Record<string, string>>;
  env?: Readonly<Record<string, string>>;
  meta?: SubmitMeta;
  priority?: JobPriority;
  budget?: SubmitBudget;
  /** TTL of the stored input. Default: the store's (24 h). */
  inputTtlMs?: number;
};

export type Submitted = { jobId: string; traceId: string; contextPtr: string };

export type WaitOptions = {
  /** Default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Keep waiting past FAILED_RETRYABLE results (a scheduler will retry the job and a later result follows).
   * Default false: the first result is returned, whatever its status.
   */
  waitForRetries?: boolean;
};

export type JobOutcome = {
  jobId: string;
  status: JobStatus;
  /** Empty when the job produced no output. */
  resultPtr: string;
  /** The output: parsed JSON when its content type is JSON, else the bytes; undefined without output. */
  result: unknown;
  contentType: string | undefined;
  /** Structured code (error_code_enum, or the legacy string parsed). */
  errorCode: ErrorCode;
  /** The legacy string error_code as sent. */
  errorCodeText: string;
  errorMessage: string;
  workerId: string;
  executionMs: number;
  artifactPtrs: string[];
  traceId: string;
};

export type Client = {
  /** Stores the input, then publishes the JobRequest (msg-id `jobreq:<id>`). */
  submit(options: SubmitOptions): Promise<Submitted>;
  /**
   * The job's result. Results are observed from the first submit()/waitForResult() of this client on, so
   * submit-then-wait never misses a fast result. Throws RetryableError(timeout) after timeoutMs.
   */
  waitForResult(jobId: string, options?: WaitOptions): Promise<JobOutcome>;
  /** submit + waitForResult. */
  run(options: SubmitOptions & WaitOptions): Promise<JobOutcome>;
  /** Publishes JobCancel on sys.job.cancel (the scheduler and the running worker both act on it). */
  cancel(jobId: string, options?: { reason?: string; requestedBy?: string }): Promise<void>;
  /** Stops watching results and fails pending waits. Never closes the bus. */
  close(): Promise<void>;
};

export const DEFAULT_WAIT_TIMEOUT_MS = 30_000;

type Waiter = {
  accept: (result: { packet: JobResult; traceId: string }) => boolean;
  reject: (err: Error) => void;
};

export function createClient(options: ClientOptions): Client {
  const problems: string[] = [];
  if (!isSafeTenantId(options.tenantId)) {
    problems.push(`tenantId ${JSON.stringify(options.tenantId)} is not a valid tenant id`);
  }
  if (typeof options.senderId !== 'string' || options.senderId === '') problems.push('senderId is required');
  if (problems.length > 0) {
    throw new InvalidError(`invalid client options: ${problems.join('; ')}`, {
      code: 'config_invalid',
      details: { problems },
    });
  }
  const { bus, pointers, tenantId } = options;
  const clock = options.clock ?? systemClock;
  const logger = (options.logger ?? createSilentLogger()).child({ client: options.senderId });
  const key = signingKey(options.signing?.privateKey, options.senderId);
  const sender = createPacketSender(bus, options.senderId, clock, key);
  const verifier = options.signing?.verifier;
  const maxBuffered = options.maxBufferedResults ?? 10_000;

  /**
   * Jobs whose results this client cares about (submitted or waited for) → the latest result seen. Bounded:
   * the oldest entries without a waiter are dropped first.
   */
  const watched = new Map<string, { packet: JobResult; traceId: string } | undefined>();
  const waiters = new Map<string, Set<Waiter>>();
  let subscription: Promise<Subscription> | undefined;
  let closed = false;

  function watch(jobId: string): void {
    if (watched.has(jobId)) return;
    watched.set(jobId, undefined);
    if (watched.size <= maxBuffered) return;
    // Maps iterate in insertion order: oldest watches first. Jobs someone is waiting for stay.
    for (const id of watched.keys()) {
      if (watched.size <= maxBuffered) break;
      if (!waiters.has(id)) watched.delete(id);
    }
  }

  function onResult(msg: BusMessage): void {
    const received = receivePacket(msg, verifier);
    if (!received.ok) {
      logger.warn({ stage: received.stage, code: received.code, reason: received.reason }, 'job result ignored');
      return;
    }
    const { packet } = received;
    if (!validatePacket(packet, { expect: ['jobResult'] }).ok || packet.payload.case !== 'jobResult') return;
    const result = { packet: packet.payload.value, traceId: packet.traceId };
    const jobId = result.packet.jobId;
    if (!watched.has(jobId)) return;
    // Kept for later callers (a result can beat the caller's waitForResult), and given to every waiter of the
    // job (two callers may wait for the same one).
    watched.set(jobId, result);
    for (const waiter of [...(waiters.get(jobId) ?? [])]) waiter.accept(result);
  }

  function listen(): Promise<Subscription> {
    if (closed) return Promise.reject(new InvalidError('the client is closed'));
    // Fan-out, no queue group: every client sees every result and picks its own.
    subscription ??= bus.subscribe(Subjects.jobResult, onResult).catch((err: unknown) => {
      subscription = undefined;
      throw err;
    });
    return subscription;
  }

  async function decode(result: { packet: JobResult; traceId: string }): Promise<JobOutcome> {
    const r = result.packet;
    let value: unknown;
    let contentType: string | undefined;
    if (r.resultPtr !== '') {
      const payload = await pointers.get(r.resultPtr);
      if (payload === undefined) {
        logger.warn({ job_id: r.jobId, result_ptr: r.resultPtr }, 'result pointer is empty or expired');
      } else {
        contentType = payload.contentType;
        value = isJsonType(payload.contentType) ? parseJson(payload.bytes, r.resultPtr) : payload.bytes;
      }
    }
    return {
      jobId: r.jobId,
      status: r.status,
      resultPtr: r.resultPtr,
      result: value,
      contentType,
      errorCode: effectiveErrorCode({ errorCodeEnum: r.errorCodeEnum, errorCode: r.errorCode }),
      errorCodeText: r.errorCode,
      errorMessage: r.errorMessage,
      workerId: r.workerId,
      executionMs: Number(r.executionMs),
      artifactPtrs: [...r.artifactPtrs],
      traceId: result.traceId,
    };
  }

  async function waitForResult(jobId: string, waitOptions: WaitOptions = {}): Promise<JobOutcome> {
    const timeoutMs = waitOptions.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
    const accepts = (r: { packet: JobResult }): boolean =>
      !(waitOptions.waitForRetries === true && r.packet.status === JobStatus.FAILED_RETRYABLE);
    watch(jobId);
    await listen();
    const buffered = watched.get(jobId);
    if (buffered !== undefined && accepts(buffered)) return decode(buffered);
    waitOptions.signal?.throwIfAborted();
    const found = await new Promise<{ packet: JobResult; traceId: string }>((resolve, reject) => {
      const stop = new AbortController();
      const done = (): void => {
        stop.abort(WAIT_DONE);
        const set = waiters.get(jobId);
        set?.delete(waiter);
        if (set?.size === 0) waiters.delete(jobId);
        waitOptions.signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        accept(result) {
          if (!accepts(result)) return false;
          done();
          resolve(result);
          return true;
        },
        reject(err) {
          done();
          reject(err);
        },
      };
      const onAbort = (): void => waiter.reject(toError(waitOptions.signal?.reason));
      waitOptions.signal?.addEventListener('abort', onAbort, { once: true });
      const set = waiters.get(jobId) ?? new Set<Waiter>();
      set.add(waiter);
      waiters.set(jobId, set);
      clock.sleep(timeoutMs, stop.signal).then(
        () => {
          waiter.reject(new RetryableError(`no result for job ${jobId} within ${timeoutMs} ms`, { code: 'timeout' }));
        },
        () => undefined,
      );
    });
    return decode(found);
  }

  async function submit(submitOptions: SubmitOptions): Promise<Submitted> {
    if (closed) throw new InvalidError('the client is closed');
    const jobId = submitOptions.jobId ?? newId(clock.now());
    const { topic } = submitOptions;
    if (!isSafeId(jobId)) {
      throw new InvalidError(`invalid job id ${JSON.stringify(jobId)}`, { details: { job_id: jobId } });
    }
    if (!isJobTopic(topic)) {
      throw new InvalidError(`invalid topic ${JSON.stringify(topic)}: topics are subjects under job.`, {
        details: { topic },
      });
    }
    const traceId = submitOptions.traceId ?? newTraceId();
    const { bytes, contentType } = encodeInput(submitOptions.input, submitOptions.contentType);
    const contextPtr = await pointers.putContext(jobId, {
      tenant: tenantId,
      bytes,
      contentType,
      ...(submitOptions.inputTtlMs === undefined ? {} : { ttlMs: submitOptions.inputTtlMs }),
    });
    // Listen before publishing, so a result that comes back at once is not missed.
    watch(jobId);
    await listen();
    const meta = submitOptions.meta ?? {};
    const budget = submitOptions.budget;
    await sender.send(
      Subjects.jobSubmit,
      {
        traceId,
        payload: {
          case: 'jobRequest',
          value: {
            jobId,
            topic,
            contextPtr,
            tenantId,
            ...(submitOptions.priority === undefined ? {} : { priority: submitOptions.priority }),
            labels: { ...submitOptions.labels },
            env: { ...submitOptions.env },
            meta: {
              tenantId,
              actorId: meta.actorId ?? '',
              ...(meta.actorType === undefined ? {} : { actorType: meta.actorType }),
              idempotencyKey: meta.idempotencyKey ?? '',
              capability: meta.capability ?? '',
              riskTags: [...(meta.riskTags ?? [])],
              requires: [...(meta.requires ?? [])],
              packId: meta.packId ?? '',
              labels: { ...meta.labels },
            },
            ...(budget === undefined
              ? {}
              : {
                  budget: {
                    deadlineMs: int64(budget.deadlineMs, 'budget.deadlineMs'),
                    maxInputTokens: int64(budget.maxInputTokens, 'budget.maxInputTokens'),
                    maxOutputTokens: int64(budget.maxOutputTokens, 'budget.maxOutputTokens'),
                    maxTotalTokens: int64(budget.maxTotalTokens, 'budget.maxTotalTokens'),
                  },
                }),
          },
        },
      },
      { msgId: submitMsgId(jobId) },
    );
    logger.debug({ job_id: jobId, trace_id: traceId, topic }, 'job submitted');
    return { jobId, traceId, contextPtr };
  }

  return {
    submit,
    waitForResult,
    async run(runOptions) {
      const submitted = await submit(runOptions);
      return waitForResult(submitted.jobId, runOptions);
    },
    async cancel(jobId, cancelOptions = {}) {
      await sender.send(Subjects.jobCancel, {
        traceId: jobId,
        payload: {
          case: 'jobCancel',
          value: {
            jobId,
            reason: cancelOptions.reason ?? '',
            requestedBy: cancelOptions.requestedBy ?? options.senderId,
          },
        },
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const set of [...waiters.values()]) {
        for (const waiter of [...set]) {
          waiter.reject(new InvalidError('the client was closed while waiting for a result'));
        }
      }
      const sub = subscription;
      subscription = undefined;
      if (sub !== undefined) await (await sub.catch(() => undefined))?.drain();
    },
  };
}

function encodeInput(
  input: unknown,
  contentType: string | undefined,
): { bytes: Uint8Array | string; contentType: string } {
  if (input instanceof Uint8Array) return { bytes: input, contentType: contentType ?? 'application/octet-stream' };
  let json: string | undefined;
  try {
    json = JSON.stringify(input);
  } catch (err) {
    throw new InvalidError(`the job input is not JSON-serialisable: ${toError(err).message}`, { cause: err });
  }
  if (json === undefined) throw new InvalidError('the job input must be a JSON value or bytes');
  return { bytes: json, contentType: contentType ?? 'application/json' };
}

function int64(value: number | undefined, name: string): bigint {
  if (value === undefined) return 0n;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidError(`${name} must be a non-negative integer, got ${value}`, { details: { field: name } });
  }
  return BigInt(value);
}

/** application/json and any +json type (application/problem+json), with or without parameters. */
export function isJsonType(contentType: string): boolean {
  const type = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type.endsWith('+json');
}

function parseJson(bytes: Uint8Array, pointer: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new InvalidError(`the result behind ${pointer} is labelled JSON but does not parse`, {
      cause: err,
      details: { pointer },
    });
  }
}
