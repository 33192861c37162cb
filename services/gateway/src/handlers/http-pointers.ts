import type { GatewayContext } from '../context.js';
import { ERROR_RESPONSES } from '../http/schemas.js';
import { PointerQuery, PointerView } from '../http/schemas-artifacts.js';
import { type GatewayApp, principalOf } from '../http/types.js';
import { readPointer } from '../pointers/pointers.js';

// Thin HTTP adapter for reading payload pointers: /api/v1/pointers, and upstream's /api/v1/memory.

export function registerPointerRoutes(app: GatewayApp, ctx: GatewayContext): void {
  const read = {
    config: { role: 'viewer' as const },
    schema: {
      tags: ['pointers'],
      summary: 'What a pointer names (job input, job output or artifact), for the tenant that wrote it',
      description: '?ptr=redis://ctx:<job> (URL-encoded), or ?key=ctx:<job>. 404 when missing, expired or another tenant\'s.',
      querystring: PointerQuery,
      response: { 200: PointerView, ...ERROR_RESPONSES },
    },
  };
  for (const path of ['/api/v1/pointers', '/api/v1/memory']) {
    app.get(path, read, (request) => readPointer(ctx, principalOf(request), request.query));
  }
}
