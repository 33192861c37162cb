import { TerminalError } from '@cordum/core';
import type { ConfigStore } from '../ports/config-store.js';
import type { RedisStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createRedisConfigStore(_ctx: RedisStoreContext): ConfigStore {
  throw new TerminalError('createRedisConfigStore is not implemented yet');
}
