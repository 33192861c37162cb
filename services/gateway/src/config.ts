import { hostname } from 'node:os';
import { type ConfigOf, type EnvSource, InvalidError, env, loadConfig } from '@cordum/core';
import { isLoopbackHost, parseListenAddress } from './http/listen-address.js';

// The only place the gateway reads the environment. Names follow upstream Cordum where it had them
// (CORDUM_API_KEYS, CORDUM_ALLOWED_ORIGINS, API_RATE_LIMIT_RPS, GATEWAY_*_ADDR).
export const GATEWAY_ENV = {
  httpAddr: env.string('GATEWAY_HTTP_ADDR', { default: ':8081', description: 'HTTP listen address (host:port; :8081 = every interface)' }),
  grpcAddr: env.string('GATEWAY_GRPC_ADDR', {
    default: ':8080',
    description: 'gRPC listen address (cordum.v1.CordumApi); off = no gRPC; without API keys the default is 127.0.0.1:8080',
  }),
  tlsCert: env.string('GATEWAY_TLS_CERT', { description: 'TLS certificate (PEM file) for HTTP; with the key, HTTPS only' }),
  tlsKey: env.string('GATEWAY_TLS_KEY', { description: 'TLS private key (PEM file) for HTTP' }),
  grpcTlsCert: env.string('GRPC_TLS_CERT', {
    description: 'TLS certificate (PEM file) for gRPC; with the key, gRPC is TLS only (default: the HTTP certificate)',
  }),
  grpcTlsKey: env.string('GRPC_TLS_KEY', { description: 'TLS private key (PEM file) for gRPC (default: the HTTP key)' }),
  natsUrl: env.string('NATS_URL', { default: 'nats://127.0.0.1:4222', description: 'NATS server URL(s), comma-separated' }),
  jetstream: env.bool('NATS_USE_JETSTREAM', { default: false, description: 'Durable sys.job.submit/result/dlq on JetStream' }),
  maxAgeMs: env.duration('NATS_JS_MAX_AGE', { default: '7d', description: 'JetStream stream max age' }),
  replicas: env.int('NATS_JS_REPLICAS', { default: 1, min: 1, max: 5, description: 'JetStream stream replicas' }),
  redisUrl: env.url('REDIS_URL', { default: 'redis://127.0.0.1:6379', protocols: ['redis', 'rediss'], description: 'Redis URL' }),
  redisPrefix: env.string('CORDUM_REDIS_PREFIX', { default: 'cordum:', description: 'Key prefix of every Redis key' }),
  apiKeys: env.string('CORDUM_API_KEYS', {
    description: 'API keys: a JSON array of {key or key_sha256, tenant, principal_id, roles}, or a comma list of key or name:key (tenant CORDUM_DEFAULT_TENANT, role admin)',
  }),
  apiKeysFile: env.string('CORDUM_API_KEYS_FILE', { description: 'File with API keys (same formats as CORDUM_API_KEYS); read at start' }),
  defaultTenant: env.string('CORDUM_DEFAULT_TENANT', {
    default: 'default',
    aliases: ['TENANT_ID'],
    description: 'Tenant of keys given without one, and of every request in open mode',
  }),
  allowedOrigins: env.list('CORDUM_ALLOWED_ORIGINS', {
    aliases: ['CORDUM_CORS_ALLOW_ORIGINS', 'CORS_ALLOW_ORIGINS'],
    description: 'CORS allowlist (comma list of origins, * for any); empty = http(s)://localhost, 127.0.0.1 and [::1] on any port',
  }),
  bodyLimitBytes: env.int('GATEWAY_BODY_LIMIT_BYTES', { default: 2 * 1024 * 1024, min: 1024, description: 'Largest request body (413 above)' }),
  contextInlineMaxBytes: env.int('GATEWAY_CONTEXT_INLINE_MAX_BYTES', {
    default: 1024 * 1024,
    min: 0,
    description: 'Job inputs larger than this go to the artifact store (the context holds a reference); 0 = never',
  }),
  resultInlineMaxBytes: env.int('GATEWAY_RESULT_INLINE_MAX_BYTES', {
    default: 64 * 1024,
    min: 0,
    description: 'GET /jobs/{id} inlines results and inputs up to this size',
  }),
  rateLimitRps: env.int('API_RATE_LIMIT_RPS', { default: 100, min: 0, description: 'Requests per second per principal (0 = no limit)' }),
  authFailuresPerMinute: env.int('API_AUTH_FAILURE_LIMIT', {
    default: 20,
    min: 0,
    description: 'Failed authentications per client address per minute before it gets 429 for the rest of the minute (0 = no limit)',
  }),
  submitGraceMs: env.duration('GATEWAY_SUBMIT_GRACE', {
    default: '10s',
    description: 'A submitted job nobody picked up is replayed by a scheduler after this long',
  }),
  workerTimeoutMs: env.duration('WORKER_HEARTBEAT_TIMEOUT', { default: '15s', description: 'A worker silent this long is no longer listed' }),
  instanceId: env.string('GATEWAY_INSTANCE_ID', { description: 'Sender id of packets this instance publishes (default gateway-<host>-<pid>)' }),
  buildCommit: env.string('CORDUM_BUILD_COMMIT', { description: 'Commit reported by /api/v1/status' }),
  buildDate: env.string('CORDUM_BUILD_DATE', { description: 'Build date reported by /api/v1/status' }),
  cordumEnv: env.string('CORDUM_ENV', { default: 'development', description: 'production requires API keys and TLS' }),
  logLevel: env.enum('CORDUM_LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'silent'], { default: 'info', description: 'Log level' }),
  kernelAddr: env.string('SAFETY_KERNEL_ADDR', { default: '127.0.0.1:50051', description: 'Safety kernel gRPC address (policy evaluate/explain/simulate/snapshots)' }),
  kernelTlsCa: env.string('SAFETY_KERNEL_TLS_CA', { description: 'CA (PEM file) of the kernel certificate; TLS to the kernel when set' }),
};

export type GatewayConfig = ConfigOf<typeof GATEWAY_ENV> & {
  readonly instanceId: string;
  readonly production: boolean;
  /**
   * Where gRPC listens: GATEWAY_GRPC_ADDR, undefined when it is `off`. Without API keys and without an explicit
   * GATEWAY_GRPC_ADDR it is port 8080 on the HTTP address's loopback host (open mode stays on this machine).
   */
  readonly grpcListen: string | undefined;
  /** PEM files gRPC serves TLS with: GRPC_TLS_CERT/_KEY, else GATEWAY_TLS_CERT/_KEY; undefined = plaintext. */
  readonly grpcTlsFiles: { cert: string; key: string } | undefined;
};

/**
 * Loads and checks the gateway's settings; every problem in one InvalidError (config_invalid). Keys are
 * parsed later (auth/api-keys.ts) because the file is read by main.ts, but the open-mode rule is checked
 * here too so a misconfigured process fails before it connects to anything.
 */
export function loadGatewayConfig(source: EnvSource = process.env): GatewayConfig {
  const cfg = loadConfig(GATEWAY_ENV, source);
  const problems: string[] = [];
  const production = cfg.cordumEnv.trim().toLowerCase() === 'production';
  let host: string | undefined;
  try {
    host = parseListenAddress(cfg.httpAddr).host;
  } catch (err) {
    problems.push(`GATEWAY_HTTP_ADDR ${(err as Error).message}`);
  }
  if ((cfg.tlsCert === undefined) !== (cfg.tlsKey === undefined)) {
    problems.push('GATEWAY_TLS_CERT and GATEWAY_TLS_KEY go together');
  } else if (production && cfg.tlsCert === undefined) {
    problems.push('CORDUM_ENV=production requires TLS: set GATEWAY_TLS_CERT and GATEWAY_TLS_KEY');
  }
  const keysGiven = cfg.apiKeys !== undefined || cfg.apiKeysFile !== undefined;
  const grpcListen = grpcListenOf(cfg.grpcAddr, (source['GATEWAY_GRPC_ADDR'] ?? '').trim() !== '', keysGiven, host, problems);
  if ((cfg.grpcTlsCert === undefined) !== (cfg.grpcTlsKey === undefined)) {
    problems.push('GRPC_TLS_CERT and GRPC_TLS_KEY go together');
  }
  const grpcTlsFiles =
    cfg.grpcTlsCert !== undefined && cfg.grpcTlsKey !== undefined
      ? { cert: cfg.grpcTlsCert, key: cfg.grpcTlsKey }
      : cfg.tlsCert !== undefined && cfg.tlsKey !== undefined
        ? { cert: cfg.tlsCert, key: cfg.tlsKey }
        : undefined;
  if (!keysGiven && production) {
    problems.push('CORDUM_ENV=production requires API keys: set CORDUM_API_KEYS or CORDUM_API_KEYS_FILE');
  } else if (!keysGiven && host !== undefined && !isLoopbackHost(host)) {
    problems.push(
      `no API keys are configured, so the gateway would run open (no authentication); it does that only on localhost: set CORDUM_API_KEYS or bind GATEWAY_HTTP_ADDR=127.0.0.1:${parseListenAddress(cfg.httpAddr).port}`,
    );
  }
  if (problems.length > 0) {
    throw new InvalidError(`invalid configuration: ${problems.join('; ')}`, { code: 'config_invalid', details: { problems } });
  }
  return Object.freeze({ ...cfg, production, grpcListen, grpcTlsFiles, instanceId: cfg.instanceId ?? `gateway-${hostname()}-${process.pid}` });
}

function grpcListenOf(addr: string, explicit: boolean, keysGiven: boolean, httpHost: string | undefined, problems: string[]): string | undefined {
  if (addr.trim().toLowerCase() === 'off') return undefined;
  let grpc: { host: string; port: number };
  try {
    grpc = parseListenAddress(addr);
  } catch (err) {
    problems.push(`GATEWAY_GRPC_ADDR ${(err as Error).message} (or off)`);
    return undefined;
  }
  if (keysGiven || isLoopbackHost(grpc.host)) return addr;
  if (!explicit) {
    const host = httpHost !== undefined && isLoopbackHost(httpHost) ? httpHost : '127.0.0.1';
    return `${host.includes(':') ? `[${host}]` : host}:${grpc.port}`;
  }
  problems.push(
    `no API keys are configured, so gRPC would run open (no authentication); it does that only on localhost: set CORDUM_API_KEYS or bind GATEWAY_GRPC_ADDR=127.0.0.1:${grpc.port}`,
  );
  return undefined;
}
