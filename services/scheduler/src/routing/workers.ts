import type { Handshake, Heartbeat } from '@cordum/protocol';
import { workerJobsSubject } from '@cordum/protocol';

// What this scheduler instance knows about live workers, from sys.heartbeat and sys.handshake (every
// instance hears every heartbeat). Between heartbeats, dispatches made here are counted as `assigned` and
// results seen here take them off again, so a burst does not pile onto the worker that looked idlest at its
// last beat, and a worker that finishes its jobs does not look busy until its next beat.

/** Label a worker sets (in heartbeats) to say it consumes worker.<id>.jobs. */
export const DIRECT_DISPATCH_LABEL = 'cordum.direct_dispatch';

export type WorkerInfo = {
  readonly id: string;
  readonly pool: string;
  readonly activeJobs: number;
  readonly maxParallel: number;
  readonly cpuLoad: number;
  readonly gpuUtilization: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly capabilities: readonly string[];
  /** The worker consumes worker.<id>.jobs (announced in a handshake or by label). */
  readonly direct: boolean;
  readonly lastSeen: number;
  /** Jobs dispatched to it by this instance since its last heartbeat. */
  readonly assigned: number;
};

export type WorkerRegistry = {
  heartbeat(hb: Heartbeat, now: number): void;
  handshake(hs: Handshake, senderId: string, now: number): void;
  /** Workers heard from within the timeout. */
  live(now: number): WorkerInfo[];
  noteDispatch(workerId: string): void;
  /** A job of this worker ended (its result arrived). */
  noteCompletion(workerId: string): void;
  /** Removes and returns workers silent for longer than the timeout (worker loss). */
  expire(now: number): string[];
  get(workerId: string): WorkerInfo | undefined;
};

type Entry = {
  -readonly [K in keyof WorkerInfo]: WorkerInfo[K];
};

export function createWorkerRegistry(options: { timeoutMs: number }): WorkerRegistry {
  const workers = new Map<string, Entry>();
  const directByHandshake = new Set<string>();
  return {
    heartbeat(hb, now) {
      if (hb.workerId === '') return;
      const direct =
        directByHandshake.has(hb.workerId) || (hb.labels[DIRECT_DISPATCH_LABEL] ?? '').toLowerCase() === 'true';
      workers.set(hb.workerId, {
        id: hb.workerId,
        pool: hb.pool,
        activeJobs: hb.activeJobs,
        maxParallel: hb.maxParallelJobs,
        cpuLoad: hb.cpuLoad,
        gpuUtilization: hb.gpuUtilization,
        labels: { ...hb.labels },
        capabilities: [...hb.capabilities],
        direct,
        lastSeen: now,
        assigned: 0,
      });
    },
    handshake(hs, senderId, now) {
      const id = hs.componentId !== '' ? hs.componentId : senderId;
      if (id === '') return;
      let direct = false;
      try {
        direct = hs.readyTopics.includes(workerJobsSubject(id));
      } catch {
        direct = false;
      }
      if (direct) directByHandshake.add(id);
      else directByHandshake.delete(id);
      const known = workers.get(id);
      if (known !== undefined) {
        known.direct = direct || (known.labels[DIRECT_DISPATCH_LABEL] ?? '').toLowerCase() === 'true';
        known.lastSeen = now;
      }
    },
    live(now) {
      return [...workers.values()].filter((w) => now - w.lastSeen <= options.timeoutMs);
    },
    noteDispatch(workerId) {
      const w = workers.get(workerId);
      if (w !== undefined) w.assigned++;
    },
    noteCompletion(workerId) {
      const w = workers.get(workerId);
      if (w === undefined) return;
      // A job dispatched since the last beat, else one the beat already counted as active.
      if (w.assigned > 0) w.assigned--;
      else if (w.activeJobs > 0) w.activeJobs--;
    },
    expire(now) {
      const lost: string[] = [];
      for (const [id, w] of workers) {
        if (now - w.lastSeen > options.timeoutMs) {
          workers.delete(id);
          directByHandshake.delete(id);
          lost.push(id);
        }
      }
      return lost;
    },
    get: (workerId) => workers.get(workerId),
  };
}
