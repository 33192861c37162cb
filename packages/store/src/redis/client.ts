import { Redis, type RedisOptions } from 'ioredis';

export type RedisClientOptions = {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS. */
  url: string;
  /** Extra ioredis options (TLS material, timeouts). */
  options?: RedisOptions;
};

/** The Redis connection every store adapter of a process shares. */
export type RedisConnection = {
  readonly client: Redis;
  close(): Promise<void>;
  ping(): Promise<void>;
};

/**
 * Connects with settings suited to a control plane: commands fail after a bounded number of reconnect
 * attempts (callers turn that into a retryable `unavailable`) instead of queueing forever.
 */
export function createRedisConnection(opts: RedisClientOptions): RedisConnection {
  const client = new Redis(opts.url, {
    maxRetriesPerRequest: 3,
    connectTimeout: 5000,
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    ...opts.options,
  });
  // Connection errors surface on the failing commands; without a listener ioredis logs them to stderr.
  client.on('error', () => undefined);
  return {
    client,
    async close() {
      if (client.status === 'end') return;
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
    async ping() {
      await client.ping();
    },
  };
}
