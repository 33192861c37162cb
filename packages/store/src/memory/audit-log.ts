import { TerminalError } from '@cordum/core';
import type { AuditLog } from '../ports/audit-log.js';
import type { MemoryStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createMemoryAuditLog(_ctx: MemoryStoreContext): AuditLog {
  throw new TerminalError('createMemoryAuditLog is not implemented yet');
}
