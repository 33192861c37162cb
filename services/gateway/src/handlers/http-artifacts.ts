import { artifactMetadata, getArtifact, putArtifact, uploadLimit } from '../artifacts/artifacts.js';
import type { GatewayContext } from '../context.js';
import { ERROR_RESPONSES } from '../http/schemas.js';
import { ArtifactParams, GetArtifactResponse, PutArtifactBody, PutArtifactQuery, PutArtifactResponse } from '../http/schemas-artifacts.js';
import { type GatewayApp, principalOf } from '../http/types.js';

// Thin HTTP adapters for artifacts (upstream's /api/v1/artifacts).

export function registerArtifactRoutes(app: GatewayApp, ctx: GatewayContext): void {
  app.post(
    '/api/v1/artifacts',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['artifacts'],
        summary: 'Store an artifact (text or base64) with a retention class',
        description:
          '413 payload_too_large above the request body limit, the store\'s artifact limit, or max_bytes (query) / X-Max-Artifact-Bytes (header).',
        querystring: PutArtifactQuery,
        body: PutArtifactBody,
        response: { 201: PutArtifactResponse, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const limit = uploadLimit(request.query.max_bytes, request.headers['x-max-artifact-bytes']);
      // An absent body is allowed through validation; putArtifact then says what is missing.
      const meta = await putArtifact(ctx, principalOf(request), request.body ?? {}, limit);
      return reply.code(201).send({ artifact_ptr: meta.pointer, size_bytes: meta.sizeBytes, metadata: artifactMetadata(meta) });
    },
  );

  app.get(
    '/api/v1/artifacts/:ptr',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['artifacts'],
        summary: 'An artifact of your tenant, by pointer (URL-encoded) or id',
        params: ArtifactParams,
        response: { 200: GetArtifactResponse, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { meta, content } = await getArtifact(ctx, principalOf(request), request.params.ptr);
      return { artifact_ptr: meta.pointer, content_base64: Buffer.from(content).toString('base64'), metadata: artifactMetadata(meta) };
    },
  );
}
