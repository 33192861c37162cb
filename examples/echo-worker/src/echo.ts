import type { Bus } from '@cordum/bus';
import type { Logger } from '@cordum/core';
import { type JobContext, type JobHandler, type Worker, type WorkerOptions, createWorker } from '@cordum/sdk';
import type { ArtifactStore, PointerStore } from '@cordum/store';

/** What the echo worker returns for every job. */
export type EchoResult = {
  /** The input: parsed JSON, else the text, else null for an empty input. */
  echo: unknown;
  job_id: string;
  /** ISO-8601 time the handler started. */
  received_at: string;
};

/** The echo handler, for in-process use (`cordum dev --worker`, tests) as well as the process below. */
export function createEchoHandler(options: { now?: () => number } = {}): JobHandler {
  const now = options.now ?? Date.now;
  return async (ctx: JobContext) => {
    const receivedAt = new Date(now()).toISOString();
    const result: EchoResult = { echo: decode(await ctx.input()), job_id: ctx.jobId, received_at: receivedAt };
    ctx.logger.debug('echoing the input');
    return { result };
  };
}

function decode(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) return null;
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not JSON: echo the text as it came.
    return text;
  }
}

export type EchoWorkerDeps = {
  bus: Bus;
  pointers: PointerStore;
  artifacts?: ArtifactStore;
  workerId: string;
  /** Default job.echo. */
  topic?: string;
  /** Several topics served by the one worker (wins over `topic`). */
  topics?: readonly string[];
  logger?: Logger;
} & Pick<WorkerOptions, 'concurrency' | 'pool' | 'heartbeatIntervalMs' | 'labels' | 'region'>;

/** An SDK worker serving the echo topic(s) with the echo handler. */
export function createEchoWorker(deps: EchoWorkerDeps): Worker {
  const { topic = 'job.echo', topics, ...rest } = deps;
  return createWorker({
    ...rest,
    topics: topics ?? [topic],
    handler: createEchoHandler(),
    capabilities: ['echo'],
    agentName: 'Echo worker',
    type: 'cpu',
  });
}
