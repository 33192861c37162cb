// Composition root of the gateway process: config, API keys, adapters (NATS, Redis), listen, signals.
import { readFile } from 'node:fs/promises';
import { connectNatsBus } from '@cordum/bus/nats';
import { createLogger, createMetrics, toError } from '@cordum/core';
import { createGrpcPdp } from '@cordum/pdp';
import { createRedisStores } from '@cordum/store/redis';
import { type ApiKeyEntry, createApiKeyResolver, createOpenResolver, parseApiKeys } from './auth/api-keys.js';
import type { PrincipalResolver } from './auth/principal.js';
import { type GatewayConfig, loadGatewayConfig } from './config.js';
import { createGateway } from './index.js';

async function principalResolver(config: GatewayConfig): Promise<PrincipalResolver> {
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

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const logger = createLogger({ name: 'cordum-gateway', level: config.logLevel });
  const metrics = createMetrics({ processMetrics: true });
  const principals = await principalResolver(config);
  const tls =
    config.tlsCert === undefined || config.tlsKey === undefined
      ? undefined
      : { cert: await readFile(config.tlsCert), key: await readFile(config.tlsKey) };
  const grpcTls =
    config.grpcTlsFiles === undefined
      ? undefined
      : { cert: await readFile(config.grpcTlsFiles.cert), key: await readFile(config.grpcTlsFiles.key) };
  const stores = createRedisStores({ url: config.redisUrl, prefix: config.redisPrefix });
  const bus = await connectNatsBus({
    servers: config.natsUrl.split(',').map((s) => s.trim()),
    name: `cordum-gateway ${config.instanceId}`,
    jetstream: config.jetstream,
    maxAgeMs: config.maxAgeMs,
    replicas: config.replicas,
    logger,
    metrics,
  });
  // The policy routes ask the safety kernel (2 s deadline, circuit breaker); a kernel that is down is a 503.
  const kernelTls = config.kernelTlsCa === undefined ? undefined : { ca: await readFile(config.kernelTlsCa) };
  const policy = createGrpcPdp({ address: config.kernelAddr, tls: kernelTls, logger });
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
      build: { version: await packageVersion(), commit: config.buildCommit ?? '', date: config.buildDate ?? '' },
      tls,
      grpcAddr: config.grpcListen,
      grpcTls,
    },
  });
  const { url, grpc } = await gateway.listen();
  logger.info({ url, grpc: grpc?.url ?? 'off', instance: config.instanceId }, 'gateway ready');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void (async () => {
      await gateway.close();
      policy.close();
      await bus.drain();
      await stores.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`cordum-gateway: ${toError(err).message}\n`);
  process.exit(1);
});
