import { createManualClock } from '@cordum/core';
import { describe, expect, it } from 'vitest';
import { type CircuitBreaker, type CircuitTicket, createCircuitBreaker } from './index.js';

function ticket(b: CircuitBreaker): CircuitTicket {
  const p = b.acquire();
  if (!p.ok) throw new Error(`refused, retry after ${p.retryAfterMs} ms`);
  return p.ticket;
}

const fail = (b: CircuitBreaker, n: number): void => {
  for (let i = 0; i < n; i++) b.failure(ticket(b));
};

describe('circuit breaker', () => {
  it('closed: calls pass; 3 consecutive failures open it, a success in between resets the count', () => {
    const clock = createManualClock(1_000);
    const b = createCircuitBreaker(clock);
    expect(b.state()).toBe('closed');
    fail(b, 2);
    b.success(ticket(b));
    fail(b, 2);
    expect(b.state()).toBe('closed');
    expect(b.retryAfterMs()).toBe(0);
    fail(b, 1);
    expect(b.state()).toBe('open');
  });

  it('open: every call fails fast with the time left until half-open, for 30 s', () => {
    const clock = createManualClock(0);
    const b = createCircuitBreaker(clock);
    fail(b, 3);
    expect(b.acquire()).toEqual({ ok: false, retryAfterMs: 30_000 });
    clock.advance(29_000);
    expect(b.acquire()).toEqual({ ok: false, retryAfterMs: 1_000 });
    expect(b.retryAfterMs()).toBe(1_000);
    clock.advance(999);
    expect(b.acquire()).toEqual({ ok: false, retryAfterMs: 1 });
    clock.advance(1);
    expect(b.state()).toBe('half_open');
    expect(b.acquire().ok).toBe(true);
  });

  it('half-open: 3 probes at most; 2 successes close it', () => {
    const clock = createManualClock(0);
    const b = createCircuitBreaker(clock);
    fail(b, 3);
    clock.advance(30_000);
    const probes = [ticket(b), ticket(b), ticket(b)];
    expect(probes.every((t) => t.probe)).toBe(true);
    expect(b.acquire()).toEqual({ ok: false, retryAfterMs: 1_000 });
    b.success(probes[0]!);
    expect(b.state()).toBe('half_open');
    b.success(probes[1]!);
    expect(b.state()).toBe('closed');
    // The third probe's late outcome belongs to the half-open period that is over.
    b.failure(probes[2]!);
    expect(b.state()).toBe('closed');
    expect(ticket(b).probe).toBe(false);
  });

  it('half-open: a failed probe opens it again for another 30 s', () => {
    const clock = createManualClock(0);
    const b = createCircuitBreaker(clock);
    fail(b, 3);
    clock.advance(30_000);
    const [p1, p2] = [ticket(b), ticket(b)];
    b.success(p1);
    b.failure(p2);
    expect(b.state()).toBe('open');
    expect(b.acquire()).toEqual({ ok: false, retryAfterMs: 30_000 });
    clock.advance(30_000);
    expect(b.state()).toBe('half_open');
  });

  it('a probe the caller abandoned frees its slot and counts for nothing', () => {
    const clock = createManualClock(0);
    const b = createCircuitBreaker(clock);
    fail(b, 3);
    clock.advance(30_000);
    const probes = [ticket(b), ticket(b), ticket(b)];
    expect(b.acquire().ok).toBe(false);
    b.abandon(probes[0]!);
    const again = ticket(b);
    expect(again.probe).toBe(true);
    b.success(again);
    b.success(probes[1]!);
    expect(b.state()).toBe('closed');
  });

  it('outcomes of calls admitted before a state change are ignored', () => {
    const clock = createManualClock(0);
    const b = createCircuitBreaker(clock);
    // 32 calls in flight when the remote dies.
    const inFlight = Array.from({ length: 32 }, () => ticket(b));
    for (const t of inFlight.slice(0, 3)) b.failure(t);
    expect(b.state()).toBe('open');
    clock.advance(10_000);
    for (const t of inFlight.slice(3)) b.failure(t);
    // The later failures did not restart the open period.
    expect(b.retryAfterMs()).toBe(20_000);
    clock.advance(20_000);
    const probe = ticket(b);
    // A slow success from before the outage is not a probe.
    b.success(inFlight[3]!);
    b.success(inFlight[4]!);
    expect(b.state()).toBe('half_open');
    b.success(probe);
    b.success(ticket(b));
    expect(b.state()).toBe('closed');
  });

  it('takes other thresholds and refuses impossible ones', () => {
    const clock = createManualClock(0);
    const b = createCircuitBreaker(clock, { failureThreshold: 1, openMs: 5, halfOpenProbes: 1, halfOpenSuccesses: 1 });
    fail(b, 1);
    expect(b.state()).toBe('open');
    clock.advance(5);
    b.success(ticket(b));
    expect(b.state()).toBe('closed');
    expect(() => createCircuitBreaker(clock, { halfOpenProbes: 1, halfOpenSuccesses: 2 })).toThrow(/never close/);
    expect(() => createCircuitBreaker(clock, { failureThreshold: 0 })).toThrow(RangeError);
  });
});
