// The circuit breaker in front of the safety kernel, as upstream's scheduler has it: 3 consecutive failures
// open it for 30 s; then it is half-open and lets 3 probes through; 2 successful probes close it, any failed
// probe opens it again. Pure: time comes from a clock, so tests drive it with a manual one.
//
// Every admitted call gets a ticket carrying the breaker's generation (bumped on each state change). An
// outcome reported with a stale ticket is ignored: when 32 calls are in flight as the kernel dies, the first
// 3 failures open the breaker and the 29 that follow must not extend the open period, and a slow success from
// before the outage must not count as a probe.
import type { Clock } from '@cordum/core';

export type CircuitState = 'closed' | 'open' | 'half_open';

export type CircuitBreakerOptions = {
  /** Consecutive failures that open a closed breaker. Default 3. */
  failureThreshold?: number;
  /** How long an open breaker refuses calls before it turns half-open. Default 30 s. */
  openMs?: number;
  /** Calls a half-open breaker lets through. Default 3. */
  halfOpenProbes?: number;
  /** Successful probes that close a half-open breaker. Default 2. */
  halfOpenSuccesses?: number;
  /** Retry hint for a call refused because every probe slot is taken. Default 1 s. */
  probeBusyRetryMs?: number;
};

export type ResolvedCircuitBreakerOptions = Readonly<Required<CircuitBreakerOptions>>;

export const CIRCUIT_BREAKER_DEFAULTS: ResolvedCircuitBreakerOptions = Object.freeze({
  failureThreshold: 3,
  openMs: 30_000,
  halfOpenProbes: 3,
  halfOpenSuccesses: 2,
  probeBusyRetryMs: 1_000,
});

export type CircuitTicket = { readonly generation: number; readonly probe: boolean };

export type CircuitPermit = { ok: true; ticket: CircuitTicket } | { ok: false; retryAfterMs: number };

export type CircuitBreaker = {
  /** Asks to make a call. When allowed, report its outcome with exactly one of success/failure/abandon. */
  acquire(): CircuitPermit;
  success(ticket: CircuitTicket): void;
  failure(ticket: CircuitTicket): void;
  /** The call ended without saying anything about the remote (the caller cancelled it): frees a probe slot. */
  abandon(ticket: CircuitTicket): void;
  state(): CircuitState;
  /** Milliseconds until an open breaker turns half-open (0 when it is not open). */
  retryAfterMs(): number;
};

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`circuit breaker ${name} must be a positive integer, got ${value}`);
  return value;
}

export function createCircuitBreaker(clock: Pick<Clock, 'now'>, options: CircuitBreakerOptions = {}): CircuitBreaker {
  const o: ResolvedCircuitBreakerOptions = { ...CIRCUIT_BREAKER_DEFAULTS, ...options };
  positiveInt('failureThreshold', o.failureThreshold);
  positiveInt('halfOpenProbes', o.halfOpenProbes);
  positiveInt('halfOpenSuccesses', o.halfOpenSuccesses);
  if (o.halfOpenSuccesses > o.halfOpenProbes) {
    throw new RangeError('circuit breaker halfOpenSuccesses cannot exceed halfOpenProbes (it could never close)');
  }
  if (!(o.openMs >= 0) || !(o.probeBusyRetryMs >= 0)) throw new RangeError('circuit breaker durations must be >= 0');

  let state: CircuitState = 'closed';
  let generation = 0;
  let failures = 0;
  let openUntil = 0;
  let admitted = 0;
  let successes = 0;

  const enter = (next: CircuitState): void => {
    state = next;
    generation++;
    failures = 0;
    admitted = 0;
    successes = 0;
    if (next === 'open') openUntil = clock.now() + o.openMs;
  };

  // Open turns half-open lazily, when time has passed: no timers, nothing to stop.
  const current = (): CircuitState => {
    if (state === 'open' && clock.now() >= openUntil) enter('half_open');
    return state;
  };

  const stale = (ticket: CircuitTicket): boolean => ticket.generation !== generation;

  return {
    acquire() {
      switch (current()) {
        case 'closed':
          return { ok: true, ticket: { generation, probe: false } };
        case 'open':
          return { ok: false, retryAfterMs: Math.max(1, openUntil - clock.now()) };
        case 'half_open':
          if (admitted >= o.halfOpenProbes) return { ok: false, retryAfterMs: o.probeBusyRetryMs };
          admitted++;
          return { ok: true, ticket: { generation, probe: true } };
      }
    },
    success(ticket) {
      if (stale(ticket)) return;
      if (state === 'closed') failures = 0;
      else if (state === 'half_open' && ++successes >= o.halfOpenSuccesses) enter('closed');
    },
    failure(ticket) {
      if (stale(ticket)) return;
      if (state === 'closed') {
        if (++failures >= o.failureThreshold) enter('open');
      } else if (state === 'half_open') {
        enter('open');
      }
    },
    abandon(ticket) {
      if (!stale(ticket) && state === 'half_open' && ticket.probe) admitted = Math.max(0, admitted - 1);
    },
    state: current,
    retryAfterMs() {
      return current() === 'open' ? Math.max(0, openUntil - clock.now()) : 0;
    },
  };
}
