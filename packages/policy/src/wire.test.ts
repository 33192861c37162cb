import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { InvalidError } from '@cordum/core';
import {
  ActorType,
  DecisionType,
  JobPriority,
  OutputDecision as WireOutputDecision,
  OutputFindingSchema,
  PolicyCheckRequestSchema,
} from '@cordum/protocol';
import {
  compilePolicy,
  createPolicyInput,
  DECISIONS,
  evaluate,
  fromWireDecision,
  inputFromCheckRequest,
  outputFindingFromWire,
  parseBundle,
  toCheckResponse,
  toWireDecision,
  toWireOutputDecision,
} from './index.js';

describe('inputFromCheckRequest', () => {
  it('maps the request and its metadata to what rules see', () => {
    const req = create(PolicyCheckRequestSchema, {
      jobId: 'j-1',
      topic: ' job.x.run ',
      tenant: '',
      priority: JobPriority.BATCH,
      estimatedCost: 12.5,
      principalId: 'p-1',
      labels: { env: 'prod', 'mcp.server': 'fs', mcp_tool: 'read', mcpAction: 'get' },
      memoryId: 'm-1',
      effectiveConfig: new TextEncoder().encode('{"safety":{"denied_topics":["job.y"]}}'),
      meta: {
        tenantId: 'acme',
        actorId: 'alice',
        actorType: ActorType.HUMAN,
        capability: 'x.run',
        riskTags: ['write', 'Secrets'],
        requires: ['gpu'],
        packId: 'x',
        labels: { env: 'dev', team: 'sre' },
      },
    });
    expect(inputFromCheckRequest(req)).toEqual({
      tenant: 'acme',
      topic: 'job.x.run',
      jobId: 'j-1',
      principalId: 'p-1',
      priority: 'batch',
      capability: 'x.run',
      riskTags: ['write', 'Secrets'],
      requires: ['gpu'],
      packId: 'x',
      actorId: 'alice',
      actorType: 'human',
      labels: { env: 'prod', team: 'sre', 'mcp.server': 'fs', mcp_tool: 'read', mcpAction: 'get' },
      secretsPresent: true,
      mcp: { server: 'fs', tool: 'read', resource: '', action: 'get' },
      estimatedCost: 12.5,
      memoryId: 'm-1',
      effectiveConfig: { safety: { denied_topics: ['job.y'] } },
    });
  });

  it('handles a bare request and the secrets_present label', () => {
    const bare = inputFromCheckRequest(create(PolicyCheckRequestSchema, { topic: 'job.a', tenant: 't', labels: { secrets_present: 'TRUE' } }));
    expect(bare).toMatchObject({ tenant: 't', actorType: '', priority: '', effectiveConfig: null, secretsPresent: true, riskTags: [] });
    expect(inputFromCheckRequest(create(PolicyCheckRequestSchema, { topic: 'job.a', labels: { secrets_present: 'no' } })).secretsPresent).toBe(
      false,
    );
  });

  it('refuses an effective config that is not JSON', () => {
    const req = create(PolicyCheckRequestSchema, { topic: 'job.a', effectiveConfig: new TextEncoder().encode('{nope') });
    expect(() => inputFromCheckRequest(req)).toThrow(InvalidError);
  });
});

describe('toCheckResponse', () => {
  const policy = compilePolicy([
    parseBundle({
      id: 'base',
      content: `
rules:
  - id: approve
    match: {topics: [job.approve]}
    decision: require_approval
    reason: ask first
    remediations: [{id: r, title: T, summary: S, replacement_topic: job.safe, replacement_capability: safe, add_labels: {a: b}, remove_labels: [c]}]
  - id: limited
    match: {topics: [job.limited]}
    decision: allow
    constraints:
      budgets: {max_runtime_ms: 5000, max_retries: 2, max_artifact_bytes: 1048576, max_concurrent_jobs: 3}
      sandbox: {isolated: true, network_allowlist: [a.example], fs_read_only: [/src], fs_read_write: [/tmp]}
      toolchain: {allowed_tools: [git], allowed_commands: [make]}
      diff: {max_files: 4, max_lines: 40, deny_path_globs: ["*.key"]}
      redaction_level: high
`,
    }),
  ]);

  it('maps REQUIRE_APPROVAL to REQUIRE_HUMAN with approval_required, approval_ref and remediations', () => {
    const res = toCheckResponse(evaluate(policy, createPolicyInput({ topic: 'job.approve', jobId: 'job-9' })));
    expect(res.decision).toBe(DecisionType.REQUIRE_HUMAN);
    expect(res).toMatchObject({ reason: 'ask first', ruleId: 'approve', policySnapshot: policy.snapshot.id, approvalRequired: true, approvalRef: 'job-9' });
    expect(res.constraints).toBeUndefined();
    expect(res.remediations[0]).toMatchObject({
      id: 'r',
      title: 'T',
      summary: 'S',
      replacementTopic: 'job.safe',
      replacementCapability: 'safe',
      addLabels: { a: 'b' },
      removeLabels: ['c'],
    });
  });

  it('maps constraints to PolicyConstraints (int64 as bigint)', () => {
    const res = toCheckResponse(evaluate(policy, createPolicyInput({ topic: 'job.limited' })));
    expect(res.decision).toBe(DecisionType.ALLOW_WITH_CONSTRAINTS);
    expect(res.approvalRequired).toBe(false);
    expect(res.approvalRef).toBe('');
    const c = res.constraints!;
    expect(c.budgets).toMatchObject({ maxRuntimeMs: 5000n, maxRetries: 2, maxArtifactBytes: 1048576n, maxConcurrentJobs: 3 });
    expect(c.sandbox).toMatchObject({ isolated: true, networkAllowlist: ['a.example'], fsReadOnly: ['/src'], fsReadWrite: ['/tmp'] });
    expect(c.toolchain).toMatchObject({ allowedTools: ['git'], allowedCommands: ['make'] });
    expect(c.diff).toMatchObject({ maxFiles: 4, maxLines: 40, denyPathGlobs: ['*.key'] });
    expect(c.redactionLevel).toBe('high');
  });

  it('round-trips every decision through the wire enum', () => {
    for (const d of DECISIONS) expect(fromWireDecision(toWireDecision(d))).toBe(d);
    expect(toWireDecision('REQUIRE_APPROVAL')).toBe(DecisionType.REQUIRE_HUMAN);
    expect(fromWireDecision(DecisionType.UNSPECIFIED)).toBeNull();
    expect(fromWireDecision(DecisionType.QUARANTINE)).toBeNull();
  });

  it('maps output decisions and findings', () => {
    expect(toWireOutputDecision('ALLOW')).toBe(WireOutputDecision.ALLOW);
    expect(toWireOutputDecision('REDACT')).toBe(WireOutputDecision.REDACT);
    expect(toWireOutputDecision('QUARANTINE')).toBe(WireOutputDecision.QUARANTINE);
    const f = create(OutputFindingSchema, { type: 'k', severity: 'high', scanner: 's', offset: 3n, length: 9n, confidence: 0.5, detail: 'd', matchedPattern: 'p' });
    expect(outputFindingFromWire(f)).toEqual({ type: 'k', severity: 'high', scanner: 's', offset: 3, length: 9, confidence: 0.5, detail: 'd', matchedPattern: 'p' });
  });
});
