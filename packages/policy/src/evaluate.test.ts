import { describe, expect, it } from 'vitest';
import {
  compilePolicy,
  createPolicyInput,
  evaluate,
  explain,
  orderBundles,
  parseBundle,
  type PolicyInput,
  type PolicyOptions,
  simulate,
} from './index.js';

function policyOf(content: string, options?: PolicyOptions) {
  return compilePolicy([parseBundle({ id: 'base', content })], options);
}

function input(fields: Partial<PolicyInput> = {}): PolicyInput {
  return createPolicyInput({ topic: 'job.x.run', jobId: 'job-1', ...fields });
}

/** One deny rule with the given match (flow YAML); default ALLOW. */
function onlyRule(match: string, extra = ''): string {
  return `rules:\n  - id: r\n    decision: deny\n    match: ${match}\n${extra}`;
}

describe('match fields', () => {
  const mcp = (m: Partial<PolicyInput['mcp']>): PolicyInput['mcp'] => ({ server: '', tool: '', resource: '', action: '', ...m });
  const cases: { field: string; match: string; yes: Partial<PolicyInput>; no: Partial<PolicyInput>[] }[] = [
    { field: 'tenants', match: '{tenants: [Acme, beta]}', yes: { tenant: 'acme' }, no: [{ tenant: 'gamma' }, {}] },
    {
      field: 'topics',
      match: '{topics: ["job.x.*", job.y.exact]}',
      yes: { topic: 'job.X.deep.run' },
      no: [{ topic: 'job.y.exact.more' }, { topic: 'job.z' }],
    },
    { field: 'capabilities', match: '{capabilities: [repo.write]}', yes: { capability: 'Repo.Write' }, no: [{ capability: 'repo.read' }, {}] },
    {
      field: 'risk_tags (any overlap)',
      match: '{risk_tags: [write, prod]}',
      yes: { riskTags: ['network', 'WRITE'] },
      no: [{ riskTags: ['read'] }, { riskTags: [] }],
    },
    {
      field: 'requires (job must have all)',
      match: '{requires: [gpu, "network:egress"]}',
      yes: { requires: ['network:egress', 'gpu', 'extra'] },
      no: [{ requires: ['gpu'] }, {}],
    },
    { field: 'pack_ids', match: '{pack_ids: [tracker]}', yes: { packId: 'tracker' }, no: [{ packId: 'other' }, {}] },
    { field: 'actor_ids', match: '{actor_ids: [alice]}', yes: { actorId: 'ALICE' }, no: [{ actorId: 'bob' }, {}] },
    { field: 'actor_types', match: '{actor_types: [human]}', yes: { actorType: 'human' }, no: [{ actorType: 'service' }, {}] },
    {
      field: 'labels (all k=v)',
      match: '{labels: {env: prod, team: sre}}',
      yes: { labels: { env: 'Prod', team: 'sre', other: 'x' } },
      no: [{ labels: { env: 'prod' } }, { labels: { env: 'dev', team: 'sre' } }, { labels: { ENV: 'prod', team: 'sre' } }],
    },
    { field: 'secrets_present: true', match: '{secrets_present: true}', yes: { secretsPresent: true }, no: [{ secretsPresent: false }] },
    { field: 'secrets_present: false', match: '{secrets_present: false}', yes: { secretsPresent: false }, no: [{ secretsPresent: true }] },
    {
      field: 'mcp deny list',
      match: '{mcp: {deny_tools: [rm]}}',
      yes: { mcp: mcp({ server: 'fs', tool: 'ls' }) },
      no: [{ mcp: mcp({ server: 'fs', tool: 'RM' }) }],
    },
    {
      field: 'mcp allow list',
      match: '{mcp: {allow_servers: [fs], allow_actions: [read]}}',
      yes: { mcp: mcp({ server: 'fs', action: 'read' }) },
      no: [{ mcp: mcp({ server: 'web', action: 'read' }) }, { mcp: mcp({ server: 'fs', action: 'write' }) }, { mcp: mcp({ server: 'fs' }) }],
    },
  ];

  for (const c of cases) {
    it(`${c.field}: matches and does not match`, () => {
      const policy = policyOf(onlyRule(c.match));
      expect(evaluate(policy, input(c.yes)).ruleId).toBe('r');
      for (const no of c.no) expect(evaluate(policy, input(no)).ruleId, JSON.stringify(no)).toBe('default');
    });
  }

  it('labels: a label the job does not carry reads as empty (as upstream)', () => {
    const policy = policyOf(onlyRule('{labels: {"hook.tool_name": "", edge.kind: hook}}'));
    expect(evaluate(policy, input({ labels: { 'edge.kind': 'hook' } })).ruleId).toBe('r');
    expect(evaluate(policy, input({ labels: { 'edge.kind': 'hook', 'hook.tool_name': ' ' } })).ruleId).toBe('r');
    expect(evaluate(policy, input({ labels: { 'edge.kind': 'hook', 'hook.tool_name': 'Bash' } })).ruleId).toBe('default');
    const x = explain(policy, input({ labels: { 'hook.tool_name': 'Bash' } }));
    expect(x.trace[0]!.reasons).toEqual(['labels: hook.tool_name=Bash, want (empty); edge.kind=(unset), want hook']);
  });

  it('mcp lists do not restrict a job that makes no MCP call', () => {
    const policy = policyOf(onlyRule('{mcp: {allow_servers: [fs]}}'));
    expect(evaluate(policy, input()).ruleId).toBe('r');
  });

  it('requires every present field (AND) and treats an empty list as no restriction', () => {
    const policy = policyOf(onlyRule('{topics: ["job.x.*"], risk_tags: [write], capabilities: []}'));
    expect(evaluate(policy, input({ riskTags: ['write'] })).ruleId).toBe('r');
    expect(evaluate(policy, input({ riskTags: ['read'] })).ruleId).toBe('default');
    expect(evaluate(policy, input({ topic: 'job.y', riskTags: ['write'] })).ruleId).toBe('default');
  });

  it('a rule without match matches every job topic', () => {
    const policy = policyOf('rules:\n  - id: all\n    decision: throttle\n');
    expect(evaluate(policy, input()).decision).toBe('THROTTLE');
  });
});

describe('decisions', () => {
  it('returns every decision, with approval fields for REQUIRE_APPROVAL', () => {
    const policy = policyOf(`
rules:
  - {id: a, match: {topics: [job.a]}, decision: allow, reason: fine}
  - {id: d, match: {topics: [job.d]}, decision: deny, reason: no}
  - {id: h, match: {topics: [job.h]}, decision: require_human, reason: ask}
  - {id: c, match: {topics: [job.c]}, decision: allow_with_constraints}
  - {id: t, match: {topics: [job.t]}, decision: throttle}
`);
    const d = (topic: string) => evaluate(policy, input({ topic, jobId: 'job-42' }));
    expect(d('job.a')).toMatchObject({ decision: 'ALLOW', reason: 'fine', ruleId: 'a', bundleId: 'base', approvalRequired: false, approvalRef: '' });
    expect(d('job.d')).toMatchObject({ decision: 'DENY', reason: 'no' });
    expect(d('job.h')).toMatchObject({ decision: 'REQUIRE_APPROVAL', approvalRequired: true, approvalRef: 'job-42' });
    expect(d('job.c')).toMatchObject({ decision: 'ALLOW_WITH_CONSTRAINTS', constraints: null, reason: 'matched rule "c"' });
    expect(d('job.t').decision).toBe('THROTTLE');
    expect(d('job.a').snapshot).toBe(policy.snapshot.id);
  });

  it('turns ALLOW with constraints into ALLOW_WITH_CONSTRAINTS and returns the constraints and remediations', () => {
    const policy = policyOf(`
rules:
  - id: sandboxed
    match: {topics: [job.x.*]}
    decision: allow
    constraints: {budgets: {max_runtime_ms: 1000}, sandbox: {isolated: true}, redaction_level: strict}
    remediations: [{id: alt, title: Alt, replacement_topic: job.y.run, add_labels: {a: b}}]
`);
    const d = evaluate(policy, input());
    expect(d.decision).toBe('ALLOW_WITH_CONSTRAINTS');
    expect(d.constraints).toEqual({ budgets: { maxRuntimeMs: 1000 }, sandbox: { isolated: true }, redactionLevel: 'strict' });
    expect(d.remediations).toEqual([
      { id: 'alt', title: 'Alt', summary: '', replacementTopic: 'job.y.run', replacementCapability: '', addLabels: { a: 'b' }, removeLabels: [] },
    ]);
  });

  it('denies a missing or non-job topic before any rule (builtin:topic)', () => {
    const policy = policyOf('rules:\n  - {id: all, decision: allow}\n');
    expect(evaluate(policy, input({ topic: 'sys.job.submit' }))).toMatchObject({ decision: 'DENY', ruleId: 'builtin:topic' });
    expect(evaluate(policy, input({ topic: '  ' }))).toMatchObject({ decision: 'DENY', ruleId: 'builtin:topic', reason: 'topic is required' });
  });
});

describe('precedence and defaults', () => {
  it('first matching rule wins', () => {
    const policy = policyOf(`
rules:
  - {id: specific, match: {topics: [job.x.run], risk_tags: [write]}, decision: require_approval}
  - {id: broad, match: {topics: [job.x.*]}, decision: allow}
  - {id: never, match: {topics: [job.x.run]}, decision: deny}
`);
    expect(evaluate(policy, input({ riskTags: ['write'] })).ruleId).toBe('specific');
    expect(evaluate(policy, input({ riskTags: ['read'] })).ruleId).toBe('broad');
  });

  it('orders base first, then fragments by key, whatever order they arrive in', () => {
    const base = parseBundle({ id: 'base', content: 'rules:\n  - {id: base-rule, match: {topics: [job.base]}, decision: deny}\n' });
    const z = parseBundle({ id: 'zeta/safety', content: 'rules:\n  - {id: z-rule, match: {topics: [job.x.*]}, decision: deny}\n' });
    const a = parseBundle({ id: 'alpha/safety', content: 'rules:\n  - {id: a-rule, match: {topics: [job.x.*]}, decision: require_approval}\n' });
    const secops = parseBundle({ id: 'secops/strict', content: 'rules:\n  - {id: s-rule, match: {topics: [job.x.*]}, decision: throttle}\n' });
    const ordered = orderBundles(base, [z, secops, a]);
    expect(ordered.map((b) => b.id)).toEqual(['base', 'alpha/safety', 'secops/strict', 'zeta/safety']);
    const policy = compilePolicy(ordered);
    expect(policy.rules.map((r) => r.id)).toEqual(['base-rule', 'a-rule', 's-rule', 'z-rule']);
    expect(evaluate(policy, input())).toMatchObject({ ruleId: 'a-rule', bundleId: 'alpha/safety' });
    expect(orderBundles(null, [z, a]).map((b) => b.id)).toEqual(['alpha/safety', 'zeta/safety']);
  });

  it('uses the default decision when nothing matches: ALLOW, the option, or the first bundle default_decision', () => {
    expect(evaluate(policyOf('rules: []'), input())).toMatchObject({ decision: 'ALLOW', ruleId: 'default', bundleId: '' });
    expect(evaluate(policyOf('rules: []', { defaultDecision: 'DENY' }), input()).decision).toBe('DENY');
    expect(evaluate(policyOf('default_decision: deny\nrules: []'), input()).decision).toBe('DENY');
    expect(evaluate(policyOf('default_decision: deny\nrules: []', { defaultDecision: 'REQUIRE_APPROVAL' }), input())).toMatchObject({
      decision: 'REQUIRE_APPROVAL',
      approvalRequired: true,
      approvalRef: 'job-1',
    });
  });

  it('defaults the tenant: option, then default_tenant, then "default"', () => {
    const rules = 'rules:\n  - {id: t, match: {tenants: [acme]}, decision: deny}\n';
    expect(evaluate(policyOf(rules), input()).ruleId).toBe('default');
    expect(evaluate(policyOf(rules, { defaultTenant: 'acme' }), input()).ruleId).toBe('t');
    expect(evaluate(policyOf(`default_tenant: acme\n${rules}`), input()).ruleId).toBe('t');
    expect(evaluate(policyOf(`default_tenant: acme\n${rules}`), input({ tenant: 'other' })).ruleId).toBe('default');
    expect(policyOf('rules: []').options.defaultTenant).toBe('default');
  });
});

describe('legacy tenant lists', () => {
  const legacy = `
tenants:
  acme:
    allow_topics: ["job.acme.*"]
    deny_topics: ["job.acme.admin.*", "job.shared.secret"]
    max_concurrent_jobs: 5
  beta:
    deny_topics: ["job.*"]
`;

  it('turns deny and allow lists into legacy:<tenant>:<deny|allow>:<n> rules', () => {
    const policy = policyOf(legacy, { defaultDecision: 'DENY' });
    expect(policy.rules.map((r) => r.id)).toEqual([
      'legacy:acme:deny:1',
      'legacy:acme:deny:2',
      'legacy:beta:deny:1',
      'legacy:acme:allow:1',
    ]);
    const acme = (topic: string) => evaluate(policy, input({ tenant: 'acme', topic }));
    expect(acme('job.acme.admin.reset')).toMatchObject({ decision: 'DENY', ruleId: 'legacy:acme:deny:1' });
    expect(acme('job.shared.secret')).toMatchObject({ decision: 'DENY', ruleId: 'legacy:acme:deny:2' });
    expect(acme('job.acme.build')).toMatchObject({ decision: 'ALLOW', ruleId: 'legacy:acme:allow:1' });
    expect(acme('job.other')).toMatchObject({ decision: 'DENY', ruleId: 'default' });
    expect(evaluate(policy, input({ tenant: 'beta', topic: 'job.acme.build' })).ruleId).toBe('legacy:beta:deny:1');
    expect(policy.tenants['acme']).toMatchObject({ maxConcurrentJobs: 5, allowTopics: ['job.acme.*'] });
  });

  it('keeps deny lists in force when bundles have rules (upstream drops them), and drops allow lists (as upstream)', () => {
    const base = parseBundle({ id: 'base', content: legacy });
    const pack = parseBundle({
      id: 'pack/safety',
      content: 'rules:\n  - {id: pack-allow, match: {topics: ["job.*"]}, decision: allow}\n  - {id: pack-review, match: {topics: [job.acme.review]}, decision: require_approval}\n',
    });
    const policy = compilePolicy([base, pack]);
    expect(evaluate(policy, input({ tenant: 'acme', topic: 'job.acme.admin.x' })).ruleId).toBe('legacy:acme:deny:1');
    expect(evaluate(policy, input({ tenant: 'acme', topic: 'job.acme.build' })).ruleId).toBe('pack-allow');
    expect(policy.rules.map((r) => r.id)).not.toContain('legacy:acme:allow:1');
    // A deny default with rules stays closed: the old allow list does not open unmatched topics.
    const closed = compilePolicy([base, parseBundle({ id: 'pack/x', content: 'default_decision: deny\nrules:\n  - {id: only-x, match: {topics: [job.x]}, decision: allow}\n' })]);
    expect(evaluate(closed, input({ tenant: 'acme', topic: 'job.acme.build' }))).toMatchObject({ decision: 'DENY', ruleId: 'default' });
  });

  it('merges tenant lists across bundles: lists concatenated, smallest max_concurrent_jobs', () => {
    const a = parseBundle({ id: 'a', content: 'tenants:\n  acme: {deny_topics: [job.a], max_concurrent_jobs: 9}\n' });
    const b = parseBundle({ id: 'b', content: 'tenants:\n  acme: {deny_topics: [job.b], max_concurrent_jobs: 3}\n' });
    const policy = compilePolicy([a, b]);
    expect(policy.tenants['acme']).toMatchObject({ denyTopics: ['job.a', 'job.b'], maxConcurrentJobs: 3 });
    expect(policy.rules.map((r) => [r.id, r.source.bundleId])).toEqual([
      ['legacy:acme:deny:1', 'a'],
      ['legacy:acme:deny:2', 'b'],
    ]);
  });

  it('applies tenant MCP lists as a DENY override after the rules', () => {
    const policy = policyOf(`
tenants:
  default:
    mcp: {deny_servers: [shady], allow_tools: [read_file, list]}
rules:
  - {id: ok, decision: allow}
`);
    const call = (server: string, tool: string) =>
      evaluate(policy, input({ mcp: { server, tool, resource: '', action: '' } }));
    expect(call('fs', 'read_file')).toMatchObject({ decision: 'ALLOW', ruleId: 'ok' });
    expect(call('shady', 'read_file')).toMatchObject({ decision: 'DENY', ruleId: 'tenant:default:mcp' });
    expect(call('fs', 'delete')).toMatchObject({ decision: 'DENY', reason: 'mcp tool "delete" not allowed by tenant default policy' });
    expect(evaluate(policy, input()).decision).toBe('ALLOW');
  });
});

describe('effective config', () => {
  const policy = policyOf('rules:\n  - {id: ok, decision: require_approval}\n');

  it('denies topics in safety.denied_topics and outside safety.allowed_topics', () => {
    const denied = evaluate(policy, input({ effectiveConfig: { safety: { denied_topics: ['job.x.*'] } } }));
    expect(denied).toMatchObject({ decision: 'DENY', ruleId: 'config:denied_topics', approvalRequired: false });
    const notAllowed = evaluate(policy, input({ effectiveConfig: { safety: { allowed_topics: ['job.y.*'] } } }));
    expect(notAllowed).toMatchObject({ decision: 'DENY', ruleId: 'config:allowed_topics' });
    const allowed = evaluate(policy, input({ effectiveConfig: { safety: { allowed_topics: ['job.x.*'] } } }));
    expect(allowed).toMatchObject({ decision: 'REQUIRE_APPROVAL', ruleId: 'ok' });
  });

  it('reads an EffectiveConfig envelope ({data: {safety}}) and safety.mcp', () => {
    const envelope = { data: { safety: { denied_topics: 'job.x.run' } }, version: 'system:1', hash: 'h' };
    expect(evaluate(policy, input({ effectiveConfig: envelope })).ruleId).toBe('config:denied_topics');
    const mcp = { safety: { mcp: { deny_servers: ['web'] } } };
    expect(evaluate(policy, input({ effectiveConfig: mcp, mcp: { server: 'web', tool: '', resource: '', action: '' } })).ruleId).toBe(
      'config:mcp',
    );
  });

  it('ignores configs without a safety block', () => {
    expect(evaluate(policy, input({ effectiveConfig: { pools: {} } })).ruleId).toBe('ok');
    expect(evaluate(policy, input({ effectiveConfig: 'nonsense' })).ruleId).toBe('ok');
  });
});

describe('CEL when', () => {
  const policy = policyOf(`
rules:
  - id: big-batch
    match: {topics: ["job.*"]}
    when: 'request.priority == "batch" && request.estimated_cost > 100.0'
    decision: throttle
  - id: label-check
    when: 'request.labels["env"] == "prod" && "write" in request.risk_tags'
    decision: require_approval
  - id: config-flag
    when: 'request.effective_config.freeze == true'
    decision: deny
`);

  it('matches when the expression is true', () => {
    expect(evaluate(policy, input({ priority: 'batch', estimatedCost: 500 })).ruleId).toBe('big-batch');
    expect(evaluate(policy, input({ labels: { env: 'prod' }, riskTags: ['write'] })).ruleId).toBe('label-check');
    expect(evaluate(policy, input({ effectiveConfig: { freeze: true } })).ruleId).toBe('config-flag');
  });

  it('does not match when it is false', () => {
    expect(evaluate(policy, input({ priority: 'batch', estimatedCost: 5, labels: { env: 'prod' } })).ruleId).toBe('default');
  });

  it('does not match on a runtime error (missing key, null config), and explain says why', () => {
    expect(evaluate(policy, input({ effectiveConfig: null })).ruleId).toBe('default');
    // CEL's && absorbs an error when the other side is false, so the write tag makes the label lookup decide.
    const x = explain(policy, input({ effectiveConfig: { other: 1 }, riskTags: ['write'] }));
    expect(x.decision.ruleId).toBe('default');
    const labelRule = x.trace.find((t) => t.ruleId === 'label-check')!;
    expect(labelRule.status).toBe('error');
    expect(labelRule.reasons[0]).toMatch(/^when: No such key: env/);
    expect(x.trace.find((t) => t.ruleId === 'config-flag')!.reasons[0]).toMatch(/^when: No such key: freeze/);
    expect(x.trace.find((t) => t.ruleId === 'big-batch')).toMatchObject({
      status: 'not_matched',
      reasons: ['when: request.priority == "batch" && request.estimated_cost > 100.0 is false'],
    });
  });

  it('sees the defaulted tenant', () => {
    const p = policyOf('rules:\n  - {id: t, when: "request.tenant == \'default\'", decision: deny}\n');
    expect(evaluate(p, input()).ruleId).toBe('t');
    expect(evaluate(p, input({ tenant: 'acme' })).ruleId).toBe('default');
  });
});

describe('explain', () => {
  const policy = policyOf(`
tenants:
  default: {deny_topics: [job.admin.*]}
rules:
  - id: writes
    match: {topics: ["job.y.*"], risk_tags: [write], labels: {env: prod}}
    decision: require_approval
  - id: reads
    match: {topics: ["job.x.*"], capabilities: [x.read]}
    decision: allow
  - id: rest
    match: {topics: ["job.*"]}
    decision: deny
  - id: after
    decision: allow
`);

  it('traces every rule in order with field-level reasons and stops after the first match', () => {
    const x = explain(policy, input({ topic: 'job.x.write', riskTags: ['read'], capability: 'x.write' }));
    expect(x.decision).toMatchObject({ decision: 'DENY', ruleId: 'rest' });
    expect(x.tenant).toBe('default');
    expect(x.trace.map((t) => [t.ruleId, t.status])).toEqual([
      ['legacy:default:deny:1', 'not_matched'],
      ['writes', 'not_matched'],
      ['reads', 'not_matched'],
      ['rest', 'matched'],
      ['after', 'not_reached'],
    ]);
    expect(x.trace[0]!.reasons).toEqual(['topics: job.x.write does not match job.admin.*']);
    expect(x.trace[1]!.reasons).toEqual([
      'topics: job.x.write does not match job.y.*',
      'risk_tags: job has [read], none of [write]',
      'labels: env=(unset), want prod',
    ]);
    expect(x.trace[2]!.reasons).toEqual(['capabilities: x.write is not in [x.read]']);
    expect(x.trace[3]).toMatchObject({ matched: true, reasons: [], bundleId: 'base', index: 3, decision: 'DENY' });
    expect(x.trace[4]!.reasons).toEqual(['not evaluated: rest matched first']);
  });

  it('agrees with evaluate', () => {
    for (const i of [input(), input({ topic: 'job.y.a', riskTags: ['write'], labels: { env: 'prod' } }), input({ topic: 'job.admin.x' })]) {
      expect(explain(policy, i).decision).toEqual(evaluate(policy, i));
    }
  });

  it('records overrides in notes and the builtin topic check', () => {
    const p = policyOf('rules:\n  - {id: c, decision: allow, constraints: {budgets: {max_retries: 1}}}\n');
    expect(explain(p, input()).notes).toEqual(['ALLOW with constraints → ALLOW_WITH_CONSTRAINTS']);
    const denied = explain(p, input({ effectiveConfig: { safety: { denied_topics: ['job.*'] } } }));
    expect(denied.notes[1]).toMatch(/^effective config config:denied_topics: .* → DENY \(was ALLOW_WITH_CONSTRAINTS by c\)$/);
    const sys = explain(p, input({ topic: 'sys.x' }));
    expect(sys.decision.ruleId).toBe('builtin:topic');
    expect(sys.trace).toEqual([
      { ruleId: 'c', bundleId: 'base', index: 0, decision: 'ALLOW', status: 'not_reached', matched: false, reasons: ['not evaluated: builtin:topic denied first'] },
    ]);
  });

  it('explains MCP, requires, secrets, tenants, actor and pack mismatches', () => {
    const p = policyOf(`
rules:
  - id: all
    match:
      tenants: [acme]
      requires: [gpu, ssd]
      secrets_present: true
      pack_ids: [p]
      actor_ids: [alice]
      actor_types: [human]
      mcp: {deny_servers: [web]}
    decision: deny
`);
    const x = explain(p, input({ requires: ['ssd'], mcp: { server: 'web', tool: '', resource: '', action: '' } }));
    expect(x.trace[0]!.reasons).toEqual([
      'tenants: default is not in [acme]',
      'pack_ids: (empty) is not in [p]',
      'actor_ids: (empty) is not in [alice]',
      'actor_types: (empty) is not in [human]',
      'requires: job lacks [gpu]',
      'secrets_present: job has false, want true',
      'mcp: mcp server "web" denied',
    ]);
  });
});

describe('simulate', () => {
  it('evaluates a draft next to the live bundles without changing them', () => {
    const live = parseBundle({ id: 'base', content: 'rules:\n  - {id: allow-all, decision: allow}\n' });
    const draft = parseBundle({ id: 'secops/draft', content: 'rules:\n  - {id: no-writes, match: {risk_tags: [write]}, decision: deny}\n' });
    const livePolicy = compilePolicy([live]);
    const sim = simulate([draft, live], input({ riskTags: ['write'] }));
    expect(sim.decision).toMatchObject({ decision: 'DENY', ruleId: 'no-writes', bundleId: 'secops/draft' });
    expect(sim.decision.snapshot).not.toBe(livePolicy.snapshot.id);
    expect(evaluate(livePolicy, input({ riskTags: ['write'] })).ruleId).toBe('allow-all');
  });

  it('takes options like compilePolicy', () => {
    expect(simulate([], input(), { defaultDecision: 'THROTTLE' }).decision.decision).toBe('THROTTLE');
  });
});

describe('evaluation index', () => {
  const policy = policyOf(`
rules:
  - {id: t-cap, match: {topics: ["job.a.*"], capabilities: [a.write]}, decision: deny}
  - {id: tenant-pack, match: {tenants: [acme], pack_ids: [p1]}, decision: throttle}
  - {id: tags, match: {risk_tags: [write]}, decision: require_approval}
  - {id: glob, match: {topics: ["job.[ab].x?"], actor_types: [human]}, decision: allow}
  - {id: exact, match: {topics: [job.b.y], labels: {env: prod}}, decision: deny}
`);
  const tenants = ['', 'acme', 'beta'];
  const topics = ['job.a.x1', 'job.a.other', 'job.b.x2', 'job.b.y', 'job.c'];
  const caps = ['', 'a.write', 'a.read'];
  const packs = ['', 'p1'];

  it('gives the same decision as a full walk (explain) for every combination, cached or not', () => {
    let checked = 0;
    for (let round = 0; round < 2; round++) {
      for (const tenant of tenants)
        for (const topic of topics)
          for (const capability of caps)
            for (const packId of packs)
              for (const riskTags of [[], ['write']])
                for (const actorType of ['', 'human'] as const) {
                  const i = input({ tenant, topic, capability, packId, riskTags, actorType, labels: { env: 'prod' } });
                  expect(evaluate(policy, i)).toEqual(explain(policy, i).decision);
                  checked++;
                }
    }
    expect(checked).toBe(2 * 3 * 5 * 3 * 2 * 2 * 2);
  });

  it('stays correct when many distinct topics overflow the index', () => {
    for (let n = 0; n < 5000; n++) evaluate(policy, input({ topic: `job.z.${n}` }));
    expect(evaluate(policy, input({ topic: 'job.a.x1', capability: 'a.write' })).ruleId).toBe('t-cap');
    expect(evaluate(policy, input({ topic: 'job.b.xz', actorType: 'human' })).ruleId).toBe('glob');
  });
});
