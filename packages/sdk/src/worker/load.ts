import { availableParallelism, freemem, loadavg, totalmem } from 'node:os';

/**
 * Host load for heartbeats, on the 0-100 scale of Heartbeat.cpu_load: the 1-minute load average per CPU.
 * Schedulers add cpu_load/100 to active_jobs when picking the least-loaded worker, so it must not exceed
 * 100 even on an overloaded host. (Windows reports a load average of 0: cpu_load is then 0.)
 */
export function cpuLoad(): number {
  const [oneMinute = 0] = loadavg();
  return clampPercent((oneMinute / Math.max(1, availableParallelism())) * 100);
}

/** Used memory of the host, 0-100. */
export function memoryLoad(): number {
  const total = totalmem();
  if (total <= 0) return 0;
  return clampPercent((1 - freemem() / total) * 100);
}

export function clampPercent(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.min(100, Math.max(0, value));
}
