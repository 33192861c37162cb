// @cordum/scheduler: governed, config-driven dispatch. createScheduler() is used by main.ts, cordum dev and
// tests; it talks to other services only over the bus (and to the policy point through its port).
import { readFile } from 'node:fs/promises';
import type { Bus, Subscription } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import {
  type Clock,
  type EnvSource,
  type Logger,
  type Metrics,
  type OutputPolicyPoint,
  type PolicyDecisionPoint,
  createAllowAllOutputPolicy,
  createLogger,
  createMetrics,
  createSilentLogger,
  createStaticPdp,
  systemClock,
  createClosers,
  toError,
  startMetricsServer,
} from '@cordum/core';
import {
  createEmbeddedOutputPolicy,
  createEmbeddedPdp,
  createGrpcOutputPolicy,
  createGrpcPdp,
  createPolicyRuntime,
} from '@cordum/pdp';
import type { Stores } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import { parse as parseYaml } from 'yaml';
import { loadSchedulerConfig } from './config.js';
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

export type SchedulerService = {
  /** The bound metrics port (null when nothing listens). */
  readonly metricsPort: number | null;
  /** Stops taking messages, finishes what is running, closes the bus, the policy point and the stores. */
  stop(): Promise<void>;
};

/**
 * The scheduler process without the process: what main.ts does (config from the environment, NATS, Redis, the
 * policy point of CORDUM_POLICY_MODE, /metrics and /health), minus signals and exit, so `cordum start
 * scheduler` runs the same service next to others in one process. Cleans up what it opened if start fails.
 */
export async function startSchedulerService(
  options: { env?: EnvSource; logger?: Logger; metrics?: Metrics } = {},
): Promise<SchedulerService> {
  const config = loadSchedulerConfig(options.env);
  const logger = options.logger ?? createLogger({ name: 'cordum-scheduler', level: config.logLevel });
  const metrics = options.metrics ?? createMetrics({ processMetrics: true });
  const closers = createClosers(logger, 'scheduler');
  try {
    const stores = createRedisStores({ url: config.redisUrl, prefix: config.redisPrefix });
    closers.add(() => stores.close());
    const readYaml = async (path: string): Promise<unknown> => {
      try {
        return parseYaml(await readFile(path, 'utf8')) as unknown;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new Error(`cannot read ${path}: ${toError(err).message}`);
      }
    };
    let pdp: PolicyDecisionPoint;
    let outputPolicy: OutputPolicyPoint;
    switch (config.policyMode) {
      case 'allow-all':
        logger.warn('CORDUM_POLICY_MODE=allow-all: every job is allowed without a policy check (development only)');
        pdp = createStaticPdp({ snapshot: 'allow-all' });
        outputPolicy = createAllowAllOutputPolicy();
        break;
      case 'kernel': {
        const tls = config.kernelTlsCa === undefined ? undefined : { ca: await readFile(config.kernelTlsCa) };
        const grpcPdp = createGrpcPdp({ address: config.kernelAddr, tls, logger });
        const grpcOutput = createGrpcOutputPolicy({ address: config.kernelAddr, tls, logger });
        closers.add(() => {
          grpcPdp.close();
          grpcOutput.close();
        });
        pdp = grpcPdp;
        outputPolicy = grpcOutput;
        logger.info({ kernel: config.kernelAddr, tls: tls !== undefined }, 'policy decisions by the safety kernel');
        break;
      }
      case 'embedded': {
        if (config.policy === undefined) throw new Error('embedded policy mode without policy options');
        const runtime = createPolicyRuntime({ options: config.policy, config: stores.config, logger, metrics });
        // No valid policy, no scheduler: starting would mean deciding by default.
        await runtime.start();
        closers.add(() => runtime.stop());
        pdp = createEmbeddedPdp(runtime, { audit: stores.audit, logger, metrics });
        outputPolicy = createEmbeddedOutputPolicy(runtime, { pointers: stores.pointers, logger, metrics });
        logger.info({ snapshot: runtime.snapshot().id }, 'policy decisions embedded (same sources as the safety kernel)');
        break;
      }
    }
    const bus = await connectNatsBus({
      servers: config.natsUrl.split(',').map((s) => s.trim()),
      name: `cordum-scheduler ${config.instanceId}`,
      jetstream: config.jetstream,
      ackWaitMs: config.ackWaitMs,
      maxAgeMs: config.maxAgeMs,
      replicas: config.replicas,
      logger,
      metrics,
    });
    closers.add(() => bus.drain());
    const scheduler = createScheduler({
      bus,
      stores,
      pdp,
      outputPolicy,
      logger,
      metrics,
      options: {
        instanceId: config.instanceId,
        tickMs: config.tickMs,
        configReloadMs: config.configReloadMs,
        workerTimeoutMs: config.workerTimeoutMs,
        slotRepairMs: config.slotRepairMs,
        concurrency: config.concurrency,
        bootstrap: { pools: await readYaml(config.poolsPath), timeouts: await readYaml(config.timeoutsPath) },
      },
    });
    await scheduler.start();
    closers.add(() => scheduler.stop());

    const http = await startMetricsServer(config.metricsAddr, metrics, () => ({ ok: bus.status().connected, body: { ok: bus.status().connected, bus: bus.status() } }));
    closers.add(() => http.close());
    const metricsPort = http.port;
    logger.info({ metrics: config.metricsAddr, instance: config.instanceId }, 'scheduler ready');
    return { metricsPort, stop: closers.closeAll };
  } catch (err) {
    await closers.closeAll();
    throw err;
  }
}
