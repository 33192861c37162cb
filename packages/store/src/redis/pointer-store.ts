import { TerminalError } from '@cordum/core';
import type { PointerStore } from '../ports/pointer-store.js';
import type { RedisStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createRedisPointerStore(_ctx: RedisStoreContext): PointerStore {
  throw new TerminalError('createRedisPointerStore is not implemented yet');
}
