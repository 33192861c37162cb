/** Time as the process sees it. Services take a Clock so tests can control time. */
export type Clock = {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Resolves after ms, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
};

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason as Error);
        return;
      }
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

export type ManualClock = Clock & {
  /** Moves time forward, waking sleepers whose deadline has passed. */
  advance(ms: number): void;
  set(ms: number): void;
};

/** A clock that only moves when told to. */
export function createManualClock(startMs = 0): ManualClock {
  let current = startMs;
  type Sleeper = { at: number; resolve: () => void };
  let sleepers: Sleeper[] = [];
  const wake = (): void => {
    const due = sleepers.filter((s) => s.at <= current);
    sleepers = sleepers.filter((s) => s.at > current);
    for (const s of due) s.resolve();
  };
  return {
    now: () => current,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted === true) {
          reject(signal.reason as Error);
          return;
        }
        const sleeper: Sleeper = { at: current + ms, resolve };
        sleepers.push(sleeper);
        signal?.addEventListener(
          'abort',
          () => {
            sleepers = sleepers.filter((s) => s !== sleeper);
            reject(signal.reason as Error);
          },
          { once: true },
        );
        wake();
      }),
    advance(ms) {
      current += ms;
      wake();
    },
    set(ms) {
      current = ms;
      wake();
    },
  };
}
