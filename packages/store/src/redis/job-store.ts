import { TerminalError } from '@cordum/core';
import type { JobStore } from '../ports/job-store.js';
import type { RedisStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createRedisJobStore(_ctx: RedisStoreContext): JobStore {
  throw new TerminalError('createRedisJobStore is not implemented yet');
}
