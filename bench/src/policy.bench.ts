import { performance } from 'node:perf_hooks';
import {
  compilePolicy,
  createPolicyInput,
  evaluate,
  parseBundle,
  type Policy,
  type PolicyInput,
} from '@cordum/policy';
import { type BenchResult, measureSync } from './harness.js';

// evaluate() against synthetic bundles of 10, 100 and 1,000 rules shaped like real ones: topic globs per
// pack, exact topics, risk tags, labels, tenants, capabilities, a few CEL `when` rules. Almost no rule
// matches the benchmark job (two rules in seven name no topic, so they are checked for every request); the
// one that does is the last. The engine indexes rules by (tenant, topic,
// capability, pack id) on first sight of a key, so the steady state is measured separately from the cold
// path (every request a topic never seen before: a full pass over the rules, then the walk).

function syntheticBundle(rules: number): string {
  const lines = ['version: bench', 'rules:'];
  for (let i = 0; i < rules - 1; i++) {
    const pack = `pack${i}`;
    switch (i % 7) {
      case 0:
        lines.push(`  - {id: r${i}, match: {topics: ["job.${pack}.*"], risk_tags: [write]}, decision: require_approval}`);
        break;
      case 1:
        lines.push(`  - {id: r${i}, match: {topics: [job.${pack}.read], risk_tags: [read]}, decision: allow}`);
        break;
      case 2:
        // No topic, and the benchmark tenant is listed: a candidate for every request, rejected on labels.
        lines.push(`  - {id: r${i}, match: {tenants: [acme, tenant${i}], labels: {env: dev}}, decision: deny}`);
        break;
      case 3:
        lines.push(`  - {id: r${i}, match: {topics: ["job.*"], capabilities: [${pack}.admin]}, decision: deny}`);
        break;
      case 4:
        lines.push(`  - {id: r${i}, match: {topics: ["job.${pack}.[rw]*"], pack_ids: [${pack}]}, decision: throttle}`);
        break;
      case 5:
        lines.push(
          `  - {id: r${i}, match: {topics: ["job.${pack}.*"]}, when: 'request.estimated_cost > 100.0', decision: throttle}`,
        );
        break;
      default:
        // Tag-only rule: a candidate for every request, rejected on risk tags.
        lines.push(`  - {id: r${i}, match: {risk_tags: [tag${i}, secrets]}, decision: require_approval}`);
    }
  }
  lines.push('  - {id: target, match: {topics: ["job.target.*"], risk_tags: [write], labels: {env: prod}}, decision: require_approval}');
  return lines.join('\n');
}

function latency(ops: number, fn: () => void): { p50: number; p99: number } {
  const samples = new Float64Array(ops);
  for (let i = 0; i < Math.min(1000, ops); i++) fn();
  for (let i = 0; i < ops; i++) {
    const t0 = performance.now();
    fn();
    samples[i] = performance.now() - t0;
  }
  samples.sort();
  return { p50: samples[Math.floor(ops * 0.5)] ?? 0, p99: samples[Math.floor(ops * 0.99)] ?? 0 };
}

const ns = (ms: number): number => Math.round(ms * 1e6) / 1e6;
const us = (ms: number): string => (ms * 1000).toFixed(2);

export function policyBenchmarks(): BenchResult[] {
  const input: PolicyInput = createPolicyInput({
    tenant: 'acme',
    topic: 'job.target.write',
    jobId: 'job-bench-1',
    capability: 'target.write',
    riskTags: ['write', 'network'],
    requires: ['network:egress'],
    packId: 'target',
    actorType: 'service',
    labels: { env: 'prod', team: 'sre', run_id: 'r-1' },
  });
  const results: BenchResult[] = [];
  for (const size of [10, 100, 1000]) {
    const policy: Policy = compilePolicy([parseBundle({ id: `bench-${size}`, content: syntheticBundle(size) })]);
    if (evaluate(policy, input).ruleId !== 'target') throw new Error('benchmark policy does not reach its target rule');
    const ops = size >= 1000 ? 50_000 : 200_000;
    const throughput = measureSync(`policy.evaluate_${size}_rules`, ops, () => {
      evaluate(policy, input);
    });
    const { p50, p99 } = latency(ops, () => {
      evaluate(policy, input);
    });
    results.push({
      ...throughput,
      p50_ms: ns(p50),
      p99_ms: ns(p99),
      notes: `p50 ${us(p50)} µs, p99 ${us(p99)} µs (latency includes ~0.1 µs of timer overhead)`,
    });
    if (size === 1000) {
      let n = 0;
      const cold = (): void => {
        evaluate(policy, { ...input, topic: `job.target.write${n++}` });
      };
      const coldThroughput = measureSync('policy.evaluate_1000_rules_cold_index', 20_000, cold);
      const coldLatency = latency(20_000, cold);
      results.push({
        ...coldThroughput,
        p50_ms: ns(coldLatency.p50),
        p99_ms: ns(coldLatency.p99),
        notes: `every request a new topic; p50 ${us(coldLatency.p50)} µs, p99 ${us(coldLatency.p99)} µs`,
      });
    }
  }
  return results;
}
