import type { DlqStore } from '@cordum/store';
import type { PortFactory } from './fixture.js';

// STUB: replaced by the real contract suite.
export function runDlqStoreContract(_label: string, _factory: PortFactory<DlqStore>): void {
  throw new Error('runDlqStoreContract is not implemented yet');
}
