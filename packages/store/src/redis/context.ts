import type { Redis } from 'ioredis';
import type { ResolvedStoreOptions } from '../ports/stores.js';
import type { Keyspace } from './keyspace.js';

/** What every Redis adapter is built from: one shared client, one keyspace. */
export type RedisStoreContext = {
  readonly client: Redis;
  readonly keys: Keyspace;
  readonly options: ResolvedStoreOptions;
};
