import { TerminalError } from '@cordum/core';
import type { IdempotencyStore } from '../ports/idempotency-store.js';
import type { MemoryStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createMemoryIdempotencyStore(_ctx: MemoryStoreContext): IdempotencyStore {
  throw new TerminalError('createMemoryIdempotencyStore is not implemented yet');
}
