// Per-key serialisation inside one process: at most one pass per run at a time, so an instance never races
// itself into compare-and-set conflicts. Asking while a pass runs schedules exactly one more pass after it
// (requests coalesce: ten results arriving during a pass cost one more pass, which reduces all of them).

export type KeyedQueue = {
  /** Runs `work` for the key now, or once after the running pass; resolves when a pass that started after the call is done. */
  run(key: string, work: () => Promise<void>): Promise<void>;
  /** Keys with a pass running or pending. */
  size(): number;
  /** Resolves when nothing runs. */
  idle(): Promise<void>;
};

type Entry = { again: boolean; work: () => Promise<void>; waiters: (() => void)[]; done: Promise<void> };

export function createKeyedQueue(onError: (key: string, err: unknown) => void): KeyedQueue {
  const entries = new Map<string, Entry>();

  async function loop(key: string, entry: Entry): Promise<void> {
    do {
      entry.again = false;
      const waiters = entry.waiters.splice(0);
      try {
        await entry.work();
      } catch (err) {
        onError(key, err);
      }
      for (const resolve of waiters) resolve();
    } while (entry.again);
    entries.delete(key);
  }

  return {
    run(key, work) {
      return new Promise<void>((resolve) => {
        const entry = entries.get(key);
        if (entry !== undefined) {
          entry.again = true;
          entry.work = work;
          entry.waiters.push(resolve);
          return;
        }
        const created: Entry = { again: false, work, waiters: [resolve], done: Promise.resolve() };
        entries.set(key, created);
        created.done = loop(key, created);
      });
    },
    size: () => entries.size,
    async idle() {
      while (entries.size > 0) await Promise.all([...entries.values()].map((e) => e.done));
    },
  };
}
