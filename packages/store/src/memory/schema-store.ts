import { TerminalError } from '@cordum/core';
import type { SchemaStore } from '../ports/schema-store.js';
import type { MemoryStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createMemorySchemaStore(_ctx: MemoryStoreContext): SchemaStore {
  throw new TerminalError('createMemorySchemaStore is not implemented yet');
}
