import type { Clock } from '@cordum/core';

/**
 * Calls per second per principal, in fixed one-second windows (the HTTP limit's number, counted separately).
 * Only authenticated principals are counted, and their number is bounded by the configured keys, so the map
 * stays small; it is emptied every window.
 */
export type RateLimiter = {
  /** Counts a call; returns the milliseconds until the next window when the call is over the limit. */
  take(key: string): number | undefined;
};

export function createRateLimiter(perSecond: number, clock: Clock): RateLimiter {
  let window = -1;
  const counts = new Map<string, number>();
  return {
    take(key) {
      if (perSecond <= 0) return undefined;
      const now = clock.now();
      const w = Math.floor(now / 1000);
      if (w !== window) {
        window = w;
        counts.clear();
      }
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      return n > perSecond ? (w + 1) * 1000 - now : undefined;
    },
  };
}
