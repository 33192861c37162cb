import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  DecisionType,
  type OutputCheckRequest,
  type OutputCheckResponse,
  OutputCheckResponseSchema,
  OutputDecision,
  type PolicyCheckRequest,
  type PolicyCheckResponse,
  PolicyCheckResponseSchema,
  type PolicyConstraintsSchema,
} from '@cordum/protocol';
import { RetryableError } from './errors.js';

export type PdpCallOptions = { signal?: AbortSignal };

/**
 * The policy decision point as the scheduler and gateway see it. Adapters: the safety kernel over gRPC
 * (with timeout and circuit breaker) or the embedded engine. An unreachable kernel is a RetryableError with
 * code safety_unavailable — callers wait and re-check; they never treat it as an allow.
 */
export type PolicyDecisionPoint = {
  /** The decision that gates a job; the kernel records it. */
  check(request: PolicyCheckRequest, options?: PdpCallOptions): Promise<PolicyCheckResponse>;
  /** The same evaluation without side effects. */
  evaluate(request: PolicyCheckRequest, options?: PdpCallOptions): Promise<PolicyCheckResponse>;
  /** Policy snapshot ids, newest first. */
  listSnapshots(options?: PdpCallOptions): Promise<readonly string[]>;
};

export type StaticRule = {
  id: string;
  /** Topic glob: `*` matches any run of characters, dots included (job.* matches job.a.b). */
  topic?: string;
  tenant?: string;
  /** Matches when the request's meta.risk_tags contains it. */
  riskTag?: string;
  decision: DecisionType;
  reason?: string;
  constraints?: MessageInitShape<typeof PolicyConstraintsSchema>;
};

export type StaticPdpOptions = {
  rules?: readonly StaticRule[];
  defaultDecision?: DecisionType;
  snapshot?: string;
};

export type StaticPdp = PolicyDecisionPoint & {
  /** Every request passed to check(), in order. */
  readonly checks: PolicyCheckRequest[];
  /** false makes every call fail as an outage would. */
  setAvailable(available: boolean): void;
  setRules(rules: readonly StaticRule[], snapshot?: string): void;
};

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*');
  return new RegExp(`^${escaped}$`);
}

/** A fixed-rule PDP for tests and for running the scheduler before the safety kernel exists. */
export function createStaticPdp(options: StaticPdpOptions = {}): StaticPdp {
  let rules = options.rules ?? [];
  let snapshot = options.snapshot ?? 'static:1';
  const history: string[] = [snapshot];
  const defaultDecision = options.defaultDecision ?? DecisionType.ALLOW;
  let available = true;
  const checks: PolicyCheckRequest[] = [];

  const decide = (req: PolicyCheckRequest): PolicyCheckResponse => {
    if (!available) {
      throw new RetryableError('safety kernel unavailable', { code: 'safety_unavailable', retryAfterMs: 1000 });
    }
    const rule = rules.find(
      (r) =>
        (r.topic === undefined || globToRegExp(r.topic).test(req.topic)) &&
        (r.tenant === undefined || r.tenant === req.tenant) &&
        (r.riskTag === undefined || (req.meta?.riskTags ?? []).includes(r.riskTag)),
    );
    const decision = rule?.decision ?? defaultDecision;
    return create(PolicyCheckResponseSchema, {
      decision,
      reason: rule?.reason ?? (rule === undefined ? 'no rule matched' : ''),
      ruleId: rule?.id ?? '',
      policySnapshot: snapshot,
      ...(rule?.constraints === undefined ? {} : { constraints: rule.constraints }),
      approvalRequired: decision === DecisionType.REQUIRE_HUMAN,
      approvalRef: decision === DecisionType.REQUIRE_HUMAN ? req.jobId : '',
    });
  };

  return {
    checks,
    setAvailable(value) {
      available = value;
    },
    setRules(next, nextSnapshot) {
      rules = next;
      if (nextSnapshot !== undefined && nextSnapshot !== snapshot) {
        snapshot = nextSnapshot;
        history.unshift(snapshot);
      }
    },
    check(request) {
      checks.push(request);
      return Promise.resolve().then(() => decide(request));
    },
    evaluate(request) {
      return Promise.resolve().then(() => decide(request));
    },
    listSnapshots() {
      if (!available) {
        return Promise.reject(new RetryableError('safety kernel unavailable', { code: 'safety_unavailable' }));
      }
      return Promise.resolve([...history]);
    },
  };
}

/**
 * The output policy as the scheduler sees it: a SUCCEEDED result passes CheckOutput before it is final.
 * Like the PDP, an unreachable service is a RetryableError: the result waits, it is never waved through.
 */
export type OutputPolicyPoint = {
  checkOutput(request: OutputCheckRequest, options?: PdpCallOptions): Promise<OutputCheckResponse>;
};

/** Allows every output: the default until an output policy is configured, and a test double. */
export function createAllowAllOutputPolicy(): OutputPolicyPoint & { readonly checks: OutputCheckRequest[] } {
  const checks: OutputCheckRequest[] = [];
  return {
    checks,
    checkOutput(request) {
      checks.push(request);
      return Promise.resolve(create(OutputCheckResponseSchema, { decision: OutputDecision.ALLOW, reason: 'no output policy configured' }));
    },
  };
}
