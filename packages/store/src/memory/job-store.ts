import { TerminalError } from '@cordum/core';
import type { JobStore } from '../ports/job-store.js';
import type { MemoryStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createMemoryJobStore(_ctx: MemoryStoreContext): JobStore {
  throw new TerminalError('createMemoryJobStore is not implemented yet');
}
