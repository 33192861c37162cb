import { TerminalError } from '@cordum/core';
import type { LockStore } from '../ports/lock-store.js';
import type { MemoryStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createMemoryLockStore(_ctx: MemoryStoreContext): LockStore {
  throw new TerminalError('createMemoryLockStore is not implemented yet');
}
