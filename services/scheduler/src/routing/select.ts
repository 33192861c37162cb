import { workerJobsSubject } from '@cordum/protocol';
import { type PoolsConfig, poolsForTopic } from './routing-config.js';
import type { WorkerInfo } from './workers.js';

// Routing is pure: topic → pools from config, pool requires ⊇ job requires, placement labels, then the
// least-loaded live worker. A worker that announced worker.<id>.jobs gets the job directly; otherwise the job
// goes to the topic subject, where workers (of any CAP SDK) consume it in a queue group named after it.

export type RouteInput = {
  topic: string;
  requires: readonly string[];
  labels: Readonly<Record<string, string>>;
};

export type RouteResult =
  | { kind: 'dispatch'; subject: string; pool: string; workerId: string | null }
  | { kind: 'wait'; reason: 'pool_overloaded' | 'no_workers'; pool: string }
  | { kind: 'fail'; reason: 'no_pool_mapping'; message: string };

/** CPU or GPU utilisation from which a worker counts as hot. */
export const OVERLOAD_RATIO = 0.9;

// Labels that steer the control plane itself; they are never placement constraints on workers.
const NON_PLACEMENT = /^(preferred_.*|approval_.*|secrets_present|cordum\..*|workflow_id|run_id|step_id|node_id|worker_id|retry.*|dlq_entry|remediation_of.*|dry_run)$/;

export function placementLabels(labels: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(labels).filter(([k]) => !NON_PLACEMENT.test(k));
}

function load(w: WorkerInfo): number {
  return w.activeJobs + w.assigned;
}

/**
 * Every announced slot is taken, counting this instance's dispatches since the last heartbeat. This is the
 * hard limit: jobs wait for a slot in the store, and are woken the moment one frees.
 */
export function isFull(w: WorkerInfo): boolean {
  return w.maxParallel > 0 && load(w) >= w.maxParallel;
}

/**
 * CPU or GPU at 90% or more. A soft signal: hot workers get jobs only when no cool worker has a free slot.
 * (cpu_load is a host load average that lags by a minute and counts the worker's own jobs; treating it as a
 * hard stop would idle a whole pool whose hosts are simply busy with the work they were given.)
 */
export function isHot(w: WorkerInfo): boolean {
  return w.cpuLoad >= OVERLOAD_RATIO * 100 || w.gpuUtilization >= OVERLOAD_RATIO * 100;
}

/** Load score: lowest wins (upstream's active + cpu/100 + gpu/100, with this instance's recent dispatches). */
export function score(w: WorkerInfo): number {
  return load(w) + w.cpuLoad / 100 + w.gpuUtilization / 100;
}

export function route(input: RouteInput, config: PoolsConfig, workers: readonly WorkerInfo[]): RouteResult {
  let pools = poolsForTopic(config, input.topic);
  if (pools.length === 0) {
    return { kind: 'fail', reason: 'no_pool_mapping', message: `no pool is mapped to topic ${input.topic}` };
  }
  const preferred = input.labels['preferred_pool'];
  if (preferred !== undefined && preferred !== '') {
    if (!pools.includes(preferred)) {
      return {
        kind: 'fail',
        reason: 'no_pool_mapping',
        message: `preferred_pool ${preferred} is not mapped to topic ${input.topic}`,
      };
    }
    pools = [preferred];
  }
  const required = input.requires.map((r) => r.toLowerCase());
  const eligible = pools.filter((name) => {
    const have = config.pools.get(name)?.requires ?? [];
    return required.every((r) => have.includes(r));
  });
  if (eligible.length === 0) {
    return {
      kind: 'fail',
      reason: 'no_pool_mapping',
      message: `no pool for topic ${input.topic} provides ${required.join(', ')}`,
    };
  }
  const inPools = workers.filter((w) => eligible.includes(w.pool));
  const first = eligible[0] ?? '';
  if (inPools.length === 0) {
    // Nobody heartbeats for these pools: CAP workers of other SDKs may never do, and must still get jobs.
    return { kind: 'dispatch', subject: input.topic, pool: first, workerId: null };
  }
  const wanted = placementLabels(input.labels);
  const placed = inPools.filter((w) => wanted.every(([k, v]) => w.labels[k] === v));
  if (placed.length === 0) return { kind: 'wait', reason: 'no_workers', pool: first };
  const pinned = input.labels['preferred_worker_id'];
  const pin = pinned === undefined ? undefined : placed.find((w) => w.id === pinned && !isFull(w));
  const available = placed.filter((w) => !isFull(w));
  if (pin === undefined && available.length === 0) return { kind: 'wait', reason: 'pool_overloaded', pool: placed[0]?.pool ?? first };
  const cool = available.filter((w) => !isHot(w));
  const candidates = cool.length > 0 ? cool : available;
  const chosen =
    pin ?? candidates.reduce((best, w) => (score(w) < score(best) || (score(w) === score(best) && w.id < best.id) ? w : best));
  return {
    kind: 'dispatch',
    subject: chosen.direct ? workerJobsSubject(chosen.id) : input.topic,
    pool: chosen.pool,
    workerId: chosen.id,
  };
}
