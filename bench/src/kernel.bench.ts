import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { DecisionType, PolicyCheckRequestSchema, SafetyKernel } from '@cordum/protocol';
import { createGrpcClient, createGrpcServer } from '@cordum/rpc';
import { createSafetyKernel } from '@cordum/safety-kernel';
import { createMemoryStores } from '@cordum/store/memory';
import { type BenchResult, measureAsync, round } from './harness.js';

// Check over gRPC against a kernel started in this process (100-rule bundle, memory stores, so every Check
// also appends its decision record), next to a bare echo service measured in the same run with the same
// client: a SafetyKernel whose Check answers a constant at once. Both run on the same grpc-js server and
// client code, so the ratio isolates what the kernel adds per call (decode into a policy input, enrichment,
// evaluation, decision record, encode). Target: kernel >= 80% of echo.
//
// Client and server share this process (and its event loop), as in `cordum dev`; absolute figures are lower
// than with a separate client process, the ratio is what the target is about.

const RULES = 100;
const CONCURRENCY = 32;
const OPS = 4_000;
const WARMUP = 2_000;
const ROUNDS = 6;

function bundle(rules: number): string {
  const lines = ['version: bench', 'rules:'];
  for (let i = 0; i < rules - 1; i++) {
    const pack = `pack${i}`;
    switch (i % 5) {
      case 0:
        lines.push(`  - {id: r${i}, match: {topics: ["job.${pack}.*"], risk_tags: [write]}, decision: require_approval}`);
        break;
      case 1:
        lines.push(`  - {id: r${i}, match: {topics: [job.${pack}.read], risk_tags: [read]}, decision: allow}`);
        break;
      case 2:
        lines.push(`  - {id: r${i}, match: {tenants: [acme, tenant${i}], labels: {env: dev}}, decision: deny}`);
        break;
      case 3:
        lines.push(`  - {id: r${i}, match: {topics: ["job.*"], capabilities: [${pack}.admin]}, decision: deny}`);
        break;
      default:
        lines.push(`  - {id: r${i}, match: {risk_tags: [tag${i}, secrets]}, decision: require_approval}`);
    }
  }
  lines.push('  - {id: target, match: {topics: ["job.target.*"], risk_tags: [write], labels: {env: prod}}, decision: require_approval}');
  return lines.join('\n');
}

const request = (i: number) =>
  create(PolicyCheckRequestSchema, {
    jobId: `job-bench-${i}`,
    topic: 'job.target.write',
    tenant: 'acme',
    labels: { env: 'prod', team: 'sre' },
    meta: { capability: 'target.write', riskTags: ['write', 'network'], requires: ['network:egress'], packId: 'target' },
  });

type Target = { name: string; address: string };

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The round with the median throughput (its latencies are reported with it). */
function medianRound(rounds: readonly BenchResult[]): BenchResult {
  const sorted = [...rounds].sort((a, b) => a.ops_per_sec - b.ops_per_sec);
  const pick = sorted[(sorted.length - 1) >> 1]!;
  return { ...pick, ops: rounds.reduce((n, r) => n + r.ops, 0), seconds: round(rounds.reduce((n, r) => n + r.seconds, 0)) };
}

async function measure(target: Target, ops: number): Promise<BenchResult> {
  const client = createGrpcClient(SafetyKernel, target.address, { timeoutMs: 10_000 });
  try {
    return await measureAsync(target.name, ops, CONCURRENCY, async (i) => {
      await client.check(request(i));
    });
  } finally {
    client.close();
  }
}

export async function kernelBenchmarks(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'cordum-kernel-bench-'));
  const stores = createMemoryStores();
  const basePath = join(dir, 'safety.yaml');
  await writeFile(basePath, bundle(RULES));
  const kernel = createSafetyKernel({
    stores,
    policy: { basePath, fragments: null, packsRef: null, reloadIntervalMs: 0 },
    address: '127.0.0.1:0',
  });
  const echo = createGrpcServer({ address: '127.0.0.1:0', health: false, reflection: false });
  echo.add(SafetyKernel, {
    check: (req) => Promise.resolve({ decision: DecisionType.ALLOW, ruleId: 'echo', reason: req.jobId, policySnapshot: 'echo' }),
  });
  try {
    const kernelPort = (await kernel.start()).port;
    const echoPort = (await echo.start()).port;
    const targets = {
      echo: { name: 'grpc_echo_check_c32', address: `127.0.0.1:${echoPort}` },
      kernel: { name: `kernel_check_grpc_${RULES}_rules_c32`, address: `127.0.0.1:${kernelPort}` },
    };
    // Sanity: the kernel decides (the last rule matches), the echo does not.
    const probe = createGrpcClient(SafetyKernel, targets.kernel.address);
    const decided = await probe.check(request(0));
    probe.close();
    if (decided.ruleId !== 'target') throw new Error(`kernel bench: expected rule "target", got "${decided.ruleId}"`);

    await measure(targets.echo, WARMUP);
    await measure(targets.kernel, WARMUP);
    // Short rounds, interleaved ABBA (echo-kernel, kernel-echo, …), so that load from other processes and
    // drift hit both sides alike; the ratio is the median of each round's kernel/echo ratio.
    const echoRounds: BenchResult[] = [];
    const kernelRounds: BenchResult[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 0) {
        echoRounds.push(await measure(targets.echo, OPS));
        kernelRounds.push(await measure(targets.kernel, OPS));
      } else {
        kernelRounds.push(await measure(targets.kernel, OPS));
        echoRounds.push(await measure(targets.echo, OPS));
      }
    }
    const ratio = round(median(kernelRounds.map((k, i) => k.ops_per_sec / echoRounds[i]!.ops_per_sec)));
    const method = `${CONCURRENCY} concurrent callers, median of ${ROUNDS} interleaved rounds of ${OPS} calls`;
    return [
      { ...medianRound(echoRounds), notes: `bare echo (instant Check handler); ${method}` },
      {
        ...medianRound(kernelRounds),
        notes: `ratio to echo ${ratio} (target >= 0.8); ${RULES}-rule bundle, decision record per Check; ${method}`,
      },
    ];
  } finally {
    await kernel.stop(1_000);
    await echo.stop(1_000);
    await stores.close();
    await rm(dir, { recursive: true, force: true });
  }
}
