import { TerminalError } from '@cordum/core';
import type { ConfigStore } from '../ports/config-store.js';
import type { MemoryStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createMemoryConfigStore(_ctx: MemoryStoreContext): ConfigStore {
  throw new TerminalError('createMemoryConfigStore is not implemented yet');
}
