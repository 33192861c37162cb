import { TerminalError } from '@cordum/core';
import type { ArtifactStore } from '../ports/artifact-store.js';
import type { MemoryStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createMemoryArtifactStore(_ctx: MemoryStoreContext): ArtifactStore {
  throw new TerminalError('createMemoryArtifactStore is not implemented yet');
}
