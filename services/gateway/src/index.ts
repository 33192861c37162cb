// @cordum/gateway: the control-plane HTTP API. createGateway() is used by main.ts, cordum dev and tests; it
// talks to other services only over the bus and reads and writes state through the store ports.
import type { Bus, Subscription } from '@cordum/bus';
import { type Clock, type Logger, type Metrics, createMetrics, createSilentLogger, systemClock } from '@cordum/core';
import type { GrpcServer } from '@cordum/rpc';
import { createOpenResolver } from './auth/api-keys.js';
import { limitAuthFailures } from './auth/failure-limit.js';
import type { PrincipalResolver, RouteRole } from './auth/principal.js';
import type { GatewayContext, GatewayStores } from './context.js';
import { subscribeHeartbeats } from './handlers/bus.js';
import { type GatewayApp, buildApp } from './http/app.js';
import { isLoopbackHost, parseListenAddress } from './http/listen-address.js';
import { createGatewayGrpcServer } from './grpc/server.js';
import { createGatewayMetrics } from './metrics.js';
import type { GatewayPolicy } from './policy/port.js';
import { type GatewayOptions, resolveGatewayOptions } from './options.js';
import { createWorkerRegistry } from './status/workers.js';
import { createStreamHub } from './stream/hub.js';
import { createStreamMetrics } from './stream/metrics.js';

export type GatewayDeps = {
  bus: Bus;
  stores: GatewayStores;
  /** Who is calling. Default: open mode (anonymous, every role, tenant options.defaultTenant; localhost only). */
  principals?: PrincipalResolver;
  logger?: Logger;
  metrics?: Metrics;
  clock?: Clock;
  options?: Partial<GatewayOptions>;
  /** The safety kernel for the policy routes (main.ts: gRPC to SAFETY_KERNEL_ADDR; cordum dev: the in-process kernel). */
  policy?: GatewayPolicy;
};

export type Gateway = {
  /** The Fastify instance (tests use app.inject; it is ready once createGateway resolves). */
  readonly app: GatewayApp;
  /**
   * Subscribes to heartbeats and the stream's subjects, listens on options.httpAddr, and serves gRPC on
   * options.grpcAddr when set (`grpc` in the answer). Refuses to listen open on a non-loopback address.
   */
  listen(): Promise<{ host: string; port: number; url: string; grpc?: { host: string; port: number; url: string } }>;
  /** Stops gRPC and the stream (sockets get 1001), stops listening (in-flight requests finish) and unsubscribes. */
  close(): Promise<void>;
  /** Every route with its declared role (what the role test checks). */
  readonly routes: readonly { method: string; url: string; role: RouteRole | undefined }[];
};

export async function createGateway(deps: GatewayDeps): Promise<Gateway> {
  const options = resolveGatewayOptions(deps.options);
  const logger = (deps.logger ?? createSilentLogger()).child({ component: 'gateway', instance: options.instanceId });
  const clock = deps.clock ?? systemClock;
  const rawMetrics = deps.metrics ?? createMetrics();
  const principals = limitAuthFailures(deps.principals ?? createOpenResolver(options.defaultTenant), { perMinute: options.authFailuresPerMinute, clock });
  const ctx: GatewayContext = {
    bus: deps.bus,
    stores: deps.stores,
    logger,
    metrics: createGatewayMetrics(rawMetrics),
    options,
    clock,
    workers: createWorkerRegistry(options.workerTimeoutMs),
    startedAt: clock.now(),
    ...(deps.policy === undefined ? {} : { policy: deps.policy }),
  };
  const routes: { method: string; url: string; role: RouteRole | undefined }[] = [];
  const stream = createStreamHub(ctx, createStreamMetrics(rawMetrics), options.stream);
  const app = await buildApp({
    stream,
    ctx,
    principals,
    metricsText: () => rawMetrics.text(),
    metricsContentType: rawMetrics.contentType,
    onRouteRegistered: (r) => routes.push(r),
  });
  await app.ready();
  let heartbeats: Subscription | undefined;
  let grpc: GrpcServer | undefined;

  return {
    app,
    routes,
    async listen() {
      const { host, port } = parseListenAddress(options.httpAddr);
      if (principals.open && !isLoopbackHost(host)) {
        throw new Error(
          `refusing to serve without authentication on ${options.httpAddr}: configure API keys, or bind to 127.0.0.1, localhost or [::1]`,
        );
      }
      const grpcAddress = options.grpcAddr === undefined ? undefined : parseListenAddress(options.grpcAddr);
      if (principals.open && grpcAddress !== undefined && !isLoopbackHost(grpcAddress.host)) {
        throw new Error(
          `refusing to serve gRPC without authentication on ${options.grpcAddr ?? ''}: configure API keys, or bind to 127.0.0.1, localhost or [::1]`,
        );
      }
      heartbeats ??= await subscribeHeartbeats(ctx);
      await stream.start();
      await app.listen({ host, port });
      const address = app.server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      const scheme = options.tls === undefined ? 'http' : 'https';
      const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${bound}`;
      if (principals.open) {
        logger.warn(
          { url },
          '!!! OPEN MODE: no API keys are configured, every request is served as "anonymous" with every role in tenant ' +
            `"${options.defaultTenant}". Only this machine can reach ${url}. Set CORDUM_API_KEYS before exposing the gateway. !!!`,
        );
      }
      logger.info({ url, docs: `${url}/api/v1/docs`, open: principals.open }, 'gateway listening');
      if (grpcAddress === undefined) return { host, port: bound, url };
      const hostPort = (p: number): string => `${grpcAddress.host.includes(':') ? `[${grpcAddress.host}]` : grpcAddress.host}:${p}`;
      grpc ??= createGatewayGrpcServer(ctx, principals, { address: hostPort(grpcAddress.port), tls: options.grpcTls });
      const { port: grpcPort } = await grpc.start();
      const grpcUrl = `${options.grpcTls === undefined ? 'http' : 'https'}://${hostPort(grpcPort)}`;
      logger.info({ url: grpcUrl, tls: options.grpcTls !== undefined }, 'gateway gRPC listening');
      return { host, port: bound, url, grpc: { host: grpcAddress.host, port: grpcPort, url: grpcUrl } };
    },
    async close() {
      await grpc?.stop();
      grpc = undefined;
      await stream.close();
      await app.close();
      await heartbeats?.drain();
      heartbeats = undefined;
    },
  };
}

export { GATEWAY_ENV, type GatewayConfig, loadGatewayConfig } from './config.js';
export { type GatewayOptions, GATEWAY_DEFAULTS } from './options.js';
export { type GatewayStores } from './context.js';
export { type GatewayPolicy } from './policy/port.js';
export { type GatewayApp } from './http/app.js';
export {
  type Credentials,
  type Principal,
  type PrincipalResolver,
  ROLES,
  type Role,
  type RouteRole,
  credentialsOf,
  hasRole,
} from './auth/principal.js';
export { type ApiKeyEntry, MIN_KEY_LENGTH, createApiKeyResolver, createOpenResolver, parseApiKeys } from './auth/api-keys.js';
export { ARTIFACT_REFERENCE_KEY } from './jobs/enqueue.js';
export { type StreamOptions, STREAM_DEFAULTS } from './stream/hub.js';
