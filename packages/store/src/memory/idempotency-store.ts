import { InvalidError, isSafeTenantId, toError } from '@cordum/core';
import type { IdempotencyKey, IdempotencyStore } from '../ports/idempotency-store.js';
import type { MemoryStoreContext } from './context.js';

// Mirrors the Redis adapter (key t:<tenant>:idem:<scope>:<key>, expiry by the store clock). Every method
// decides synchronously, so claims from concurrent callers are serialised by the event loop.

const SCOPE = /^[a-z0-9_-]{1,64}$/;
const MAX_KEY_LENGTH = 512;
const MAX_TTL_MS = 100 * 365 * 86_400_000;
/** Expired keys are dropped when read, and all of them every this many claims. */
const SWEEP_EVERY = 256;

type Entry = { value: string; expiresAt: number };

export function createMemoryIdempotencyStore(ctx: MemoryStoreContext): IdempotencyStore {
  const entries = new Map<string, Entry>();
  let claims = 0;

  const live = (id: string): Entry | undefined => {
    const entry = entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= ctx.clock.now()) {
      entries.delete(id);
      return undefined;
    }
    return entry;
  };

  const sweep = (): void => {
    if (++claims % SWEEP_EVERY !== 0) return;
    const now = ctx.clock.now();
    for (const [id, entry] of entries) if (entry.expiresAt <= now) entries.delete(id);
  };

  return {
    claim: (key, value, options) =>
      attempt(() => {
        const id = keyOf(key);
        checkValue(value);
        const ttlMs = checkTtl(options?.ttlMs ?? ctx.options.idempotencyTtlMs);
        const holder = live(id);
        if (holder !== undefined) return { claimed: false, value: holder.value };
        entries.set(id, { value, expiresAt: ctx.clock.now() + ttlMs });
        sweep();
        return { claimed: true, value };
      }),
    get: (key) => attempt(() => live(keyOf(key))?.value),
    release: (key, value) =>
      attempt(() => {
        const id = keyOf(key);
        checkValue(value);
        if (live(id)?.value !== value) return false;
        return entries.delete(id);
      }),
  };
}

/** Runs a synchronous store operation as a promise (so a validation error rejects instead of throwing). */
function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(toError(err));
  }
}

function keyOf(key: IdempotencyKey): string {
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
  if (!isSafeTenantId(key.tenant)) {
    throw new InvalidError(`invalid tenant id ${JSON.stringify(key.tenant)}: use 1-64 of A-Z a-z 0-9 . _ -`, {
      details: { tenant: key.tenant },
    });
  }
  return `t:${key.tenant}:idem:${key.scope}:${key.key}`;
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
