import { policyInternal, type Policy, severityRank } from './compile.js';
import type { OutputDecision } from './decision.js';
import type { PolicyInput } from './input.js';
import { makeView, matches } from './match.js';

/** One scanner finding (computed by the kernel's scanners; the engine only decides what it means). */
export type OutputFinding = {
  type: string;
  severity: string;
  scanner: string;
  offset: number;
  length: number;
  confidence: number;
  detail: string;
  matchedPattern: string;
};

export type OutputPolicyDecision = {
  decision: OutputDecision;
  ruleId: string;
  reason: string;
  /** Bundle of the deciding output rule ('' for the default). */
  bundleId: string;
  snapshot: string;
  /** The findings the deciding rule applied to (all findings for the default). */
  findings: OutputFinding[];
};

/**
 * Decides what happens to a job's output given its scanner findings. Output rules are tried in order; a rule
 * applies when its `match` holds for the job and at least one finding is from one of its scanners at or above
 * its min_severity; the first such rule decides. No findings → ALLOW; findings but no rule → REDACT (release
 * the output with the findings masked: not silently as-is, and not lost either).
 */
export function evaluateOutput(policy: Policy, input: PolicyInput, findings: readonly OutputFinding[]): OutputPolicyDecision {
  const snapshot = policy.snapshot.id;
  if (findings.length === 0) {
    return { decision: 'ALLOW', ruleId: 'default', reason: 'no findings', bundleId: '', snapshot, findings: [] };
  }
  const internal = policyInternal(policy);
  const tenant = input.tenant.trim() || policy.options.defaultTenant;
  const view = makeView(input, tenant);
  for (const o of internal.outputs) {
    if (!o.rule.enabled || !matches(o.matcher, view)) continue;
    const relevant = findings.filter(
      (f) => (o.scanners === null || o.scanners.has(f.scanner.trim().toLowerCase())) && severityRank(f.severity) >= o.minRank,
    );
    if (relevant.length === 0) continue;
    const scanners = [...new Set(relevant.map((f) => f.scanner))].join(', ');
    return {
      decision: o.rule.decision,
      ruleId: o.rule.id,
      reason: o.rule.reason.trim() === '' ? `${relevant.length} finding(s) from ${scanners}` : o.rule.reason,
      bundleId: o.rule.source.bundleId,
      snapshot,
      findings: relevant,
    };
  }
  return {
    decision: 'REDACT',
    ruleId: 'default',
    reason: `${findings.length} finding(s) and no output rule applies; the default for findings is REDACT`,
    bundleId: '',
    snapshot,
    findings: [...findings],
  };
}
