export type BackoffOptions = {
  /** Delay before the first retry. */
  initialMs: number;
  /** Upper bound for any delay. */
  maxMs: number;
  /** Growth per attempt; 2 doubles. */
  multiplier?: number;
  /**
   * full: uniform in [0, d] (best at spreading a thundering herd); equal: d/2 + uniform in [0, d/2]
   * (never much shorter than d); none: exactly d.
   */
  jitter?: 'full' | 'equal' | 'none';
};

/**
 * Delay before retry number `attempt` (1 = first retry): min(max, initial * multiplier^(attempt-1)) with
 * jitter. `random` returns [0, 1) and exists for deterministic tests.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const { initialMs, maxMs, multiplier = 2, jitter = 'full' } = options;
  if (!(attempt >= 1)) throw new RangeError(`attempt must be >= 1, got ${attempt}`);
  if (initialMs < 0 || maxMs < initialMs) throw new RangeError('need 0 <= initialMs <= maxMs');
  // initialMs * multiplier^n overflows to Infinity for large n (and 0 * Infinity is NaN): cap first.
  const growth = Math.pow(multiplier, attempt - 1);
  const base = initialMs === 0 ? 0 : Number.isFinite(growth) ? Math.min(maxMs, initialMs * growth) : maxMs;
  switch (jitter) {
    case 'none':
      return Math.round(base);
    case 'equal':
      return Math.round(base / 2 + random() * (base / 2));
    case 'full':
      return Math.round(random() * base);
  }
}
