// The safety kernel: the policy runtime behind gRPC. Hosts cordum.agent.v1.SafetyKernel,
// cordum.v1.PolicyExplainer and cordum.v1.OutputPolicyService, plus health and reflection.
import { readFile } from 'node:fs/promises';
import {
  type Clock,
  createLogger,
  createMetrics,
  createSilentLogger,
  type EnvSource,
  type Logger,
  type Metrics,
  type OutputPolicyPoint,
  type MetricsServer,
  startMetricsServer,
} from '@cordum/core';
import {
  type EmbeddedPdp,
  type PolicyRuntime,
  type PolicyRuntimeOptions,
  createEmbeddedOutputPolicy,
  createEmbeddedPdp,
  createPolicyRuntime,
} from '@cordum/pdp';
import { OutputPolicyService, PolicyExplainer, SafetyKernel as SafetyKernelService } from '@cordum/protocol';
import { type TlsOptions, createGrpcServer } from '@cordum/rpc';
import type { AuditLog, ConfigStore, PointerStore } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import { loadSafetyKernelConfig } from './config.js';
import { outputPolicyHandlers, policyExplainerHandlers, safetyKernelHandlers } from './handlers/grpc.js';

export type SafetyKernelDeps = {
  stores: { config: ConfigStore; audit: AuditLog; pointers: PointerStore };
  /** Policy sources, when the kernel builds its own runtime. */
  policy?: PolicyRuntimeOptions | undefined;
  /** A runtime to share (cordum dev: the kernel and an embedded scheduler decide from one snapshot). */
  runtime?: PolicyRuntime | undefined;
  /** host:port; default ':50051'; port 0 picks a free port. */
  address?: string | undefined;
  /** PEM contents; plaintext when absent (the service config refuses that in production). */
  tls?: TlsOptions | undefined;
  logger?: Logger | undefined;
  metrics?: Metrics | undefined;
  clock?: Clock | undefined;
  /** For a base bundle URL (default: the global fetch). */
  fetch?: typeof fetch | undefined;
  /** Output bytes scanned by CheckOutput (default 4 MiB). */
  maxScanBytes?: number | undefined;
};

export type SafetyKernel = {
  /** Loads the policy (fails when there is no valid one), then listens. */
  start(): Promise<{ port: number }>;
  stop(graceMs?: number): Promise<void>;
  readonly runtime: PolicyRuntime;
  readonly pdp: EmbeddedPdp;
  readonly outputPolicy: OutputPolicyPoint;
};

export function createSafetyKernel(deps: SafetyKernelDeps): SafetyKernel {
  const logger = deps.logger ?? createSilentLogger();
  const metrics = deps.metrics ?? createMetrics();
  const ownRuntime = deps.runtime === undefined;
  let runtime: PolicyRuntime;
  if (deps.runtime !== undefined) {
    runtime = deps.runtime;
  } else {
    if (deps.policy === undefined) throw new TypeError('createSafetyKernel needs policy options or a runtime');
    runtime = createPolicyRuntime({ options: deps.policy, config: deps.stores.config, logger, metrics, clock: deps.clock, fetch: deps.fetch });
  }
  const pdp = createEmbeddedPdp(runtime, { audit: deps.stores.audit, clock: deps.clock, logger, metrics });
  const outputPolicy = createEmbeddedOutputPolicy(runtime, {
    pointers: deps.stores.pointers,
    maxScanBytes: deps.maxScanBytes,
    clock: deps.clock,
    logger,
    metrics,
  });
  const server = createGrpcServer({ address: deps.address ?? ':50051', tls: deps.tls, logger });
  server.add(SafetyKernelService, safetyKernelHandlers(pdp));
  server.add(PolicyExplainer, policyExplainerHandlers(pdp));
  server.add(OutputPolicyService, outputPolicyHandlers(outputPolicy));

  return {
    runtime,
    pdp,
    outputPolicy,
    async start() {
      await runtime.start();
      const bound = await server.start();
      logger.info({ port: bound.port, snapshot: runtime.snapshot().id }, 'safety kernel serving');
      return bound;
    },
    async stop(graceMs) {
      await server.stop(graceMs);
      if (ownRuntime) runtime.stop();
    },
  };
}

export { SAFETY_KERNEL_ENV, type SafetyKernelConfig, loadSafetyKernelConfig } from './config.js';

export type SafetyKernelService = {
  /** The bound gRPC port. */
  readonly port: number;
  /** The bound metrics port (null when SAFETY_KERNEL_METRICS_ADDR=off). */
  readonly metricsPort: number | null;
  /** Stops serving, then closes the stores and the metrics server. */
  stop(): Promise<void>;
};

/**
 * The safety kernel process without the process: what main.ts does (config from the environment, Redis, TLS,
 * gRPC, /metrics and /health), minus signals and exit, so `cordum start safety-kernel` runs the same service
 * next to others in one process. Cleans up what it opened if start fails.
 */
export async function startSafetyKernelService(
  options: { env?: EnvSource; logger?: Logger; metrics?: Metrics } = {},
): Promise<SafetyKernelService> {
  const config = loadSafetyKernelConfig(options.env);
  const logger = options.logger ?? createLogger({ name: 'cordum-safety-kernel', level: config.logLevel });
  const metrics = options.metrics ?? createMetrics({ processMetrics: true });
  const tls =
    config.tlsCert === undefined || config.tlsKey === undefined
      ? undefined
      : { cert: await readFile(config.tlsCert), key: await readFile(config.tlsKey) };
  if (tls === undefined) logger.warn('serving gRPC without TLS (development only; CORDUM_ENV=production refuses this)');

  const stores = createRedisStores({ url: config.redisUrl, prefix: config.redisPrefix });
  const kernel = createSafetyKernel({ stores, policy: config.policy, address: config.addr, tls, logger, metrics });
  let bound: { port: number };
  try {
    bound = await kernel.start();
  } catch (err) {
    await kernel.stop().catch(() => undefined);
    await stores.close();
    throw err;
  }

  let http: MetricsServer | undefined;
  if (config.metricsAddr !== 'off') {
    try {
      // Serving the last good snapshot is healthy for traffic; the failure is in the body for operators.
      http = await startMetricsServer(config.metricsAddr, metrics, () => {
        const status = kernel.runtime.status();
        return {
          ok: true,
          body: { ok: true, snapshot: status.snapshot?.id ?? null, policy_healthy: status.healthy, failures: status.failures, last_error: status.lastError },
        };
      });
    } catch (err) {
      await kernel.stop();
      await stores.close();
      throw err;
    }
  }
  const metricsPort = http?.port ?? null;
  logger.info({ addr: config.addr, metrics: config.metricsAddr, tls: tls !== undefined }, 'safety kernel ready');

  let stopped: Promise<void> | undefined;
  return {
    port: bound.port,
    metricsPort,
    stop() {
      stopped ??= (async () => {
        await kernel.stop();
        await stores.close();
        await http?.close();
      })();
      return stopped;
    },
  };
}
