import { Redis, type RedisOptions } from 'ioredis';

export type RedisClientOptions = {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS. */
  url: string;
  /**
   * Extra ioredis options (TLS material, timeouts). `autoResendUnfulfilledCommands` cannot be turned back
   * on: the stores rely on a sent command never being sent twice.
   */
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
 *
 * A command already written to a connection that drops is never sent again. Redis may have run it (the
 * reply was lost, not the request), and our scripts are not idempotent: a resent create answers
 * already_exists to its own creator, a resent CAS transition reports state_conflict to the writer that won,
 * an increment or a lock hold counts twice. Such a command fails instead, which the adapters report as
 * RetryableError(unavailable): the outcome is unknown and the caller re-reads before retrying. Commands
 * still in the offline queue (never written) are sent once the connection is back.
 */
export function createRedisConnection(opts: RedisClientOptions): RedisConnection {
  const client = new Redis(opts.url, {
    maxRetriesPerRequest: 3,
    connectTimeout: 5000,
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    ...opts.options,
    autoResendUnfulfilledCommands: false,
  });
  // Connection errors surface on the failing commands; without a listener ioredis logs them to stderr.
  client.on('error', () => undefined);
  client.on('close', () => failUnanswered(client));
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

/**
 * Rejects every command written to the connection that just closed and still waiting for its reply.
 *
 * With autoResendUnfulfilledCommands off, ioredis 5 parks them at close and, once a reconnect succeeds,
 * drops them without settling their promises (redis/ioredis#2193): the caller would wait forever. ioredis
 * emits 'close' on the tick after its close handler ran and arms the reconnect timer no sooner, so here the
 * command queue still holds exactly the commands of the dead connection; new commands wait in the offline
 * queue, which is left alone. Emptying the queue also leaves nothing for ioredis to resend or drop.
 */
function failUnanswered(client: Redis): void {
  const queue = client.commandQueue;
  if (queue.length === 0) return;
  const err = new Error('connection lost before the reply: the command may or may not have run');
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) item.command.reject(err);
}
