import type { Bus } from '@cordum/bus';
import type { Clock, Logger } from '@cordum/core';
import type { JobRequest, KeyInput, PacketVerifier } from '@cordum/protocol';
import type { ArtifactStore, PointerStore, RetentionClass } from '@cordum/store';

/** What a handler returns. Returning nothing (or `{}`) is a success without a result pointer. */
export type JobOutput = {
  /** JSON-serialisable value (stored as application/json) or raw bytes (application/octet-stream). */
  result?: unknown;
  /** Overrides the stored content type of `result`. */
  contentType?: string;
  /** Artifact pointers to report besides the ones written through `ctx.writeArtifact`. */
  artifacts?: readonly string[];
};

export type ArtifactWriteOptions = {
  /** Default application/octet-stream for bytes, text/plain for strings. */
  contentType?: string;
  /** Default `standard` (7 d). */
  retention?: RetentionClass;
  labels?: Record<string, string>;
};

/** Everything a handler knows about and can do for the job it runs. */
export type JobContext = {
  readonly jobId: string;
  readonly topic: string;
  /** trace_id of the request packet; it is copied onto the result. */
  readonly traceId: string;
  /** request.tenant_id, else meta.tenant_id, else `default`. Payloads and artifacts are written under it. */
  readonly tenantId: string;
  /** The scheduler's attempt number (from the dispatch msg-id `<job>#<attempt>`), when it sent one. */
  readonly attempt?: number;
  /** The request as received (protobuf-es message). */
  readonly request: JobRequest;
  readonly labels: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string>>;
  /**
   * Aborted when a JobCancel for this job arrives, when budget.deadline_ms elapses, and when the worker
   * shuts down past its drain timeout. `signal.reason` is a JobAbortedError saying which.
   */
  readonly signal: AbortSignal;
  /** Worker-clock ms at which the deadline aborts the job, when the request has one. */
  readonly deadlineAt?: number;
  /** Carries trace_id, job_id and tenant on every line. */
  readonly logger: Logger;
  /** The bytes behind context_ptr (empty when the job has none). Throws NotFoundError(input_expired). */
  input(): Promise<Uint8Array>;
  /** The input parsed as JSON (unchecked cast to T). Empty or malformed input throws InvalidError. */
  json<T = unknown>(): Promise<T>;
  /**
   * Publishes JobProgress (which also extends the scheduler's lease). Best effort: a failed publish is
   * logged, not thrown. `percent` is clamped to 0-100 and rounded.
   */
  progress(percent: number, message?: string): Promise<void>;
  /** Stores an artifact under the job's tenant and returns its pointer; it is reported in artifact_ptrs. */
  writeArtifact(content: Uint8Array | string, options?: ArtifactWriteOptions): Promise<string>;
};

/**
 * Runs one job. Throw TerminalError / InvalidError for failures that retrying cannot fix, RetryableError for
 * ones that may pass later; anything else reports FAILED with the exception text. A synchronous handler
 * works too.
 */
export type JobHandler = (job: JobContext) => Promise<JobOutput | void> | JobOutput | void;

export type RetryOptions = {
  /** In-process retries after the first run (0: report FAILED_RETRYABLE at once). */
  max: number;
  initialMs: number;
  maxMs: number;
};

export type WorkerSigningOptions = {
  /** EC P-256 key that signs every outgoing packet. */
  privateKey?: KeyInput;
  /** Checks incoming job requests and cancels; packets it rejects are dropped (CAP v2 verifier rule). */
  verifier?: PacketVerifier;
};

export type WorkerOptions = {
  /** Any Bus (memory or NATS). The caller owns it: the worker never closes it. */
  bus: Bus;
  /** Identity on the wire; also the direct-dispatch subject `worker.<id>.jobs`. */
  workerId: string;
  /** Job topics served, each through a core queue group named after the subject. */
  topics: readonly string[];
  handler: JobHandler;
  /** Reads context_ptr and writes result_ptr (`redis://res:<job>`). */
  pointers: PointerStore;
  /** Needed only for ctx.writeArtifact. */
  artifacts?: ArtifactStore;
  /** Handlers running at once; reported as max_parallel_jobs. Default 4. */
  concurrency?: number;
  /** Heartbeat pool. Default: the first topic. */
  pool?: string;
  capabilities?: readonly string[];
  labels?: Readonly<Record<string, string>>;
  region?: string;
  /** Heartbeat `type` (cpu, gpu, cpu-tools…). */
  type?: string;
  /** Display name in heartbeats and the handshake (not an identity). */
  agentName?: string;
  /** Default 5000 ms. Heartbeats are sent while idle too and stop just before drain() resolves. */
  heartbeatIntervalMs?: number;
  /** Subscribe to and announce `worker.<id>.jobs`. Default true. */
  directDispatch?: boolean;
  /** Bounded in-process retries of RetryableError. Default `{ max: 0, initialMs: 200, maxMs: 5000 }`. */
  retries?: RetryOptions;
  /** Also publish each result on `<topic>.result` (the optional observer copy). Default false. */
  publishTopicResults?: boolean;
  /**
   * After a job's signal is aborted, how long the worker waits for the handler to return before it reports
   * the outcome anyway. Default 1000 ms.
   */
  abortGraceMs?: number;
  signing?: WorkerSigningOptions;
  logger?: Logger;
  clock?: Clock;
};

export type WorkerState = 'idle' | 'running' | 'draining' | 'stopped';

export type WorkerStats = {
  readonly state: WorkerState;
  /** Handlers running now (including ones that ignored an abort and have not returned yet). */
  readonly activeJobs: number;
  /** Accepted jobs waiting for a free slot. */
  readonly queuedJobs: number;
  readonly maxParallelJobs: number;
  /** Job deliveries seen (including rejected and duplicate ones). */
  readonly received: number;
  readonly succeeded: number;
  /** FAILED, FAILED_RETRYABLE and FAILED_FATAL results. */
  readonly failed: number;
  readonly cancelled: number;
  readonly timedOut: number;
  /** Deliveries refused before running: malformed, unverifiable, wrong version or payload, or while draining. */
  readonly rejected: number;
  /** Deliveries of a job id that was already in flight here. */
  readonly duplicates: number;
};

export type Worker = {
  readonly workerId: string;
  /** Subscribes, announces itself (handshake) and starts heartbeats. */
  start(): Promise<void>;
  /**
   * Stops taking jobs (unsubscribes), waits up to timeoutMs for running jobs, then aborts the rest and reports
   * them FAILED_RETRYABLE; stops heartbeats; flushes the bus. Never closes the bus. Idempotent.
   */
  drain(timeoutMs?: number): Promise<void>;
  stats(): WorkerStats;
};
