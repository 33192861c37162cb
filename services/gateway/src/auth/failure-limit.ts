import { type Clock, RetryableError, isCordumError } from '@cordum/core';
import type { PrincipalResolver } from './principal.js';

// Guessing API keys. The per-principal rate limit counts only requests that authenticated, so without this
// a client could try keys as fast as the gateway answers 401. Failed authentications (a key or token that
// names nobody; a request without any is not a guess and is not counted) are counted per client
// address (HTTP and WebSocket: the socket's address, gRPC: the peer's host) in fixed one-minute windows; an
// address over the limit gets 429 rate_limited for every request until the window ends — valid keys too,
// so a guess that happens to be right is not told apart. Addresses tracked per window are bounded.

const WINDOW_MS = 60_000;
const MAX_SOURCES = 10_000;

export type AuthFailureLimitOptions = {
  /** Failed authentications per client address per minute; 0 = no limit. */
  perMinute: number;
  clock: Pick<Clock, 'now'>;
};

/** The resolver, refusing credentials from an address that failed to authenticate too often. */
export function limitAuthFailures(inner: PrincipalResolver, options: AuthFailureLimitOptions): PrincipalResolver {
  const { perMinute, clock } = options;
  if (inner.open || perMinute <= 0) return inner;
  let window = -1;
  const failures = new Map<string, number>();
  const windowOf = (now: number): number => {
    const w = Math.floor(now / WINDOW_MS);
    if (w !== window) {
      window = w;
      failures.clear();
    }
    return w;
  };
  return {
    open: false,
    async resolve(credentials) {
      const source = credentials.from;
      if (source !== undefined) {
        const now = clock.now();
        const w = windowOf(now);
        if ((failures.get(source) ?? 0) >= perMinute) {
          const retryAfterMs = (w + 1) * WINDOW_MS - now;
          throw new RetryableError(
            `too many failed authentications from ${source}: at most ${perMinute} a minute; retry after ${Math.ceil(retryAfterMs / 1000)} s`,
            { code: 'rate_limited', retryAfterMs, details: { limit: perMinute, reason: 'authentication_failures' } },
          );
        }
      }
      try {
        return await inner.resolve(credentials);
      } catch (err) {
        const presented = credentials.apiKey !== undefined || credentials.bearer !== undefined;
        if (source !== undefined && presented && isCordumError(err) && err.code === 'unauthenticated') {
          windowOf(clock.now());
          const n = failures.get(source);
          if (n !== undefined || failures.size < MAX_SOURCES) failures.set(source, (n ?? 0) + 1);
        }
        throw err;
      }
    },
  };
}
