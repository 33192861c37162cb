import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  compilePolicy,
  createPolicyInput,
  evaluate,
  evaluateOutput,
  normaliseExpectedDecision,
  orderBundles,
  parseBundle,
  type PolicyCase,
  runCases,
} from './index.js';

const fixture = (path: string): string => readFileSync(new URL(`./fixtures/${path}`, import.meta.url), 'utf8');

describe('runCases', () => {
  const bundle = parseBundle({
    id: 'demo/safety',
    content: `
rules:
  - {id: demo-write, match: {topics: ["job.demo.*"], risk_tags: [write]}, decision: require_approval, reason: writes need a human}
  - {id: demo-read, match: {topics: ["job.demo.*"]}, decision: allow}
`,
  });

  it('reports pass and fail per case, with the deciding rule', () => {
    const cases: PolicyCase[] = [
      { name: 'read', request: { topic: 'job.demo.read', riskTags: ['read'] }, expectDecision: 'ALLOW' },
      { name: 'write', request: { topic: 'job.demo.write', riskTags: ['write'] }, expectDecision: 'REQUIRE_HUMAN' },
      { name: 'wrong', request: { topic: 'job.demo.write', riskTags: ['write'] }, expectDecision: 'ALLOW' },
      { name: 'garbage', request: { topic: 'job.demo.read' }, expectDecision: 'probably' },
    ];
    expect(runCases([bundle], cases)).toEqual([
      { name: 'read', expected: 'ALLOW', got: 'ALLOW', reason: 'matched rule "demo-read"', ruleId: 'demo-read', ok: true },
      { name: 'write', expected: 'REQUIRE_APPROVAL', got: 'REQUIRE_APPROVAL', reason: 'writes need a human', ruleId: 'demo-write', ok: true },
      { name: 'wrong', expected: 'ALLOW', got: 'REQUIRE_APPROVAL', reason: 'writes need a human', ruleId: 'demo-write', ok: false },
      {
        name: 'garbage',
        expected: 'PROBABLY',
        got: 'ALLOW',
        reason: 'unknown expected decision "probably"; matched rule "demo-read"',
        ruleId: 'demo-read',
        ok: false,
      },
    ]);
  });

  it('normalises expected decisions case-insensitively', () => {
    for (const [raw, want] of [
      ['REQUIRE_HUMAN', 'REQUIRE_APPROVAL'],
      ['DECISION_TYPE_REQUIRE_HUMAN', 'REQUIRE_APPROVAL'],
      ['decision_type_allow', 'ALLOW'],
      ['require-approval', 'REQUIRE_APPROVAL'],
      ['Allow_With_Constraints', 'ALLOW_WITH_CONSTRAINTS'],
      ['deny', 'DENY'],
      [' throttle ', 'THROTTLE'],
    ] as const) {
      expect(normaliseExpectedDecision(raw), raw).toBe(want);
    }
    expect(normaliseExpectedDecision('DECISION_TYPE_UNSPECIFIED')).toBeNull();
  });

  it('fills pack id, tenant, actor type, labels and secrets as the kernel would', () => {
    const b = parseBundle({
      id: 'x',
      content: `
default_tenant: home
rules:
  - {id: pack, match: {pack_ids: [demo], tenants: [home], actor_types: [human], labels: {env: prod}}, decision: throttle}
  - {id: secret, match: {secrets_present: true}, decision: deny}
`,
    });
    const [withPack, noPack, secrets] = runCases(
      [b],
      [
        { name: 'p', request: { topic: 'job.demo.x', actorType: 'ACTOR_TYPE_HUMAN', labels: { env: 'prod' } }, expectDecision: 'THROTTLE' },
        { name: 'q', request: { topic: 'job.demo.x', packId: 'other', actorType: 'human', labels: { env: 'prod' } }, expectDecision: 'ALLOW' },
        { name: 's', request: { topic: 'job.demo.x', riskTags: ['secrets'] }, expectDecision: 'DENY' },
      ],
      { packId: 'demo' },
    );
    expect(withPack!.ok).toBe(true);
    expect(noPack!.ok).toBe(true);
    expect(secrets!.ok).toBe(true);
  });
});

type PackManifest = { tests: { policySimulations: PolicyCase[] } };

describe('a realistic pack fragment in upstream format', () => {
  const base = parseBundle({ id: 'base', content: fixture('safety.yaml') });
  const fragment = parseBundle({ id: 'tracker/safety', content: fixture('tracker-pack/policy.fragment.yaml') });
  const manifest = parse(fixture('tracker-pack/pack.yaml')) as PackManifest;
  const bundles = orderBundles(base, [fragment]);

  it("passes the pack's policySimulations", () => {
    const results = runCases(bundles, manifest.tests.policySimulations, { packId: 'tracker' });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.map((r) => [r.name, r.ruleId])).toEqual([
      ['allow_read', 'tracker-read'],
      ['write_requires_approval', 'tracker-write'],
      ['write_with_wire_name', 'tracker-write'],
      ['untagged_write_is_denied', 'tracker-deny-unknown'],
      ['acme_cannot_write', 'legacy:acme:deny:1'],
      ['secrets_need_a_human', 'secrets-need-approval'],
    ]);
  });

  it('applies the base rules: remediations, constraints, CEL, tenant MCP and output rules', () => {
    const policy = compilePolicy(bundles);
    const shell = evaluate(
      policy,
      createPolicyInput({ topic: 'job.ops.shell', actorType: 'service', labels: { env: 'prod' }, capability: 'ops.exec' }),
    );
    expect(shell).toMatchObject({ decision: 'DENY', ruleId: 'deny-prod-shell-by-service' });
    expect(shell.remediations[0]).toMatchObject({ replacementTopic: 'job.ops.runbook', addLabels: { runbook: 'true' }, removeLabels: ['shell'] });

    const ops = evaluate(policy, createPolicyInput({ topic: 'job.ops.shell', actorType: 'human', capability: 'ops.exec' }));
    expect(ops.decision).toBe('ALLOW_WITH_CONSTRAINTS');
    expect(ops.constraints).toEqual({
      budgets: { maxRuntimeMs: 60000, maxRetries: 1 },
      sandbox: { isolated: true, networkAllowlist: ['internal.example'] },
      toolchain: { allowedCommands: ['ls', 'cat'] },
      diff: { maxFiles: 10, maxLines: 500, denyPathGlobs: ['**/.env'] },
      redactionLevel: 'strict',
    });

    expect(evaluate(policy, createPolicyInput({ topic: 'job.misc.run', priority: 'batch', estimatedCost: 250 })).decision).toBe('THROTTLE');
    // The base has rules, so its tenant allow list is off (as upstream): the default decides.
    expect(evaluate(policy, createPolicyInput({ topic: 'job.misc.run' })).ruleId).toBe('default');
    expect(evaluate(policy, createPolicyInput({ topic: 'job.admin.wipe' })).ruleId).toBe('legacy:default:deny:1');
    expect(
      evaluate(policy, createPolicyInput({ topic: 'job.misc.run', mcp: { server: 'untrusted-mcp', tool: 'x', resource: '', action: '' } })).ruleId,
    ).toBe('tenant:default:mcp');
    expect(policy.tenants['acme']!.maxConcurrentJobs).toBe(10);

    const finding = { type: 'aws_key', severity: 'critical', scanner: 'secret', offset: 0, length: 20, confidence: 0.9, detail: '', matchedPattern: 'AKIA' };
    expect(evaluateOutput(policy, createPolicyInput({ topic: 'job.misc.run' }), [finding]).decision).toBe('QUARANTINE');
  });
});
