// @cordum/workflow-engine: runs workflow DAGs. The pure reducer (@cordum/workflow) decides; this service
// reads runs and their inboxes from the RunStore, writes each reduction back with one compare-and-set, and
// executes the commands: jobs dispatched through the scheduler (stored first, then sys.job.submit), job
// cancels, alerts and status events on sys.workflow.event. createWorkflowEngine() serves main.ts, cordum dev
// and tests; it talks to other services only over the bus and the stores.
import type { Bus, Subscription } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import {
  type Clock,
  type EnvSource,
  type Logger,
  type Metrics,
  createLogger,
  createMetrics,
  createSilentLogger,
  systemClock,
  createClosers,
  toError,
  startMetricsServer,
} from '@cordum/core';
import type { Stores } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import { type StoreClock, createStoreClock } from './clock/store-clock.js';
import { createExecutor } from './commands/executor.js';
import { loadWorkflowEngineConfig } from './config.js';
import { subscribeBusHandlers } from './handlers/bus.js';
import { createWorkflowEngineMetrics } from './metrics.js';
import { type WorkflowEngineOptions, resolveWorkflowEngineOptions } from './options.js';
import { createReconciler } from './reconciler/reconciler.js';
import { type ProcessMode, createRunProcessor } from './runs/processor.js';

export type WorkflowEngineDeps = {
  bus: Bus;
  stores: Pick<Stores, 'runs' | 'workflows' | 'jobs' | 'pointers'> & Partial<Pick<Stores, 'schemas'>>;
  logger?: Logger;
  metrics?: Metrics;
  clock?: Clock;
  options: Partial<WorkflowEngineOptions> & Pick<WorkflowEngineOptions, 'instanceId'>;
};

export type WorkflowEngine = {
  start(): Promise<void>;
  /** Stops taking messages and reconciling, finishes the passes that run. */
  stop(): Promise<void>;
  /** One reconciler pass (tests drive time with this). */
  tick(): Promise<void>;
  /** One pass over a run, as a doorbell would trigger (tests, tools). */
  process(tenant: string, runId: string, mode?: ProcessMode): Promise<void>;
};

export function createWorkflowEngine(deps: WorkflowEngineDeps): WorkflowEngine {
  const options = resolveWorkflowEngineOptions(deps.options);
  const logger = (deps.logger ?? createSilentLogger()).child({ component: 'workflow-engine', instance: options.instanceId });
  const metrics = createWorkflowEngineMetrics(deps.metrics);
  const { runs, jobs, pointers, workflows, schemas } = deps.stores;
  const clock: StoreClock = createStoreClock(() => runs.now(), deps.clock ?? systemClock);
  const executor = createExecutor({ bus: deps.bus, jobs, pointers, clock, logger, metrics, options });
  const processor = createRunProcessor({
    runs,
    jobs,
    pointers,
    workflows,
    ...(schemas === undefined ? {} : { schemas }),
    executor,
    clock,
    logger,
    metrics,
    options,
  });
  const reconciler = createReconciler({ runs, processor, clock, logger, metrics, options });
  const background = new Set<Promise<unknown>>();
  let subscriptions: Subscription[] = [];
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  let stopped = false;

  const loop = (): void => {
    if (stopped) return;
    ticking = reconciler
      .pass()
      .catch((err: unknown) => logger.warn({ err: toError(err).message }, 'reconciler pass failed'))
      .finally(() => {
        ticking = undefined;
        if (!stopped) timer = setTimeout(loop, options.reconcileIntervalMs);
      });
  };

  return {
    async start() {
      await clock.sync();
      subscriptions = await subscribeBusHandlers({
        bus: deps.bus,
        jobs,
        pointers,
        processor,
        logger,
        metrics,
        options,
        track(work) {
          background.add(work);
          void work.finally(() => background.delete(work));
        },
        isStopped: () => stopped,
      });
      // The first pass at once: after a restart, whatever the previous process left is due now.
      timer = setTimeout(loop, 0);
      logger.info({ reconcile_ms: options.reconcileIntervalMs, stale_after_ms: options.staleAfterMs }, 'workflow engine started');
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await Promise.all(subscriptions.map((s) => s.drain()));
      await ticking;
      await Promise.all([...background]);
      await processor.stop();
      logger.info('workflow engine stopped');
    },
    tick: () => reconciler.pass(),
    process: (tenant, runId, mode) => processor.process(tenant, runId, mode),
  };
}

export { type WorkflowEngineOptions, WORKFLOW_ENGINE_DEFAULTS } from './options.js';
export { type WorkflowEngineConfig, WORKFLOW_ENGINE_ENV, loadWorkflowEngineConfig } from './config.js';
export type { ProcessMode } from './runs/processor.js';

export type WorkflowEngineService = {
  /** The bound metrics port (null when nothing listens). */
  readonly metricsPort: number | null;
  /** Stops taking messages, finishes running passes, closes the bus and the stores. */
  stop(): Promise<void>;
};

/**
 * The workflow-engine process without the process: what main.ts does (config from the environment, NATS,
 * Redis, /metrics and /health), minus signals and exit, so `cordum start workflow-engine` runs the same
 * service next to others in one process. Cleans up what it opened if start fails.
 */
export async function startWorkflowEngineService(
  options: { env?: EnvSource; logger?: Logger; metrics?: Metrics } = {},
): Promise<WorkflowEngineService> {
  const config = loadWorkflowEngineConfig(options.env);
  const logger = options.logger ?? createLogger({ name: 'cordum-workflow-engine', level: config.logLevel });
  const metrics = options.metrics ?? createMetrics({ processMetrics: true });
  const closers = createClosers(logger, 'workflow engine');
  try {
    const stores = createRedisStores({ url: config.redisUrl, prefix: config.redisPrefix });
    closers.add(() => stores.close());
    const bus = await connectNatsBus({
      servers: config.natsUrl.split(',').map((s) => s.trim()),
      name: `cordum-workflow-engine ${config.instanceId}`,
      jetstream: config.jetstream,
      ackWaitMs: config.ackWaitMs,
      maxAgeMs: config.maxAgeMs,
      replicas: config.replicas,
      logger,
      metrics,
    });
    closers.add(() => bus.drain());
    const engine = createWorkflowEngine({
      bus,
      stores,
      logger,
      metrics,
      options: {
        instanceId: config.instanceId,
        reconcileIntervalMs: config.reconcileIntervalMs,
        staleAfterMs: config.staleAfterMs,
        commandGraceMs: config.commandGraceMs,
        submitGraceMs: config.submitGraceMs,
        resultWaitMs: config.resultWaitMs,
        concurrency: config.concurrency,
      },
    });
    await engine.start();
    closers.add(() => engine.stop());

    let metricsPort: number | null = null;
    if (config.metricsAddr !== '' && config.metricsAddr !== 'off') {
      const http = await startMetricsServer(config.metricsAddr, metrics, () => ({ ok: bus.status().connected, body: { ok: bus.status().connected, bus: bus.status() } }));
      closers.add(() => http.close());
      metricsPort = http.port;
    }
    logger.info({ metrics: config.metricsAddr, instance: config.instanceId }, 'workflow engine ready');
    return { metricsPort, stop: closers.closeAll };
  } catch (err) {
    await closers.closeAll();
    throw err;
  }
}
