import type { JobStore } from '@cordum/store';
import type { PortFactory } from './fixture.js';

// STUB: replaced by the real contract suite.
export function runJobStoreContract(_label: string, _factory: PortFactory<JobStore>): void {
  throw new Error('runJobStoreContract is not implemented yet');
}
