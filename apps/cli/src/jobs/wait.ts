import { TERMINAL_JOB_STATES, type JobState } from '@cordum/protocol/job-state';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import type { GatewayClient } from '../gateway/client.js';
import { apiPath } from '../gateway/client.js';
import type { JobDetail } from '../gateway/types.js';

// Following a job until it ends: poll GET /api/v1/jobs/{id}, report every change, stop at a terminal state,
// a timeout or an interrupt. Brief gateway trouble (unreachable, 429, 503) is retried a few times.

export function isTerminalState(state: string): boolean {
  return TERMINAL_JOB_STATES.has(state as JobState);
}

export type WaitOutcome =
  | { readonly kind: 'done'; readonly job: JobDetail }
  | { readonly kind: 'timeout'; readonly job: JobDetail | undefined }
  | { readonly kind: 'interrupted'; readonly job: JobDetail | undefined };

export type WaitOptions = {
  readonly client: GatewayClient;
  readonly jobId: string;
  /** Between polls (default 500 ms). */
  readonly intervalMs?: number;
  /** 0 or undefined: wait as long as it takes. */
  readonly timeoutMs?: number;
  readonly now: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly signal?: AbortSignal | undefined;
  /** Called with every poll's job; `changed` when state or wait reason moved since the last call. */
  readonly onPoll?: (job: JobDetail, changed: boolean) => void;
  /** Consecutive retryable failures tolerated before giving up (default 10). */
  readonly maxRetries?: number;
};

export async function waitForJob(options: WaitOptions): Promise<WaitOutcome> {
  const { client, jobId, now, sleep, signal } = options;
  const interval = options.intervalMs ?? 500;
  const deadline = options.timeoutMs === undefined || options.timeoutMs <= 0 ? Infinity : now() + options.timeoutMs;
  const maxRetries = options.maxRetries ?? 10;
  let last: JobDetail | undefined;
  let failures = 0;
  for (;;) {
    if (signal?.aborted === true) return { kind: 'interrupted', job: last };
    let job: JobDetail;
    try {
      job = await client.get<JobDetail>(apiPath('/api/v1/jobs', jobId));
      failures = 0;
    } catch (err) {
      if (!(err instanceof CliError) || err.exitCode !== EXIT.unavailable || ++failures > maxRetries) throw err;
      await sleep(Math.min(5_000, interval * 2 ** failures), signal);
      continue;
    }
    const changed = last === undefined || last.state !== job.state || last.wait_reason !== job.wait_reason;
    last = job;
    options.onPoll?.(job, changed);
    if (isTerminalState(job.state)) return { kind: 'done', job };
    if (now() >= deadline) return { kind: 'timeout', job };
    await sleep(Math.min(interval, Math.max(0, deadline - now())), signal);
  }
}
