import { randomBytes } from 'node:crypto';
import { createManualClock } from '@cordum/core';
import { type StoreOptions, resolveStoreOptions } from '@cordum/store';
import { type MemoryStoreContext } from '@cordum/store/memory';
import { type RedisStoreContext, createKeyspace, createRedisConnection } from '@cordum/store/redis';
import type { RedisServer } from '../servers.js';

/**
 * One instance of a port under test. Contract suites get a fresh fixture per test (its own keyspace), move
 * time with elapse() — the memory backend advances its manual clock, the Redis backend really waits — and
 * close it afterwards.
 */
export type PortFixture<P> = {
  readonly port: P;
  /** Lets `ms` of store-clock time pass. */
  elapse(ms: number): Promise<void>;
  close(): Promise<void>;
  /** A second instance over the same backend data (another process's view); for cross-instance checks. */
  twin(): P;
};

export type PortFactory<P> = () => Promise<PortFixture<P>>;

/** A keyspace prefix no other test uses. */
export function uniquePrefix(label = 'test'): string {
  return `${label}-${randomBytes(6).toString('hex')}:`;
}

/** Fixtures over the memory backend with a manual clock starting at the real time. */
export function memoryFactory<P>(
  make: (ctx: MemoryStoreContext) => P,
  options: StoreOptions = {},
): PortFactory<P> {
  return () => {
    const clock = createManualClock(Date.now());
    const ctx: MemoryStoreContext = { clock, options: resolveStoreOptions(options) };
    const port = make(ctx);
    return Promise.resolve({
      port,
      elapse: (ms) => {
        clock.advance(ms);
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
      // The memory backend's data lives in the adapter instance, so the twin is the same instance.
      twin: () => port,
    });
  };
}

/**
 * Fixtures over a real Redis server (started by the test file with startRedis()), each with its own key
 * prefix and connection. twin() opens another connection on the same keyspace.
 */
export function redisFactory<P>(
  server: () => RedisServer,
  make: (ctx: RedisStoreContext) => P,
  options: StoreOptions = {},
): PortFactory<P> {
  return () => {
    const keys = createKeyspace(uniquePrefix());
    const resolved = resolveStoreOptions(options);
    const connections = [createRedisConnection({ url: server().url })];
    const first = connections[0]!;
    return Promise.resolve({
      port: make({ client: first.client, keys, options: resolved }),
      elapse: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      close: async () => {
        await Promise.all(connections.map((c) => c.close()));
      },
      twin: () => {
        const c = createRedisConnection({ url: server().url });
        connections.push(c);
        return make({ client: c.client, keys, options: resolved });
      },
    });
  };
}
