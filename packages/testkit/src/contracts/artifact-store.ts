import type { ArtifactStore } from '@cordum/store';
import type { PortFactory } from './fixture.js';

// STUB: replaced by the real contract suite.
export function runArtifactStoreContract(_label: string, _factory: PortFactory<ArtifactStore>): void {
  throw new Error('runArtifactStoreContract is not implemented yet');
}
