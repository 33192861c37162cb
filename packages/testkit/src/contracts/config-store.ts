import type { ConfigStore } from '@cordum/store';
import type { PortFactory } from './fixture.js';

// STUB: replaced by the real contract suite.
export function runConfigStoreContract(_label: string, _factory: PortFactory<ConfigStore>): void {
  throw new Error('runConfigStoreContract is not implemented yet');
}
