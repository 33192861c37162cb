import { describe, expect, it } from 'vitest';
import { compilePolicy, createPolicyInput, evaluateOutput, type OutputFinding, parseBundle } from './index.js';

const finding = (scanner: string, severity: string, type = 't'): OutputFinding => ({
  type,
  severity,
  scanner,
  offset: 0,
  length: 4,
  confidence: 1,
  detail: '',
  matchedPattern: '',
});

describe('evaluateOutput', () => {
  const policy = compilePolicy([
    parseBundle({
      id: 'base',
      content: `
output_rules:
  - id: disabled
    enabled: false
    decision: allow
  - id: trusted-team-pii
    match: {labels: {team: privacy}}
    scanners: [pii]
    decision: allow
    reason: the privacy team handles PII
  - id: secrets
    scanners: [secret]
    min_severity: high
    decision: quarantine
  - id: pii
    match: {topics: ["job.public.*"]}
    scanners: [pii]
    decision: redact
`,
    }),
    parseBundle({
      id: 'frag',
      content: `
output_rules:
  - id: upstream-style
    match: {topics: ["job.*"], scanners: [injection]}
    decision: deny
  - id: anything-critical
    scanners: any
    min_severity: critical
    decision: quarantine
`,
    }),
  ]);
  const job = createPolicyInput({ topic: 'job.public.post' });

  it('allows when there are no findings', () => {
    expect(evaluateOutput(policy, job, [])).toMatchObject({ decision: 'ALLOW', ruleId: 'default', findings: [] });
  });

  it('first applicable rule wins: scanner and severity filter the findings', () => {
    expect(evaluateOutput(policy, job, [finding('secret', 'critical')])).toMatchObject({ decision: 'QUARANTINE', ruleId: 'secrets' });
    // Below min_severity: the secrets rule does not apply; no other rule takes a medium secret finding.
    expect(evaluateOutput(policy, job, [finding('secret', 'medium')])).toMatchObject({ decision: 'REDACT', ruleId: 'default' });
    expect(evaluateOutput(policy, job, [finding('pii', 'low')])).toMatchObject({ decision: 'REDACT', ruleId: 'pii', bundleId: 'base' });
    expect(evaluateOutput(policy, job, [finding('injection', 'low')])).toMatchObject({ decision: 'QUARANTINE', ruleId: 'upstream-style' });
    expect(evaluateOutput(policy, job, [finding('custom', 'critical')]).ruleId).toBe('anything-critical');
  });

  it('applies the rule match to the job', () => {
    const privacy = createPolicyInput({ topic: 'job.public.post', labels: { team: 'privacy' } });
    expect(evaluateOutput(policy, privacy, [finding('pii', 'high')])).toMatchObject({ decision: 'ALLOW', ruleId: 'trusted-team-pii' });
    const internal = createPolicyInput({ topic: 'job.internal.x' });
    expect(evaluateOutput(policy, internal, [finding('pii', 'high')])).toMatchObject({ decision: 'REDACT', ruleId: 'default' });
  });

  it('reports only the findings the deciding rule applied to, and treats unknown severities as critical', () => {
    const d = evaluateOutput(policy, job, [finding('pii', 'low'), finding('secret', 'weird')]);
    expect(d.ruleId).toBe('secrets');
    expect(d.findings.map((f) => f.scanner)).toEqual(['secret']);
    expect(d.reason).toBe('1 finding(s) from secret');
    expect(d.snapshot).toBe(policy.snapshot.id);
  });
});
