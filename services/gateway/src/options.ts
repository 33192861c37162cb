import { STREAM_DEFAULTS, type StreamOptions } from './stream/hub.js';

/** Tunables of one gateway instance (resolved from env by config.ts, or passed by tests and cordum dev). */
export type GatewayOptions = {
  /** Sender id of packets this instance publishes. */
  instanceId: string;
  /** host:port listen() binds (":8081" = every interface; port 0 picks a free port). */
  httpAddr: string;
  /** Largest request body; 413 above. */
  bodyLimitBytes: number;
  /** Job inputs larger than this are stored as artifacts, the context holding a reference; 0 = never. */
  contextInlineMaxBytes: number;
  /** GET /jobs/{id} inlines inputs and results up to this size. */
  resultInlineMaxBytes: number;
  /** Requests per second per principal; 0 = no limit. */
  rateLimitRps: number;
  /** Failed authentications per client address per minute (HTTP, WebSocket, gRPC); 0 = no limit. */
  authFailuresPerMinute: number;
  /** CORS allowlist; empty = localhost origins only; ["*"] = any. */
  allowedOrigins: readonly string[];
  /** A stored job nobody picked up is replayed by a scheduler after this long (its due time). */
  submitGraceMs: number;
  /** Workers silent this long are not listed. */
  workerTimeoutMs: number;
  /** Tenant of the anonymous principal in open mode. */
  defaultTenant: string;
  /** Jobs scanned (newest first) to answer GET /traces/{id}: the job store has no trace index yet. */
  traceScanLimit: number;
  build: { version: string; commit: string; date: string };
  /** PEM contents; HTTPS when set. */
  tls: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** gRPC (cordum.v1.CordumApi) listen address, started by listen(); undefined = no gRPC. */
  grpcAddr: string | undefined;
  /** PEM contents; gRPC over TLS when set. */
  grpcTls: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** GET /api/v1/stream: connections, per-socket queue, ping interval. */
  stream: StreamOptions;
};

export const GATEWAY_DEFAULTS: Omit<GatewayOptions, 'instanceId'> = {
  httpAddr: '127.0.0.1:8081',
  bodyLimitBytes: 2 * 1024 * 1024,
  contextInlineMaxBytes: 1024 * 1024,
  resultInlineMaxBytes: 64 * 1024,
  rateLimitRps: 100,
  authFailuresPerMinute: 20,
  allowedOrigins: [],
  submitGraceMs: 10_000,
  workerTimeoutMs: 15_000,
  defaultTenant: 'default',
  traceScanLimit: 5000,
  build: { version: '0.1.0', commit: '', date: '' },
  tls: undefined,
  grpcAddr: undefined,
  grpcTls: undefined,
  stream: STREAM_DEFAULTS,
};

export function resolveGatewayOptions(options: Partial<GatewayOptions> = {}): GatewayOptions {
  return { ...GATEWAY_DEFAULTS, instanceId: 'gateway', ...options };
}
