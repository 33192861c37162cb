import type { Clock } from '@cordum/core';

// Due times are compared with the store's clock (Redis TIME), never with each process's. Asking the store
// for the time on every job would cost a round trip, so the offset between the store clock and this
// process's clock is measured each tick (halving the round trip) and applied locally.

export type StoreClock = {
  /** Store time in ms, estimated. */
  now(): number;
  /** Re-measures the offset. */
  sync(): Promise<void>;
};

export function createStoreClock(storeNow: () => Promise<number>, local: Clock): StoreClock {
  let offset = 0;
  return {
    // Whole milliseconds: stored times are integers (the offset itself carries half a round trip).
    now: () => Math.round(local.now() + offset),
    async sync() {
      const before = local.now();
      const store = await storeNow();
      const after = local.now();
      offset = store - (before + after) / 2;
    },
  };
}
