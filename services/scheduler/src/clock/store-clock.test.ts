import { createManualClock } from '@cordum/core';
import { describe, expect, it } from 'vitest';
import { createStoreClock } from './store-clock.js';

describe('store clock', () => {
  it('applies the measured offset and always yields whole milliseconds', async () => {
    const local = createManualClock(1_000);
    // The store is 5,000.25 ms ahead and the measurement round trip takes 3 ms (offset lands on .5s).
    const clock = createStoreClock(() => {
      local.advance(3);
      return Promise.resolve(local.now() + 5_000.25);
    }, local);
    await clock.sync();
    expect(Number.isInteger(clock.now())).toBe(true);
    expect(Math.abs(clock.now() - (local.now() + 5_000))).toBeLessThanOrEqual(2);
  });
});
