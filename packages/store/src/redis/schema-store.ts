import { TerminalError } from '@cordum/core';
import type { SchemaStore } from '../ports/schema-store.js';
import type { RedisStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createRedisSchemaStore(_ctx: RedisStoreContext): SchemaStore {
  throw new TerminalError('createRedisSchemaStore is not implemented yet');
}
