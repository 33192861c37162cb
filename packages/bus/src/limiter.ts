/** A counting semaphore: at most `size` holders; acquire() waits for a free slot. */
export type Limiter = {
  acquire(): Promise<void>;
  release(): void;
  /** Resolves when nothing holds a slot. */
  idle(): Promise<void>;
  readonly active: number;
};

const noop = (): void => undefined;

export function createLimiter(size: number): Limiter {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`limiter size must be a positive integer, got ${size}`);
  let active = 0;
  // FIFO of waiters with a moving head: Array#shift is O(n) and made bursts quadratic.
  let waiters: (() => void)[] = [];
  let head = 0;
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
      if (head < waiters.length) {
        const next = waiters[head];
        waiters[head++] = noop;
        if (head > 1024 && head * 2 > waiters.length) {
          waiters = waiters.slice(head);
          head = 0;
        }
        next?.();
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
