import { NotFoundError } from '@cordum/core';
import type { LockInfo } from '@cordum/store';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { AcquireLockBody, ReleaseLockBody, RenewLockBody } from '../http/schemas-locks.js';

// Resource locks of the caller's tenant (pack installs, operators coordinating scripts). The same resource
// name in two tenants is two locks. An owner is any name the caller picks (default: the caller's principal
// id), as upstream: whoever knows the owner name may release or renew its hold.

export type LockView = {
  resource: string;
  mode: string;
  owners: Record<string, { count: number; expires_at: number }>;
  expires_at: number;
};

export function lockView(lock: LockInfo): LockView {
  const owners = Object.fromEntries(
    Object.entries(lock.owners).map(([owner, hold]) => [owner, { count: hold.count, expires_at: hold.expiresAt }]),
  );
  return { resource: lock.resource, mode: lock.mode, owners, expires_at: lock.expiresAt };
}

export async function getLock(ctx: GatewayContext, principal: Principal, resource: string): Promise<LockView> {
  const lock = await ctx.stores.locks.get(principal.tenant, resource);
  if (lock === undefined) throw new NotFoundError(`lock ${resource} is not held`, { details: { resource } });
  return lockView(lock);
}

/** 409 lock_held (details: mode, owners) when another owner blocks it. */
export async function acquireLock(ctx: GatewayContext, principal: Principal, body: AcquireLockBody): Promise<LockView> {
  const lock = await ctx.stores.locks.acquire({
    tenant: principal.tenant,
    resource: body.resource,
    owner: body.owner ?? principal.id,
    mode: body.mode ?? 'exclusive',
    ...(body.ttl_ms === undefined ? {} : { ttlMs: body.ttl_ms }),
  });
  return lockView(lock);
}

/** 404 lock_not_held when the owner holds nothing. */
export async function releaseLock(
  ctx: GatewayContext,
  principal: Principal,
  body: ReleaseLockBody,
): Promise<{ resource: string; owner: string; released: true; lock: LockView | null }> {
  const owner = body.owner ?? principal.id;
  const left = await ctx.stores.locks.release({ tenant: principal.tenant, resource: body.resource, owner });
  return { resource: body.resource, owner, released: true, lock: left === null ? null : lockView(left) };
}

/** 404 lock_not_held when the owner holds nothing (it expired or was released). */
export async function renewLock(ctx: GatewayContext, principal: Principal, body: RenewLockBody): Promise<LockView> {
  const lock = await ctx.stores.locks.renew({
    tenant: principal.tenant,
    resource: body.resource,
    owner: body.owner ?? principal.id,
    ...(body.ttl_ms === undefined ? {} : { ttlMs: body.ttl_ms }),
  });
  return lockView(lock);
}
