import type { Bus } from '@cordum/bus';
import { type Logger, type Metrics, type OutputPolicyPoint, toError } from '@cordum/core';
import { createGateway } from '@cordum/gateway';
import { startGatewayService as startGatewayServiceFromEnv } from '@cordum/gateway/service';
import type { EmbeddedPdp, PolicyRuntime } from '@cordum/pdp';
import type { Stores } from '@cordum/store';
import { type ListenAddress, formatAddress, reachableHost } from './cli/address.js';

// The one place cordum knows the gateway: `startDevGateway` builds it in-process for `cordum dev` (the dev
// bus and stores, the in-process kernel for the policy routes, the listeners from the flags);
// `startGatewayService` runs the gateway's own service start for `cordum start gateway`.

/** Everything the in-process gateway of `cordum dev` may need; the same objects the other services use. */
export type GatewayWiring = {
  /** A bus client of the gateway's own. */
  bus: Bus;
  stores: Stores;
  /** The kernel's embedded decision point (evaluate / explain / simulate) over the shared policy runtime. */
  pdp: EmbeddedPdp;
  outputPolicy: OutputPolicyPoint;
  runtime: PolicyRuntime;
  logger: Logger;
  metrics: Metrics;
  httpAddr: ListenAddress;
  grpcAddr: ListenAddress;
};

export type DevGateway = {
  /** e.g. http://127.0.0.1:8081 */
  readonly httpUrl: string;
  /** null while the gateway serves no gRPC. */
  readonly grpcUrl: string | null;
  /** Open mode (no API keys): every request is served as an anonymous admin of tenant default, localhost only. */
  readonly open: boolean;
  close(): Promise<void>;
};

/** The quick start printed by `cordum dev`, against the gateway at `url` (the demo jobs when the examples are loaded). */
export function gatewayFirstCommands(url: string, examples: boolean): string[] {
  if (!examples) {
    return [
      `curl -s ${url}/api/v1/status`,
      `curl -s ${url}/api/v1/jobs -H 'content-type: application/json' -d '{"topic":"<a topic of your pools>","prompt":"hello"}'`,
      `# API docs: ${url}/api/v1/docs`,
    ];
  }
  return [
    '# a job that runs at once on the echo worker',
    `curl -s ${url}/api/v1/jobs -H 'content-type: application/json' -d '{"topic":"job.demo.echo","prompt":"hello"}'`,
    `curl -s ${url}/api/v1/jobs/<job_id>`,
    '# a job that policy holds for a human, then its approval',
    `curl -s ${url}/api/v1/jobs -H 'content-type: application/json' -d '{"topic":"job.demo.approval","prompt":"deploy"}'`,
    `curl -s ${url}/api/v1/approvals`,
    `curl -s -X POST ${url}/api/v1/approvals/<job_id>/approve -H 'content-type: application/json' -d '{"reason":"looks fine"}'`,
    `# API docs: ${url}/api/v1/docs`,
  ];
}

/**
 * Starts the gateway inside `cordum dev` on the platform's bus and stores, in open mode (no API keys, so it
 * listens on loopback addresses only — the gateway refuses anything else and says so).
 */
export async function startDevGateway(wiring: GatewayWiring): Promise<DevGateway> {
  const gateway = await createGateway({
    bus: wiring.bus,
    stores: wiring.stores,
    logger: wiring.logger,
    metrics: wiring.metrics,
    // The policy routes ask the in-process kernel; publish reloads it at once.
    policy: { ...wiring.pdp, reload: () => wiring.runtime.reload() },
    options: {
      instanceId: `cordum-dev-gateway-${process.pid}`,
      httpAddr: formatAddress(wiring.httpAddr),
      grpcAddr: formatAddress(wiring.grpcAddr),
    },
  });
  let bound: Awaited<ReturnType<typeof gateway.listen>>;
  try {
    bound = await gateway.listen();
  } catch (err) {
    await gateway.close().catch(() => undefined);
    const message = toError(err).message;
    const flag = /gRPC/.test(message) ? '--grpc-addr' : '--http-addr';
    throw new Error(`gateway: ${message}${/EADDRINUSE|address/i.test(message) ? `: pass another ${flag}` : ''}`, { cause: err });
  }
  const host = reachableHost(bound.host);
  const httpUrl = `http://${host.includes(':') ? `[${host}]` : host}:${bound.port}`;
  const grpcUrl = bound.grpc === undefined ? null : `http://${formatAddress({ host: reachableHost(bound.grpc.host), port: bound.grpc.port })}`;
  return { httpUrl, grpcUrl, open: true, close: () => gateway.close() };
}

/** `cordum start gateway`: the gateway's own service start (what its main.ts runs), minus signals and exit. */
export async function startGatewayService(): Promise<{ summary: string; stop(): Promise<void> }> {
  const service = await startGatewayServiceFromEnv();
  const grpc = service.grpcUrl === null ? '' : `, gRPC ${service.grpcUrl}`;
  return { summary: `HTTP ${service.url}${grpc}${service.open ? ', open mode: no API keys' : ''}`, stop: () => service.stop() };
}
