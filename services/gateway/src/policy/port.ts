import { type PolicyDecisionPoint, RetryableError } from '@cordum/core';
import type { PolicyExplainPoint } from '@cordum/pdp';

/**
 * What the policy routes need from the safety kernel: decisions without side effects (evaluate, never
 * check: asking "what would happen" must not write a decision record), explain and simulate with the rule
 * trace, and the snapshot ids. main.ts passes the gRPC adapter of @cordum/pdp (2 s deadline, circuit
 * breaker); `cordum dev` passes the kernel's embedded decision point. An unreachable kernel is
 * RetryableError(safety_unavailable), which the routes answer as 503 with Retry-After.
 */
export type GatewayPolicy = Pick<PolicyDecisionPoint, 'evaluate' | 'listSnapshots'> &
  PolicyExplainPoint & {
    /** Loads the policy sources now (an in-process kernel). Absent: the kernel picks changes up on its next poll. */
    reload?: (() => Promise<unknown>) | undefined;
  };

/** The kernel port, or 503 when this gateway was started without one. */
export function requirePolicy(policy: GatewayPolicy | undefined): GatewayPolicy {
  if (policy === undefined) {
    throw new RetryableError('this gateway has no safety kernel configured (SAFETY_KERNEL_ADDR); policy decisions are unavailable', {
      code: 'safety_unavailable',
      retryAfterMs: 30_000,
    });
  }
  return policy;
}
