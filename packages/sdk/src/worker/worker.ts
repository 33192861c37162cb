import { type BusMessage, type Subscription, subjectMatches } from '@cordum/bus';
import { InvalidError, RetryableError, backoffDelay, isSafeId, toError, withContext } from '@cordum/core';
import {
  type BusPacket,
  ComponentRole,
  type JobRequest,
  JobStatus,
  PROTOCOL_VERSION,
  Subjects,
  cancelledAttempt,
  isJobTopic,
  topicResultSubject,
  validatePacket,
  workerQueueGroup,
} from '@cordum/protocol';
import { SDK_VERSION_STRING } from '../version.js';
import { createPacketSender, receivePacket } from '../wire.js';
import { JobAbortedError } from './abort.js';
import {
  attemptOf,
  createJobContext,
  deadlineMsOf,
  leaseMsOf,
  tenantOf,
} from './context.js';
import { cpuLoad, memoryLoad } from './load.js';
import { resolveWorkerOptions } from './options.js';
import {
  type ResultFields,
  outcomeOfAbort,
  outcomeOfError,
  rejected,
  resultNotEncodable,
  resultNotStored,
  succeeded,
  unavailable,
} from './outcome.js';
import { createSlots } from './slots.js';
import type { JobContext, JobOutput, Worker, WorkerOptions, WorkerState, WorkerStats } from './types.js';

// The reason a job's own timers are stopped with: abort() without one builds a DOMException (a stack trace)
// per job, and nobody reads it.
const TIMERS_DONE = new Error('job timers stopped');

// The CAP v2 worker runtime. Per job:
//   delivery → decode → verify (drop on failure) → validate (reject with a result) → dedupe → slot →
//   handler (with in-process retries) → store the result pointer → publish JobResult (store first, then the
//   doorbell).
// While a job is held (waiting for a slot or running) it gets a keep-alive JobProgress every third of its
// lease, and its signal aborts on JobCancel, on budget.deadline_ms and on shutdown past the drain timeout.

/** Drain timeout when drain() is called without one. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
/** Keep-alives never come closer together than this, whatever the lease. */
const MIN_KEEPALIVE_MS = 10;
/** Result publishes tried this many times: a lost result costs a whole lease expiry and a re-run. */
const RESULT_PUBLISH_ATTEMPTS = 3;
const OUTPUT_KEYS = new Set(['result', 'contentType', 'artifacts']);
/**
 * Cancels for jobs not (yet) here are remembered this long, for at most this many jobs: a cancel can
 * overtake its job's dispatch, or the job can still sit in the subscription's buffer behind busy slots.
 * Cancelled is terminal (a rerun gets a new job id), so a remembered id never blocks legitimate work.
 */
const CANCEL_MEMORY_MS = 10 * 60_000;
const CANCEL_MEMORY_SIZE = 10_000;

type Phase = 'queued' | 'running' | 'reported';

type InFlight = {
  readonly jobId: string;
  /** The dispatch's attempt number, when its msg-id carried one. */
  readonly attempt: number | undefined;
  /** The job's signal. */
  readonly controller: AbortController;
  phase: Phase;
  /**
   * Stopped by the scheduler's attempt-scoped cancel (lease expiry): the scheduler has moved on to a newer
   * attempt or failed the job itself, so this attempt reports nothing — a CANCELLED result would tell the
   * job's waiters it was cancelled while it is being retried.
   */
  abandoned: boolean;
  /** Resolves once the job's result has been published (or given up on). */
  readonly reported: Promise<void>;
};

type Settled = { ok: true; output: JobOutput | undefined } | { ok: false; error: unknown };

/** Result extras of a job reported without running. */
const NOTHING_RAN = { resultPtr: '', artifactPtrs: [], executionMs: 0, attempt: undefined } as const;

export function createWorker(options: WorkerOptions): Worker {
  const o = resolveWorkerOptions(options);
  const { bus, clock, logger, workerId } = o;
  const sender = createPacketSender(bus, workerId, clock, o.privateKey);
  const slots = createSlots(o.concurrency);
  const jobs = new Map<string, InFlight>();
  const lifecycle = new AbortController();
  const counts = { received: 0, succeeded: 0, failed: 0, cancelled: 0, timedOut: 0, rejected: 0, duplicates: 0 };
  let state: WorkerState = 'idle';
  let jobSubs: Subscription[] = [];
  let cancelSub: Subscription | undefined;
  let heartbeatLoop: Promise<void> | undefined;
  let reconnectsSeen = 0;
  let draining: Promise<void> | undefined;
  // Cancels of jobs not (yet) here, in case the dispatch arrives after its cancel; an attempt-scoped one
  // refuses only that attempt.
  const earlyCancels = new Map<string, { reason: JobAbortedError; at: number; attempt: number | undefined }>();

  const readyTopics = o.directSubject === undefined ? [...o.topics] : [...o.topics, o.directSubject];

  // ---- outgoing packets ------------------------------------------------------------------------------

  async function sendHandshake(): Promise<void> {
    try {
      await sender.send(Subjects.handshake, {
        traceId: workerId,
        payload: {
          case: 'handshake',
          value: {
            componentId: workerId,
            role: ComponentRole.WORKER,
            supportedVersions: [PROTOCOL_VERSION],
            capabilities: {
              progress: true,
              cancel: true,
              heartbeats: true,
              error_codes: true,
              ...(sender.signs ? { signatures: true } : {}),
            },
            sdkVersion: SDK_VERSION_STRING,
            readyTopics,
            agentName: o.agentName,
          },
        },
      });
    } catch (err) {
      // Informational only (no ack, no authority): a lost handshake costs nothing the heartbeats don't carry.
      logger.warn({ err: toError(err).message }, 'handshake publish failed');
    }
  }

  async function sendHeartbeat(): Promise<void> {
    try {
      await sender.send(Subjects.heartbeat, {
        traceId: workerId,
        payload: {
          case: 'heartbeat',
          value: {
            workerId,
            region: o.region,
            type: o.type,
            cpuLoad: cpuLoad(),
            memoryLoad: memoryLoad(),
            // Jobs this worker holds (running or waiting for a slot): what a scheduler must count against
            // max_parallel_jobs before sending more.
            activeJobs: slots.active + slots.waiting,
            capabilities: [...o.capabilities],
            pool: o.pool,
            maxParallelJobs: o.concurrency,
            labels: { ...o.labels },
            agentName: o.agentName,
          },
        },
      });
    } catch (err) {
      logger.warn({ err: toError(err).message }, 'heartbeat publish failed');
    }
  }

  async function heartbeatTick(): Promise<void> {
    // A reconnect may have landed on a server (or cluster member) that never saw our handshake.
    const reconnects = bus.status().reconnects;
    if (reconnects > reconnectsSeen) {
      reconnectsSeen = reconnects;
      logger.info({ reconnects }, 'bus reconnected; announcing the worker again');
      await sendHandshake();
    }
    await sendHeartbeat();
  }

  async function publishResult(
    packet: BusPacket,
    request: JobRequest,
    fields: ResultFields,
    extra: { resultPtr: string; artifactPtrs: readonly string[]; executionMs: number; attempt: number | undefined },
  ): Promise<void> {
    const result = {
      traceId: packet.traceId,
      payload: {
        case: 'jobResult' as const,
        value: {
          jobId: request.jobId,
          status: fields.status,
          resultPtr: extra.resultPtr,
          workerId,
          executionMs: BigInt(Math.max(0, Math.round(extra.executionMs))),
          errorCode: fields.errorCode,
          errorMessage: fields.errorMessage,
          artifactPtrs: [...extra.artifactPtrs],
          errorCodeEnum: fields.errorCodeEnum,
        },
      },
    };
    // With JetStream the msg-id makes a repeated publish of the same attempt's result harmless; without an
    // attempt number there is nothing unique to name it by, and a later attempt's result must not be eaten.
    const msgId = extra.attempt === undefined ? undefined : `jobres:${request.jobId}#${extra.attempt}`;
    for (let attempt = 1; ; attempt++) {
      try {
        await sender.send(Subjects.jobResult, result, msgId === undefined ? {} : { msgId });
        break;
      } catch (err) {
        if (attempt >= RESULT_PUBLISH_ATTEMPTS) {
          logger.error(
            { job_id: request.jobId, err: toError(err).message },
            'could not publish the job result; the scheduler will re-run the job when its lease expires',
          );
          return;
        }
        await clock.sleep(backoffDelay(attempt, { initialMs: 100, maxMs: 1000, jitter: 'equal' }));
      }
    }
    if (o.publishTopicResults && isJobTopic(request.topic)) {
      try {
        await sender.send(topicResultSubject(request.topic), result);
      } catch (err) {
        logger.warn({ job_id: request.jobId, err: toError(err).message }, 'could not publish the topic result copy');
      }
    }
  }

  function count(status: JobStatus): void {
    switch (status) {
      case JobStatus.SUCCEEDED:
        counts.succeeded++;
        return;
      case JobStatus.CANCELLED:
        counts.cancelled++;
        return;
      case JobStatus.TIMEOUT:
        counts.timedOut++;
        return;
      default:
        counts.failed++;
    }
  }

  // ---- incoming jobs ---------------------------------------------------------------------------------

  async function reject(packet: BusPacket, request: JobRequest, fields: ResultFields): Promise<void> {
    counts.rejected++;
    logger.warn(
      {
        job_id: request.jobId,
        trace_id: packet.traceId,
        status: JobStatus[fields.status],
        reason: fields.errorMessage,
      },
      'job rejected before running',
    );
    await publishResult(packet, request, fields, NOTHING_RAN);
  }

  function servesTopic(topic: string): boolean {
    return o.topics.length === 0 || o.topics.some((t) => subjectMatches(t, topic));
  }

  async function onJobMessage(msg: BusMessage, direct: boolean): Promise<void> {
    counts.received++;
    const received = receivePacket(msg, o.verifier);
    if (!received.ok) {
      // Never answer a packet we cannot trust or read: a forged request answered with a failure would let
      // anyone fail someone else's job (the first terminal result wins).
      counts.rejected++;
      logger.warn(
        {
          subject: msg.subject,
          stage: received.stage,
          code: received.code,
          reason: received.reason,
          sender_id: received.packet?.senderId,
        },
        'job delivery dropped',
      );
      return;
    }
    const { packet } = received;
    const request = packet.payload.case === 'jobRequest' ? packet.payload.value : undefined;
    const check = validatePacket(packet, { expect: ['jobRequest'] });
    if (request === undefined || !isSafeId(request.jobId)) {
      counts.rejected++;
      logger.warn(
        {
          subject: msg.subject,
          payload: packet.payload.case,
          reason: check.ok ? 'job_id missing or malformed' : check.reason,
        },
        'job delivery dropped: no job id to report against',
      );
      return;
    }
    if (!check.ok) return reject(packet, request, rejected(check.code, check.reason));
    if (direct && !servesTopic(request.topic)) {
      return reject(packet, request, unavailable(`worker ${workerId} does not serve topic ${request.topic}`));
    }
    const early = takeEarlyCancel(request.jobId, attemptOf(request.jobId, msg.msgId));
    if (early !== undefined) {
      const fields = outcomeOfAbort(early.reason);
      logger.info({ job_id: request.jobId }, 'job was cancelled before it arrived; not started');
      // An abandoned attempt (attempt-scoped cancel) reports nothing, as when it is stopped while running.
      if (!early.abandoned) {
        await publishResult(packet, request, fields, { ...NOTHING_RAN, attempt: attemptOf(request.jobId, msg.msgId) });
      }
      count(fields.status);
      return;
    }
    if (state !== 'running') {
      return reject(packet, request, unavailable(`worker ${workerId} is shutting down; the job was not started`));
    }
    if (jobs.has(request.jobId)) {
      // At-least-once delivery (a redispatch after a lost keep-alive, a replayed publish): the run in flight
      // will report; a second run would race it.
      counts.duplicates++;
      logger.info({ job_id: request.jobId, subject: msg.subject }, 'duplicate delivery of a job in flight ignored');
      return;
    }
    await runJob(packet, request, attemptOf(request.jobId, msg.msgId));
  }

  async function runJob(packet: BusPacket, request: JobRequest, attempt: number | undefined): Promise<void> {
    const acceptedAt = clock.now();
    const controller = new AbortController();
    // Stops this job's timers (deadline, keep-alive) once its result is out.
    const timers = new AbortController();
    let markReported: () => void = () => undefined;
    const entry: InFlight = {
      jobId: request.jobId,
      attempt,
      controller,
      phase: 'queued',
      abandoned: false,
      reported: new Promise<void>((resolve) => {
        markReported = resolve;
      }),
    };
    jobs.set(request.jobId, entry);
    let handlerDone: Promise<Settled> | undefined;
    const tenantId = tenantOf(request);
    const jobLogger = withContext(logger, { traceId: packet.traceId, jobId: request.jobId, tenant: tenantId });
    const artifactPtrs: string[] = [];
    try {
      const deadlineMs = deadlineMsOf(request);
      if (deadlineMs !== undefined) {
        clock.sleep(deadlineMs, timers.signal).then(
          () => abort(entry, new JobAbortedError('deadline', `job exceeded its deadline of ${deadlineMs} ms`)),
          () => undefined,
        );
      }
      const progress = startKeepAlive(request, entry, timers.signal, jobLogger);

      let fields: ResultFields;
      let resultPtr = '';
      if (!(await slots.acquire(controller.signal))) {
        fields = outcomeOfAbort(abortReason(controller.signal));
      } else {
        entry.phase = 'running';
        const ctx = createJobContext({
          request,
          traceId: packet.traceId,
          tenantId,
          attempt,
          signal: controller.signal,
          deadlineAt: deadlineMs === undefined ? undefined : acceptedAt + deadlineMs,
          logger: jobLogger,
          pointers: o.pointers,
          artifacts: o.artifacts,
          progress: (percent, message) => (entry.phase === 'running' ? progress(percent, message) : Promise.resolve()),
          artifactWritten: (pointer) => artifactPtrs.push(pointer),
        });
        const running = execute(ctx);
        handlerDone = running;
        // The slot is held until the handler really returns, even after its result went out (a handler that
        // ignores its signal still occupies the process), so max_parallel_jobs is never exceeded.
        void running.finally(() => slots.release());
        const settled = await settle(running, controller.signal, timers.signal);
        if (settled === undefined) {
          fields = outcomeOfAbort(abortReason(controller.signal));
        } else if (settled.ok) {
          const stored = await storeOutput(request, tenantId, settled.output, artifactPtrs, jobLogger);
          fields = stored.fields;
          resultPtr = stored.resultPtr;
        } else {
          fields = outcomeOfError(settled.error);
        }
      }
      entry.phase = 'reported';
      timers.abort(TIMERS_DONE);
      const executionMs = clock.now() - acceptedAt;
      if (entry.abandoned) {
        count(fields.status);
        jobLogger.info({ attempt }, 'attempt abandoned by the scheduler (lease expired); no result reported');
        return;
      }
      await publishResult(packet, request, fields, {
        resultPtr,
        artifactPtrs: dedupe(artifactPtrs),
        executionMs,
        attempt,
      });
      count(fields.status);
      jobLogger.debug(
        { status: JobStatus[fields.status], execution_ms: executionMs, error_code: fields.errorCode || undefined },
        'job finished',
      );
    } catch (err) {
      // Only our own plumbing can land here (handler errors are settled values): log rather than lose it.
      jobLogger.error(
        { err: toError(err).message },
        'job runtime failure; the job will be re-run after its lease expires',
      );
    } finally {
      entry.phase = 'reported';
      timers.abort(TIMERS_DONE);
      markReported();
      // The job id stays known (duplicates ignored, drain waits) until it is reported and its handler returned.
      void (handlerDone ?? Promise.resolve()).then(() => forget(entry));
    }
  }

  function forget(entry: InFlight): void {
    if (jobs.get(entry.jobId) === entry) jobs.delete(entry.jobId);
  }

  function abort(entry: InFlight, reason: JobAbortedError): void {
    if (entry.phase === 'reported' || entry.controller.signal.aborted) return;
    entry.controller.abort(reason);
  }

  /**
   * The keep-alive: a JobProgress every third of the lease while the job is held, so the scheduler's lease
   * (which JobProgress extends) does not expire under a long job. A handler's own progress resets the timer.
   * Returns the function that publishes one progress packet.
   */
  function startKeepAlive(
    request: JobRequest,
    entry: InFlight,
    stop: AbortSignal,
    jobLogger: typeof logger,
  ): (percent: number, message: string) => Promise<void> {
    const intervalMs = Math.max(MIN_KEEPALIVE_MS, Math.floor(leaseMsOf(request) / 3));
    let lastSentAt = clock.now();
    let percent = 0;
    const publish = async (p: number, message: string): Promise<void> => {
      lastSentAt = clock.now();
      percent = p;
      try {
        await sender.send(Subjects.jobProgress, {
          traceId: request.jobId,
          payload: {
            case: 'jobProgress',
            value: {
              jobId: request.jobId,
              percent: p,
              message,
              status: entry.phase === 'running' ? JobStatus.RUNNING : JobStatus.UNSPECIFIED,
            },
          },
        });
      } catch (err) {
        jobLogger.warn({ err: toError(err).message }, 'progress publish failed');
      }
    };
    void (async () => {
      while (!stop.aborted) {
        const wait = lastSentAt + intervalMs - clock.now();
        if (wait > 0) {
          try {
            await clock.sleep(wait, stop);
          } catch {
            return;
          }
          continue;
        }
        await publish(percent, '');
      }
    })();
    return publish;
  }

  /** Runs the handler with bounded in-process retries of RetryableError. Never rejects. */
  async function execute(ctx: JobContext): Promise<Settled> {
    for (let retry = 1; ; retry++) {
      try {
        const output = await o.handler(ctx);
        return { ok: true, output: output ?? undefined };
      } catch (error) {
        if (!(error instanceof RetryableError) || retry > o.retries.max || ctx.signal.aborted) {
          return { ok: false, error };
        }
        const hint = error.retryAfterMs;
        // A hint beyond our bound means "not soon": hand the job back to the scheduler rather than sit on it.
        if (hint !== undefined && hint > o.retries.maxMs) return { ok: false, error };
        const { initialMs, maxMs } = o.retries;
        const delayMs = hint ?? backoffDelay(retry, { initialMs, maxMs, jitter: 'equal' });
        ctx.logger.info(
          { retry, of: o.retries.max, delay_ms: delayMs, err: error.message },
          'retryable handler error; retrying in process',
        );
        try {
          await clock.sleep(delayMs, ctx.signal);
        } catch {
          return { ok: false, error };
        }
      }
    }
  }

  /**
   * Waits for the handler. Returns its outcome if it settles before the signal aborts; once the signal
   * aborts, waits at most abortGraceMs more (so a cooperative handler can clean up before the job is
   * reported and possibly re-run elsewhere) and returns undefined: the abort decides the status.
   */
  async function settle(
    running: Promise<Settled>,
    signal: AbortSignal,
    stop: AbortSignal,
  ): Promise<Settled | undefined> {
    if (!signal.aborted) {
      let onAbort: () => void = () => undefined;
      const aborted = new Promise<'aborted'>((resolve) => {
        onAbort = () => resolve('aborted');
        signal.addEventListener('abort', onAbort, { once: true });
      });
      const first = await Promise.race([running, aborted]);
      signal.removeEventListener('abort', onAbort);
      if (first !== 'aborted') return first;
    }
    if (o.abortGraceMs > 0) {
      const grace = new AbortController();
      const onStop = (): void => grace.abort();
      stop.addEventListener('abort', onStop, { once: true });
      await Promise.race([running, clock.sleep(o.abortGraceMs, grace.signal).catch(() => undefined)]);
      grace.abort();
      stop.removeEventListener('abort', onStop);
    }
    return undefined;
  }

  async function storeOutput(
    request: JobRequest,
    tenant: string,
    output: JobOutput | undefined,
    artifactPtrs: string[],
    jobLogger: typeof logger,
  ): Promise<{ fields: ResultFields; resultPtr: string }> {
    if (output === undefined) return { fields: succeeded(), resultPtr: '' };
    if (typeof output !== 'object') {
      const err = new TypeError('a handler must return { result } or nothing');
      return { fields: resultNotEncodable(err), resultPtr: '' };
    }
    const unknownKeys = Object.keys(output).filter((k) => !OUTPUT_KEYS.has(k));
    if (unknownKeys.length > 0) {
      jobLogger.warn(
        { keys: unknownKeys },
        'handler output has keys other than result/contentType/artifacts; they are ignored',
      );
    }
    artifactPtrs.push(...(output.artifacts ?? []));
    if (output.result === undefined) return { fields: succeeded(), resultPtr: '' };
    let bytes: Uint8Array | string;
    let contentType: string;
    if (output.result instanceof Uint8Array) {
      bytes = output.result;
      contentType = output.contentType ?? 'application/octet-stream';
    } else {
      try {
        const json = JSON.stringify(output.result) as string | undefined;
        if (json === undefined) throw new TypeError(`a ${typeof output.result} is not JSON`);
        bytes = json;
      } catch (err) {
        return { fields: resultNotEncodable(err), resultPtr: '' };
      }
      contentType = output.contentType ?? 'application/json';
    }
    try {
      const resultPtr = await o.pointers.putResult(request.jobId, { tenant, bytes, contentType });
      return { fields: succeeded(), resultPtr };
    } catch (err) {
      jobLogger.error({ err: toError(err).message }, 'storing the job result failed');
      return { fields: resultNotStored(err), resultPtr: '' };
    }
  }

  // ---- cancel ----------------------------------------------------------------------------------------

  function onCancelMessage(msg: BusMessage): void {
    const received = receivePacket(msg, o.verifier);
    if (!received.ok) {
      logger.warn({ stage: received.stage, code: received.code, reason: received.reason }, 'job cancel dropped');
      return;
    }
    const check = validatePacket(received.packet, { expect: ['jobCancel'] });
    const { payload } = received.packet;
    if (!check.ok || payload.case !== 'jobCancel') {
      logger.warn({ reason: check.ok ? 'not a job cancel' : check.reason }, 'job cancel dropped');
      return;
    }
    const cancel = payload.value;
    if (!isSafeId(cancel.jobId)) return;
    const by = cancel.requestedBy === '' ? undefined : cancel.requestedBy;
    const why = cancel.reason === '' ? `cancelled${by === undefined ? '' : ` by ${by}`}` : cancel.reason;
    const reason = new JobAbortedError('cancelled', why, by);
    // The scheduler's cancel after a lease expiry names the attempt it gave up on: a newer attempt of the
    // same job (possibly running here) must not be touched by it.
    const attempt = cancelledAttempt(msg.headers);
    const entry = jobs.get(cancel.jobId);
    if (entry === undefined) {
      if (state === 'running') rememberCancel(cancel.jobId, reason, attempt);
      return;
    }
    if (entry.phase === 'reported') return;
    if (attempt !== undefined && entry.attempt !== attempt) {
      logger.debug({ job_id: cancel.jobId, attempt, running: entry.attempt }, 'cancel of another attempt ignored');
      return;
    }
    logger.info({ job_id: cancel.jobId, reason: why, requested_by: by, attempt }, 'job cancel received');
    if (attempt !== undefined && !entry.controller.signal.aborted) entry.abandoned = true;
    abort(entry, reason);
  }

  function rememberCancel(jobId: string, reason: JobAbortedError, attempt: number | undefined): void {
    earlyCancels.delete(jobId);
    earlyCancels.set(jobId, { reason, at: clock.now(), attempt });
    // Insertion order is age order: drop the oldest beyond the bound, and anything expired at the front.
    const expiredBefore = clock.now() - CANCEL_MEMORY_MS;
    for (const [id, c] of earlyCancels) {
      if (earlyCancels.size <= CANCEL_MEMORY_SIZE && c.at >= expiredBefore) break;
      earlyCancels.delete(id);
    }
  }

  function takeEarlyCancel(jobId: string, attempt: number | undefined): { reason: JobAbortedError; abandoned: boolean } | undefined {
    const c = earlyCancels.get(jobId);
    if (c === undefined) return undefined;
    earlyCancels.delete(jobId);
    if (c.attempt !== undefined && c.attempt !== attempt) return undefined;
    return c.at >= clock.now() - CANCEL_MEMORY_MS ? { reason: c.reason, abandoned: c.attempt !== undefined } : undefined;
  }

  // ---- lifecycle -------------------------------------------------------------------------------------

  async function start(): Promise<void> {
    if (state !== 'idle') throw new InvalidError(`worker ${workerId} was already started (state ${state})`);
    state = 'running';
    reconnectsSeen = bus.status().reconnects;
    try {
      // Cancels first, so no cancel for a job we are about to receive can slip past.
      cancelSub = await bus.subscribe(Subjects.jobCancel, onCancelMessage);
      for (const topic of o.topics) {
        jobSubs.push(
          await bus.subscribe(topic, (m) => onJobMessage(m, false), {
            queue: workerQueueGroup(topic),
            concurrency: o.concurrency,
          }),
        );
      }
      if (o.directSubject !== undefined) {
        // A queue group here too: two processes started with the same worker id must not both run a job.
        jobSubs.push(
          await bus.subscribe(o.directSubject, (m) => onJobMessage(m, true), {
            queue: workerQueueGroup(o.directSubject),
            concurrency: o.concurrency,
          }),
        );
      }
    } catch (err) {
      state = 'stopped';
      await Promise.allSettled([...jobSubs, ...(cancelSub === undefined ? [] : [cancelSub])].map((s) => s.drain()));
      jobSubs = [];
      throw err;
    }
    await sendHandshake();
    await sendHeartbeat();
    heartbeatLoop = (async () => {
      while (!lifecycle.signal.aborted) {
        try {
          await clock.sleep(o.heartbeatIntervalMs, lifecycle.signal);
        } catch {
          return;
        }
        await heartbeatTick();
      }
    })();
    logger.info({ topics: o.topics, direct: o.directSubject, concurrency: o.concurrency }, 'worker started');
  }

  async function runDrain(timeoutMs: number): Promise<void> {
    state = 'draining';
    logger.info({ timeout_ms: timeoutMs, in_flight: jobs.size }, 'worker draining');
    // Jobs still waiting for a slot have not started: hand them back now so another worker takes them.
    for (const entry of jobs.values()) {
      if (entry.phase !== 'queued') continue;
      abort(entry, new JobAbortedError('shutdown', `worker ${workerId} is shutting down; the job was not started`));
    }
    // Unsubscribe. A subscription's drain also waits for its deliveries in progress, which end when their
    // job is reported, so it is awaited only after the jobs below.
    const subs = jobSubs;
    jobSubs = [];
    const unsubscribed = Promise.allSettled(subs.map((s) => s.drain()));
    const allReported = async (): Promise<void> => {
      await Promise.all([...jobs.values()].map((e) => e.reported));
    };
    const timer = new AbortController();
    const finished = await Promise.race([
      allReported().then(() => true),
      clock.sleep(timeoutMs, timer.signal).then(
        () => false,
        () => false,
      ),
    ]);
    timer.abort();
    if (!finished) {
      const stragglers = [...jobs.values()].filter((e) => e.phase !== 'reported');
      logger.warn({ jobs: stragglers.map((e) => e.jobId) }, 'drain timeout: aborting running jobs');
      for (const entry of stragglers) {
        const why = `worker ${workerId} shut down before the job finished (drain timeout ${timeoutMs} ms)`;
        abort(entry, new JobAbortedError('shutdown', why));
      }
    }
    await allReported();
    // Deliveries still buffered in the subscriptions are answered "unavailable" as they drain out (state is
    // no longer running), so nothing new is registered while this waits.
    await unsubscribed;
    // Heartbeats stop just before the worker goes away: a scheduler then notices the loss after its grace.
    lifecycle.abort();
    await heartbeatLoop;
    await cancelSub?.drain().catch((err: unknown) => {
      logger.warn({ err: toError(err).message }, 'cancel unsubscribe failed');
    });
    cancelSub = undefined;
    // Results must reach the server before the caller exits the process; the bus itself stays open.
    await bus.flush().catch((err: unknown) => {
      logger.warn({ err: toError(err).message }, 'bus flush after drain failed');
    });
    state = 'stopped';
    logger.info({ ...counts }, 'worker drained');
  }

  return {
    workerId,
    start,
    drain(timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS) {
      if (draining !== undefined) return draining;
      if (state === 'idle' || state === 'stopped') {
        state = 'stopped';
        draining = Promise.resolve();
        return draining;
      }
      draining = runDrain(timeoutMs);
      return draining;
    },
    stats(): WorkerStats {
      let queued = 0;
      for (const entry of jobs.values()) if (entry.phase === 'queued') queued++;
      return { state, activeJobs: slots.active, queuedJobs: queued, maxParallelJobs: o.concurrency, ...counts };
    },
  };
}

function abortReason(signal: AbortSignal): JobAbortedError {
  const reason: unknown = signal.reason;
  return reason instanceof JobAbortedError ? reason : new JobAbortedError('shutdown', toError(reason).message);
}

function dedupe(values: readonly string[]): string[] {
  return [...new Set(values.filter((v) => v !== ''))];
}
