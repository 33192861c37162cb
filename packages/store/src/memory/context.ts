import type { Clock } from '@cordum/core';
import type { ResolvedStoreOptions } from '../ports/stores.js';

/** What every memory adapter is built from. The clock is the "store clock" of the memory backend. */
export type MemoryStoreContext = {
  readonly clock: Clock;
  readonly options: ResolvedStoreOptions;
};
