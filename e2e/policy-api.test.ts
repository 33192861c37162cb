import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsServer, type NodeProcess, type RedisServer, eventually, freePort, startNats, startNodeProcess, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The policy API across processes: a safety kernel (base bundle file + fragments in Redis, polling every
// 200 ms) and a gateway that asks it over gRPC. A bundle published through the gateway reaches the kernel
// through the config store; a kernel that goes away is a 503, never a guess.

const BASE = `version: pol-e2e-1
default_decision: allow
rules:
  - id: no-shell
    match: { topics: ["job.ops.shell"] }
    decision: deny
    reason: raw shells are not allowed
`;
const FREEZE = 'rules:\n  - id: freeze\n    match: {topics: ["job.deploy.*"]}\n    decision: deny\n    reason: change freeze\n';
const SECOPS = 'e2e-secops-key-0123456789ab';
const VIEWER = 'e2e-viewer-key-0123456789ab';

let nats: NatsServer;
let redis: RedisServer;
let dir: string;
let base: string;
let kernel: NodeProcess | undefined;
let gateway: NodeProcess | undefined;

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
  dir = await mkdtemp(join(tmpdir(), 'cordum-policy-e2e-'));
  await writeFile(join(dir, 'safety.yaml'), BASE);
  const common = { REDIS_URL: redis.url, CORDUM_REDIS_PREFIX: uniquePrefix('pole2e'), CORDUM_LOG_LEVEL: 'info' };
  const [httpPort, kernelPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${httpPort}`;
  kernel = await startNodeProcess({
    script: 'services/safety-kernel/dist/main.js',
    env: {
      ...common,
      SAFETY_KERNEL_ADDR: `127.0.0.1:${kernelPort}`,
      SAFETY_POLICY_PATH: join(dir, 'safety.yaml'),
      SAFETY_POLICY_RELOAD_INTERVAL: '200ms',
      SAFETY_KERNEL_METRICS_ADDR: 'off',
    },
    ready: /safety kernel ready/,
  });
  gateway = await startNodeProcess({
    script: 'services/gateway/dist/main.js',
    env: {
      ...common,
      NATS_URL: nats.url,
      GATEWAY_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      GATEWAY_GRPC_ADDR: 'off',
      SAFETY_KERNEL_ADDR: `127.0.0.1:${kernelPort}`,
      CORDUM_DEFAULT_TENANT: 'platform',
      CORDUM_API_KEYS: JSON.stringify([
        { key: SECOPS, tenant: 'platform', principal_id: 'sec', roles: ['secops'] },
        { key: VIEWER, tenant: 'acme', principal_id: 'vic', roles: ['viewer'] },
      ]),
    },
    ready: /gateway ready/,
  });
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await kernel?.stop();
  await Promise.all([nats?.stop(), redis?.stop(), rm(dir, { recursive: true, force: true })]);
});

async function api<T>(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: T; retryAfter: string | null }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T, retryAfter: res.headers.get('retry-after') };
}

describe('policy API against a safety kernel process', () => {
  it('explains, publishes a bundle the kernel then loads, rolls it back, and answers 503 once the kernel is gone', async () => {
    const explained = await api<{ decision: string; tenant: string; trace: { rule_id: string; status: string }[] }>('POST', '/api/v1/policy/explain', VIEWER, {
      topic: 'job.ops.shell',
    });
    expect(explained.status).toBe(200);
    expect(explained.body).toMatchObject({ decision: 'DENY', tenant: 'acme', trace: [{ rule_id: 'no-shell', status: 'matched' }] });
    const snapshots = await api<{ current: string }>('GET', '/api/v1/policy/snapshots', VIEWER);
    expect(snapshots.body.current).toMatch(/^pol-e2e-1:/);

    const saved = await api<{ revision: number; kernel_check: string }>('PUT', '/api/v1/policy/bundles/secops~freeze', SECOPS, { content: FREEZE, expected_revision: 0 });
    expect(saved).toMatchObject({ status: 200, body: { revision: 1, kernel_check: 'ok' } });
    const clash = await api('PUT', '/api/v1/policy/bundles/secops~clash', SECOPS, { content: 'rules:\n  - id: no-shell\n    decision: allow\n' });
    expect(clash).toMatchObject({ status: 400, body: { error: { code: 'policy_invalid' } } });
    expect((await api('PUT', '/api/v1/policy/bundles/secops~freeze', VIEWER, { content: FREEZE })).status).toBe(403);

    const published = await api<{ kernel: string; snapshot_before: string }>('POST', '/api/v1/policy/publish', SECOPS, { expected_revision: 1, note: 'e2e' });
    expect(published).toMatchObject({ status: 200, body: { kernel: 'pending', snapshot_before: snapshots.body.current } });
    await eventually(async () => {
      const r = await api<{ decision: string; rule_id: string }>('POST', '/api/v1/policy/evaluate', VIEWER, { topic: 'job.deploy.web' });
      expect(r.body).toMatchObject({ decision: 'DENY', rule_id: 'freeze' });
    }, 10_000, 100);

    const rolled = await api('POST', '/api/v1/policy/rollback', SECOPS, { revision: 1 });
    expect(rolled).toMatchObject({ status: 200, body: { bundle_ids: ['secops/freeze'], rolled_back_to: 1 } });
    await eventually(async () => {
      const r = await api<{ decision: string }>('POST', '/api/v1/policy/evaluate', VIEWER, { topic: 'job.deploy.web' });
      expect(r.body.decision).toBe('ALLOW');
    }, 10_000, 100);
    const audit = await api<{ items: { action: string; tenant: string }[] }>('GET', '/api/v1/policy/audit', SECOPS);
    expect(audit.body.items.map((i) => i.action)).toEqual(['policy.bundle.rollback', 'policy.bundle.publish', 'policy.bundle.save']);

    await kernel?.stop();
    kernel = undefined;
    const down = await api('POST', '/api/v1/policy/evaluate', VIEWER, { topic: 'job.deploy.web' });
    expect(down).toMatchObject({ status: 503, body: { error: { code: 'safety_unavailable' } } });
    expect(Number(down.retryAfter)).toBeGreaterThanOrEqual(1);
    // A draft is still saved on the local checks; publishing it needs the kernel, so nothing is written.
    const late = await api('PUT', '/api/v1/policy/bundles/secops~late', SECOPS, { content: FREEZE });
    expect(late).toMatchObject({ status: 200, body: { kernel_check: 'unavailable' } });
    const publishDown = await api('POST', '/api/v1/policy/publish', SECOPS, {});
    expect(publishDown).toMatchObject({ status: 503, body: { error: { code: 'safety_unavailable' } } });
  }, 60_000);
});
