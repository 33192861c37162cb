// @cordum/scheduler: governed, config-driven dispatch. createScheduler() is used by main.ts, cordum dev and
// tests; it talks to other services only over the bus (and to the policy point through its port).
import type { Bus, Subscription } from '@cordum/bus';
import {
  type Clock,
  type Logger,
  type Metrics,
  type OutputPolicyPoint,
  type PolicyDecisionPoint,
  createSilentLogger,
  systemClock,
  toError,
} from '@cordum/core';
import type { Stores } from '@cordum/store';
import { createStoreClock } from './clock/store-clock.js';
import { createEffectiveConfigReader } from './config/effective-config.js';
import { createRoutingSource } from './config/routing-source.js';
import { createEngine } from './engine.js';
import { subscribeBusHandlers } from './handlers/bus.js';
import { createSchedulerMetrics } from './metrics.js';
import { type SchedulerOptions, resolveSchedulerOptions } from './options.js';
import { createWorkerRegistry } from './routing/workers.js';

export type SchedulerDeps = {
  bus: Bus;
  stores: Pick<Stores, 'jobs' | 'pointers' | 'config' | 'dlq' | 'idempotency'>;
  pdp: PolicyDecisionPoint;
  outputPolicy?: OutputPolicyPoint;
  logger?: Logger;
  metrics?: Metrics;
  clock?: Clock;
  options: Partial<SchedulerOptions> & Pick<SchedulerOptions, 'instanceId'>;
};

export type Scheduler = {
  start(): Promise<void>;
  /** Stops taking messages, finishes what is running, stops timers. */
  stop(): Promise<void>;
  /** One timer pass (tests drive time with this). */
  tick(): Promise<void>;
};

export function createScheduler(deps: SchedulerDeps): Scheduler {
  const options = resolveSchedulerOptions(deps.options);
  const logger = (deps.logger ?? createSilentLogger()).child({ component: 'scheduler', instance: options.instanceId });
  const clock = deps.clock ?? systemClock;
  const metrics = createSchedulerMetrics(deps.metrics);
  const { jobs } = deps.stores;
  const storeClock = createStoreClock(() => jobs.now(), clock);
  const registry = createWorkerRegistry({ timeoutMs: options.workerTimeoutMs });
  const routing = createRoutingSource({ config: deps.stores.config, bootstrap: options.bootstrap, logger, metrics: deps.metrics });
  const engine = createEngine({
    bus: deps.bus,
    jobs,
    pointers: deps.stores.pointers,
    dlq: deps.stores.dlq,
    pdp: deps.pdp,
    outputPolicy: deps.outputPolicy,
    routing,
    effective: createEffectiveConfigReader(deps.stores.config, clock, options.effectiveConfigTtlMs),
    registry,
    storeClock,
    clock,
    logger,
    metrics,
    rawMetrics: deps.metrics,
    options,
  });
  let subscriptions: Subscription[] = [];
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  let lastReload = 0;
  let stopped = false;

  const reload = (): void => {
    void routing.reload().catch((err: unknown) => logger.warn({ err: toError(err).message }, 'routing config reload failed'));
  };

  async function tick(): Promise<void> {
    if (clock.now() - lastReload >= options.configReloadMs) {
      lastReload = clock.now();
      await routing.reload().catch((err: unknown) => logger.warn({ err: toError(err).message }, 'routing config reload failed'));
    }
    await engine.tick();
  }

  const loop = (): void => {
    if (stopped) return;
    ticking = tick()
      .catch((err: unknown) => logger.warn({ err: toError(err).message }, 'scheduler tick failed'))
      .finally(() => {
        ticking = undefined;
        if (!stopped) timer = setTimeout(loop, options.tickMs);
      });
  };

  return {
    async start() {
      await storeClock.sync();
      await routing.start();
      lastReload = clock.now();
      subscriptions = await subscribeBusHandlers({
        bus: deps.bus,
        engine,
        jobs,
        idempotency: deps.stores.idempotency,
        registry,
        logger,
        metrics,
        options,
        now: () => clock.now(),
        storeNow: () => storeClock.now(),
        onConfigChanged: reload,
      });
      timer = setTimeout(loop, options.tickMs);
      logger.info({ tick_ms: options.tickMs }, 'scheduler started');
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await Promise.all(subscriptions.map((s) => s.drain()));
      await ticking;
      logger.info('scheduler stopped');
    },
    tick,
  };
}

export { type SchedulerOptions, SCHEDULER_DEFAULTS } from './options.js';
export { DIRECT_DISPATCH_LABEL } from './routing/workers.js';
