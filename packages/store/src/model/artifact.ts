import { InvalidError, isSafeId } from '@cordum/core';
import { artifactPointer } from '@cordum/protocol';
import type { ArtifactMeta, PutArtifact, RetentionClass } from '../ports/artifact-store.js';
import type { PageQuery } from '../ports/common.js';
import { encodeCursor } from '../ports/cursor.js';
import { checkTenant, decodeQueryCursor } from './common.js';

// ArtifactStore input checks, metadata and listing order, shared by the memory and Redis adapters.
// Listing is newest first: createdAt descending, ties by id descending, with the position of the last item
// returned as the cursor.

export const DEFAULT_ARTIFACT_CONTENT_TYPE = 'application/octet-stream';
const POINTER_PREFIX = 'redis://art:';
const RETENTIONS: readonly RetentionClass[] = ['short', 'standard', 'audit'];

export const isRetention = (value: unknown): value is RetentionClass =>
  typeof value === 'string' && (RETENTIONS as readonly string[]).includes(value);

/** Position in a listing: the last item's createdAt and id. */
export type ArtifactCursor = { at: number; id: string };

const isArtifactCursor = (value: unknown): value is ArtifactCursor =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Record<string, unknown>)['at'] === 'number' &&
  typeof (value as Record<string, unknown>)['id'] === 'string';

/** The listing position a query continues from; null for the first page. */
export function decodeArtifactCursor(query: PageQuery | undefined): ArtifactCursor | null {
  return decodeQueryCursor(query?.cursor, isArtifactCursor) ?? null;
}

export function encodeArtifactCursor(last: ArtifactMeta): string {
  return encodeCursor({ at: last.createdAt, id: last.id });
}

/** Whether an artifact comes after `cursor` in listing order (older, or as old with a smaller id). */
export function isAfterCursor(createdAt: number, id: string, cursor: ArtifactCursor | null): boolean {
  return cursor === null || createdAt < cursor.at || (createdAt === cursor.at && id < cursor.id);
}

/** The artifact id of `redis://art:<id>` or a bare id; InvalidError for anything that cannot be one. */
export function parseArtifactId(pointerOrId: string): string {
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

export type CheckedArtifact = {
  tenant: string;
  /** A copy of the caller's content: mutating its array after put cannot change what is stored. */
  content: Buffer;
  contentType: string;
  retention: RetentionClass;
  labels: Record<string, string>;
};

/** Checks a put, tenant first, before the content is copied (and hashed by the adapter). */
export function checkPutArtifact(artifact: PutArtifact, storeMaxBytes: number): CheckedArtifact {
  const tenant = checkTenant(artifact.tenant);
  if (typeof artifact.content !== 'string' && !(artifact.content instanceof Uint8Array)) {
    throw new InvalidError('artifact content must be a Uint8Array or a string');
  }
  const contentType = artifact.contentType ?? DEFAULT_ARTIFACT_CONTENT_TYPE;
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
  const content =
    typeof artifact.content === 'string' ? Buffer.from(artifact.content, 'utf8') : Buffer.from(artifact.content);
  return { tenant, content, contentType, retention, labels };
}

/** The metadata of a new artifact; its labels are a fresh object, never the checked input's. */
export function newArtifactMeta(
  id: string,
  checked: CheckedArtifact,
  sha256: string,
  createdAt: number,
  expiresAt: number,
): ArtifactMeta {
  return {
    id,
    pointer: artifactPointer(id),
    tenant: checked.tenant,
    contentType: checked.contentType,
    sizeBytes: checked.content.length,
    sha256,
    retention: checked.retention,
    labels: { ...checked.labels },
    createdAt,
    expiresAt,
  };
}
