import {
  configHistory,
  effectiveConfig,
  getConfig,
  rollbackConfig,
  setConfig,
} from '../config-docs/config-docs.js';
import type { GatewayContext } from '../context.js';
import { requiredBody } from '../http/body.js';
import { ERROR_RESPONSES } from '../http/schemas.js';
import {
  ConfigDocView,
  ConfigHistoryPage,
  ConfigHistoryQuery,
  ConfigQuery,
  EffectiveConfigQuery,
  EffectiveConfigResponse,
  RollbackConfigBody,
  SetConfigBody,
} from '../http/schemas-config.js';
import { type GatewayApp, principalOf } from '../http/types.js';

// Thin HTTP adapters for config documents (upstream's /api/v1/config paths, plus history and rollback).

const SCOPE_NOTE =
  'Tenant scopes (org, team, workflow, step) are your tenant\'s; system is shared: readable by every viewer, writable only by admins of the platform tenant.';

export function registerConfigRoutes(app: GatewayApp, ctx: GatewayContext): void {
  app.get(
    '/api/v1/config',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['config'],
        summary: 'A config document (scope, scope_id)',
        description: SCOPE_NOTE,
        querystring: ConfigQuery,
        response: { 200: ConfigDocView, ...ERROR_RESPONSES },
      },
    },
    (request) => getConfig(ctx, principalOf(request), request.query.scope ?? 'system', request.query.scope_id),
  );

  const set = {
    config: { role: 'admin' as const },
    schema: {
      tags: ['config'],
      summary: 'Write a config document (compare-and-set on revision)',
      description: `${SCOPE_NOTE} With revision (the one you read; 0 = must not exist) the write happens only if the document is still at it, else 409 revision_conflict. system/default is checked as the scheduler reads it (data.pools, data.timeouts): 400 config_invalid with the path, and the previous revision stays in force.`,
      body: SetConfigBody,
      response: { 200: ConfigDocView, ...ERROR_RESPONSES },
    },
  };
  app.post('/api/v1/config', set, (request) => setConfig(ctx, principalOf(request), requiredBody(request.body, 'scope')));
  app.put('/api/v1/config', set, (request) => setConfig(ctx, principalOf(request), requiredBody(request.body, 'scope')));

  app.get(
    '/api/v1/config/effective',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['config'],
        summary: 'The merged config of your tenant (system → org → team → workflow → step) with version and hash',
        querystring: EffectiveConfigQuery,
        response: { 200: EffectiveConfigResponse, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const out = await effectiveConfig(ctx, principalOf(request), request.query);
      return { version: out.version, hash: out.hash, data: out.data };
    },
  );

  app.get(
    '/api/v1/config/history',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['config'],
        summary: 'Revisions of a config document, newest first',
        querystring: ConfigHistoryQuery,
        response: { 200: ConfigHistoryPage, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const page = await configHistory(ctx, principalOf(request), request.query);
      return { items: page.items, next_cursor: page.nextCursor };
    },
  );

  app.post(
    '/api/v1/config/rollback',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['config'],
        summary: 'Make a past revision current again (as a new revision)',
        body: RollbackConfigBody,
        response: { 200: ConfigDocView, ...ERROR_RESPONSES },
      },
    },
    (request) => rollbackConfig(ctx, principalOf(request), requiredBody(request.body, 'scope')),
  );
}
