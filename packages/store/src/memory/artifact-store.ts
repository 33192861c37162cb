import { InvalidError, isSafeId, isSafeTenantId, newId, sha256Hex, toError } from '@cordum/core';
import { artifactPointer } from '@cordum/protocol';
import type { ArtifactMeta, ArtifactStore, PutArtifact, RetentionClass } from '../ports/artifact-store.js';
import { decodeCursor, encodeCursor, pageLimit } from '../ports/cursor.js';
import type { MemoryStoreContext } from './context.js';

// Mirrors the Redis adapter: ids are UUIDv7 from the store clock, expiry by retention class on the store
// clock, listing newest first (created_at descending, ties by id descending) with the same cursor shape.
// Content is kept whole (chunking is a Redis storage detail) and copied in and out; metadata objects handed
// out are fresh each time.

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const POINTER_PREFIX = 'redis://art:';
const RETENTIONS: readonly RetentionClass[] = ['short', 'standard', 'audit'];
/** Expired artifacts are dropped when read, and all of them every this many puts. */
const SWEEP_EVERY = 64;

type Stored = { meta: ArtifactMeta; content: Buffer };

type ListCursor = { at: number; id: string };
const isListCursor = (value: unknown): value is ListCursor =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Record<string, unknown>)['at'] === 'number' &&
  typeof (value as Record<string, unknown>)['id'] === 'string';

export function createMemoryArtifactStore(ctx: MemoryStoreContext): ArtifactStore {
  const artifacts = new Map<string, Stored>();
  let puts = 0;

  const expired = (stored: Stored, now: number): boolean => stored.meta.expiresAt <= now;

  /** The tenant's live artifact; another tenant's reads as missing. */
  const find = (tenant: string, pointerOrId: string): Stored | undefined => {
    checkTenant(tenant);
    const id = parseId(pointerOrId);
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
      attempt(() => {
        const checked = checkPut(artifact, ctx.options.artifactMaxBytes);
        const now = ctx.clock.now();
        const id = newId(now);
        const meta: ArtifactMeta = {
          id,
          pointer: artifactPointer(id),
          tenant: checked.tenant,
          contentType: checked.contentType,
          sizeBytes: checked.content.length,
          sha256: sha256Hex(checked.content),
          retention: checked.retention,
          labels: checked.labels,
          createdAt: now,
          expiresAt: now + ctx.options.artifactRetentionMs[checked.retention],
        };
        artifacts.set(id, { meta, content: checked.content });
        sweep();
        return copyMeta(meta);
      }),
    get: (tenant, pointerOrId) =>
      attempt(() => {
        const stored = find(tenant, pointerOrId);
        if (stored === undefined) return undefined;
        return { meta: copyMeta(stored.meta), content: new Uint8Array(stored.content) };
      }),
    head: (tenant, pointerOrId) =>
      attempt(() => {
        const stored = find(tenant, pointerOrId);
        return stored === undefined ? undefined : copyMeta(stored.meta);
      }),
    list: (tenant, query) =>
      attempt(() => {
        checkTenant(tenant);
        const limit = pageLimit(query);
        const cursor =
          query?.cursor === undefined || query.cursor === null ? null : decodeCursor(query.cursor, isListCursor);
        const now = ctx.clock.now();
        const metas = [...artifacts.values()]
          .filter((s) => s.meta.tenant === tenant && !expired(s, now))
          .map((s) => s.meta)
          .filter((m) => cursor === null || m.createdAt < cursor.at || (m.createdAt === cursor.at && m.id < cursor.id))
          .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
        const page = metas.slice(0, limit);
        const last = page[page.length - 1];
        return {
          items: page.map(copyMeta),
          nextCursor:
            metas.length > limit && last !== undefined ? encodeCursor({ at: last.createdAt, id: last.id }) : null,
        };
      }),
    delete: (tenant, pointerOrId) =>
      attempt(() => {
        const stored = find(tenant, pointerOrId);
        return stored === undefined ? false : artifacts.delete(stored.meta.id);
      }),
  };
}

function copyMeta(meta: ArtifactMeta): ArtifactMeta {
  return { ...meta, labels: { ...meta.labels } };
}

/** Runs a synchronous store operation as a promise (so a validation error rejects instead of throwing). */
function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(toError(err));
  }
}

function checkTenant(tenant: string): void {
  if (!isSafeTenantId(tenant)) {
    throw new InvalidError(`invalid tenant id ${JSON.stringify(tenant)}: use 1-64 of A-Z a-z 0-9 . _ -`, {
      details: { tenant },
    });
  }
}

const isRetention = (value: unknown): value is RetentionClass =>
  typeof value === 'string' && (RETENTIONS as readonly string[]).includes(value);

/** The artifact id of `redis://art:<id>` or a bare id; InvalidError for anything that cannot be one. */
function parseId(pointerOrId: string): string {
  const id =
    typeof pointerOrId === 'string' && pointerOrId.startsWith(POINTER_PREFIX)
      ? pointerOrId.slice(POINTER_PREFIX.length)
      : pointerOrId;
  if (typeof id !== 'string' || !isSafeId(id) || id.includes(':')) {
    throw new InvalidError(`${JSON.stringify(pointerOrId)} is neither an artifact id nor a redis://art:<id> pointer`, {
      details: { artifact: pointerOrId },
    });
  }
  return id;
}

type CheckedPut = {
  tenant: string;
  content: Buffer;
  contentType: string;
  retention: RetentionClass;
  labels: Record<string, string>;
};

function checkPut(artifact: PutArtifact, storeMaxBytes: number): CheckedPut {
  const { tenant } = artifact;
  checkTenant(tenant);
  if (typeof artifact.content !== 'string' && !(artifact.content instanceof Uint8Array)) {
    throw new InvalidError('artifact content must be a Uint8Array or a string');
  }
  const contentType = artifact.contentType ?? DEFAULT_CONTENT_TYPE;
  if (typeof contentType !== 'string' || contentType === '') {
    throw new InvalidError('contentType must be a non-empty string', { details: { content_type: contentType } });
  }
  const retention = artifact.retention ?? 'standard';
  if (!isRetention(retention)) {
    throw new InvalidError(`retention must be one of ${RETENTIONS.join(', ')}, got ${JSON.stringify(retention)}`, {
      details: { retention },
    });
  }
  const entries = Object.entries(artifact.labels ?? {});
  for (const [k, v] of entries) {
    if (k === '' || typeof v !== 'string') {
      throw new InvalidError('artifact labels must map non-empty names to strings', { details: { label: k } });
    }
  }
  // fromEntries defines own properties, so even a label named __proto__ is kept as data.
  const labels = Object.fromEntries(entries) as Record<string, string>;
  let maxBytes = storeMaxBytes;
  if (artifact.maxBytes !== undefined) {
    if (!Number.isSafeInteger(artifact.maxBytes) || artifact.maxBytes < 0) {
      throw new InvalidError(`maxBytes must be a non-negative integer, got ${artifact.maxBytes}`, {
        details: { max_bytes: artifact.maxBytes },
      });
    }
    maxBytes = Math.min(maxBytes, artifact.maxBytes);
  }
  const size =
    typeof artifact.content === 'string' ? Buffer.byteLength(artifact.content, 'utf8') : artifact.content.byteLength;
  if (size > maxBytes) {
    throw new InvalidError(`artifact of ${size} bytes exceeds the limit of ${maxBytes} bytes`, {
      code: 'payload_too_large',
      details: { size_bytes: size, max_bytes: maxBytes },
    });
  }
  // Buffer.from copies, so a caller mutating its array after put cannot change what is stored.
  const content =
    typeof artifact.content === 'string' ? Buffer.from(artifact.content, 'utf8') : Buffer.from(artifact.content);
  return { tenant, content, contentType, retention, labels };
}
