import { InvalidError, TerminalError } from '@cordum/core';
import type { ClaimResult, IdempotencyKey, IdempotencyStore } from '../ports/idempotency-store.js';
import type { RedisStoreContext } from './context.js';
import { redisCall } from './errors.js';
import { loadScript } from './script.js';

// Layout: t:<tenant>:idem:<scope>:<key> → value (string, PX ttl). The scope has no colon and the key is the
// last component, so a key containing colons cannot reach into another scope.

const claimScript = loadScript('idempotency-claim');
const releaseScript = loadScript('idempotency-release');

const SCOPE = /^[a-z0-9_-]{1,64}$/;
const MAX_KEY_LENGTH = 512;
const MAX_TTL_MS = 100 * 365 * 86_400_000;

export function createRedisIdempotencyStore(ctx: RedisStoreContext): IdempotencyStore {
  const { client } = ctx;
  const keyOf = (key: IdempotencyKey): string => {
    checkKey(key);
    return ctx.keys.tenant(key.tenant, 'idem', key.scope, key.key);
  };

  return {
    async claim(key, value, options) {
      const redisKey = keyOf(key);
      checkValue(value);
      const ttlMs = checkTtl(options?.ttlMs ?? ctx.options.idempotencyTtlMs);
      const reply = await claimScript.run(client, [redisKey], [value, ttlMs]);
      return toClaimResult(reply);
    },
    async get(key) {
      const redisKey = keyOf(key);
      return (await redisCall('idempotency get', () => client.get(redisKey))) ?? undefined;
    },
    async release(key, value) {
      const redisKey = keyOf(key);
      checkValue(value);
      return (await releaseScript.run(client, [redisKey], [value])) === 1;
    },
  };
}

function toClaimResult(reply: unknown): ClaimResult {
  if (Array.isArray(reply) && typeof reply[1] === 'string') {
    return reply[0] === 1 ? { claimed: true, value: reply[1] } : { claimed: false, value: reply[1] };
  }
  // The key vanished between SET NX and GET inside one script: impossible, so a bug if seen.
  throw new TerminalError('unexpected reply from idempotency-claim', { details: { reply: String(reply) } });
}

function checkKey(key: IdempotencyKey): void {
  if (typeof key.scope !== 'string' || !SCOPE.test(key.scope)) {
    throw new InvalidError(`invalid idempotency scope ${JSON.stringify(key.scope)}: use 1-64 of a-z 0-9 _ -`, {
      details: { scope: key.scope },
    });
  }
  if (typeof key.key !== 'string' || key.key === '' || key.key.length > MAX_KEY_LENGTH) {
    throw new InvalidError(`idempotency key must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`, {
      details: { key: typeof key.key === 'string' ? key.key.slice(0, 64) : key.key },
    });
  }
}

function checkValue(value: string): void {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidError('idempotency value must be a non-empty string');
  }
}

function checkTtl(ttlMs: number): number {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_TTL_MS) {
    throw new InvalidError(`ttlMs must be an integer from 1 ms to 100 years, got ${ttlMs}`, {
      details: { ttl_ms: ttlMs },
    });
  }
  return ttlMs;
}
