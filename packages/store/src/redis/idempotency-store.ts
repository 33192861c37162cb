import { TerminalError } from '@cordum/core';
import type { IdempotencyStore } from '../ports/idempotency-store.js';
import type { RedisStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createRedisIdempotencyStore(_ctx: RedisStoreContext): IdempotencyStore {
  throw new TerminalError('createRedisIdempotencyStore is not implemented yet');
}
