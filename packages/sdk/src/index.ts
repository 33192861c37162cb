// @cordum/sdk: the CAP v2 worker runtime and a raw bus client. Depends on protocol, core, bus and store ports;
// the caller brings the adapters (memory, NATS, Redis).
export {
  type ArtifactWriteOptions,
  type JobContext,
  type JobHandler,
  type JobOutput,
  type RetryOptions,
  type Worker,
  type WorkerOptions,
  type WorkerSigningOptions,
  type WorkerState,
  type WorkerStats,
} from './worker/types.js';
export { DEFAULT_DRAIN_TIMEOUT_MS, createWorker } from './worker/worker.js';
export {
  DEFAULT_ABORT_GRACE_MS,
  DEFAULT_CONCURRENCY,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DIRECT_DISPATCH_LABEL,
} from './worker/options.js';
export { DEFAULT_LEASE_MS, DEFAULT_TENANT, LEASE_ENV } from './worker/context.js';
export { type JobAbortKind, JobAbortedError, isJobAbortedError } from './worker/abort.js';
export { type HandleSignalsOptions, type SignalSource, handleSignals } from './worker/signals.js';
export {
  type Client,
  type ClientOptions,
  DEFAULT_WAIT_TIMEOUT_MS,
  type JobOutcome,
  type SubmitBudget,
  type SubmitMeta,
  type SubmitOptions,
  type Submitted,
  type WaitOptions,
  createClient,
} from './client/client.js';
export { SDK_VERSION, SDK_VERSION_STRING } from './version.js';
