import type { SchemaStore } from '@cordum/store';
import type { PortFactory } from './fixture.js';

// STUB: replaced by the real contract suite.
export function runSchemaStoreContract(_label: string, _factory: PortFactory<SchemaStore>): void {
  throw new Error('runSchemaStoreContract is not implemented yet');
}
