import { compilePolicy, type PolicyOptions } from './compile.js';
import { type Decision, parseDecision } from './decision.js';
import { evaluate } from './evaluate.js';
import { createPolicyInput, deriveFromLabels, normaliseActorType } from './input.js';
import type { Bundle } from './model.js';

/** A pack's `tests.policySimulations[]` entry (camelCase, as in pack.yaml). */
export type PolicyCase = {
  name: string;
  request: {
    tenantId?: string;
    topic: string;
    capability?: string;
    riskTags?: string[];
    requires?: string[];
    packId?: string;
    actorId?: string;
    actorType?: string;
    labels?: Record<string, string>;
  };
  expectDecision: string;
};

export type CaseResult = {
  name: string;
  /** The expected decision, normalised (REQUIRE_HUMAN → REQUIRE_APPROVAL); as written, upper-cased, when unknown. */
  expected: string;
  got: Decision;
  reason: string;
  ruleId: string;
  ok: boolean;
};

export type RunCasesOptions = PolicyOptions & {
  /** pack_id for cases that do not set one (upstream `verify` defaults it to the pack being verified). */
  packId?: string;
};

/** Normalises an expected decision: any rule spelling, REQUIRE_HUMAN, DECISION_TYPE_*; null when unknown. */
export function normaliseExpectedDecision(raw: string): Decision | null {
  return parseDecision(raw);
}

/** Runs policy simulations offline against bundles (the same evaluation the kernel does; nothing stored). */
export function runCases(bundles: readonly Bundle[], cases: readonly PolicyCase[], options: RunCasesOptions = {}): CaseResult[] {
  const { packId: defaultPackId, ...policyOptions } = options;
  const policy = compilePolicy(bundles, policyOptions);
  return cases.map((c) => {
    const req = c.request;
    const labels = { ...(req.labels ?? {}) };
    const riskTags = [...(req.riskTags ?? [])];
    const input = createPolicyInput({
      tenant: req.tenantId ?? '',
      topic: req.topic,
      jobId: `case:${c.name}`,
      capability: req.capability ?? '',
      riskTags,
      requires: [...(req.requires ?? [])],
      packId: req.packId ?? defaultPackId ?? '',
      actorId: req.actorId ?? '',
      actorType: normaliseActorType(req.actorType ?? ''),
      labels,
      ...deriveFromLabels(labels, riskTags),
    });
    const d = evaluate(policy, input);
    const expected = normaliseExpectedDecision(c.expectDecision);
    return {
      name: c.name,
      expected: expected ?? c.expectDecision.trim().toUpperCase(),
      got: d.decision,
      reason: expected === null ? `unknown expected decision "${c.expectDecision}"; ${d.reason}` : d.reason,
      ruleId: d.ruleId,
      ok: expected !== null && expected === d.decision,
    };
  });
}
