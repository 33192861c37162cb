import { TerminalError } from '@cordum/core';
import { type LockHold, checkMode, checkOwner, checkResource, checkTtl, lockInfo } from '../model/lock.js';
import type { LockInfo, LockKey, LockStore } from '../ports/lock-store.js';
import type { RedisStoreContext } from './context.js';
import { loadScript } from './script.js';

// Layout: t:<tenant>:lock:<resource> → JSON {mode, owners: {<owner>: {count, expires_at}}}, PEXPIREAT the
// latest owner expiry. Every decision runs inside one script against Redis TIME (see lock-acquire.lua for
// the rules), so holders on different machines never both hold an exclusive lock.

const acquireScript = loadScript('lock-acquire');
const releaseScript = loadScript('lock-release');
const renewScript = loadScript('lock-renew');
const getScript = loadScript('lock-get');

export function createRedisLockStore(ctx: RedisStoreContext): LockStore {
  const { client } = ctx;
  const keyOf = (tenant: string, resource: string): string => {
    checkResource(resource);
    return ctx.keys.tenant(tenant, 'lock', resource);
  };

  return {
    async acquire(request) {
      const key = keyOf(request.tenant, request.resource);
      checkOwner(request.owner);
      const mode = checkMode(request.mode);
      const ttlMs = checkTtl(request.ttlMs);
      const reply = await acquireScript.run(client, [key], [request.owner, mode, ttlMs, request.resource]);
      return toLockInfo(request, reply);
    },
    async release(lockKey) {
      const key = keyOf(lockKey.tenant, lockKey.resource);
      checkOwner(lockKey.owner);
      const reply = await releaseScript.run(client, [key], [lockKey.owner, lockKey.resource]);
      return reply === null ? null : toLockInfo(lockKey, reply);
    },
    async renew(lockKey) {
      const key = keyOf(lockKey.tenant, lockKey.resource);
      checkOwner(lockKey.owner);
      const ttlMs = checkTtl(lockKey.ttlMs);
      const reply = await renewScript.run(client, [key], [lockKey.owner, ttlMs, lockKey.resource]);
      return toLockInfo(lockKey, reply);
    },
    async get(tenant, resource) {
      const key = keyOf(tenant, resource);
      const reply = await getScript.run(client, [key], []);
      return reply === null ? undefined : toLockInfo({ tenant, resource }, reply);
    },
  };
}

type StoredHold = { count: number; expires_at: number };

function isHold(value: unknown): value is StoredHold {
  if (typeof value !== 'object' || value === null) return false;
  const hold = value as Record<string, unknown>;
  return typeof hold['count'] === 'number' && typeof hold['expires_at'] === 'number';
}

/** Parses the JSON a lock script returns; anything else is a bug in a script, not bad input. */
function toLockInfo(where: Pick<LockKey, 'tenant' | 'resource'>, reply: unknown): LockInfo {
  let parsed: unknown;
  try {
    parsed = typeof reply === 'string' ? JSON.parse(reply) : undefined;
  } catch {
    parsed = undefined;
  }
  const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const mode = record['mode'];
  const owners = record['owners'];
  const expiresAt = record['expires_at'];
  if ((mode !== 'exclusive' && mode !== 'shared') || typeof expiresAt !== 'number') {
    throw new TerminalError(`malformed lock record for ${where.resource}`, { details: { reply: String(reply) } });
  }
  // JSON.parse defines every key as an own property, "__proto__" included, so Object.entries sees each
  // owner; lockInfo then builds the snapshot without assigning by name.
  const holds: Array<[string, LockHold]> = [];
  if (typeof owners === 'object' && owners !== null) {
    for (const [owner, hold] of Object.entries(owners)) {
      if (!isHold(hold)) {
        throw new TerminalError(`malformed lock record for ${where.resource}`, { details: { reply: String(reply) } });
      }
      holds.push([owner, { count: hold.count, expiresAt: hold.expires_at }]);
    }
  }
  return lockInfo(where, mode, holds, expiresAt);
}
