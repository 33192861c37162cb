import { type Static, Type } from '@sinclair/typebox';

// Resource locks: upstream's {resource, owner, mode, ttl_ms}; owners default to the caller.

const Resource = Type.String({ minLength: 1, maxLength: 512, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: 'Any name, scoped to your tenant' });
const Owner = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: 'Default: your principal id' });
const TtlMs = Type.Integer({ minimum: 1, maximum: 365 * 86_400_000, description: 'How long this owner holds it without renewing (default 30000)' });

export const LockQuery = Type.Object({ resource: Resource }, { additionalProperties: false });

export const AcquireLockBody = Type.Object(
  {
    resource: Resource,
    owner: Type.Optional(Owner),
    mode: Type.Optional(Type.Union([Type.Literal('exclusive'), Type.Literal('shared')], { default: 'exclusive' })),
    ttl_ms: Type.Optional(TtlMs),
  },
  { additionalProperties: false },
);
export type AcquireLockBody = Static<typeof AcquireLockBody>;

export const ReleaseLockBody = Type.Object({ resource: Resource, owner: Type.Optional(Owner) }, { additionalProperties: false });
export type ReleaseLockBody = Static<typeof ReleaseLockBody>;

export const RenewLockBody = Type.Object(
  { resource: Resource, owner: Type.Optional(Owner), ttl_ms: Type.Optional(TtlMs) },
  { additionalProperties: false },
);
export type RenewLockBody = Static<typeof RenewLockBody>;

export const LockView = Type.Object({
  resource: Type.String(),
  mode: Type.String({ description: 'exclusive or shared' }),
  owners: Type.Record(Type.String(), Type.Object({ count: Type.Integer(), expires_at: Type.Number() }), {
    description: 'Holders: re-entrant acquisitions count up; each owner expires on its own',
  }),
  expires_at: Type.Number({ description: 'The latest owner expiry' }),
});

export const ReleaseLockResponse = Type.Object({
  resource: Type.String(),
  owner: Type.String(),
  released: Type.Boolean(),
  lock: Type.Union([LockView, Type.Null()], { description: 'What is left of the lock, or null when it is free' }),
});
