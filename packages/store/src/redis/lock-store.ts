import { InvalidError, TerminalError } from '@cordum/core';
import type { LockInfo, LockKey, LockMode, LockStore } from '../ports/lock-store.js';
import type { RedisStoreContext } from './context.js';
import { loadScript } from './script.js';

// Layout: t:<tenant>:lock:<resource> → JSON {mode, owners: {<owner>: {count, expires_at}}}, PEXPIREAT the
// latest owner expiry. Every decision runs inside one script against Redis TIME (see lock-acquire.lua for
// the rules), so holders on different machines never both hold an exclusive lock.

const acquireScript = loadScript('lock-acquire');
const releaseScript = loadScript('lock-release');
const renewScript = loadScript('lock-renew');
const getScript = loadScript('lock-get');

const DEFAULT_TTL_MS = 30_000;
const MAX_TTL_MS = 365 * 86_400_000;
const MAX_RESOURCE_LENGTH = 512;
const MAX_OWNER_LENGTH = 256;

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
  const out: Record<string, { count: number; expiresAt: number }> = {};
  if (typeof owners === 'object' && owners !== null) {
    for (const [owner, hold] of Object.entries(owners)) {
      if (!isHold(hold)) {
        throw new TerminalError(`malformed lock record for ${where.resource}`, { details: { reply: String(reply) } });
      }
      out[owner] = { count: hold.count, expiresAt: hold.expires_at };
    }
  }
  return { tenant: where.tenant, resource: where.resource, mode, owners: out, expiresAt };
}

function checkResource(resource: string): void {
  if (typeof resource !== 'string' || resource === '' || resource.length > MAX_RESOURCE_LENGTH) {
    throw new InvalidError(`lock resource must be a non-empty string of at most ${MAX_RESOURCE_LENGTH} characters`, {
      details: { resource },
    });
  }
}

function checkOwner(owner: string): void {
  if (typeof owner !== 'string' || owner === '' || owner.length > MAX_OWNER_LENGTH) {
    throw new InvalidError(`lock owner must be a non-empty string of at most ${MAX_OWNER_LENGTH} characters`, {
      details: { owner },
    });
  }
}

function checkMode(mode: LockMode): LockMode {
  if (mode !== 'exclusive' && mode !== 'shared') {
    throw new InvalidError(`lock mode must be "exclusive" or "shared", got ${JSON.stringify(mode)}`, {
      details: { mode },
    });
  }
  return mode;
}

function checkTtl(ttlMs: number | undefined): number {
  const ttl = ttlMs ?? DEFAULT_TTL_MS;
  if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_TTL_MS) {
    throw new InvalidError(`lock ttlMs must be an integer from 1 ms to 365 days, got ${ttl}`, {
      details: { ttl_ms: ttl },
    });
  }
  return ttl;
}
