/** A counting semaphore: at most `size` holders; acquire() waits for a free slot. */
export type Limiter = {
  acquire(): Promise<void>;
  release(): void;
  /** Resolves when nothing holds a slot. */
  idle(): Promise<void>;
  readonly active: number;
};

export function createLimiter(size: number): Limiter {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`limiter size must be a positive integer, got ${size}`);
  let active = 0;
  const waiters: (() => void)[] = [];
  let idleWaiters: (() => void)[] = [];
  return {
    get active() {
      return active;
    },
    acquire() {
      if (active < size) {
        active++;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    release() {
      const next = waiters.shift();
      if (next !== undefined) {
        next();
        return;
      }
      active--;
      if (active === 0) {
        const done = idleWaiters;
        idleWaiters = [];
        for (const w of done) w();
      }
    },
    idle() {
      if (active === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}
