import { newId, sha256Hex } from '@cordum/core';
import {
  checkPutArtifact,
  decodeArtifactCursor,
  encodeArtifactCursor,
  isAfterCursor,
  newArtifactMeta,
  parseArtifactId,
} from '../model/artifact.js';
import { checkTenant, isExpired, pageOf, settle } from '../model/common.js';
import type { ArtifactMeta, ArtifactStore } from '../ports/artifact-store.js';
import { pageLimit } from '../ports/cursor.js';
import type { MemoryStoreContext } from './context.js';

// Mirrors the Redis adapter: ids are UUIDv7 from the store clock, expiry by retention class on the store
// clock, listing newest first (created_at descending, ties by id descending) with the same cursor shape.
// Content is kept whole (chunking is a Redis storage detail) and copied in and out; metadata objects handed
// out are fresh each time.

/** Expired artifacts are dropped when read, and all of them every this many puts. */
const SWEEP_EVERY = 64;

type Stored = { meta: ArtifactMeta; content: Buffer };

export function createMemoryArtifactStore(ctx: MemoryStoreContext): ArtifactStore {
  const artifacts = new Map<string, Stored>();
  let puts = 0;

  const expired = (stored: Stored, now: number): boolean => isExpired(stored.meta.expiresAt, now);

  /** The tenant's live artifact; another tenant's reads as missing. */
  const find = (tenant: string, pointerOrId: string): Stored | undefined => {
    checkTenant(tenant);
    const id = parseArtifactId(pointerOrId);
    const stored = artifacts.get(id);
    if (stored === undefined) return undefined;
    if (expired(stored, ctx.clock.now())) {
      artifacts.delete(id);
      return undefined;
    }
    return stored.meta.tenant === tenant ? stored : undefined;
  };

  const sweep = (): void => {
    if (++puts % SWEEP_EVERY !== 0) return;
    const now = ctx.clock.now();
    for (const [id, stored] of artifacts) if (expired(stored, now)) artifacts.delete(id);
  };

  return {
    put: (artifact) =>
      settle(() => {
        const checked = checkPutArtifact(artifact, ctx.options.artifactMaxBytes);
        const now = ctx.clock.now();
        const id = newId(now);
        const meta = newArtifactMeta(
          id,
          checked,
          sha256Hex(checked.content),
          now,
          now + ctx.options.artifactRetentionMs[checked.retention],
        );
        artifacts.set(id, { meta, content: checked.content });
        sweep();
        return copyMeta(meta);
      }),
    get: (tenant, pointerOrId) =>
      settle(() => {
        const stored = find(tenant, pointerOrId);
        if (stored === undefined) return undefined;
        return { meta: copyMeta(stored.meta), content: new Uint8Array(stored.content) };
      }),
    head: (tenant, pointerOrId) =>
      settle(() => {
        const stored = find(tenant, pointerOrId);
        return stored === undefined ? undefined : copyMeta(stored.meta);
      }),
    list: (tenant, query) =>
      settle(() => {
        checkTenant(tenant);
        const limit = pageLimit(query);
        const cursor = decodeArtifactCursor(query);
        const now = ctx.clock.now();
        const metas = [...artifacts.values()]
          .filter((s) => s.meta.tenant === tenant && !expired(s, now))
          .map((s) => s.meta)
          .filter((m) => isAfterCursor(m.createdAt, m.id, cursor))
          .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
        return pageOf(metas, limit, encodeArtifactCursor, copyMeta);
      }),
    delete: (tenant, pointerOrId) =>
      settle(() => {
        const stored = find(tenant, pointerOrId);
        return stored === undefined ? false : artifacts.delete(stored.meta.id);
      }),
  };
}

function copyMeta(meta: ArtifactMeta): ArtifactMeta {
  return { ...meta, labels: { ...meta.labels } };
}
