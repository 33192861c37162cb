import { TerminalError } from '@cordum/core';
import { checkTtlMs } from '../model/common.js';
import { checkIdempotencyKey, checkValue } from '../model/idempotency.js';
import type { ClaimResult, IdempotencyKey, IdempotencyStore } from '../ports/idempotency-store.js';
import type { RedisStoreContext } from './context.js';
import { redisCall } from './errors.js';
import { loadScript } from './script.js';

// Layout: t:<tenant>:idem:<scope>:<key> → value (string, PX ttl). The scope has no colon and the key is the
// last component, so a key containing colons cannot reach into another scope.

const claimScript = loadScript('idempotency-claim');
const releaseScript = loadScript('idempotency-release');

export function createRedisIdempotencyStore(ctx: RedisStoreContext): IdempotencyStore {
  const { client } = ctx;
  const keyOf = (key: IdempotencyKey): string => {
    checkIdempotencyKey(key);
    return ctx.keys.tenant(key.tenant, 'idem', key.scope, key.key);
  };

  return {
    async claim(key, value, options) {
      const redisKey = keyOf(key);
      checkValue(value);
      const ttlMs = checkTtlMs(options?.ttlMs ?? ctx.options.idempotencyTtlMs);
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
