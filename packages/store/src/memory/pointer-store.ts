import { TerminalError } from '@cordum/core';
import type { PointerStore } from '../ports/pointer-store.js';
import type { MemoryStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createMemoryPointerStore(_ctx: MemoryStoreContext): PointerStore {
  throw new TerminalError('createMemoryPointerStore is not implemented yet');
}
