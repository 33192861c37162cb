import { TerminalError } from '@cordum/core';
import type { AuditLog } from '../ports/audit-log.js';
import type { RedisStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createRedisAuditLog(_ctx: RedisStoreContext): AuditLog {
  throw new TerminalError('createRedisAuditLog is not implemented yet');
}
