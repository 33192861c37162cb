import type { PointerStore } from '@cordum/store';
import type { PortFactory } from './fixture.js';

// STUB: replaced by the real contract suite.
export function runPointerStoreContract(_label: string, _factory: PortFactory<PointerStore>): void {
  throw new Error('runPointerStoreContract is not implemented yet');
}
