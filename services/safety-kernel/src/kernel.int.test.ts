import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { create } from '@bufbuild/protobuf';
import { type JsonValue, RetryableError, createManualClock } from '@cordum/core';
import { createGrpcOutputPolicy, createGrpcPdp } from '@cordum/pdp';
import {
  DecisionType,
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
  OutputCheckRequestSchema,
  OutputDecision,
  OutputPolicyService,
  PolicyCheckRequestSchema,
  PolicyExplainer,
  RuleTraceStatus,
  SafetyKernel as SafetyKernelService,
} from '@cordum/protocol';
import { createGrpcClient } from '@cordum/rpc';
import type { Stores } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import { createRedisStores } from '@cordum/store/redis';
import { type RedisServer, eventually, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SafetyKernel, createSafetyKernel } from './index.js';

const run = promisify(execFile);
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const buf = join(repoRoot, 'node_modules', '.bin', 'buf');

async function bufCurl(args: string[]): Promise<string> {
  const { stdout } = await run(buf, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], { timeout: 30_000 });
  return stdout;
}

const BASE = `
version: v1
default_tenant: default
rules:
  - id: deny-admin
    match: {topics: ["job.admin.*"]}
    decision: deny
    reason: admin topics are off limits
  - id: ops-sandboxed
    match: {topics: ["job.ops.*"]}
    decision: allow
    constraints: {budgets: {max_runtime_ms: 60000}}
output_rules:
  - id: quarantine-keys
    scanners: [secret]
    min_severity: critical
    decision: quarantine
    reason: key material in output
`;

const TRACKER = `
rules:
  - id: tracker-write
    match: {topics: [job.tracker.write], risk_tags: [write]}
    decision: require_approval
    reason: tracker writes need a human
  - id: tracker-deny
    match: {topics: ["job.tracker.*"]}
    decision: deny
`;

const PACKS: JsonValue = {
  tracker: {
    id: 'tracker',
    status: 'ACTIVE',
    manifest: { topics: [{ name: 'job.tracker.write', riskTags: ['write', 'network'], capability: 'tracker.write' }] },
  },
};

const PEM = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----';
const encode = (s: string): Uint8Array => new TextEncoder().encode(s);

type StoreFactory = () => Promise<{ stores: Stores; close(): Promise<void> }>;

async function seed(stores: Stores): Promise<void> {
  await stores.config.put({ scope: 'system', scopeId: 'policy' }, { data: { bundles: { 'tracker/safety': { content: TRACKER } } } });
  await stores.config.put({ scope: 'system', scopeId: 'packs' }, { data: { installed: PACKS } });
}

function kernelSuite(label: string, makeStores: StoreFactory): void {
  describe(`safety kernel over gRPC (${label} stores)`, () => {
    let dir: string;
    let basePath: string;
    let stores: Stores;
    let closeStores: () => Promise<void>;
    let kernel: SafetyKernel;
    let address: string;
    let sk: ReturnType<typeof createGrpcClient<typeof SafetyKernelService>>;
    let explainer: ReturnType<typeof createGrpcClient<typeof PolicyExplainer>>;
    let output: ReturnType<typeof createGrpcClient<typeof OutputPolicyService>>;
    let health: ReturnType<typeof createGrpcClient<typeof Health>>;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cordum-kernel-'));
      basePath = join(dir, 'safety.yaml');
      await writeFile(basePath, BASE);
      ({ stores, close: closeStores } = await makeStores());
      await seed(stores);
      kernel = createSafetyKernel({ stores, policy: { basePath, reloadIntervalMs: 50 }, address: '127.0.0.1:0' });
      const { port } = await kernel.start();
      address = `127.0.0.1:${port}`;
      sk = createGrpcClient(SafetyKernelService, address, { timeoutMs: 5_000 });
      explainer = createGrpcClient(PolicyExplainer, address, { timeoutMs: 5_000 });
      output = createGrpcClient(OutputPolicyService, address, { timeoutMs: 5_000 });
      health = createGrpcClient(Health, address, { timeoutMs: 5_000 });
    });
    afterAll(async () => {
      for (const c of [sk, explainer, output, health]) c.close();
      await kernel.stop(1_000);
      await closeStores();
      await rm(dir, { recursive: true, force: true });
    });

    const decisions = async (tenant: string) => (await stores.audit.list(tenant, { kind: 'policy.decision' })).items;

    it('Check decides with pack topic enrichment and writes one decision record', async () => {
      const res = await sk.check({ jobId: 'job-w1', topic: 'job.tracker.write', tenant: 'acme' });
      expect(res).toMatchObject({
        decision: DecisionType.REQUIRE_HUMAN,
        ruleId: 'tracker-write',
        reason: 'tracker writes need a human',
        approvalRequired: true,
        approvalRef: 'job-w1',
        policySnapshot: kernel.runtime.snapshot().id,
      });
      const records = await decisions('acme');
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({
        subject: 'job-w1',
        data: { job_id: 'job-w1', rule_id: 'tracker-write', decision: 'REQUIRE_APPROVAL', snapshot: res.policySnapshot },
      });
      const constrained = await sk.check({ jobId: 'job-o1', topic: 'job.ops.restart', tenant: 'acme' });
      expect(constrained.decision).toBe(DecisionType.ALLOW_WITH_CONSTRAINTS);
      expect(constrained.constraints?.budgets?.maxRuntimeMs).toBe(60_000n);
      expect((await decisions('acme'))[0]!.data['constraints']).toEqual({ budgets: { max_runtime_ms: 60_000 } });
    });

    it('Evaluate, Explain, Simulate decide without recording; ListSnapshots lists the snapshot', async () => {
      const before = (await decisions('acme')).length;
      const evaluated = await sk.evaluate({ jobId: 'job-e', topic: 'job.admin.wipe', tenant: 'acme' });
      expect(evaluated).toMatchObject({ decision: DecisionType.DENY, ruleId: 'deny-admin', reason: 'admin topics are off limits' });
      // CAP's Explain and Simulate return the decision alone.
      expect(await sk.explain({ jobId: 'job-e', topic: 'job.admin.wipe', tenant: 'acme' })).toMatchObject({ ruleId: 'deny-admin' });
      expect(await sk.simulate({ jobId: 'job-e', topic: 'job.tracker.read', tenant: 'acme' })).toMatchObject({
        decision: DecisionType.DENY,
        ruleId: 'tracker-deny',
      });
      expect(await decisions('acme')).toHaveLength(before);
      expect((await sk.listSnapshots({})).snapshots).toEqual([kernel.runtime.snapshot().id]);
      // A request the kernel cannot read is refused, not decided.
      await expect(sk.evaluate({ topic: 'job.x', effectiveConfig: encode('{oops') })).rejects.toMatchObject({ code: 'invalid_argument' });
    });

    it('PolicyExplainer.Explain returns the trace; Simulate evaluates drafts; nothing is recorded', async () => {
      const before = (await decisions('acme')).length;
      const explained = await explainer.explain({ jobId: 'job-x', topic: 'job.tracker.write', tenant: 'acme' });
      expect(explained.decision).toMatchObject({ decision: DecisionType.REQUIRE_HUMAN, ruleId: 'tracker-write' });
      expect(explained.tenant).toBe('acme');
      expect(explained.trace.map((t) => [t.ruleId, t.bundleId, t.status])).toEqual([
        ['deny-admin', 'base', RuleTraceStatus.NOT_MATCHED],
        ['ops-sandboxed', 'base', RuleTraceStatus.NOT_MATCHED],
        ['tracker-write', 'tracker/safety', RuleTraceStatus.MATCHED],
        ['tracker-deny', 'tracker/safety', RuleTraceStatus.NOT_REACHED],
      ]);
      expect(explained.trace[0]!.reasons[0]).toMatch(/topics/);
      expect(explained.notes[0]).toMatch(/declared by pack tracker: added risk tags \[write, network\]/);

      const simulated = await explainer.simulate({
        request: { jobId: 'job-x', topic: 'job.tracker.write', tenant: 'acme' },
        bundles: [{ id: 'tracker/safety', content: 'rules:\n  - {id: draft, match: {topics: ["job.tracker.*"]}, decision: throttle}\n' }],
      });
      expect(simulated.decision).toMatchObject({ decision: DecisionType.THROTTLE, ruleId: 'draft' });
      expect(simulated.decision?.policySnapshot).not.toBe(kernel.runtime.snapshot().id);
      const byDefault = await explainer.simulate({ request: { topic: 'job.none' }, defaultDecision: 'deny' });
      expect(byDefault.decision).toMatchObject({ decision: DecisionType.DENY, ruleId: 'default' });
      await expect(
        explainer.simulate({ request: { topic: 'job.x' }, bundles: [{ id: 'draft', content: 'rules: [{id: r, decision: maybe}]' }] }),
      ).rejects.toMatchObject({ code: 'policy_invalid' });
      await expect(
        explainer.simulate({ request: { topic: 'job.x' }, bundles: [{ id: 'draft', content: 'rules: [{id: r, decision: maybe}]' }] }),
      ).rejects.toThrow(/policy bundle "draft"/);
      await expect(explainer.simulate({})).rejects.toMatchObject({ code: 'invalid_argument' });
      expect(await decisions('acme')).toHaveLength(before);
      expect((await sk.listSnapshots({})).snapshots).toEqual([kernel.runtime.snapshot().id]);
    });

    it('CheckOutput: ALLOW, REDACT with a redacted pointer in the store, QUARANTINE by output rule', async () => {
      const allow = await output.checkOutput({ jobId: 'job-o', topic: 'job.report', tenant: 'acme', outputContent: encode('{"ok":1}') });
      expect(allow).toMatchObject({ decision: OutputDecision.ALLOW, findings: [], policySnapshot: kernel.runtime.snapshot().id });

      const content = '{"to":"carol@example.com","card":"5500-0000-0000-0004"}';
      const resultPtr = await stores.pointers.putResult('job-r', { tenant: 'acme', bytes: content });
      const redact = await output.checkOutput({ jobId: 'job-r', topic: 'job.report', tenant: 'acme', resultPtr });
      expect(redact.decision).toBe(OutputDecision.REDACT);
      expect(redact.findings.map((f) => f.type)).toEqual(['email', 'credit_card']);
      expect(redact.redactedPtr).toBe('redis://res:job-r:redacted');
      const copy = await stores.pointers.require(redact.redactedPtr);
      expect(Buffer.from(copy.bytes).toString()).toBe('{"to":"[REDACTED:email]","card":"[REDACTED:credit_card]"}');
      expect(Buffer.from((await stores.pointers.require(resultPtr)).bytes).toString()).toBe(content);

      const quarantine = await output.checkOutput({ jobId: 'job-q', topic: 'job.report', tenant: 'acme', outputContent: encode(PEM) });
      expect(quarantine).toMatchObject({
        decision: OutputDecision.QUARANTINE,
        ruleId: 'quarantine-keys',
        reason: 'key material in output',
        redactedPtr: '',
      });
      expect(quarantine.findings[0]).toMatchObject({ type: 'private_key', scanner: 'secret', offset: 0n, length: BigInt(PEM.length) });
    });

    it('health: the server and each service are SERVING', async () => {
      for (const service of ['', 'cordum.agent.v1.SafetyKernel', 'cordum.v1.OutputPolicyService', 'cordum.v1.PolicyExplainer']) {
        expect((await health.check({ service })).status, service).toBe(ServingStatus.SERVING);
      }
    });

    it('reflection: buf curl lists the services and calls PolicyExplainer by reflection', async () => {
      const names = (await bufCurl(['--list-services', `http://${address}`])).trim().split('\n');
      expect(names).toEqual(
        expect.arrayContaining([
          'cordum.agent.v1.SafetyKernel',
          'cordum.v1.OutputPolicyService',
          'cordum.v1.PolicyExplainer',
          'grpc.health.v1.Health',
          'grpc.reflection.v1.ServerReflection',
        ]),
      );
      const out = JSON.parse(
        await bufCurl(['--data', '{"topic":"job.admin.x","tenant":"acme"}', `http://${address}/cordum.v1.PolicyExplainer/Explain`]),
      ) as { decision: { decision: string; ruleId: string }; trace: { status: string }[] };
      expect(out.decision).toMatchObject({ decision: 'DECISION_TYPE_DENY', ruleId: 'deny-admin' });
      expect(out.trace[0]!.status).toBe('RULE_TRACE_STATUS_MATCHED');
    });

    it('hot reload: a changed base file becomes the new snapshot; a bad fragment keeps the last good one', async () => {
      const first = kernel.runtime.snapshot().id;
      await writeFile(basePath, `${BASE.replace('version: v1', 'version: v2')}`);
      await eventually(async () => expect((await sk.listSnapshots({})).snapshots[0]).toMatch(/^v2:/));
      const second = (await sk.listSnapshots({})).snapshots;
      expect(second).toEqual([kernel.runtime.snapshot().id, first]);

      const failures = kernel.runtime.status().failures;
      await stores.config.put(
        { scope: 'system', scopeId: 'policy' },
        { data: { bundles: { 'tracker/safety': { content: TRACKER }, 'secops/bad': { content: 'rules:\n  - id: x\n    decision: nope\n' } } } },
      );
      await eventually(() => expect(kernel.runtime.status().failures).toBe(failures + 1));
      expect(kernel.runtime.status().lastError).toMatchObject({ source: 'policy', bundle: 'secops/bad' });
      expect((await sk.listSnapshots({})).snapshots).toEqual(second);
      const still = await sk.check({ jobId: 'job-after', topic: 'job.admin.x', tenant: 'acme' });
      expect(still).toMatchObject({ decision: DecisionType.DENY, policySnapshot: second[0] });
    });
  });
}

kernelSuite('memory', () => {
  const stores = createMemoryStores();
  return Promise.resolve({ stores, close: () => stores.close() });
});

describe('with Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });
  kernelSuite('redis', () => {
    const stores = createRedisStores({ url: redis.url, prefix: uniquePrefix('kernel') });
    return Promise.resolve({ stores, close: () => stores.close() });
  });
});

describe('gRPC decision point clients against a live kernel', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cordum-kernel-client-'));
    await writeFile(join(dir, 'safety.yaml'), BASE);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const startKernel = async (stores: Stores, address = '127.0.0.1:0') => {
    const kernel = createSafetyKernel({ stores, policy: { basePath: join(dir, 'safety.yaml'), reloadIntervalMs: 0 }, address });
    return { kernel, port: (await kernel.start()).port };
  };

  it('decides through the kernel; when the kernel dies the breaker opens and calls fail fast with safety_unavailable', async () => {
    const stores = createMemoryStores();
    await seed(stores);
    const { kernel, port } = await startKernel(stores);
    const clock = createManualClock(1_000_000);
    const pdp = createGrpcPdp({ address: `127.0.0.1:${port}`, clock });
    const outputs = createGrpcOutputPolicy({ address: `127.0.0.1:${port}`, clock });
    try {
      const res = await pdp.check(checkRequest('job.tracker.write', 'job-g1'));
      expect(res).toMatchObject({ decision: DecisionType.REQUIRE_HUMAN, policySnapshot: kernel.runtime.snapshot().id });
      expect((await stores.audit.list('acme')).items.map((e) => e.subject)).toEqual(['job-g1']);
      expect(await pdp.listSnapshots()).toEqual([kernel.runtime.snapshot().id]);
      expect((await pdp.explain(checkRequest('job.admin.x', 'job-g2'))).decision?.ruleId).toBe(
        'deny-admin',
      );
      const verdict = await outputs.checkOutput(outputRequest('job-g3', 'mail dave@example.com'));
      expect(verdict.decision).toBe(OutputDecision.REDACT);
      // Content above the client's cap is sent capped with its full size: the kernel reads the whole output
      // behind result_ptr and redacts all of it.
      const capped = createGrpcOutputPolicy({ address: `127.0.0.1:${port}`, clock, maxContentBytes: 8 });
      try {
        const big = `${'x'.repeat(40)} eve@example.com ${'y'.repeat(40)}`;
        const resultPtr = await stores.pointers.putResult('job-g4', { tenant: 'acme', bytes: big });
        // The content in hand has no address; only the stored output has: finding it proves the kernel
        // read result_ptr because the client capped the content and sent the full size.
        const inHand = big.replace('eve@example.com', 'eve-example-com');
        const res = await capped.checkOutput(create(OutputCheckRequestSchema, { ...outputRequest('job-g4', inHand), resultPtr }));
        expect(res.decision).toBe(OutputDecision.REDACT);
        const copy = Buffer.from((await stores.pointers.require(res.redactedPtr)).bytes).toString();
        expect(copy).toBe(`${'x'.repeat(40)} [REDACTED:email] ${'y'.repeat(40)}`);
      } finally {
        capped.close();
      }
      expect(pdp.breakerState()).toBe('closed');

      await kernel.stop(500);
      const failures: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        failures.push(await pdp.check(checkRequest('job.x', `job-f${i}`)).catch((e: unknown) => e));
      }
      for (const err of failures) {
        expect(err).toBeInstanceOf(RetryableError);
        expect(err).toMatchObject({ code: 'safety_unavailable' });
      }
      expect(pdp.breakerState()).toBe('open');
      const fast = await pdp.evaluate(checkRequest('job.x', 'job-f9')).catch((e: unknown) => e);
      expect(fast).toBeInstanceOf(RetryableError);
      expect(fast).toMatchObject({ code: 'safety_unavailable', retryAfterMs: 30_000 });
      expect((fast as Error).message).toMatch(/circuit open/);
      clock.advance(10_000);
      await expect(pdp.listSnapshots()).rejects.toMatchObject({ code: 'safety_unavailable', retryAfterMs: 20_000 });

      // The kernel comes back on the same port: after the open period two good probes close the breaker.
      const again = await startKernel(stores, `127.0.0.1:${port}`);
      try {
        clock.advance(20_000);
        expect(pdp.breakerState()).toBe('half_open');
        await eventually(async () => {
          if (pdp.breakerState() === 'open') clock.advance(30_000);
          await pdp.listSnapshots();
          await pdp.listSnapshots();
        }, 10_000, 100);
        expect(pdp.breakerState()).toBe('closed');
      } finally {
        await again.kernel.stop(500);
      }
    } finally {
      pdp.close();
      outputs.close();
      await kernel.stop(500);
    }
  });
});

function checkRequest(topic: string, jobId: string) {
  return create(PolicyCheckRequestSchema, { jobId, topic, tenant: 'acme' });
}

function outputRequest(jobId: string, content: string) {
  return create(OutputCheckRequestSchema, { jobId, topic: 'job.report', tenant: 'acme', outputContent: encode(content) });
}
