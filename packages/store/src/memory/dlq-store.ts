import { TerminalError } from '@cordum/core';
import type { DlqStore } from '../ports/dlq-store.js';
import type { MemoryStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createMemoryDlqStore(_ctx: MemoryStoreContext): DlqStore {
  throw new TerminalError('createMemoryDlqStore is not implemented yet');
}
