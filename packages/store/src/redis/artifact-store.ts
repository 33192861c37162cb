import { TerminalError, newId, sha256Hex } from '@cordum/core';
import { artifactPointer } from '@cordum/protocol';
import {
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
// All keys of an artifact carry its retention TTL. Index entries of expired artifacts linger until a put
// prunes those older than the longest retention, or a listing finds their meta gone and removes them.
//
// Reads: an inline artifact is one HMGET. A chunked one is read in a second step (MULTI: meta still there +
// every chunk), because the chunk count comes from the meta. A delete between the steps reads as missing;
// a chunk missing while the meta exists, or a SHA-256 mismatch, is corruption and throws TerminalError.

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
  const refKey = (id: string): string => keys.key('artref', id);

  const head = async (tenant: string, id: string): Promise<ArtifactMeta | undefined> => {
    const key = metaKey(tenant, id);
    const row = await redisCall('artifact head', () => client.hmget(key, ...META_FIELDS));
    return toMeta(id, row);
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
        [metaKey(tenant, id), refKey(id), indexKey(tenant), ...parts.map((_, n) => chunkKey(tenant, id, n))],
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
      const cursor = decodeArtifactCursor(query);
      const wanted = limit + 1;
      const batch = Math.min(wanted * 2, 1000);
      const items: ArtifactMeta[] = [];
      const stale: string[] = [];
      let offset = 0;
      // Newest first: score (created_at) descending, ties by id descending, which is ZREVRANGEBYSCORE's order.
      while (items.length < wanted) {
        const max = cursor === null ? '+inf' : cursor.at;
        const rows = await redisCall('artifact list', () =>
          client.zrevrangebyscore(index, max, '-inf', 'WITHSCORES', 'LIMIT', offset, batch),
        );
        const ids: string[] = [];
        for (let i = 0; i + 1 < rows.length; i += 2) {
          const id = rows[i]!;
          const score = Number(rows[i + 1]);
          if (isAfterCursor(score, id, cursor)) ids.push(id);
        }
        if (ids.length > 0) {
          const pipeline = client.pipeline();
          for (const id of ids) pipeline.hmget(metaKey(tenant, id), ...META_FIELDS);
          const rowsOfMeta = await redisCall('artifact list', async () => replies(await pipeline.exec()));
          ids.forEach((id, i) => {
            const meta = toMeta(id, rowsOfMeta[i] as (string | null)[]);
            if (meta === undefined) stale.push(id);
            else if (items.length < wanted) items.push(meta);
          });
        }
        offset += rows.length / 2;
        if (rows.length / 2 < batch) break;
      }
      if (stale.length > 0) await redisCall('artifact list', () => client.zrem(index, ...stale));
      return pageOf(items, limit, encodeArtifactCursor);
    },

    async delete(tenant, pointerOrId) {
      const id = parseArtifactId(pointerOrId);
      const key = metaKey(tenant, id);
      const chunks = Number((await redisCall('artifact delete', () => client.hget(key, 'chunks'))) ?? '0');
      const count = Number.isSafeInteger(chunks) ? chunks : 0;
      const chunkKeys = Array.from({ length: count }, (_, n) => chunkKey(tenant, id, n));
      const reply = await deleteScript.run(client, [key, refKey(id), indexKey(tenant), ...chunkKeys], [id, tenant]);
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
