import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryBroker } from '@cordum/bus/memory';
import { createMetrics } from '@cordum/core';
import { type EmbeddedPdp, type PolicyRuntime, createEmbeddedPdp, createGrpcPdp, createPolicyRuntime } from '@cordum/pdp';
import { Subjects } from '@cordum/protocol';
import type { Stores } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKeyResolver, parseApiKeys } from '../auth/api-keys.js';
import { type Gateway, createGateway } from '../index.js';
import type { GatewayPolicy } from '../policy/port.js';
import { KEYS, KEY_FILE } from '../testing/fixture.js';
import { GATED } from '../testing/workflow-engine.js';

// Starting a run asks the safety kernel (a real embedded policy runtime over a bundle file), like a job.

const BUNDLE = `version: v1
default_decision: allow
rules:
  - id: retired
    match: {topics: ["job.workflow.retired"]}
    decision: deny
    reason: this workflow is retired
  - id: busy
    match: {topics: ["job.workflow.busy"]}
    decision: throttle
    reason: one at a time
  - id: writes-need-human
    match: {risk_tags: [write]}
    decision: require_approval
    reason: writes need a human
  - id: runs-of-labelled
    match: {labels: {"cordum.kind": workflow_run}, topics: ["job.workflow.labelled"]}
    decision: deny
    reason: matched on the run label
`;

type Harness = { gateway: Gateway; stores: Stores; published: string[]; close(): Promise<void> };

async function harness(policy: GatewayPolicy, stores: Stores): Promise<Harness> {
  const bus = createMemoryBroker({ mode: 'core' }).connect();
  const published: string[] = [];
  await bus.subscribe(Subjects.workflowCommand, () => {
    published.push('command');
  });
  const gateway = await createGateway({
    bus,
    stores,
    policy,
    principals: createApiKeyResolver(parseApiKeys(KEY_FILE, { source: 'test', defaultTenant: 'default' })),
    metrics: createMetrics(),
    options: { instanceId: 'gw-wf-policy', rateLimitRps: 0, httpAddr: '127.0.0.1:0' },
  });
  return {
    gateway,
    stores,
    published,
    async close() {
      await gateway.close();
      await bus.close();
    },
  };
}

let dir: string;
let runtime: PolicyRuntime;
let pdp: EmbeddedPdp;
let h: Harness;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cordum-gw-wf-policy-'));
  await writeFile(join(dir, 'safety.yaml'), BUNDLE);
  const stores = createMemoryStores();
  runtime = createPolicyRuntime({ options: { basePath: join(dir, 'safety.yaml'), reloadIntervalMs: 0 }, config: stores.config, metrics: createMetrics() });
  await runtime.start();
  pdp = createEmbeddedPdp(runtime, { audit: stores.audit, metrics: createMetrics() });
  h = await harness(pdp, stores);
  for (const id of ['gated', 'retired', 'busy', 'labelled']) {
    const res = await call(h, 'POST', '/api/v1/workflows', KEYS.adminA, { ...GATED, id });
    expect(res.statusCode, res.body).toBe(201);
  }
  const writes = { ...GATED, id: 'writes', steps: { ...GATED.steps, ship: { ...GATED.steps['ship'], meta: { risk_tags: ['write'] } } } };
  expect((await call(h, 'POST', '/api/v1/workflows', KEYS.adminA, writes)).statusCode).toBe(201);
});
afterAll(async () => {
  await h.close();
  runtime.stop();
  await rm(dir, { recursive: true, force: true });
});

function call(target: Harness, method: 'GET' | 'POST', url: string, key: string, body?: unknown): Promise<LightMyRequestResponse> {
  return target.gateway.app.inject({ method, url, headers: { 'x-api-key': key }, ...(body === undefined ? {} : { payload: body as object }) });
}

const startRun = (target: Harness, id: string) => call(target, 'POST', `/api/v1/workflows/${id}/runs`, KEYS.operatorA, { service: 'api' });

describe('run start policy', () => {
  it('ALLOW starts the run and records the decision; DENY is 403 and THROTTLE 429, with nothing stored and nobody rung', async () => {
    const ok = await startRun(h, 'gated');
    expect(ok.statusCode, ok.body).toBe(201);
    const run = ok.json<{ run_id: string; policy: Record<string, string> }>();
    expect(run.policy).toMatchObject({ decision: 'ALLOW', rule_id: 'default' });
    expect(run.policy['policy_snapshot']).not.toBe('');
    const created = await h.stores.runs.timeline('tenant-a', run.run_id);
    expect(created.items[0]?.data).toMatchObject({ data: { policy: { decision: 'ALLOW' } } });
    // evaluate, not check: asking about a start writes no decision record.
    expect((await h.stores.audit.list('tenant-a', { kind: 'policy.decision' })).items).toEqual([]);

    const before = (await h.stores.runs.list({ tenant: 'tenant-a' })).items.length;
    const published = h.published.length;
    const denied = await startRun(h, 'retired');
    expect(denied.statusCode).toBe(403);
    expect(denied.json<{ error: unknown }>().error).toMatchObject({
      code: 'denied',
      message: expect.stringContaining('this workflow is retired') as unknown,
      details: { decision: 'DENY', rule_id: 'retired', workflow_id: 'retired' },
    });
    const labelled = await startRun(h, 'labelled');
    expect(labelled.statusCode).toBe(403);
    expect(labelled.json<{ error: { details: { rule_id: string } } }>().error.details.rule_id).toBe('runs-of-labelled');
    const throttled = await startRun(h, 'busy');
    expect(throttled.statusCode).toBe(429);
    expect(throttled.headers['retry-after']).toBe('5');
    expect(throttled.json<{ error: { code: string } }>().error.code).toBe('rate_limited');
    expect((await h.stores.runs.list({ tenant: 'tenant-a' })).items).toHaveLength(before);
    await new Promise((r) => setTimeout(r, 20));
    expect(h.published).toHaveLength(published);
  });

  it('REQUIRE_APPROVAL (here from a step\'s risk tag) starts the run: each job is held by the scheduler when dispatched', async () => {
    const res = await startRun(h, 'writes');
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json<{ policy: unknown }>().policy).toMatchObject({ decision: 'REQUIRE_APPROVAL', rule_id: 'writes-need-human' });
  });

  it('an unreachable kernel is 503 safety_unavailable (fail closed), and no run is created', async () => {
    const stores = createMemoryStores();
    const grpc = createGrpcPdp({ address: '127.0.0.1:1', timeoutMs: 300 });
    const down = await harness(grpc, stores);
    try {
      expect((await call(down, 'POST', '/api/v1/workflows', KEYS.adminA, GATED)).statusCode).toBe(201);
      const res = await startRun(down, 'gated');
      expect(res.statusCode).toBe(503);
      expect(res.json<{ error: { code: string } }>().error.code).toBe('safety_unavailable');
      expect(res.headers['retry-after']).toBeDefined();
      expect((await stores.runs.list({ tenant: 'tenant-a' })).items).toEqual([]);
    } finally {
      await down.close();
      grpc.close();
    }
  });
});
