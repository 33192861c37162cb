import type { Clock } from '@cordum/core';
import type { ResolvedStoreOptions } from '../ports/stores.js';

/** What every memory adapter is built from. The clock is the "store clock" of the memory backend. */
export type MemoryStoreContext = {
  readonly clock: Clock;
  readonly options: ResolvedStoreOptions;
  /** Raised fences (model/fence.ts): token → value and store-clock ms until which it is up. Shared by the adapters. */
  readonly fences?: Map<string, { value: string; until: number }>;
};

/** The value of a fence that is up in this backend, or undefined. */
export function fenceValue(ctx: MemoryStoreContext, token: string): string | undefined {
  const f = ctx.fences?.get(token);
  return f !== undefined && f.until > ctx.clock.now() ? f.value : undefined;
}

/** Whether a fence is up in this backend. */
export function fenceUp(ctx: MemoryStoreContext, token: string): boolean {
  return fenceValue(ctx, token) !== undefined;
}

/** Raises a fence for ttlMs, forgetting fences that are down. */
export function raiseFence(ctx: MemoryStoreContext, token: string, ttlMs: number, value = '1'): void {
  const fences = ctx.fences;
  if (fences === undefined) return;
  const now = ctx.clock.now();
  if (fences.size > 1000) for (const [t, f] of fences) if (f.until <= now) fences.delete(t);
  fences.set(token, { value, until: now + ttlMs });
}
