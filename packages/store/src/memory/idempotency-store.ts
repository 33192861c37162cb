import { checkTtlMs, isExpired, settle } from '../model/common.js';
import { checkIdempotencyKey, checkValue } from '../model/idempotency.js';
import type { IdempotencyKey, IdempotencyStore } from '../ports/idempotency-store.js';
import type { MemoryStoreContext } from './context.js';

// Mirrors the Redis adapter (key t:<tenant>:idem:<scope>:<key>, expiry by the store clock). Every method
// decides synchronously, so claims from concurrent callers are serialised by the event loop.

/** Expired keys are dropped when read, and all of them every this many claims. */
const SWEEP_EVERY = 256;

type Entry = { value: string; expiresAt: number };

export function createMemoryIdempotencyStore(ctx: MemoryStoreContext): IdempotencyStore {
  const entries = new Map<string, Entry>();
  let claims = 0;

  const live = (id: string): Entry | undefined => {
    const entry = entries.get(id);
    if (entry === undefined) return undefined;
    if (isExpired(entry.expiresAt, ctx.clock.now())) {
      entries.delete(id);
      return undefined;
    }
    return entry;
  };

  const sweep = (): void => {
    if (++claims % SWEEP_EVERY !== 0) return;
    const now = ctx.clock.now();
    for (const [id, entry] of entries) if (isExpired(entry.expiresAt, now)) entries.delete(id);
  };

  return {
    claim: (key, value, options) =>
      settle(() => {
        const id = keyOf(key);
        checkValue(value);
        const ttlMs = checkTtlMs(options?.ttlMs ?? ctx.options.idempotencyTtlMs);
        const holder = live(id);
        if (holder !== undefined) return { claimed: false, value: holder.value };
        entries.set(id, { value, expiresAt: ctx.clock.now() + ttlMs });
        sweep();
        return { claimed: true, value };
      }),
    get: (key) => settle(() => live(keyOf(key))?.value),
    release: (key, value) =>
      settle(() => {
        const id = keyOf(key);
        checkValue(value);
        if (live(id)?.value !== value) return false;
        return entries.delete(id);
      }),
  };
}

function keyOf(key: IdempotencyKey): string {
  checkIdempotencyKey(key);
  return `t:${key.tenant}:idem:${key.scope}:${key.key}`;
}
