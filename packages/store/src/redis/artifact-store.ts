import { TerminalError } from '@cordum/core';
import type { ArtifactStore } from '../ports/artifact-store.js';
import type { RedisStoreContext } from './context.js';

// STUB: replaced by the real adapter.
export function createRedisArtifactStore(_ctx: RedisStoreContext): ArtifactStore {
  throw new TerminalError('createRedisArtifactStore is not implemented yet');
}
