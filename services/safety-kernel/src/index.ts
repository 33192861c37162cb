// The safety kernel: the policy runtime behind gRPC. Hosts cordum.agent.v1.SafetyKernel,
// cordum.v1.PolicyExplainer and cordum.v1.OutputPolicyService, plus health and reflection.
import { type Clock, createMetrics, createSilentLogger, type Logger, type Metrics, type OutputPolicyPoint } from '@cordum/core';
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
