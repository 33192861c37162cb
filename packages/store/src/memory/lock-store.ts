import { ConflictError, NotFoundError } from '@cordum/core';
import { checkTenant, isExpired, settle } from '../model/common.js';
import { type LockHold, checkMode, checkOwner, checkResource, checkTtl, lockInfo } from '../model/lock.js';
import type { LockInfo, LockKey, LockMode, LockStore } from '../ports/lock-store.js';
import type { MemoryStoreContext } from './context.js';

// Mirrors the Redis adapter and its scripts (packages/store/lua/lock-*.lua), rule for rule:
//   free lock                       -> taken in the requested mode
//   exclusive held by the owner     -> re-entrant (count + 1), whatever mode is asked: an exclusive holder
//                                      asking for shared keeps its exclusive hold, which already covers it
//   shared, shared requested        -> the owner joins or re-enters
//   shared, exclusive requested     -> allowed only for the sole shared owner (upgrade; the whole hold
//                                      becomes exclusive until the owner releases it completely)
//   anything else                   -> ConflictError(lock_held)
// Owners whose expiry has passed (store clock) are dropped before every decision. Each method decides
// synchronously, so concurrent callers are serialised by the event loop.

type Lock = { mode: LockMode; owners: Map<string, LockHold> };

export function createMemoryLockStore(ctx: MemoryStoreContext): LockStore {
  const locks = new Map<string, Lock>();

  /** The lock with only live owners (isExpired: alive through expiresAt itself); removed when none is left. */
  const live = (key: string): Lock | undefined => {
    const lock = locks.get(key);
    if (lock === undefined) return undefined;
    const now = ctx.clock.now();
    for (const [owner, hold] of lock.owners) if (isExpired(hold.expiresAt, now)) lock.owners.delete(owner);
    if (lock.owners.size === 0) {
      locks.delete(key);
      return undefined;
    }
    return lock;
  };

  return {
    acquire: (request) =>
      settle(() => {
        const key = keyOf(request.tenant, request.resource);
        checkOwner(request.owner);
        const want = checkMode(request.mode);
        const ttlMs = checkTtl(request.ttlMs);
        const now = ctx.clock.now();
        let lock = live(key);
        if (lock === undefined) {
          lock = { mode: want, owners: new Map() };
        } else {
          const mine = lock.owners.has(request.owner);
          let ok: boolean;
          if (lock.mode === 'exclusive') ok = mine;
          else if (want === 'shared') ok = true;
          else ok = mine && lock.owners.size === 1;
          if (!ok) throw lockHeld(request.resource, lock);
          if (want === 'exclusive') lock.mode = 'exclusive';
        }
        const hold = lock.owners.get(request.owner) ?? { count: 0, expiresAt: 0 };
        lock.owners.set(request.owner, { count: hold.count + 1, expiresAt: Math.max(hold.expiresAt, now + ttlMs) });
        locks.set(key, lock);
        return info(request, lock);
      }),
    release: (lockKey) =>
      settle(() => {
        const key = keyOf(lockKey.tenant, lockKey.resource);
        checkOwner(lockKey.owner);
        const lock = live(key);
        const hold = lock?.owners.get(lockKey.owner);
        if (lock === undefined || hold === undefined) throw notHeld(lockKey);
        if (hold.count <= 1) lock.owners.delete(lockKey.owner);
        else lock.owners.set(lockKey.owner, { ...hold, count: hold.count - 1 });
        if (lock.owners.size === 0) {
          locks.delete(key);
          return null;
        }
        return info(lockKey, lock);
      }),
    renew: (lockKey) =>
      settle(() => {
        const key = keyOf(lockKey.tenant, lockKey.resource);
        checkOwner(lockKey.owner);
        const ttlMs = checkTtl(lockKey.ttlMs);
        const lock = live(key);
        const hold = lock?.owners.get(lockKey.owner);
        if (lock === undefined || hold === undefined) throw notHeld(lockKey);
        lock.owners.set(lockKey.owner, { ...hold, expiresAt: ctx.clock.now() + ttlMs });
        return info(lockKey, lock);
      }),
    get: (tenant, resource) =>
      settle(() => {
        const lock = live(keyOf(tenant, resource));
        return lock === undefined ? undefined : info({ tenant, resource }, lock);
      }),
  };
}

/** The lock's LockInfo; it expires with its longest-lived owner. */
function info(where: Pick<LockKey, 'tenant' | 'resource'>, lock: Lock): LockInfo {
  let expiresAt = 0;
  for (const hold of lock.owners.values()) expiresAt = Math.max(expiresAt, hold.expiresAt);
  return lockInfo(where, lock.mode, lock.owners, expiresAt);
}

function lockHeld(resource: string, lock: Lock): ConflictError {
  const owners = [...lock.owners.keys()].sort();
  const message =
    `lock ${resource} is held ${lock.mode} by ${owners.join(', ')}; retry after it is released or expires`;
  return new ConflictError(message, {
    code: 'lock_held',
    details: { resource, mode: lock.mode, owners, message },
  });
}

function notHeld(key: LockKey): NotFoundError {
  const message = `${key.owner} does not hold lock ${key.resource} (never acquired, already released or expired)`;
  return new NotFoundError(message, {
    code: 'lock_not_held',
    details: { resource: key.resource, owner: key.owner, message },
  });
}

function keyOf(tenant: string, resource: string): string {
  checkResource(resource);
  checkTenant(tenant);
  return `t:${tenant}:lock:${resource}`;
}
