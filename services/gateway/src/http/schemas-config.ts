import { CONFIG_SCOPES } from '@cordum/core';
import { type Static, Type } from '@sinclair/typebox';
import { PageQuery, TENANT_PATTERN } from './schemas.js';

// Config documents (scope system, org, team, workflow, step) as the API shows them: snake_case, upstream's
// {scope, scope_id, data, meta, revision, updated_at} plus who wrote it.

const scope = (options: { default?: string } = {}) =>
  Type.Union(
    CONFIG_SCOPES.map((s) => Type.Literal(s)),
    { description: 'system (shared by every tenant), org, team, workflow, step (your tenant\'s)', ...options },
  );
const ScopeId = Type.String({
  minLength: 1,
  maxLength: 256,
  pattern: '^[^\\u0000-\\u001f\\u007f]+$',
  description: 'Default: "default" for system, your tenant for org; required for team, workflow and step',
});
const revision = (description: string) => Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description });
const JsonObject = Type.Object({}, { additionalProperties: true });

export const ConfigDocView = Type.Object(
  {
    scope: Type.String(),
    scope_id: Type.String(),
    revision: Type.Integer({ description: '1 for the first write, +1 for every write after it; never reused' }),
    data: JsonObject,
    meta: JsonObject,
    updated_at: Type.Number(),
    updated_by: Type.String(),
  },
  { description: 'A config document at one revision' },
);

export const ConfigQuery = Type.Object(
  { scope: Type.Optional(scope({ default: 'system' })), scope_id: Type.Optional(ScopeId) },
  { additionalProperties: false },
);
export type ConfigQuery = Static<typeof ConfigQuery>;

export const ConfigHistoryQuery = Type.Object(
  { scope: Type.Optional(scope({ default: 'system' })), scope_id: Type.Optional(ScopeId), ...PageQuery },
  { additionalProperties: false },
);
export type ConfigHistoryQuery = Static<typeof ConfigHistoryQuery>;

export const ConfigHistoryPage = Type.Object({ items: Type.Array(ConfigDocView), next_cursor: Type.Union([Type.String(), Type.Null()]) });

export const SetConfigBody = Type.Object(
  {
    scope: scope(),
    scope_id: Type.Optional(ScopeId),
    data: Type.Object({}, { additionalProperties: true, description: 'The whole document (replaces the previous data)' }),
    meta: Type.Optional(JsonObject),
    revision: Type.Optional(
      revision(
        'Compare-and-set: the revision you read (0 = the document must not exist yet); 409 revision_conflict when it moved on. Omitted: unconditional write',
      ),
    ),
    updated_at: Type.Optional(Type.Number({ description: 'Read-only, ignored (so a document read can be written back)' })),
    updated_by: Type.Optional(Type.String({ maxLength: 256, description: 'Read-only, ignored' })),
  },
  { additionalProperties: false },
);
export type SetConfigBody = Static<typeof SetConfigBody>;

export const RollbackConfigBody = Type.Object(
  {
    scope: scope(),
    scope_id: Type.Optional(ScopeId),
    to_revision: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'The past revision whose data and meta become current' }),
    revision: Type.Optional(revision('Compare-and-set: the current revision you read; 409 revision_conflict when it moved on')),
  },
  { additionalProperties: false },
);
export type RollbackConfigBody = Static<typeof RollbackConfigBody>;

export const EffectiveConfigQuery = Type.Object(
  {
    org_id: Type.Optional(Type.String({ pattern: TENANT_PATTERN, description: 'Must be your tenant (the default)' })),
    team_id: Type.Optional(ScopeId),
    workflow_id: Type.Optional(ScopeId),
    step_id: Type.Optional(ScopeId),
  },
  { additionalProperties: false },
);
export type EffectiveConfigQuery = Static<typeof EffectiveConfigQuery>;

export const EffectiveConfigResponse = Type.Object({
  version: Type.String({ description: 'Revision of each scope that went in, e.g. system:4|org:2|team:-|workflow:-|step:-' }),
  hash: Type.String({ description: 'SHA-256 of the canonical JSON of data' }),
  data: JsonObject,
});
