import { readFileSync, readdirSync } from 'node:fs';
import { expect, it } from 'vitest';
import { compilePolicy, createPolicyInput, evaluate, orderBundles, parseBundle, runCases } from './index.js';

const dir = '/tmp/upstream-policies';
it('loads upstream files', () => {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    try {
      const b = parseBundle({ id: f, content: readFileSync(`${dir}/${f}`, 'utf8') });
      out[f] = `ok rules=${b.rules.length} out=${b.outputRules.length} dd=${b.defaultDecision}`;
    } catch (e) {
      out[f] = `FAIL ${(e as Error).message}`;
    }
  }
  console.log(out);
  const base = parseBundle({ id: 'base', content: readFileSync(`${dir}/snapshot-config-safety.yaml`, 'utf8') });
  const frags = ['github', 'aws', 'anthropic', 'hello-pack', 'demo-guardrails', 'mock-bank', 'edge-pack'].map((p) =>
    parseBundle({ id: `${p}/safety`, content: readFileSync(`${dir}/${p}.fragment.yaml`, 'utf8') }),
  );
  const policy = compilePolicy(orderBundles(base, frags));
  console.log(policy.snapshot, policy.options, policy.rules.map((r) => r.id).join(' '));
  const d = (fields: Parameters<typeof createPolicyInput>[0]) => {
    const r = evaluate(policy, createPolicyInput(fields));
    return `${r.decision} ${r.ruleId}`;
  };
  console.log([
    d({ topic: 'job.github.read', riskTags: ['read', 'network'] }),
    d({ topic: 'job.github.write', riskTags: ['write', 'network'] }),
    d({ topic: 'sys.x' }),
    d({ topic: 'job.unknown' }),
    d({ topic: 'job.edge.action', capability: 'edge.unknown', labels: { 'edge.kind': 'x' } }),
    d({ topic: 'job.demo-guardrails.dangerous' }),
  ]);
  console.log(runCases(orderBundles(base, frags), [
    { name: 'allow_read', request: { tenantId: 'default', topic: 'job.github.read', riskTags: ['read', 'network'] }, expectDecision: 'ALLOW' },
    { name: 'write_requires_approval', request: { tenantId: 'default', topic: 'job.github.write', riskTags: ['write', 'network'] }, expectDecision: 'REQUIRE_APPROVAL' },
  ], { packId: 'github' }));
  expect(1).toBe(1);
});
