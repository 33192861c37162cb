import { memoryFactory, runArtifactStoreContract } from '@cordum/testkit';
import { describe, expect, it } from 'vitest';
import { createMemoryArtifactStore } from './artifact-store.js';

// The options runArtifactStoreContract requires (see its doc comment).
const CONTRACT_OPTIONS = {
  artifactChunkBytes: 1024,
  artifactMaxBytes: 256 * 1024,
  artifactRetentionMs: { short: 150 },
};

runArtifactStoreContract(
  'memory',
  memoryFactory((ctx) => createMemoryArtifactStore(ctx), CONTRACT_OPTIONS),
);

describe('memory ArtifactStore', () => {
  it('expires exactly at the retention of its class on the store clock', async () => {
    const factory = memoryFactory((ctx) => createMemoryArtifactStore(ctx), { artifactRetentionMs: { audit: 5_000 } });
    const fx = await factory();
    const meta = await fx.port.put({ tenant: 'acme', content: 'x', retention: 'audit' });
    expect(meta.expiresAt).toBe(meta.createdAt + 5_000);
    await fx.elapse(4_999);
    expect(await fx.port.head('acme', meta.id)).toBeDefined();
    // At expiresAt itself the artifact is still there, as Redis keeps a key until now > expiresAt (isExpired).
    await fx.elapse(1);
    expect(await fx.port.head('acme', meta.id)).toBeDefined();
    await fx.elapse(1);
    expect(await fx.port.head('acme', meta.id)).toBeUndefined();
    expect((await fx.port.list('acme')).items).toEqual([]);
  });
});
