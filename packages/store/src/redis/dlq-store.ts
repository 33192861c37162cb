import { TerminalError } from '@cordum/core';
import type { DlqStore } from '../ports/dlq-store.js';
import type { RedisStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createRedisDlqStore(_ctx: RedisStoreContext): DlqStore {
  throw new TerminalError('createRedisDlqStore is not implemented yet');
}
