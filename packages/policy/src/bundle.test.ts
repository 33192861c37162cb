import { describe, expect, it } from 'vitest';
import { compilePolicy, parseBundle, PolicyError } from './index.js';

function parseError(content: string, id = 'test/bundle'): PolicyError {
  try {
    parseBundle({ id, content });
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return err as PolicyError;
  }
  throw new Error('expected a PolicyError');
}

describe('parseBundle', () => {
  it('reads an upstream bundle: rules, decisions and aliases, tenants, extra top-level keys', () => {
    const b = parseBundle({
      id: 'base',
      content: `
version: v7
default_tenant: acme
input_rules: [{anything: goes}]
rules:
  - id: a
    decision: allow
  - id: b
    decision: permit
  - id: c
    decision: deny
  - id: d
    decision: block
  - id: e
    decision: require_approval
  - id: f
    decision: require-approval
  - id: g
    decision: require_human
  - id: h
    decision: allow_with_constraints
  - id: i
    decision: allow-with-constraints
  - id: j
    decision: THROTTLE
tenants:
  acme:
    allow_topics: [job.a.*]
`,
    });
    expect(b.version).toBe('v7');
    expect(b.defaultTenant).toBe('acme');
    expect(b.rules.map((r) => r.decision)).toEqual([
      'ALLOW',
      'ALLOW',
      'DENY',
      'DENY',
      'REQUIRE_APPROVAL',
      'REQUIRE_APPROVAL',
      'REQUIRE_APPROVAL',
      'ALLOW_WITH_CONSTRAINTS',
      'ALLOW_WITH_CONSTRAINTS',
      'THROTTLE',
    ]);
    expect(b.rules[0]!.line).toBe(6);
    expect(b.tenants['acme']!.allowTopics).toEqual(['job.a.*']);
  });

  it('reads JSON as well as YAML', () => {
    const b = parseBundle({ id: 'j', content: '{"rules":[{"id":"x","match":{"topics":["job.x"]},"decision":"deny"}]}' });
    expect(b.rules[0]!.match.topics).toEqual(['job.x']);
  });

  it('resolves anchors and merge keys, as Go yaml.v3 does', () => {
    const b = parseBundle({
      id: 'm',
      content: `
shared: &writes {topics: ["job.x.*"], risk_tags: [write]}
rules:
  - id: a
    match:
      <<: *writes
      labels: {env: prod}
    decision: deny
  - id: b
    match: *writes
    decision: require_approval
`,
    });
    expect(b.rules[0]!.match).toEqual({ topics: ['job.x.*'], riskTags: ['write'], labels: { env: 'prod' } });
    expect(b.rules[1]!.match).toEqual({ topics: ['job.x.*'], riskTags: ['write'] });
  });

  it('accepts an empty document as an empty bundle', () => {
    expect(parseBundle({ id: 'empty', content: '' }).rules).toEqual([]);
    expect(parseBundle({ id: 'empty', content: '# only a comment\n' }).rules).toEqual([]);
  });

  it('drops zero-valued constraints (so ALLOW stays ALLOW) and keeps the rest', () => {
    const b = parseBundle({
      id: 'c',
      content: `
rules:
  - id: zero
    decision: allow
    constraints: {budgets: {max_runtime_ms: 0}, sandbox: {isolated: false}, redaction_level: ""}
  - id: some
    decision: allow
    constraints: {budgets: {max_retries: 2}, diff: {deny_path_globs: ["*.pem"]}}
`,
    });
    expect(b.rules[0]!.constraints).toBeNull();
    expect(b.rules[1]!.constraints).toEqual({ budgets: { maxRetries: 2 }, diff: { denyPathGlobs: ['*.pem'] } });
  });

  it('reports a YAML syntax error with its line', () => {
    const err = parseError('rules:\n  - id: a\n    decision: allow\n    reason: a: b\n', 'syntax/bundle');
    expect(err.code).toBe('policy_invalid');
    expect(err.name).toBe('PolicyError');
    expect(err.details).toMatchObject({ bundle: 'syntax/bundle', line: 4 });
    expect(err.message).toBe(
      'policy bundle "syntax/bundle" line 4: YAML syntax error: Nested mappings are not allowed in compact mappings at line 4, column 13',
    );
  });

  it('rejects duplicate YAML keys', () => {
    expect(parseError('rules: []\nrules: []\n').message).toMatch(/YAML syntax error/);
  });

  it('rejects an unknown rule field, naming bundle, rule, field and line', () => {
    const err = parseError(`rules:
  - id: deny-writes
    decisoin: deny
`);
    expect(err.details).toEqual({ bundle: 'test/bundle', rule_id: 'deny-writes', field: 'decisoin', line: 3 });
    expect(err.message).toBe(
      'policy bundle "test/bundle" line 3, rule "deny-writes", field decisoin: unknown field "decisoin" (allowed: id, match, when, decision, reason, constraints, remediations)',
    );
  });

  it('rejects an unknown match, mcp, constraint or remediation field', () => {
    const topcs = parseError('rules:\n  - id: r1\n    decision: deny\n    match:\n      topcs: [job.x]\n');
    expect(topcs.details).toMatchObject({ rule_id: 'r1', field: 'match.topcs', line: 5 });
    const mcp = parseError('rules:\n  - id: r2\n    decision: deny\n    match: {mcp: {allow_server: [x]}}\n');
    expect(mcp.details).toMatchObject({ rule_id: 'r2', field: 'match.mcp.allow_server' });
    const budget = parseError('rules:\n  - id: r3\n    decision: allow\n    constraints: {budgets: {max_runtime: 5}}\n');
    expect(budget.details).toMatchObject({ rule_id: 'r3', field: 'constraints.budgets.max_runtime' });
    const rem = parseError('rules:\n  - id: r4\n    decision: deny\n    remediations: [{id: x, topic: y}]\n');
    expect(rem.details).toMatchObject({ rule_id: 'r4', field: 'remediations[0].topic' });
  });

  it('rejects a bad or missing decision', () => {
    const bad = parseError('rules:\n  - id: r\n    decision: maybe\n');
    expect(bad.details).toMatchObject({ rule_id: 'r', field: 'decision', line: 3 });
    expect(bad.message).toMatch(/"maybe" is not a decision/);
    expect(parseError('rules:\n  - id: r\n').details).toMatchObject({ rule_id: 'r', field: 'decision' });
  });

  it('rejects a missing, reserved or duplicate rule id', () => {
    expect(parseError('rules:\n  - decision: deny\n').details).toMatchObject({ field: 'rules[0].id' });
    expect(parseError('rules:\n  - id: legacy:x:deny:1\n    decision: deny\n').message).toMatch(/reserved/);
    const dup = parseError('rules:\n  - id: same\n    decision: deny\n  - id: SAME\n    decision: allow\n');
    expect(dup.details).toMatchObject({ rule_id: 'SAME', field: 'id', line: 4 });
    expect(dup.message).toMatch(/duplicate rule id \(also rules\[0\]/);
  });

  it('rejects duplicate rule ids across bundles, naming both bundles', () => {
    const a = parseBundle({ id: 'base', content: 'rules:\n  - id: shared\n    decision: deny\n' });
    const b = parseBundle({ id: 'pack/safety', content: 'rules:\n  - id: other\n    decision: deny\n  - id: shared\n    decision: allow\n' });
    try {
      compilePolicy([a, b]);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyError);
      const e = err as PolicyError;
      expect(e.details).toEqual({ bundle: 'pack/safety', rule_id: 'shared', field: 'id', line: 4 });
      expect(e.message).toMatch(/bundle "base" already has rule "shared"/);
    }
  });

  it('rejects a bad glob, naming the entry', () => {
    const err = parseError('rules:\n  - id: g\n    decision: deny\n    match:\n      topics: ["job.ok", "job.[x"]\n');
    expect(err.details).toMatchObject({ rule_id: 'g', field: 'match.topics[1]', line: 5 });
    expect(err.message).toMatch(/bad glob: "job\.\[x" has an unclosed "\["/);
    expect(parseError('tenants:\n  acme:\n    deny_topics: ["job.[]"]\n').details).toMatchObject({
      field: 'tenants.acme.deny_topics[0]',
      line: 3,
    });
  });

  it('rejects bad CEL: syntax, unknown fields, non-bool results', () => {
    const syntax = parseError('rules:\n  - id: c\n    decision: deny\n    when: "request.tenant =="\n');
    expect(syntax.details).toMatchObject({ rule_id: 'c', field: 'when', line: 4 });
    expect(syntax.message).toMatch(/CEL syntax error/);
    const typo = parseError('rules:\n  - id: c\n    decision: deny\n    when: "\'x\' in request.risk_tag"\n');
    expect(typo.message).toMatch(/CEL type error: No such key: risk_tag/);
    const notBool = parseError('rules:\n  - id: c\n    decision: deny\n    when: "request.tenant"\n');
    expect(notBool.message).toMatch(/must be a bool, not string/);
  });

  it('rejects wrong types and empty list entries', () => {
    expect(parseError('rules:\n  - id: t\n    decision: deny\n    match: {topics: job.x}\n').message).toMatch(
      /match\.topics: must be a list of strings/,
    );
    expect(parseError('rules:\n  - id: t\n    decision: deny\n    match: {risk_tags: [""]}\n').message).toMatch(/must not be empty/);
    expect(parseError('rules:\n  - id: t\n    decision: deny\n    match: {secrets_present: "yes"}\n').message).toMatch(
      /must be true or false/,
    );
    expect(parseError('rules:\n  - id: t\n    decision: deny\n    match: {actor_types: [robot]}\n').message).toMatch(
      /not an actor type/,
    );
    expect(parseError('rules:\n  - id: t\n    decision: allow\n    constraints: {budgets: {max_retries: -1}}\n').message).toMatch(
      /whole number/,
    );
    expect(parseError('rules: {id: x}\n').message).toMatch(/field rules: must be a list/);
    expect(parseError('- just\n- a list\n').message).toMatch(/must be a map/);
    expect(parseError('default_decision: sometimes\n').details).toMatchObject({ field: 'default_decision' });
  });

  it('rejects bad output rules', () => {
    expect(parseError('output_rules:\n  - id: o\n    decision: deny-ish\n').details).toMatchObject({ rule_id: 'o', field: 'decision' });
    expect(parseError('output_rules:\n  - id: o\n    decision: redact\n    min_severity: huge\n').details).toMatchObject({
      rule_id: 'o',
      field: 'min_severity',
    });
    expect(parseError('output_rules:\n  - id: o\n    decision: redact\n    scanners: some\n').details).toMatchObject({
      rule_id: 'o',
      field: 'scanners',
    });
  });

  it('coerces scalar numbers and booleans for string fields, as Go yaml does', () => {
    const b = parseBundle({ id: 'n', content: 'version: 2\nrules:\n  - id: 42\n    decision: deny\n    match: {labels: {internal: true}}\n' });
    expect(b.version).toBe('2');
    expect(b.rules[0]!.id).toBe('42');
    expect(b.rules[0]!.match.labels).toEqual({ internal: 'true' });
  });
});

describe('snapshots', () => {
  const yamlA = `# base
version: v1
rules:
  - id: r1
    match: {topics: [job.a], risk_tags: [write]}
    decision: deny
`;
  const yamlB = `{"rules": [{"decision": "deny", "match": {"risk_tags": ["write"], "topics": ["job.a"]}, "id": "r1"}],
 "version": "v1"}`;

  it('equal content gives an equal hash whatever the key order, layout or comments', () => {
    const a = compilePolicy([parseBundle({ id: 'base', content: yamlA })]);
    const b = compilePolicy([parseBundle({ id: 'base', content: yamlB })]);
    expect(a.snapshot.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.snapshot).toEqual(b.snapshot);
    expect(a.snapshot.id).toBe(`v1:${a.snapshot.hash.slice(0, 12)}`);
    expect(a.snapshot.version).toBe('v1');
  });

  it('changes with the content, the bundle ids, their order and the options', () => {
    const base = parseBundle({ id: 'base', content: yamlA });
    const other = parseBundle({ id: 'frag', content: 'rules:\n  - id: r2\n    decision: allow\n' });
    const ids = new Set(
      [
        compilePolicy([base]),
        compilePolicy([parseBundle({ id: 'base', content: yamlA.replace('deny', 'allow') })]),
        compilePolicy([parseBundle({ id: 'renamed', content: yamlA })]),
        compilePolicy([base, other]),
        compilePolicy([other, base]),
        compilePolicy([base], { defaultDecision: 'DENY' }),
        compilePolicy([base], { defaultTenant: 'acme' }),
      ].map((p) => p.snapshot.id),
    );
    expect(ids.size).toBe(7);
  });

  it('uses the hash alone as the id when no bundle has a version', () => {
    const p = compilePolicy([parseBundle({ id: 'x', content: 'rules: []' })]);
    expect(p.snapshot.id).toBe(p.snapshot.hash.slice(0, 12));
  });

  it('refuses bundles that did not come from parseBundle', () => {
    const real = parseBundle({ id: 'x', content: 'rules: []' });
    expect(() => compilePolicy([{ ...real }])).toThrow(PolicyError);
    expect(() => compilePolicy([real, real])).toThrow(/given twice/);
  });
});
