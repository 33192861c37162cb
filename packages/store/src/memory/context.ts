import type { Clock } from '@cordum/core';
import type { ResolvedStoreOptions } from '../ports/stores.js';

/** What every memory adapter is built from. The clock is the "store clock" of the memory backend. */
export type MemoryStoreContext = {
  readonly clock: Clock;
  readonly options: ResolvedStoreOptions;
  /** Raised fences (model/fence.ts): token → store-clock ms until which it is up. Shared by the adapters. */
  readonly fences?: Map<string, number>;
};

/** Whether a fence is up in this backend. */
export function fenceUp(ctx: MemoryStoreContext, token: string): boolean {
  return (ctx.fences?.get(token) ?? 0) > ctx.clock.now();
}

/** Raises a fence for FENCE_TTL_MS, forgetting fences that are down. */
export function raiseFence(ctx: MemoryStoreContext, token: string, ttlMs: number): void {
  const fences = ctx.fences;
  if (fences === undefined) return;
  const now = ctx.clock.now();
  if (fences.size > 1000) for (const [t, until] of fences) if (until <= now) fences.delete(t);
  fences.set(token, now + ttlMs);
}
