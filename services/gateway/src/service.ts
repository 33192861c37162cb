// The gateway process without the process: what main.ts and `cordum start gateway` run. Config from the
// environment, API keys, NATS, Redis, the safety kernel client for the policy routes, HTTP and gRPC listeners.
import { readFile } from 'node:fs/promises';
import type { Bus } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import { type EnvSource, type Logger, type Metrics, createLogger, createMetrics, toError } from '@cordum/core';
import { createGrpcPdp } from '@cordum/pdp';
import { createRedisStores } from '@cordum/store/redis';
import { type ApiKeyEntry, createApiKeyResolver, createOpenResolver, parseApiKeys } from './auth/api-keys.js';
import type { PrincipalResolver } from './auth/principal.js';
import { type GatewayConfig, loadGatewayConfig } from './config.js';
import { createGateway } from './index.js';

/** Keys from CORDUM_API_KEYS and CORDUM_API_KEYS_FILE (both count); none = open mode (loopback only). */
export async function principalResolverFromConfig(config: GatewayConfig): Promise<PrincipalResolver> {
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

async function packageVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export type GatewayService = {
  /** The HTTP URL it serves. */
  readonly url: string;
  /** The gRPC URL, or null when GATEWAY_GRPC_ADDR=off. */
  readonly grpcUrl: string | null;
  /** True when no API keys are configured (loopback only). */
  readonly open: boolean;
  /** Stops listening (in-flight requests finish), closes the kernel client, the bus and the stores. */
  stop(): Promise<void>;
};

export async function startGatewayService(options: { env?: EnvSource; logger?: Logger; metrics?: Metrics } = {}): Promise<GatewayService> {
  const config = loadGatewayConfig(options.env);
  const logger = options.logger ?? createLogger({ name: 'cordum-gateway', level: config.logLevel });
  const metrics = options.metrics ?? createMetrics({ processMetrics: true });
  const principals = await principalResolverFromConfig(config);
  const tls =
    config.tlsCert === undefined || config.tlsKey === undefined
      ? undefined
      : { cert: await readFile(config.tlsCert), key: await readFile(config.tlsKey) };
  const grpcTls =
    config.grpcTlsFiles === undefined
      ? undefined
      : { cert: await readFile(config.grpcTlsFiles.cert), key: await readFile(config.grpcTlsFiles.key) };
  const kernelTls = config.kernelTlsCa === undefined ? undefined : { ca: await readFile(config.kernelTlsCa) };
  const stores = createRedisStores({ url: config.redisUrl, prefix: config.redisPrefix });
  // The policy routes ask the safety kernel (2 s deadline, circuit breaker); a kernel that is down is a 503.
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
        authFailuresPerMinute: config.authFailuresPerMinute,
        allowedOrigins: config.allowedOrigins,
        submitGraceMs: config.submitGraceMs,
        workerTimeoutMs: config.workerTimeoutMs,
        defaultTenant: config.defaultTenant,
        build: { version: await packageVersion(), commit: config.buildCommit ?? '', date: config.buildDate ?? '' },
        tls,
        grpcAddr: config.grpcListen,
        grpcTls,
      },
    });
    let bound: Awaited<ReturnType<typeof gateway.listen>>;
    try {
      bound = await gateway.listen();
    } catch (err) {
      await gateway.close().catch(() => undefined);
      throw err;
    }
    logger.info({ url: bound.url, grpc: bound.grpc?.url ?? 'off', instance: config.instanceId }, 'gateway ready');
    const connected = bus;
    return {
      url: bound.url,
      grpcUrl: bound.grpc?.url ?? null,
      open: principals.open,
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
