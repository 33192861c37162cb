import { type Logger, toError } from '@cordum/core';
import type { RunStore } from '@cordum/store';
import type { StoreClock } from '../clock/store-clock.js';
import type { WorkflowEngineMetrics } from '../metrics.js';
import type { WorkflowEngineOptions } from '../options.js';
import type { RunProcessor } from '../runs/processor.js';

// Every instance runs the reconciler; compare-and-set keeps concurrent instances correct. Each pass:
//  1. due runs (RunStore.listDue, by the store clock): a timer passed, events wait in the inbox, or the
//     commands of a write are not known to be executed (the write set dueAt = now + commandGraceMs) —
//     processed with their commands re-derived (reconcileCommands) and executed again, idempotently;
//  2. the stale sweep (RunStore.listActive, runs not written for staleAfterMs), paced to once per
//     staleAfterMs / 2 and resumable by cursor: running jobs are looked up in the JobStore, so a lost
//     sys.job.result costs latency, not a stuck run; a pending run whose start command never came starts.

export type Reconciler = {
  /** One pass (tests drive it directly). */
  pass(): Promise<void>;
};

async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) await fn(items[i] as T);
    }),
  );
}

export function createReconciler(deps: {
  runs: RunStore;
  processor: RunProcessor;
  clock: StoreClock;
  logger: Logger;
  metrics: WorkflowEngineMetrics;
  options: WorkflowEngineOptions;
}): Reconciler {
  const { runs, processor, clock, logger, metrics, options } = deps;
  let lastSweep = Number.NEGATIVE_INFINITY;
  let sweepCursor: string | undefined;

  async function due(): Promise<void> {
    const list = await runs.listDue({ limit: options.reconcileBatch });
    if (list.length === 0) return;
    metrics.reconcilerActions.inc({ kind: 'due' }, list.length);
    await eachLimited(list, options.reconcileConcurrency, (r) => processor.process(r.tenant, r.id, { reconcile: true }));
  }

  async function sweep(): Promise<void> {
    const now = clock.now();
    if (now - lastSweep < options.staleAfterMs / 2) return;
    const page = await runs.listActive({
      updatedBefore: now - options.staleAfterMs,
      limit: options.reconcileBatch,
      ...(sweepCursor === undefined ? {} : { cursor: sweepCursor }),
    });
    sweepCursor = page.nextCursor ?? undefined;
    // A full sweep done: wait before the next one. A partial one continues on the next pass.
    if (sweepCursor === undefined) lastSweep = now;
    if (page.items.length === 0) return;
    metrics.reconcilerActions.inc({ kind: 'stale' }, page.items.length);
    await eachLimited(page.items, options.reconcileConcurrency, (r) => processor.process(r.tenant, r.id, { reconcile: true, probe: true }));
  }

  return {
    async pass() {
      try {
        await clock.sync();
      } catch (err) {
        logger.warn({ err: toError(err).message }, 'store clock sync failed');
      }
      await due();
      await sweep();
    },
  };
}
