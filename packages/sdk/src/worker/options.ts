import type { KeyObject } from 'node:crypto';
import type { Bus } from '@cordum/bus';
import { type Clock, InvalidError, type Logger, createSilentLogger, systemClock } from '@cordum/core';
import { type PacketVerifier, isValidSubjectPattern, workerJobsSubject } from '@cordum/protocol';
import type { ArtifactStore, PointerStore } from '@cordum/store';
import { signingKey } from '../wire.js';
import type { JobHandler, RetryOptions, WorkerOptions } from './types.js';

export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5000;
export const DEFAULT_ABORT_GRACE_MS = 1000;
export const DEFAULT_RETRIES: RetryOptions = { max: 0, initialMs: 200, maxMs: 5000 };
/** Heartbeat label announcing that the worker takes jobs on `worker.<id>.jobs`. */
export const DIRECT_DISPATCH_LABEL = 'cordum.direct_dispatch';

export type ResolvedWorkerOptions = {
  readonly bus: Bus;
  readonly workerId: string;
  readonly topics: readonly string[];
  /** `worker.<id>.jobs` when direct dispatch is on. */
  readonly directSubject: string | undefined;
  readonly handler: JobHandler;
  readonly pointers: PointerStore;
  readonly artifacts: ArtifactStore | undefined;
  readonly concurrency: number;
  readonly pool: string;
  readonly capabilities: readonly string[];
  /** Options labels plus the direct-dispatch label. */
  readonly labels: Readonly<Record<string, string>>;
  readonly region: string;
  readonly type: string;
  readonly agentName: string;
  readonly heartbeatIntervalMs: number;
  readonly retries: RetryOptions;
  readonly publishTopicResults: boolean;
  readonly abortGraceMs: number;
  readonly privateKey: KeyObject | undefined;
  readonly verifier: PacketVerifier | undefined;
  readonly logger: Logger;
  readonly clock: Clock;
};

/** Validates worker options, reporting every problem at once (InvalidError code config_invalid). */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  const problems: string[] = [];
  const check = (ok: boolean, problem: string): void => {
    if (!ok) problems.push(problem);
  };
  const directDispatch = options.directDispatch ?? true;
  let directSubject: string | undefined;
  if (typeof options.workerId !== 'string' || options.workerId === '') {
    problems.push('workerId is required');
  } else {
    try {
      // Also proves the id is one subject token, which heartbeats and results need even without direct dispatch.
      const subject = workerJobsSubject(options.workerId);
      if (directDispatch) directSubject = subject;
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const topics = [...new Set(options.topics)];
  check(topics.length > 0 || directDispatch, 'topics must not be empty unless directDispatch is on');
  for (const topic of topics) {
    check(isValidSubjectPattern(topic), `topic ${JSON.stringify(topic)} is not a valid subject`);
  }
  check(typeof options.handler === 'function', 'handler must be a function');
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  check(
    Number.isInteger(concurrency) && concurrency >= 1,
    `concurrency must be a positive integer, got ${concurrency}`,
  );
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  check(positive(heartbeatIntervalMs), `heartbeatIntervalMs must be > 0, got ${heartbeatIntervalMs}`);
  const abortGraceMs = options.abortGraceMs ?? DEFAULT_ABORT_GRACE_MS;
  check(Number.isFinite(abortGraceMs) && abortGraceMs >= 0, `abortGraceMs must be >= 0, got ${abortGraceMs}`);
  const retries = { ...DEFAULT_RETRIES, ...options.retries };
  check(Number.isInteger(retries.max) && retries.max >= 0, `retries.max must be an integer >= 0, got ${retries.max}`);
  check(
    retries.initialMs >= 0 && retries.maxMs >= retries.initialMs,
    `retries need 0 <= initialMs <= maxMs, got ${retries.initialMs} and ${retries.maxMs}`,
  );
  if (problems.length > 0) {
    throw new InvalidError(`invalid worker options: ${problems.join('; ')}`, {
      code: 'config_invalid',
      details: { problems },
    });
  }
  const workerId = options.workerId;
  const labels: Record<string, string> = { ...options.labels };
  if (directDispatch) labels[DIRECT_DISPATCH_LABEL] = 'true';
  return {
    bus: options.bus,
    workerId,
    topics,
    directSubject,
    handler: options.handler,
    pointers: options.pointers,
    artifacts: options.artifacts,
    concurrency,
    pool: options.pool ?? topics[0] ?? '',
    capabilities: [...(options.capabilities ?? [])],
    labels,
    region: options.region ?? '',
    type: options.type ?? '',
    agentName: options.agentName ?? '',
    heartbeatIntervalMs,
    retries,
    publishTopicResults: options.publishTopicResults ?? false,
    abortGraceMs,
    privateKey: signingKey(options.signing?.privateKey, workerId),
    verifier: options.signing?.verifier,
    logger: (options.logger ?? createSilentLogger()).child({ worker_id: workerId }),
    clock: options.clock ?? systemClock,
  };
}

function positive(n: number): boolean {
  return Number.isFinite(n) && n > 0;
}
