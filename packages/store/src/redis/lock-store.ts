import { TerminalError } from '@cordum/core';
import type { LockStore } from '../ports/lock-store.js';
import type { RedisStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createRedisLockStore(_ctx: RedisStoreContext): LockStore {
  throw new TerminalError('createRedisLockStore is not implemented yet');
}
