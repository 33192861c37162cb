import { describe, expect, it } from 'vitest';
import { maxConcurrentRuns } from './limits.js';

describe('maxConcurrentRuns', () => {
  it('reads limits.max_concurrent_runs and upstream\'s rate_limits.concurrent_workflows; the smaller wins; 0 = no limit', () => {
    expect(maxConcurrentRuns({})).toBe(0);
    expect(maxConcurrentRuns({ limits: { max_concurrent_runs: 5 } })).toBe(5);
    expect(maxConcurrentRuns({ rate_limits: { concurrent_workflows: 3 } })).toBe(3);
    expect(maxConcurrentRuns({ limits: { max_concurrent_runs: 5 }, rate_limits: { concurrent_workflows: 3 } })).toBe(3);
    expect(maxConcurrentRuns({ limits: { max_concurrent_runs: 2 }, rate_limits: { concurrent_workflows: 7 } })).toBe(2);
    expect(maxConcurrentRuns({ limits: { max_concurrent_runs: 0 }, rate_limits: { concurrent_workflows: 4 } })).toBe(4);
    expect(maxConcurrentRuns({ limits: { max_concurrent_runs: 2.9 } })).toBe(2);
  });

  it('ignores values that are not a positive number, and shapes that are not objects', () => {
    for (const v of [-1, 0.5, '5', null, true, [3], { n: 1 }]) expect(maxConcurrentRuns({ limits: { max_concurrent_runs: v } })).toBe(0);
    expect(maxConcurrentRuns({ limits: [1, 2] })).toBe(0);
    expect(maxConcurrentRuns({ limits: null, rate_limits: 'x' })).toBe(0);
    expect(maxConcurrentRuns({ limits: { max_concurrent_runs: Number.MAX_SAFE_INTEGER } })).toBe(2 ** 31 - 1);
  });
});
