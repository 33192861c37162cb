// Composition root of the scheduler process: config, adapters, start, /metrics, signals.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { connectNatsBus } from '@cordum/bus/nats';
import {
  type Logger,
  type Metrics,
  type OutputPolicyPoint,
  type PolicyDecisionPoint,
  createAllowAllOutputPolicy,
  createLogger,
  createMetrics,
  createStaticPdp,
  toError,
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
import { type SchedulerConfig, loadSchedulerConfig } from './config.js';
import { createScheduler } from './index.js';

async function readYaml(path: string): Promise<unknown> {
  try {
    return parseYaml(await readFile(path, 'utf8')) as unknown;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${toError(err).message}`);
  }
}

type PolicyPoints = { pdp: PolicyDecisionPoint; outputPolicy: OutputPolicyPoint; close(): void };

/** The decision point for CORDUM_POLICY_MODE: the kernel over gRPC, the kernel's runtime in-process, or none. */
async function policyPoints(config: SchedulerConfig, stores: Stores, logger: Logger, metrics: Metrics): Promise<PolicyPoints> {
  switch (config.policyMode) {
    case 'allow-all':
      logger.warn('CORDUM_POLICY_MODE=allow-all: every job is allowed without a policy check (development only)');
      return { pdp: createStaticPdp({ snapshot: 'allow-all' }), outputPolicy: createAllowAllOutputPolicy(), close: () => undefined };
    case 'kernel': {
      const tls = config.kernelTlsCa === undefined ? undefined : { ca: await readFile(config.kernelTlsCa) };
      const pdp = createGrpcPdp({ address: config.kernelAddr, tls, logger });
      const outputPolicy = createGrpcOutputPolicy({ address: config.kernelAddr, tls, logger });
      logger.info({ kernel: config.kernelAddr, tls: tls !== undefined }, 'policy decisions by the safety kernel');
      return {
        pdp,
        outputPolicy,
        close() {
          pdp.close();
          outputPolicy.close();
        },
      };
    }
    case 'embedded': {
      if (config.policy === undefined) throw new Error('embedded policy mode without policy options');
      const runtime = createPolicyRuntime({ options: config.policy, config: stores.config, logger, metrics });
      // No valid policy, no scheduler: starting would mean deciding by default.
      await runtime.start();
      logger.info({ snapshot: runtime.snapshot().id }, 'policy decisions embedded (same sources as the safety kernel)');
      return {
        pdp: createEmbeddedPdp(runtime, { audit: stores.audit, logger, metrics }),
        outputPolicy: createEmbeddedOutputPolicy(runtime, { pointers: stores.pointers, logger, metrics }),
        close: () => runtime.stop(),
      };
    }
  }
}

function listen(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(':');
  return { host: at <= 0 ? '0.0.0.0' : addr.slice(0, at), port: Number(addr.slice(at + 1)) };
}

async function main(): Promise<void> {
  const config = loadSchedulerConfig();
  const logger = createLogger({ name: 'cordum-scheduler', level: config.logLevel });
  const metrics = createMetrics({ processMetrics: true });
  const stores = createRedisStores({ url: config.redisUrl, prefix: config.redisPrefix });
  const policy = await policyPoints(config, stores, logger, metrics);
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
  const scheduler = createScheduler({
    bus,
    stores,
    pdp: policy.pdp,
    outputPolicy: policy.outputPolicy,
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

  const http = createServer((req, res) => {
    if (req.url === '/metrics') {
      void metrics.text().then((text) => {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(text);
      });
    } else if (req.url === '/health') {
      const ok = bus.status().connected;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok, bus: bus.status() }));
    } else {
      res.writeHead(404).end();
    }
  });
  const { host, port } = listen(config.metricsAddr);
  http.listen(port, host);
  logger.info({ metrics: config.metricsAddr, instance: config.instanceId }, 'scheduler ready');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void (async () => {
      await scheduler.stop();
      await bus.drain();
      policy.close();
      await stores.close();
      http.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`cordum-scheduler: ${toError(err).message}\n`);
  process.exit(1);
});
