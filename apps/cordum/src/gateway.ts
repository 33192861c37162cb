import { readFile } from 'node:fs/promises';
import type { Bus } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import { type Logger, type Metrics, type OutputPolicyPoint, createLogger, createMetrics, toError } from '@cordum/core';
import {
  type ApiKeyEntry,
  type PrincipalResolver,
  createApiKeyResolver,
  createGateway,
  createOpenResolver,
  loadGatewayConfig,
  parseApiKeys,
} from '@cordum/gateway';
import type { EmbeddedPdp, PolicyRuntime } from '@cordum/pdp';
import { createGrpcPdp } from '@cordum/pdp';
import { createRedisStores } from '@cordum/store/redis';
import type { Stores } from '@cordum/store';
import { type ListenAddress, formatAddress, reachableHost } from './cli/address.js';

// ─── GATEWAY WIRING ──────────────────────────────────────────────────────────────────────────────────────
// The one place cordum knows the gateway (services/gateway, being built in issue 5): `startDevGateway` for
// `cordum dev`, `startGatewayService` for `cordum start gateway`. When the gateway's API changes (a gRPC
// listener on --grpc-addr, policy routes that need the decision point, API keys for dev), this file is what
// changes. GatewayWiring carries everything the other services get, so new needs are one field away.
// ─────────────────────────────────────────────────────────────────────────────────────────────────────────

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

async function principalResolver(config: ReturnType<typeof loadGatewayConfig>): Promise<PrincipalResolver> {
  const entries: ApiKeyEntry[] = [];
  if (config.apiKeys !== undefined) {
    entries.push(...parseApiKeys(config.apiKeys, { source: 'CORDUM_API_KEYS', defaultTenant: config.defaultTenant }));
  }
  if (config.apiKeysFile !== undefined) {
    const text = await readFile(config.apiKeysFile, 'utf8').catch((err: unknown) => {
      throw new Error(`cannot read CORDUM_API_KEYS_FILE ${config.apiKeysFile}: ${toError(err).message}`);
    });
    entries.push(...parseApiKeys(text, { source: config.apiKeysFile, defaultTenant: config.defaultTenant }));
  }
  return entries.length === 0 ? createOpenResolver(config.defaultTenant) : createApiKeyResolver(entries);
}

/**
 * `cordum start gateway`: what services/gateway/src/main.ts does, minus signals and exit. (The gateway has no
 * exported start function yet, unlike the scheduler and the kernel; once it has, this becomes a call to it.)
 */
export async function startGatewayService(): Promise<{ summary: string; stop(): Promise<void> }> {
  const config = loadGatewayConfig();
  const logger = createLogger({ name: 'cordum-gateway', level: config.logLevel });
  const metrics = createMetrics({ processMetrics: true });
  const principals = await principalResolver(config);
  const tls =
    config.tlsCert === undefined || config.tlsKey === undefined
      ? undefined
      : { cert: await readFile(config.tlsCert), key: await readFile(config.tlsKey) };
  const stores = createRedisStores({ url: config.redisUrl, prefix: config.redisPrefix });
  const kernelTls = config.kernelTlsCa === undefined ? undefined : { ca: await readFile(config.kernelTlsCa) };
  const policy = createGrpcPdp({ address: config.kernelAddr, tls: kernelTls, logger });
  let bus: Bus | undefined;
  try {
    bus = await connectNatsBus({
      servers: config.natsUrl.split(',').map((s) => s.trim()),
      name: `cordum-gateway ${config.instanceId}`,
      jetstream: config.jetstream,
      maxAgeMs: config.maxAgeMs,
      replicas: config.replicas,
      logger,
      metrics,
    });
    const gateway = await createGateway({
      bus,
      stores,
      principals,
      logger,
      metrics,
      policy,
      options: {
        instanceId: config.instanceId,
        httpAddr: config.httpAddr,
        bodyLimitBytes: config.bodyLimitBytes,
        contextInlineMaxBytes: config.contextInlineMaxBytes,
        resultInlineMaxBytes: config.resultInlineMaxBytes,
        rateLimitRps: config.rateLimitRps,
        allowedOrigins: config.allowedOrigins,
        submitGraceMs: config.submitGraceMs,
        workerTimeoutMs: config.workerTimeoutMs,
        defaultTenant: config.defaultTenant,
        tls,
      },
    });
    let url: string;
    try {
      ({ url } = await gateway.listen());
    } catch (err) {
      await gateway.close().catch(() => undefined);
      throw err;
    }
    logger.info({ url, instance: config.instanceId }, 'gateway ready');
    const connected = bus;
    return {
      summary: `HTTP ${url}${principals.open ? ', open mode: no API keys' : ''}`,
      async stop() {
        await gateway.close();
        policy.close();
        await connected.drain();
        await stores.close();
      },
    };
  } catch (err) {
    policy.close();
    await bus?.close().catch(() => undefined);
    await stores.close().catch(() => undefined);
    throw err;
  }
}
