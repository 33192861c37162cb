/**
 * The worker-wide bound on running handlers. Each bus subscription has its own concurrency limit, but a
 * worker subscribes to several subjects (every topic plus its direct subject), so the bound that
 * max_parallel_jobs promises is enforced here, across all of them. Waiting is FIFO and abortable: a job
 * cancelled (or a worker drained) while it waits for a slot never starts.
 */
export type Slots = {
  readonly size: number;
  /** Slots held now. */
  readonly active: number;
  /** Waiters now. */
  readonly waiting: number;
  /** Resolves true with a slot held, or false when the signal aborts first (no slot held). */
  acquire(signal: AbortSignal): Promise<boolean>;
  release(): void;
};

type Waiter = { grant: () => void };

export function createSlots(size: number): Slots {
  let active = 0;
  const waiters = new Set<Waiter>(); // insertion-ordered: FIFO
  return {
    size,
    get active() {
      return active;
    },
    get waiting() {
      return waiters.size;
    },
    acquire(signal) {
      if (signal.aborted) return Promise.resolve(false);
      if (active < size && waiters.size === 0) {
        active++;
        return Promise.resolve(true);
      }
      return new Promise<boolean>((resolve) => {
        const onAbort = (): void => {
          waiters.delete(waiter);
          resolve(false);
        };
        const waiter: Waiter = {
          grant: () => {
            signal.removeEventListener('abort', onAbort);
            resolve(true);
          },
        };
        waiters.add(waiter);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
    release() {
      // Hand the slot straight to the next waiter, so a newcomer cannot overtake the queue.
      for (const next of waiters) {
        waiters.delete(next);
        next.grant();
        return;
      }
      if (active > 0) active--;
    },
  };
}
