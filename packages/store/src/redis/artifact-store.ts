import { TerminalError, newId, sha256Hex } from '@cordum/core';
import { artifactPointer } from '@cordum/protocol';
import {
  type ArtifactCursor,
  DEFAULT_ARTIFACT_CONTENT_TYPE,
  checkPutArtifact,
  decodeArtifactCursor,
  encodeArtifactCursor,
  isAfterCursor,
  isRetention,
  newArtifactMeta,
  parseArtifactId,
} from '../model/artifact.js';
import { pageOf } from '../model/common.js';
import type { ArtifactMeta, ArtifactStore } from '../ports/artifact-store.js';
import { pageLimit } from '../ports/cursor.js';
import type { RedisStoreContext } from './context.js';
import { redisCall } from './errors.js';
import { loadScript } from './script.js';

// Layout (see artifact-put.lua):
//   t:<tenant>:art:<id>:meta       hash; content inline in field data when size <= artifactChunkBytes
//   t:<tenant>:art:<id>:chunk:<n>  chunks of artifactChunkBytes otherwise
//   artref:<id>                    system key → tenant, so a bare pointer can be routed to its tenant
//   t:<tenant>:art:index           zset id by created_at, for listing
//   t:<tenant>:art:expiry          zset id by expires_at, the same members: which index entries are stale
// All keys of an artifact carry its retention TTL. Index entries cannot expire with them: each put prunes
// up to PRUNE_BATCH entries whose artifact has expired (by the expiry zset, whatever the retention class),
// and a listing removes the entries it finds without a meta.
//
// Listing is keyset pagination on (created_at, id), newest first: every read continues from the position
// of the last entry seen, never from an offset, so entries removed meanwhile (deleted artifacts, stale
// entries pruned by a put or by another lister) cannot shift a read past live artifacts.
//
// Reads: an inline artifact is one HMGET. A chunked one is read in a second step (MULTI: meta still there +
// every chunk), because the chunk count comes from the meta. A delete between the steps reads as missing;
// a chunk missing while the meta exists, or a SHA-256 mismatch, is corruption and throws TerminalError.

/** Expired index entries a put removes at most (bounds the put script's run time). */
const PRUNE_BATCH = 100;

const putScript = loadScript('artifact-put');
const deleteScript = loadScript('artifact-delete');

const META_FIELDS = [
  'tenant',
  'content_type',
  'size',
  'sha256',
  'retention',
  'labels',
  'created_at',
  'expires_at',
  'chunks',
] as const;

export function createRedisArtifactStore(ctx: RedisStoreContext): ArtifactStore {
  const { client, keys, options } = ctx;
  const metaKey = (tenant: string, id: string): string => keys.tenant(tenant, 'art', id, 'meta');
  const chunkKey = (tenant: string, id: string, n: number): string =>
    keys.tenant(tenant, 'art', id, 'chunk', String(n));
  const indexKey = (tenant: string): string => keys.tenant(tenant, 'art', 'index');
  const expiryKey = (tenant: string): string => keys.tenant(tenant, 'art', 'expiry');
  const refKey = (id: string): string => keys.key('artref', id);

  const head = async (tenant: string, id: string): Promise<ArtifactMeta | undefined> => {
    const key = metaKey(tenant, id);
    const row = await redisCall('artifact head', () => client.hmget(key, ...META_FIELDS));
    return toMeta(id, row);
  };

  /**
   * Up to about `count` index entries after `position` in listing order (created_at descending, ties by id
   * descending), and whether the index may hold more. Entries at the position's own created_at are read in
   * full and filtered by id (a score range cannot start mid-tie); they are the artifacts one tenant created
   * in one millisecond, a handful. Older ones are read from an exclusive score bound.
   */
  const readIndex = async (
    index: string,
    position: ArtifactCursor | null,
    count: number,
  ): Promise<{ entries: ArtifactCursor[]; more: boolean }> => {
    const [ties, older] = await redisCall('artifact list', () =>
      Promise.all([
        position === null ? Promise.resolve([]) : client.zrangebyscore(index, position.at, position.at),
        client.zrevrangebyscore(
          index,
          position === null ? '+inf' : `(${position.at}`,
          '-inf',
          'WITHSCORES',
          'LIMIT',
          0,
          count,
        ),
      ]),
    );
    const entries: ArtifactCursor[] = [];
    if (position !== null) {
      for (const id of ties.reverse()) if (isAfterCursor(position.at, id, position)) entries.push({ at: position.at, id });
    }
    for (let i = 0; i + 1 < older.length; i += 2) entries.push({ at: Number(older[i + 1]), id: older[i]! });
    return { entries, more: older.length / 2 === count };
  };

  return {
    async put(artifact) {
      const checked = checkPutArtifact(artifact, options.artifactMaxBytes);
      const { tenant, content, retention } = checked;
      const id = newId();
      const chunkBytes = options.artifactChunkBytes;
      const parts: Buffer[] = [];
      if (content.length > chunkBytes) {
        for (let at = 0; at < content.length; at += chunkBytes) parts.push(content.subarray(at, at + chunkBytes));
      }
      const ttlMs = options.artifactRetentionMs[retention];
      const longest = Math.max(...Object.values(options.artifactRetentionMs));
      const labels = JSON.stringify(checked.labels);
      const sha256 = sha256Hex(content);
      const reply = await putScript.run(
        client,
        [
          metaKey(tenant, id),
          refKey(id),
          indexKey(tenant),
          expiryKey(tenant),
          ...parts.map((_, n) => chunkKey(tenant, id, n)),
        ],
        // Buffers go out verbatim, which keeps the content binary-safe.
        [
          id,
          tenant,
          checked.contentType,
          content.length,
          sha256,
          retention,
          ttlMs,
          labels,
          longest,
          parts.length,
          PRUNE_BATCH,
          ...(parts.length === 0 ? [content] : parts),
        ],
      );
      const [createdAt, expiresAt]: unknown[] = Array.isArray(reply) ? (reply as unknown[]) : [];
      if (typeof createdAt !== 'number' || typeof expiresAt !== 'number') {
        throw new TerminalError('unexpected reply from artifact-put', { details: { reply: String(reply) } });
      }
      return newArtifactMeta(id, checked, sha256, createdAt, expiresAt);
    },

    async get(tenant, pointerOrId) {
      const id = parseArtifactId(pointerOrId);
      const key = metaKey(tenant, id);
      const row = await redisCall('artifact get', () => client.hmgetBuffer(key, ...META_FIELDS, 'data'));
      const meta = toMeta(
        id,
        row.slice(0, META_FIELDS.length).map((b) => b?.toString('utf8') ?? null),
      );
      if (meta === undefined) return undefined;
      const chunks = Number(row[META_FIELDS.indexOf('chunks')]?.toString('utf8') ?? '0');
      let content: Buffer;
      if (chunks === 0) {
        content = row[META_FIELDS.length] ?? Buffer.alloc(0);
      } else {
        const multi = client.multi().exists(key);
        for (let n = 0; n < chunks; n++) multi.getBuffer(chunkKey(tenant, id, n));
        const values = await redisCall('artifact get', async () => replies(await multi.exec()));
        // Deleted (or expired) since the meta was read: missing, like any other deleted artifact.
        if (values[0] !== 1) return undefined;
        const parts = values.slice(1);
        const missing = parts.findIndex((part) => !Buffer.isBuffer(part));
        if (missing !== -1) throw corrupt(id, `chunk ${missing} of ${chunks} is missing`);
        content = Buffer.concat(parts as Buffer[]);
      }
      if (content.length !== meta.sizeBytes || sha256Hex(content) !== meta.sha256) {
        throw corrupt(id, 'its content does not match the recorded size and SHA-256');
      }
      // Copy into a plain Uint8Array: reply buffers may be views of a larger socket buffer.
      return { meta, content: new Uint8Array(content) };
    },

    head: async (tenant, pointerOrId) => head(tenant, parseArtifactId(pointerOrId)),

    async list(tenant, query) {
      const index = indexKey(tenant);
      const limit = pageLimit(query);
      const wanted = limit + 1;
      const batch = Math.min(wanted * 2, 1000);
      const items: ArtifactMeta[] = [];
      const stale: string[] = [];
      let position = decodeArtifactCursor(query);
      for (;;) {
        const { entries, more } = await readIndex(index, position, batch);
        if (entries.length > 0) {
          const pipeline = client.pipeline();
          for (const entry of entries) pipeline.hmget(metaKey(tenant, entry.id), ...META_FIELDS);
          const rows = await redisCall('artifact list', async () => replies(await pipeline.exec()));
          entries.forEach((entry, i) => {
            const meta = toMeta(entry.id, rows[i] as (string | null)[]);
            if (meta === undefined) stale.push(entry.id);
            else if (items.length < wanted) items.push(meta);
          });
        }
        const last = entries[entries.length - 1];
        if (items.length >= wanted || !more || last === undefined) break;
        position = last;
      }
      if (stale.length > 0) {
        await redisCall('artifact list', async () => {
          replies(await client.multi().zrem(index, ...stale).zrem(expiryKey(tenant), ...stale).exec());
        });
      }
      return pageOf(items, limit, encodeArtifactCursor);
    },

    async delete(tenant, pointerOrId) {
      const id = parseArtifactId(pointerOrId);
      const key = metaKey(tenant, id);
      const chunks = Number((await redisCall('artifact delete', () => client.hget(key, 'chunks'))) ?? '0');
      const count = Number.isSafeInteger(chunks) ? chunks : 0;
      const chunkKeys = Array.from({ length: count }, (_, n) => chunkKey(tenant, id, n));
      const reply = await deleteScript.run(
        client,
        [key, refKey(id), indexKey(tenant), expiryKey(tenant), ...chunkKeys],
        [id, tenant],
      );
      return reply === 1;
    },
  };
}

/** The values of a MULTI/pipeline reply, throwing the first command error (redisCall maps it). */
function replies(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error('transaction aborted');
  return results.map(([err, value]) => {
    if (err !== null) throw err;
    return value;
  });
}

function toMeta(id: string, row: readonly (string | null)[]): ArtifactMeta | undefined {
  const [tenant, contentType, size, sha256, retention, labels, createdAt, expiresAt] = row;
  if (tenant == null || sha256 == null || createdAt == null || expiresAt == null) return undefined;
  return {
    id,
    pointer: artifactPointer(id),
    tenant,
    contentType: contentType ?? DEFAULT_ARTIFACT_CONTENT_TYPE,
    sizeBytes: Number(size),
    sha256,
    retention: isRetention(retention) ? retention : 'standard',
    labels: parseLabels(labels),
    createdAt: Number(createdAt),
    expiresAt: Number(expiresAt),
  };
}

function parseLabels(text: string | null | undefined): Record<string, string> {
  if (text == null) return {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
    const entries: [string, unknown][] = Object.entries(value);
    return Object.fromEntries(entries.filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  }
}

function corrupt(id: string, why: string): TerminalError {
  return new TerminalError(`artifact ${id} is corrupt: ${why}; delete it and store it again`, {
    details: { id, reason: why },
  });
}
