// Conversions between the engine's results and the wire/store shapes every adapter shares: the explain
// response of cordum.v1.PolicyExplainer and the decision record written to the audit log.
import { create } from '@bufbuild/protobuf';
import type { JsonValue } from '@cordum/core';
import {
  type Constraints,
  type PolicyDecision,
  type PolicyExplanation,
  type RuleTraceStatus,
  toCheckResponse,
  toWireDecision,
} from '@cordum/policy';
import { type ExplainResponse, ExplainResponseSchema, RuleTraceStatus as WireRuleTraceStatus } from '@cordum/protocol';

/** Audit kind of the record every Check writes. */
export const DECISION_RECORD_KIND = 'policy.decision';

function wireStatus(status: RuleTraceStatus): WireRuleTraceStatus {
  switch (status) {
    case 'matched':
      return WireRuleTraceStatus.MATCHED;
    case 'not_matched':
      return WireRuleTraceStatus.NOT_MATCHED;
    case 'error':
      return WireRuleTraceStatus.ERROR;
    case 'not_reached':
      return WireRuleTraceStatus.NOT_REACHED;
  }
}

export function toExplainResponse(explanation: PolicyExplanation): ExplainResponse {
  return create(ExplainResponseSchema, {
    decision: toCheckResponse(explanation.decision),
    trace: explanation.trace.map((t) => ({
      ruleId: t.ruleId,
      bundleId: t.bundleId,
      index: t.index,
      decision: toWireDecision(t.decision),
      status: wireStatus(t.status),
      matched: t.matched,
      reasons: [...t.reasons],
    })),
    tenant: explanation.tenant,
    notes: [...explanation.notes],
  });
}

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function snakeJson(value: unknown): JsonValue {
  if (Array.isArray(value)) return value.map(snakeJson);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), snakeJson(v)]));
  }
  return value as JsonValue;
}

/** Constraints as they are written in bundles and stored (snake_case). */
export function constraintsJson(constraints: Constraints | null): JsonValue {
  return constraints === null ? null : snakeJson(constraints);
}

/**
 * The data of a decision record: {job_id, rule_id, snapshot, decision, constraints, reason, time}, plus the
 * topic so that an operator can ask "why was this topic refused" without the job record. `time` is RFC 3339.
 */
export function decisionRecord(decision: PolicyDecision, jobId: string, topic: string, nowMs: number): Record<string, JsonValue> {
  return {
    job_id: jobId,
    topic,
    rule_id: decision.ruleId,
    snapshot: decision.snapshot,
    decision: decision.decision,
    constraints: constraintsJson(decision.constraints),
    reason: decision.reason,
    time: new Date(nowMs).toISOString(),
  };
}
