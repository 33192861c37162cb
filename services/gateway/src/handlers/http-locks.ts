import type { GatewayContext } from '../context.js';
import { requiredBody } from '../http/body.js';
import { ERROR_RESPONSES } from '../http/schemas.js';
import { AcquireLockBody, LockQuery, LockView, ReleaseLockBody, ReleaseLockResponse, RenewLockBody } from '../http/schemas-locks.js';
import { type GatewayApp, principalOf } from '../http/types.js';
import { acquireLock, getLock, releaseLock, renewLock } from '../locks/locks.js';

// Thin HTTP adapters for resource locks (upstream's /api/v1/locks).

export function registerLockRoutes(app: GatewayApp, ctx: GatewayContext): void {
  app.get(
    '/api/v1/locks',
    {
      config: { role: 'viewer' },
      schema: { tags: ['locks'], summary: 'A lock of your tenant (404 when free)', querystring: LockQuery, response: { 200: LockView, ...ERROR_RESPONSES } },
    },
    (request) => getLock(ctx, principalOf(request), request.query.resource),
  );

  app.post(
    '/api/v1/locks/acquire',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['locks'],
        summary: 'Acquire a lock (exclusive or shared, with a TTL)',
        description:
          'Exclusive is re-entrant for the same owner; shared admits any number of shared owners; the sole shared owner may upgrade to exclusive. 409 lock_held (details: mode, owners) when another owner blocks it.',
        body: AcquireLockBody,
        response: { 200: LockView, ...ERROR_RESPONSES },
      },
    },
    (request) => acquireLock(ctx, principalOf(request), requiredBody(request.body, 'resource')),
  );

  app.post(
    '/api/v1/locks/release',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['locks'],
        summary: 'Release one hold of a lock (404 lock_not_held when the owner holds none)',
        body: ReleaseLockBody,
        response: { 200: ReleaseLockResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => releaseLock(ctx, principalOf(request), requiredBody(request.body, 'resource')),
  );

  app.post(
    '/api/v1/locks/renew',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['locks'],
        summary: 'Extend an owner\'s hold to now + ttl_ms (404 lock_not_held when it expired or was released)',
        body: RenewLockBody,
        response: { 200: LockView, ...ERROR_RESPONSES },
      },
    },
    (request) => renewLock(ctx, principalOf(request), requiredBody(request.body, 'resource')),
  );
}
