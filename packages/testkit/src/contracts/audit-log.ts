import type { AuditLog } from '@cordum/store';
import type { PortFactory } from './fixture.js';

// STUB: replaced by the real contract suite.
export function runAuditLogContract(_label: string, _factory: PortFactory<AuditLog>): void {
  throw new Error('runAuditLogContract is not implemented yet');
}
