import type { IdempotencyStore } from '@cordum/store';
import type { PortFactory } from './fixture.js';

// STUB: replaced by the real contract suite.
export function runIdempotencyStoreContract(_label: string, _factory: PortFactory<IdempotencyStore>): void {
  throw new Error('runIdempotencyStoreContract is not implemented yet');
}
