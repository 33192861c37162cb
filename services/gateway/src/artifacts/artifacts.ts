import { InvalidError, NotFoundError } from '@cordum/core';
import type { ArtifactMeta } from '@cordum/store';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { PutArtifactBody } from '../http/schemas-artifacts.js';

// Artifacts of the caller's tenant: evidence, logs, large payloads, with a retention class. Size limits: the
// request body limit (GATEWAY_BODY_LIMIT_BYTES), the store's artifact limit and a per-upload max_bytes; each
// answers 413 payload_too_large. Another tenant's artifact is not found.

export type ArtifactMetadataView = {
  id: string;
  content_type: string;
  size_bytes: number;
  sha256: string;
  retention: string;
  labels: Record<string, string>;
  created_at: number;
  expires_at: number;
};

export function artifactMetadata(meta: ArtifactMeta): ArtifactMetadataView {
  return {
    id: meta.id,
    content_type: meta.contentType,
    size_bytes: meta.sizeBytes,
    sha256: meta.sha256,
    retention: meta.retention,
    labels: { ...meta.labels },
    created_at: meta.createdAt,
    expires_at: meta.expiresAt,
  };
}

/** The per-upload limit from ?max_bytes or X-Max-Artifact-Bytes (the smaller when both are given). */
export function uploadLimit(query: number | undefined, header: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(header) ? header[0] : header;
  let fromHeader: number | undefined;
  if (raw !== undefined && raw.trim() !== '') {
    if (!/^\d{1,15}$/.test(raw.trim())) {
      throw new InvalidError('X-Max-Artifact-Bytes must be a non-negative integer', { details: { header: 'x-max-artifact-bytes' } });
    }
    fromHeader = Number(raw.trim());
  }
  if (query === undefined) return fromHeader;
  return fromHeader === undefined ? query : Math.min(query, fromHeader);
}

export async function putArtifact(
  ctx: GatewayContext,
  principal: Principal,
  body: PutArtifactBody,
  maxBytes: number | undefined,
): Promise<ArtifactMeta> {
  if ((body.content === undefined) === (body.content_base64 === undefined)) {
    throw new InvalidError('give the artifact as exactly one of content (text) or content_base64', { details: { field: 'content' } });
  }
  const base64 = body.content_base64;
  if (base64 !== undefined && base64.length % 4 !== 0) {
    throw new InvalidError('content_base64 is not valid base64 (its length must be a multiple of 4)', { details: { field: 'content_base64' } });
  }
  const content = base64 === undefined ? (body.content ?? '') : Buffer.from(base64, 'base64');
  const contentType = body.content_type ?? (base64 === undefined ? 'text/plain; charset=utf-8' : 'application/octet-stream');
  return ctx.stores.artifacts.put({
    tenant: principal.tenant,
    content,
    contentType,
    retention: body.retention ?? 'standard',
    labels: { ...body.labels },
    ...(maxBytes === undefined ? {} : { maxBytes }),
  });
}

export async function getArtifact(ctx: GatewayContext, principal: Principal, pointerOrId: string): Promise<{ meta: ArtifactMeta; content: Uint8Array }> {
  const found = await ctx.stores.artifacts.get(principal.tenant, pointerOrId);
  if (found === undefined) throw new NotFoundError(`artifact ${pointerOrId} not found`, { details: { artifact_ptr: pointerOrId } });
  return found;
}
