import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsServer, type NodeProcess, type RedisServer, eventually, freePort, startNats, startNodeProcess, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The whole path through the public API: a gateway, a scheduler (policy embedded) and an echo worker, each a real
// process on real NATS and Redis. A client that only speaks HTTP submits, watches, approves and reads the DLQ.

const TOPIC = 'job.e2e.echo';
const POLICY = `version: gw-e2e-1
default_decision: allow
rules:
  - id: no-prod
    match: { risk_tags: [prod] }
    decision: deny
    reason: prod is off limits
  - id: big-needs-a-human
    match: { capabilities: [big.write] }
    decision: require_approval
    reason: big jobs need a human
`;
const OPERATOR = 'e2e-operator-key-0123456789';
const ADMIN = 'e2e-admin-key-0123456789ab';
const OTHER = 'e2e-other-tenant-key-012345';

let nats: NatsServer;
let redis: RedisServer;
let dir: string;
let base: string;
const procs: NodeProcess[] = [];

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
  dir = await mkdtemp(join(tmpdir(), 'cordum-gw-e2e-'));
  await writeFile(join(dir, 'policy.yaml'), POLICY);
  await writeFile(join(dir, 'pools.yaml'), `topics:\n  ${TOPIC}: default\npools:\n  default:\n    requires: []\n`);
  await writeFile(join(dir, 'timeouts.yaml'), `topics:\n  ${TOPIC}: { timeout_seconds: 30, max_retries: 1 }\n`);
  const common = { NATS_URL: nats.url, REDIS_URL: redis.url, CORDUM_REDIS_PREFIX: uniquePrefix('gwe2e'), CORDUM_LOG_LEVEL: 'info' };
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const keys = JSON.stringify([
    { key: OPERATOR, tenant: 'acme', principal_id: 'ci-bot', roles: ['operator'] },
    { key: ADMIN, tenant: 'acme', principal_id: 'alice', roles: ['admin'] },
    { key: OTHER, tenant: 'globex', principal_id: 'mallory', roles: ['admin'] },
  ]);
  procs.push(
    await startNodeProcess({
      script: 'services/scheduler/dist/main.js',
      env: {
        ...common,
        CORDUM_POLICY_MODE: 'embedded',
        SAFETY_POLICY_PATH: join(dir, 'policy.yaml'),
        SAFETY_POLICY_CONFIG_DISABLE: 'true',
        POOL_CONFIG_PATH: join(dir, 'pools.yaml'),
        TIMEOUT_CONFIG_PATH: join(dir, 'timeouts.yaml'),
        SCHEDULER_METRICS_ADDR: '127.0.0.1:0',
      },
      ready: /scheduler ready/,
    }),
    await startNodeProcess({
      script: 'examples/echo-worker/dist/worker.js',
      env: { ...common, WORKER_ID: 'echo-gw', ECHO_TOPIC: TOPIC, LOG_LEVEL: 'info' },
      ready: /echo worker ready/,
    }),
    await startNodeProcess({
      script: 'services/gateway/dist/main.js',
      env: { ...common, GATEWAY_HTTP_ADDR: `127.0.0.1:${port}`, GATEWAY_GRPC_ADDR: '127.0.0.1:0', CORDUM_API_KEYS: keys },
      ready: /gateway ready/,
    }),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await Promise.all([nats?.stop(), redis?.stop(), rm(dir, { recursive: true, force: true })]);
});

async function api<T>(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

type Job = { id: string; state: string; wait_reason: string | null; job_hash: string | null; decision: { snapshot?: string; rule_id?: string } | null; result: { json?: unknown } | null };

async function waitFor(id: string, state: string): Promise<Job> {
  let job: Job | undefined;
  await eventually(
    async () => {
      job = (await api<Job>('GET', `/api/v1/jobs/${id}`, OPERATOR)).body;
      expect(job.state).toBe(state);
    },
    20_000,
    100,
  );
  return job as Job;
}

describe('gateway + scheduler + worker, over HTTP only', () => {
  it('runs an allowed job, holds one for approval until a human approves it, denies what policy forbids', async () => {
    const submitted = await api<{ job_id: string; trace_id: string }>('POST', '/api/v1/jobs', OPERATOR, { topic: TOPIC, prompt: 'hello' });
    expect(submitted.status).toBe(201);
    const done = await waitFor(submitted.body.job_id, 'SUCCEEDED');
    expect(done.result?.json).toMatchObject({ echo: { prompt: 'hello', tenant_id: 'acme' } });
    expect((await api('GET', `/api/v1/jobs/${submitted.body.job_id}`, OTHER)).status).toBe(404);

    const big = await api<{ job_id: string }>('POST', '/api/v1/jobs', OPERATOR, { topic: TOPIC, input: { size: 'big' }, capability: 'big.write' });
    const held = await waitFor(big.body.job_id, 'APPROVAL_REQUIRED');
    expect(held).toMatchObject({ wait_reason: 'awaiting_approval', decision: { rule_id: 'big-needs-a-human' } });
    const pending = await api<{ items: { job: { id: string } }[] }>('GET', '/api/v1/approvals', OPERATOR);
    expect(pending.body.items.map((i) => i.job.id)).toContain(big.body.job_id);
    expect((await api('POST', `/api/v1/approvals/${big.body.job_id}/approve`, OPERATOR, {})).status).toBe(403);
    const stale = await api('POST', `/api/v1/approvals/${big.body.job_id}/approve`, ADMIN, { expected_policy_snapshot: 'not-the-snapshot' });
    expect(stale.status).toBe(409);
    const approved = await api('POST', `/api/v1/approvals/${big.body.job_id}/approve`, ADMIN, {
      reason: 'reviewed',
      expected_job_hash: held.job_hash,
      expected_policy_snapshot: held.decision?.snapshot,
    });
    expect(approved.status).toBe(200);
    const ran = await waitFor(big.body.job_id, 'SUCCEEDED');
    expect(ran.result?.json).toMatchObject({ echo: { size: 'big' } });

    const prod = await api<{ job_id: string }>('POST', '/api/v1/jobs', OPERATOR, { topic: TOPIC, prompt: 'drop db', risk_tags: ['prod'] });
    await waitFor(prod.body.job_id, 'DENIED');
    const entry = await api<{ reason_code: string }>('GET', `/api/v1/dlq/${prod.body.job_id}`, OPERATOR);
    expect(entry.body).toMatchObject({ reason_code: 'safety_denied' });
    const decisions = await api<{ items: { decision: string }[] }>('GET', `/api/v1/jobs/${prod.body.job_id}/decisions`, OPERATOR);
    expect(decisions.body.items[0]).toMatchObject({ decision: 'DENY' });
  }, 90_000);
});
