import type { ListenAddress } from '../cli/address.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `cordum dev` after flag parsing and validation. */
export type DevOptions = {
  /** NATS server URL(s); with `redis`, the platform runs on real servers instead of the memory backends. */
  readonly nats: readonly string[] | undefined;
  readonly redis: string | undefined;
  readonly redisPrefix: string;
  /** Worker module paths (relative to the working directory, or absolute), loaded after the examples' worker. */
  readonly workers: readonly string[];
  /** Base policy bundle (default: the demo policy with examples). */
  readonly policy: string | undefined;
  /** Bootstrap routing files (default: the demo ones with examples). */
  readonly pools: string | undefined;
  readonly timeouts: string | undefined;
  readonly httpAddr: ListenAddress;
  readonly grpcAddr: ListenAddress;
  readonly kernelAddr: ListenAddress;
  /** null: no metrics server. */
  readonly metricsAddr: ListenAddress | null;
  /** Load examples/demo and the echo worker. */
  readonly examples: boolean;
  readonly logLevel: LogLevel;
  /** How long in-process workers get to finish running jobs at shutdown. */
  readonly drainTimeoutMs: number;
};

export const DEV_DEFAULTS = {
  httpAddr: '127.0.0.1:8081',
  grpcAddr: '127.0.0.1:8080',
  kernelAddr: '127.0.0.1:50051',
  metricsAddr: '127.0.0.1:9090',
  redisPrefix: 'cordum:',
  logLevel: 'warn',
  drainTimeoutMs: 10_000,
} as const;
