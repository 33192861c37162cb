import type { JsonValue } from '@cordum/core';

// How many runs a tenant may have going at once, from the effective config of the run (system → org →
// team → workflow). Pure: the RunStore enforces the number atomically when it creates the run.
//
// Sources (either may be set; when both are, the smaller wins, like the scheduler's job quotas):
//   limits.max_concurrent_runs          ours, beside limits.max_concurrent_jobs
//   rate_limits.concurrent_workflows    upstream Cordum's key in config/system.yaml
// A positive whole number is the limit; absent, 0 or anything else means no limit.

export function maxConcurrentRuns(effective: Readonly<Record<string, JsonValue>>): number {
  const ours = limitOf(objectAt(effective, 'limits')?.['max_concurrent_runs']);
  const upstream = limitOf(objectAt(effective, 'rate_limits')?.['concurrent_workflows']);
  return ours > 0 && upstream > 0 ? Math.min(ours, upstream) : Math.max(ours, upstream);
}

function limitOf(value: JsonValue | undefined): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) return 0;
  return Math.min(Math.floor(value), 2 ** 31 - 1);
}

function objectAt(value: Readonly<Record<string, JsonValue>>, key: string): Readonly<Record<string, JsonValue>> | undefined {
  if (!Object.hasOwn(value, key)) return undefined;
  const v = value[key];
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}
