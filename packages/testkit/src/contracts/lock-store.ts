import type { LockStore } from '@cordum/store';
import type { PortFactory } from './fixture.js';

// STUB: replaced by the real contract suite.
export function runLockStoreContract(_label: string, _factory: PortFactory<LockStore>): void {
  throw new Error('runLockStoreContract is not implemented yet');
}
