import type { BackoffOptions } from '@cordum/core';

/** Tunables of one scheduler instance (resolved from env by config.ts, or passed by tests and cordum dev). */
export type SchedulerOptions = {
  /** Sender id of packets this instance publishes. */
  instanceId: string;
  /** How often timers (due, lease, deadline) and worker expiry are checked. */
  tickMs: number;
  /** A worker not heard from for this long is lost (3 × its 5 s heartbeat). */
  workerTimeoutMs: number;
  /** Lease when the topic has no timeout (upstream dispatch_timeout default). */
  defaultLeaseMs: number;
  /** Retries after the first attempt when the topic does not say. */
  defaultMaxRetries: number;
  retryBackoff: BackoffOptions;
  /** Backoff while the safety kernel is unreachable (never a silent allow). */
  safetyBackoff: BackoffOptions;
  /** THROTTLE decisions wait this long before the job is checked again. */
  throttleDelayMs: number;
  /** no_workers / pool_overloaded / tenant_limit / actor_limit waits. */
  waitRetryMs: number;
  /** How often quota slots held by jobs no longer in flight are looked for and released (leak repair). */
  slotRepairMs: number;
  /** A PENDING job nobody picked up (lost submit) is replayed after this long. */
  submitGraceMs: number;
  /** How often the routing config is re-read (also on sys.config.changed). */
  configReloadMs: number;
  /** Effective config documents are cached this long. */
  effectiveConfigTtlMs: number;
  /** Messages handled at once per subscription. */
  concurrency: number;
  /** Timer entries handled per tick. */
  timerBatch: number;
  /** Output bytes sent to the output policy (the rest is checked by metadata only). */
  outputCheckMaxBytes: number;
  /** Bootstrap documents (config/pools.yaml, config/timeouts.yaml) written when the store has none. */
  bootstrap: { pools?: unknown; timeouts?: unknown };
};

export const SCHEDULER_DEFAULTS: Omit<SchedulerOptions, 'instanceId' | 'bootstrap'> = {
  tickMs: 250,
  workerTimeoutMs: 15_000,
  defaultLeaseMs: 300_000,
  defaultMaxRetries: 2,
  retryBackoff: { initialMs: 1000, maxMs: 60_000, multiplier: 2, jitter: 'equal' },
  safetyBackoff: { initialMs: 500, maxMs: 30_000, multiplier: 2, jitter: 'equal' },
  throttleDelayMs: 5000,
  waitRetryMs: 2000,
  slotRepairMs: 60_000,
  submitGraceMs: 10_000,
  configReloadMs: 2000,
  effectiveConfigTtlMs: 2000,
  concurrency: 256,
  timerBatch: 500,
  outputCheckMaxBytes: 2 * 1024 * 1024,
};

export function resolveSchedulerOptions(
  options: Partial<SchedulerOptions> & Pick<SchedulerOptions, 'instanceId'>,
): SchedulerOptions {
  return { ...SCHEDULER_DEFAULTS, bootstrap: {}, ...options };
}
