import type { JsonValue } from '@cordum/core';

// Which concurrency limits apply to a job: pure, so every scheduler instance asks the store for the same
// slot. The store enforces them atomically (JobStore transition `slot`); this only reads them.
//
// Sources:
//   policy constraint budgets.max_concurrent_jobs        a tenant limit carried by the job's decision
//   effective config limits.max_concurrent_jobs          the tenant limit
//   effective config limits.max_concurrent_jobs_per_actor the limit of each actor within the tenant
//   effective config limits.actors.<actor>.max_concurrent_jobs  one actor's own limit (replaces the per-actor
//                                                         default for that actor; 0 exempts it)
// Where a policy constraint and the config both give a tenant limit, the smaller one applies.

export type QuotaInput = {
  /** The job's actor (JobRequest meta.actor_id, else principal_id); "" when it has none. */
  actor: string;
  /** budgets.max_concurrent_jobs of the job's policy decision; 0 when none. */
  constraintLimit: number;
  /** The job's effective config document. */
  effective: Readonly<Record<string, JsonValue>>;
};

/** The slot a job asks for: null actor = counts against the tenant only; 0 = no limit. */
export type QuotaLimits = { actor: string | null; tenantLimit: number; actorLimit: number };

export function quotaLimits(input: QuotaInput): QuotaLimits {
  const limits = objectAt(input.effective, 'limits');
  const configTenant = limitOf(limits?.['max_concurrent_jobs']);
  const constraint = limitOf(input.constraintLimit);
  const tenantLimit =
    configTenant > 0 && constraint > 0 ? Math.min(configTenant, constraint) : Math.max(configTenant, constraint);
  if (input.actor === '') return { actor: null, tenantLimit, actorLimit: 0 };
  const overrides = objectAt(limits, 'actors');
  const own = overrides === undefined ? undefined : objectAt(overrides, input.actor);
  const actorLimit =
    own !== undefined && own['max_concurrent_jobs'] !== undefined
      ? limitOf(own['max_concurrent_jobs'])
      : limitOf(limits?.['max_concurrent_jobs_per_actor']);
  return { actor: input.actor, tenantLimit, actorLimit };
}

/** A positive whole number of slots; anything else (absent, 0, negative, not a number) is 0: no limit. */
function limitOf(value: JsonValue | undefined): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) return 0;
  return Math.min(Math.floor(value), 2 ** 31 - 1);
}

function objectAt(
  value: Readonly<Record<string, JsonValue>> | undefined,
  key: string,
): Readonly<Record<string, JsonValue>> | undefined {
  if (value === undefined || !Object.hasOwn(value, key)) return undefined;
  const v = value[key];
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}
