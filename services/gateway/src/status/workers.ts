import type { Heartbeat } from '@cordum/protocol';

// Workers this gateway has heard from on sys.heartbeat (fan-out: every gateway sees every heartbeat).
// A worker silent for longer than the timeout is dropped, so status and the list never show the dead.

export type WorkerView = {
  worker_id: string;
  pool: string;
  region: string;
  type: string;
  cpu_load: number;
  gpu_utilization: number;
  active_jobs: number;
  max_parallel_jobs: number;
  capabilities: string[];
  labels: Record<string, string>;
  last_seen_at: number;
};

export type WorkerRegistry = {
  heartbeat(hb: Heartbeat, at: number): void;
  list(at: number): WorkerView[];
  count(at: number): number;
};

export function createWorkerRegistry(timeoutMs: number): WorkerRegistry {
  const workers = new Map<string, WorkerView>();
  const expire = (at: number): void => {
    for (const [id, w] of workers) if (at - w.last_seen_at > timeoutMs) workers.delete(id);
  };
  return {
    heartbeat(hb, at) {
      if (hb.workerId === '') return;
      workers.set(hb.workerId, {
        worker_id: hb.workerId,
        pool: hb.pool,
        region: hb.region,
        type: hb.type,
        cpu_load: hb.cpuLoad,
        gpu_utilization: hb.gpuUtilization,
        active_jobs: hb.activeJobs,
        max_parallel_jobs: hb.maxParallelJobs,
        capabilities: [...hb.capabilities],
        labels: { ...hb.labels },
        last_seen_at: at,
      });
    },
    list(at) {
      expire(at);
      return [...workers.values()].sort((a, b) => a.worker_id.localeCompare(b.worker_id));
    },
    count(at) {
      expire(at);
      return workers.size;
    },
  };
}
