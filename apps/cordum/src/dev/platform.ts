import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { Bus } from '@cordum/bus';
import { createMemoryBroker } from '@cordum/bus/memory';
import { connectNatsBus } from '@cordum/bus/nats';
import { InvalidError, type Logger, type Metrics, createMetrics, toError } from '@cordum/core';
import { createSafetyKernel } from '@cordum/safety-kernel';
import { createScheduler } from '@cordum/scheduler';
import { createWorkflowEngine } from '@cordum/workflow-engine';
import type { Worker } from '@cordum/sdk';
import type { Stores } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import { createRedisStores } from '@cordum/store/redis';
import { parse as parseYaml } from 'yaml';
import { formatAddress } from '../cli/address.js';
import { type DevGateway, startDevGateway } from '../gateway.js';
import type { Output } from '../output.js';
import { createModuleWorkers, loadWorkerModule } from '../workers/loader.js';
import { type ExampleAssets, checkExampleAssets, exampleAssets } from './examples.js';
import { type MetricsServer, startMetricsServer } from './http-server.js';
import type { DevOptions } from './options.js';

// `cordum dev`: the composition root of every service in one process. One store set and one policy runtime
// are shared: the safety kernel serves the runtime over gRPC (for buf curl, cordumctl and other processes), and
// the scheduler decides through the kernel's embedded decision point over that same runtime — one snapshot,
// no network hop per job. Each component gets a bus client of its own, as separate processes would.

export type DevPlatformDeps = {
  options: DevOptions;
  /** Relative file flags resolve against this. */
  cwd: string;
  output: Output;
  logger: Logger;
  metrics?: Metrics;
  /** Where the demo assets are (default: this repository's examples/). */
  examples?: ExampleAssets;
};

export type DevWorkerInfo = { readonly workerId: string; readonly module: string };

export type DevPlatform = {
  readonly backend: 'memory' | 'nats+redis';
  /** Whether examples/demo and the echo worker are loaded. */
  readonly examples: boolean;
  /** The files in force (absolute), null when not given. */
  readonly files: { readonly policy: string; readonly pools: string | null; readonly timeouts: string | null };
  readonly policySnapshot: string;
  readonly kernelPort: number;
  readonly metricsPort: number | null;
  readonly gateway: DevGateway;
  readonly workers: readonly DevWorkerInfo[];
  readonly stores: Stores;
  /** A new bus client on the platform's bus (in-process clients, tests). The caller closes it. */
  connectBus(name: string): Promise<Bus>;
  /** Gateway, workers (drained), scheduler, kernel, metrics, buses, stores — with a progress line each. */
  stop(): Promise<void>;
};

type Step = { label: string | undefined; run: () => Promise<void> | void };

async function readYamlFile(path: string, flag: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InvalidError(`${flag}: cannot read ${path}: ${toError(err).message}`, { code: 'config_invalid' });
  }
  try {
    return parseYaml(text) as unknown;
  } catch (err) {
    throw new InvalidError(`${flag}: ${path} is not valid YAML: ${toError(err).message}`, { code: 'config_invalid' });
  }
}

/** A subject-token-safe worker id not yet taken. */
function uniqueWorkerId(base: string, taken: Set<string>): string {
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
  taken.add(id);
  return id;
}

/**
 * Starts everything; if any part fails, what was started is stopped again and the error is rethrown (the
 * message says which flag to change where it can).
 */
export async function startDevPlatform(deps: DevPlatformDeps): Promise<DevPlatform> {
  const { options, output, logger } = deps;
  const metrics = deps.metrics ?? createMetrics({ processMetrics: true });
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(deps.cwd, p));
  const examples = options.examples ? (deps.examples ?? exampleAssets()) : undefined;
  if (examples !== undefined) await checkExampleAssets(examples);

  const policyFile = options.policy !== undefined ? at(options.policy) : examples?.policy;
  if (policyFile === undefined) throw new InvalidError('no policy: pass --policy FILE', { code: 'config_invalid' });
  const poolsFile = options.pools !== undefined ? at(options.pools) : (examples?.pools ?? null);
  const timeoutsFile = options.timeouts !== undefined ? at(options.timeouts) : (examples?.timeouts ?? null);
  const bootstrap = {
    pools: poolsFile === null ? undefined : await readYamlFile(poolsFile, '--pools'),
    timeouts: timeoutsFile === null ? undefined : await readYamlFile(timeoutsFile, '--timeouts'),
  };
  const modules = await Promise.all(
    [...(examples === undefined ? [] : [examples.worker]), ...options.workers].map((p) => loadWorkerModule(p, deps.cwd)),
  );

  const steps: Step[] = [];
  const stopAll = async (): Promise<void> => {
    for (const step of steps.splice(0).reverse()) {
      if (step.label !== undefined) output.line(`  ${step.label}`);
      try {
        await step.run();
      } catch (err) {
        output.error(`  ${step.label ?? 'shutdown step'} failed: ${toError(err).message}`);
      }
    }
  };

  try {
    // Backends: the stores, then a bus client per component.
    const onServers = options.nats !== undefined && options.redis !== undefined;
    let stores: Stores;
    let connectBus: (name: string) => Promise<Bus>;
    output.line(onServers ? `connecting to Redis and NATS…` : 'using the memory bus and stores…');
    if (onServers) {
      stores = createRedisStores({ url: options.redis ?? '', prefix: options.redisPrefix });
      steps.push({ label: 'closing the stores', run: () => stores.close() });
      try {
        await stores.ping();
      } catch (err) {
        throw new Error(`cannot reach Redis at ${options.redis ?? ''}: ${toError(err).message}`, { cause: err });
      }
      const servers = options.nats ?? [];
      connectBus = async (name) => {
        try {
          return await connectNatsBus({ servers, name: `cordum-dev ${name}`, logger, metrics });
        } catch (err) {
          throw new Error(`cannot reach NATS at ${servers.join(', ')}: ${toError(err).message}`, { cause: err });
        }
      };
    } else {
      stores = createMemoryStores();
      steps.push({ label: 'closing the stores', run: () => stores.close() });
      const broker = createMemoryBroker({ mode: 'durable', logger, metrics });
      connectBus = (name) => Promise.resolve(broker.connect({ logger: logger.child({ bus_client: name }) }));
    }
    const busFor = async (name: string): Promise<Bus> => {
      const bus = await connectBus(name);
      steps.push({ label: undefined, run: () => bus.drain() });
      return bus;
    };

    // The safety kernel owns the policy runtime; the scheduler decides through its embedded decision point.
    output.line(`starting the safety kernel (gRPC ${formatAddress(options.kernelAddr)})…`);
    const kernel = createSafetyKernel({
      stores,
      // Fragments come from the config store as in production; the base file is re-read within 2 s of an edit.
      policy: { basePath: policyFile, reloadIntervalMs: 2000 },
      address: formatAddress(options.kernelAddr),
      logger,
      metrics,
    });
    let kernelPort: number;
    try {
      ({ port: kernelPort } = await kernel.start());
    } catch (err) {
      await kernel.stop().catch(() => undefined);
      const message = toError(err).message;
      throw new Error(
        /address|EADDRINUSE|bind/i.test(message) ? `safety kernel: ${message}: pass another --kernel-addr` : `safety kernel: ${message}`,
        { cause: err },
      );
    }
    steps.push({ label: 'stopping the safety kernel', run: () => kernel.stop(2000) });

    output.line('starting the scheduler…');
    const schedulerBus = await busFor('scheduler');
    const scheduler = createScheduler({
      bus: schedulerBus,
      stores,
      pdp: kernel.pdp,
      outputPolicy: kernel.outputPolicy,
      logger,
      metrics,
      options: { instanceId: `cordum-dev-${process.pid}`, bootstrap },
    });
    try {
      await scheduler.start();
    } catch (err) {
      await scheduler.stop().catch(() => undefined);
      const hint = bootstrap.pools === undefined ? ' (pass --pools FILE)' : '';
      throw new Error(`scheduler: ${toError(err).message}${hint}`, { cause: err });
    }
    steps.push({ label: 'stopping the scheduler', run: () => scheduler.stop() });

    // The workflow engine: runs DAGs, dispatching their jobs through the scheduler like any job.
    output.line('starting the workflow engine…');
    const workflowEngine = createWorkflowEngine({
      bus: await busFor('workflow-engine'),
      stores,
      logger,
      metrics,
      options: { instanceId: `cordum-dev-${process.pid}` },
    });
    try {
      await workflowEngine.start();
    } catch (err) {
      await workflowEngine.stop().catch(() => undefined);
      throw new Error(`workflow engine: ${toError(err).message}`, { cause: err });
    }
    steps.push({ label: 'stopping the workflow engine', run: () => workflowEngine.stop() });

    // In-process workers: each module's workers on a bus client of their own, drained before the scheduler stops
    // so their last results are still consumed.
    if (modules.length > 0) output.line(`starting workers from ${modules.map((m) => m.name).join(', ')}…`);
    const taken = new Set<string>();
    const workers: { worker: Worker; module: string }[] = [];
    for (const module of modules) {
      const made = await createModuleWorkers(module, {
        bus: await busFor(`worker ${module.name}`),
        pointers: stores.pointers,
        artifacts: stores.artifacts,
        logger: logger.child({ component: 'worker', module: module.name }),
        workerId: uniqueWorkerId(`${module.name}-${process.pid}`, taken),
      });
      for (const worker of made) {
        if (workers.some((w) => w.worker.workerId === worker.workerId)) {
          throw new InvalidError(`worker module ${module.source}: worker id ${worker.workerId} is already in use`);
        }
        await worker.start();
        workers.push({ worker, module: module.source });
        steps.push({ label: undefined, run: () => worker.drain(options.drainTimeoutMs) });
      }
    }
    if (workers.length > 0) {
      steps.push({
        label: `draining ${workers.length} worker${workers.length === 1 ? '' : 's'} (running jobs get up to ${Math.round(options.drainTimeoutMs / 1000)} s)`,
        run: () => undefined,
      });
    }

    const gateway = await startDevGateway({
      bus: await busFor('gateway'),
      stores,
      pdp: kernel.pdp,
      outputPolicy: kernel.outputPolicy,
      runtime: kernel.runtime,
      logger,
      metrics,
      httpAddr: options.httpAddr,
      grpcAddr: options.grpcAddr,
    });
    steps.push({ label: 'stopping the gateway', run: () => gateway.close() });

    let metricsServer: MetricsServer | null = null;
    if (options.metricsAddr !== null) {
      metricsServer = await startMetricsServer(options.metricsAddr, {
        metrics: async () => ({ contentType: metrics.contentType, body: await metrics.text() }),
        health: () => {
          const policy = kernel.runtime.status();
          const bus = schedulerBus.status();
          return {
            ok: bus.connected && policy.snapshot !== null,
            backend: onServers ? 'nats+redis' : 'memory',
            bus,
            policy: { snapshot: policy.snapshot?.id ?? null, healthy: policy.healthy, last_error: policy.lastError },
            workers: workers.map(({ worker }) => ({ worker_id: worker.workerId, state: worker.stats().state })),
            gateway: gateway.httpUrl,
          };
        },
      });
      const server = metricsServer;
      steps.push({ label: undefined, run: () => server.close() });
    }

    let stopping: Promise<void> | undefined;
    return {
      backend: onServers ? 'nats+redis' : 'memory',
      examples: examples !== undefined,
      files: { policy: policyFile, pools: poolsFile, timeouts: timeoutsFile },
      policySnapshot: kernel.runtime.snapshot().id,
      kernelPort,
      metricsPort: metricsServer?.port ?? null,
      gateway,
      workers: workers.map(({ worker, module }) => ({ workerId: worker.workerId, module })),
      stores,
      async connectBus(name) {
        return connectBus(name);
      },
      stop() {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
