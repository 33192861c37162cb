import type { Clock } from '@cordum/core';

// Due times (timers, the run due index) are the store's clock (Redis TIME), never each process's. Asking the
// store on every reduce would cost a round trip, so the offset between the store clock and this process's
// clock is measured each reconciler pass (halving the round trip) and applied locally.

export type StoreClock = {
  /** Store time in whole ms, estimated. */
  now(): number;
  /** Re-measures the offset. */
  sync(): Promise<void>;
  /** Local clock ms at which store time `storeMs` is reached. */
  toLocal(storeMs: number): number;
};

export function createStoreClock(storeNow: () => Promise<number>, local: Clock): StoreClock {
  let offset = 0;
  return {
    now: () => Math.round(local.now() + offset),
    async sync() {
      const before = local.now();
      const store = await storeNow();
      const after = local.now();
      offset = store - (before + after) / 2;
    },
    toLocal: (storeMs) => storeMs - offset,
  };
}
