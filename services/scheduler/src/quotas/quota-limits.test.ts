import { describe, expect, it } from 'vitest';
import { quotaLimits } from './quota-limits.js';

describe('quotaLimits', () => {
  it('has no limits without config or constraint, and no actor for a job without one', () => {
    expect(quotaLimits({ actor: '', constraintLimit: 0, effective: {} })).toEqual({ actor: null, tenantLimit: 0, actorLimit: 0 });
    expect(quotaLimits({ actor: 'alice', constraintLimit: 0, effective: { limits: {} } })).toEqual({ actor: 'alice', tenantLimit: 0, actorLimit: 0 });
  });

  it('takes the tenant limit from the config or the policy constraint, the smaller when both give one', () => {
    expect(quotaLimits({ actor: '', constraintLimit: 0, effective: { limits: { max_concurrent_jobs: 5 } } }).tenantLimit).toBe(5);
    expect(quotaLimits({ actor: '', constraintLimit: 3, effective: {} }).tenantLimit).toBe(3);
    expect(quotaLimits({ actor: '', constraintLimit: 3, effective: { limits: { max_concurrent_jobs: 5 } } }).tenantLimit).toBe(3);
    expect(quotaLimits({ actor: '', constraintLimit: 9, effective: { limits: { max_concurrent_jobs: 5 } } }).tenantLimit).toBe(5);
  });

  it('applies the per-actor default, replaced by an actor’s own entry (0 exempts it)', () => {
    const effective = {
      limits: {
        max_concurrent_jobs: 10,
        max_concurrent_jobs_per_actor: 2,
        actors: { carol: { max_concurrent_jobs: 4 }, robot: { max_concurrent_jobs: 0 }, dave: { note: 'no limit key' } },
      },
    };
    expect(quotaLimits({ actor: 'alice', constraintLimit: 0, effective })).toEqual({ actor: 'alice', tenantLimit: 10, actorLimit: 2 });
    expect(quotaLimits({ actor: 'carol', constraintLimit: 0, effective }).actorLimit).toBe(4);
    expect(quotaLimits({ actor: 'robot', constraintLimit: 0, effective }).actorLimit).toBe(0);
    expect(quotaLimits({ actor: 'dave', constraintLimit: 0, effective }).actorLimit).toBe(2);
    // A job without an actor counts against the tenant only.
    expect(quotaLimits({ actor: '', constraintLimit: 0, effective })).toEqual({ actor: null, tenantLimit: 10, actorLimit: 0 });
  });

  it('reads anything but a positive number as no limit, rounds down, and never looks up inherited keys', () => {
    const limit = (value: unknown): number =>
      quotaLimits({ actor: '', constraintLimit: 0, effective: { limits: { max_concurrent_jobs: value as number } } }).tenantLimit;
    expect([limit('3'), limit(-1), limit(0), limit(null), limit(0.5), limit(2.9)]).toEqual([0, 0, 0, 0, 0, 2]);
    expect(quotaLimits({ actor: '', constraintLimit: 0, effective: { limits: 'none' } }).tenantLimit).toBe(0);
    for (const actor of ['__proto__', 'constructor', 'toString']) {
      expect(quotaLimits({ actor, constraintLimit: 0, effective: { limits: { max_concurrent_jobs_per_actor: 1, actors: {} } } }).actorLimit).toBe(1);
    }
  });
});
