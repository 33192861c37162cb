import type { Bus } from '@cordum/bus';
import type { Logger } from '@cordum/core';
import type { Worker } from '@cordum/sdk';
import type { ArtifactStore, PointerStore } from '@cordum/store';
import { createEchoWorker } from './echo.js';

// The echo worker as a `cordum dev --worker` module: cordum imports this file, calls cordumWorker with a bus
// client and the stores of the platform, then starts (and on shutdown drains) what it returns. This is the
// worker `npm start` loads: it serves both demo topics in the `demo` pool (examples/demo/pools.yaml).

export const DEMO_TOPICS: readonly string[] = ['job.demo.echo', 'job.demo.approval'];
export const DEMO_POOL = 'demo';

/** What `cordum dev` hands a worker module (apps/cordum/README.md, "Worker modules"). */
export type DemoWorkerContext = {
  bus: Bus;
  pointers: PointerStore;
  artifacts: ArtifactStore;
  logger: Logger;
  workerId: string;
};

export function cordumWorker(ctx: DemoWorkerContext): Worker {
  return createEchoWorker({
    bus: ctx.bus,
    pointers: ctx.pointers,
    artifacts: ctx.artifacts,
    logger: ctx.logger,
    workerId: ctx.workerId,
    topics: DEMO_TOPICS,
    pool: DEMO_POOL,
  });
}
