import { InvalidError } from '@cordum/core';
import type { LockInfo, LockKey, LockMode } from '../ports/lock-store.js';

// LockStore input checks and the LockInfo both adapters return. The locking rules themselves live with
// each backend: in memory/lock-store.ts and in the lock-*.lua scripts, which decide against Redis TIME.

const DEFAULT_TTL_MS = 30_000;
const MAX_TTL_MS = 365 * 86_400_000;
const MAX_RESOURCE_LENGTH = 512;
const MAX_OWNER_LENGTH = 256;

/** One owner's hold on a lock. */
export type LockHold = { count: number; expiresAt: number };

export function checkResource(resource: string): string {
  if (typeof resource !== 'string' || resource === '' || resource.length > MAX_RESOURCE_LENGTH) {
    throw new InvalidError(`lock resource must be a non-empty string of at most ${MAX_RESOURCE_LENGTH} characters`, {
      details: { resource },
    });
  }
  return resource;
}

export function checkOwner(owner: string): string {
  if (typeof owner !== 'string' || owner === '' || owner.length > MAX_OWNER_LENGTH) {
    throw new InvalidError(`lock owner must be a non-empty string of at most ${MAX_OWNER_LENGTH} characters`, {
      details: { owner },
    });
  }
  return owner;
}

export function checkMode(mode: LockMode): LockMode {
  if (mode !== 'exclusive' && mode !== 'shared') {
    throw new InvalidError(`lock mode must be "exclusive" or "shared", got ${JSON.stringify(mode)}`, {
      details: { mode },
    });
  }
  return mode;
}

/** The hold's TTL: the caller's, or 30 s when it gives none. */
export function checkTtl(ttlMs: number | undefined): number {
  const ttl = ttlMs ?? DEFAULT_TTL_MS;
  if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_TTL_MS) {
    throw new InvalidError(`lock ttlMs must be an integer from 1 ms to 365 days, got ${ttl}`, {
      details: { ttl_ms: ttl },
    });
  }
  return ttl;
}

/** A fresh snapshot of a lock: callers never get a store's own maps or objects. */
export function lockInfo(
  where: Pick<LockKey, 'tenant' | 'resource'>,
  mode: LockMode,
  owners: Iterable<readonly [string, LockHold]>,
  expiresAt: number,
): LockInfo {
  // fromEntries defines own properties: an owner named "__proto__" stays an owner instead of becoming the
  // object's prototype (an assignment would drop it from the snapshot).
  const out = Object.fromEntries(
    Array.from(owners, ([owner, hold]): [string, LockHold] => [owner, { count: hold.count, expiresAt: hold.expiresAt }]),
  );
  return { tenant: where.tenant, resource: where.resource, mode, owners: out, expiresAt };
}
