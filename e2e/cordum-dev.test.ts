import type { Bus } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import { JobStatus } from '@cordum/protocol';
import { type Client, createClient } from '@cordum/sdk';
import type { Stores } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import {
  type NatsServer,
  type RedisServer,
  eventually,
  freePort,
  startNats,
  startNodeProcess,
  startRedis,
  uniquePrefix,
} from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CordumProcess, grpcHealth, startCordum } from './cordum-process.js';

// The `cordum` command as users run it: `cordum dev` with the examples (memory backends, reached through the
// gateway; and on real NATS and Redis, reached through the bus with the SDK client too), and `cordum start`
// running services from their own environment configuration next to an echo worker process.

let nats: NatsServer;
let redis: RedisServer;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
});
afterAll(async () => {
  await Promise.all([nats?.stop(), redis?.stop()]);
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

async function ports() {
  const [http, grpc, kernel, metrics] = [await freePort(), await freePort(), await freePort(), await freePort()];
  return { http, grpc, kernel, metrics };
}

function devArgs(p: Awaited<ReturnType<typeof ports>>): string[] {
  return [
    'dev',
    '--http-addr', `127.0.0.1:${p.http}`,
    '--grpc-addr', `127.0.0.1:${p.grpc}`,
    '--kernel-addr', `127.0.0.1:${p.kernel}`,
    '--metrics-addr', `127.0.0.1:${p.metrics}`,
  ];
}

async function cordum(args: string[], ready: RegExp, env?: Record<string, string>): Promise<CordumProcess> {
  const proc = await startCordum(args, { ready, ...(env === undefined ? {} : { env }) });
  cleanup.push(() => proc.stop('SIGKILL'));
  return proc;
}

type Outside = { stores: Stores; client: Client; bus: Bus };

async function outside(prefix: string): Promise<Outside> {
  const bus = await connectNatsBus({ servers: nats.url });
  cleanup.push(() => bus.close());
  const stores = createRedisStores({ url: redis.url, prefix });
  cleanup.push(() => stores.close());
  const client = createClient({ bus, pointers: stores.pointers, senderId: 'e2e-cordum', tenantId: 'default' });
  cleanup.push(() => client.close());
  return { stores, client, bus };
}

async function demoJobs({ stores, client }: Outside): Promise<void> {
  const echoed = await client.run({ topic: 'job.demo.echo', input: { hello: 'cordum' }, timeoutMs: 20_000 });
  expect(echoed.status).toBe(JobStatus.SUCCEEDED);
  expect(echoed.result).toMatchObject({ echo: { hello: 'cordum' }, job_id: echoed.jobId });
  await eventually(async () => {
    expect(await stores.jobs.get(echoed.jobId)).toMatchObject({ state: 'SUCCEEDED' });
  }, 10_000, 50);

  const held = await client.submit({ topic: 'job.demo.approval', input: { please: 'approve' } });
  await eventually(async () => {
    expect(await stores.jobs.get(held.jobId)).toMatchObject({ state: 'APPROVAL_REQUIRED', waitReason: 'awaiting_approval' });
  }, 10_000, 50);
  expect((await stores.jobs.get(held.jobId))?.data['decision']).toMatchObject({ rule_id: 'demo-approval' });
}

/** The README's quick start over HTTP: a job that runs, a job held for approval, approved, then run. */
async function httpQuickStart(url: string): Promise<void> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const job = async (id: string) => (await fetch(`${url}/api/v1/jobs/${id}`).then((r) => r.json())) as Record<string, unknown>;

  const echo = await post('/api/v1/jobs', { topic: 'job.demo.echo', prompt: 'hello' });
  expect(echo.status).toBe(201);
  const echoId = String(echo.body['job_id']);
  await eventually(async () => {
    expect(await job(echoId)).toMatchObject({
      state: 'SUCCEEDED',
      decision: { decision: 'ALLOW' },
      result: { json: { echo: { prompt: 'hello' }, job_id: echoId } },
    });
  }, 15_000, 50);

  const held = await post('/api/v1/jobs', { topic: 'job.demo.approval', prompt: 'deploy' });
  const heldId = String(held.body['job_id']);
  await eventually(async () => {
    expect(await job(heldId)).toMatchObject({ state: 'APPROVAL_REQUIRED', wait_reason: 'awaiting_approval', decision: { rule_id: 'demo-approval' } });
  }, 15_000, 50);
  expect(await post(`/api/v1/approvals/${heldId}/approve`, { reason: 'looks fine' })).toMatchObject({ status: 200, body: { state: 'PENDING' } });
  await eventually(async () => {
    expect(await job(heldId)).toMatchObject({ state: 'SUCCEEDED', result: { json: { echo: { prompt: 'deploy' } } } });
  }, 15_000, 50);
}

describe('cordum dev', () => {
  it('on NATS and Redis: runs job.demo.echo on the in-process echo worker, holds job.demo.approval (bus and HTTP), stops cleanly', async () => {
    const p = await ports();
    const prefix = uniquePrefix('e2e-dev');
    const proc = await cordum(
      [...devArgs(p), '--nats', nats.url, '--redis', redis.url, '--redis-prefix', prefix],
      /cordum dev ready/,
    );
    expect(proc.output()).toContain('connecting to Redis and NATS…');
    expect(proc.output()).toContain(`127.0.0.1:${p.kernel} (gRPC`);
    expect(proc.output()).toContain(`http://127.0.0.1:${p.metrics}/metrics`);

    await demoJobs(await outside(prefix));
    await httpQuickStart(`http://127.0.0.1:${p.http}`);

    expect(await grpcHealth(p.kernel)).toBe(1);
    const health = (await fetch(`http://127.0.0.1:${p.metrics}/health`).then((r) => r.json())) as Record<string, unknown>;
    expect(health).toMatchObject({ ok: true, backend: 'nats+redis', policy: { snapshot: expect.stringMatching(/^demo-1:/) as string } });
    expect(await fetch(`http://127.0.0.1:${p.metrics}/metrics`).then((r) => r.text())).toContain('cordum_scheduler_dispatched_total');

    expect(await proc.stop('SIGINT')).toBe(0);
    expect(proc.output()).toMatch(/SIGINT: shutting down[\s\S]*stopping the gateway[\s\S]*draining 1 worker[\s\S]*stopping the scheduler[\s\S]*stopping the safety kernel[\s\S]*closing the stores\nstopped\n/);
  }, 60_000);

  it('on the memory backends (npm start): the quick start through the gateway, the kernel and metrics on their ports, exit 0 on SIGTERM', async () => {
    const p = await ports();
    const proc = await cordum(devArgs(p), /cordum dev ready/);
    expect(proc.output()).toContain('memory bus and stores');
    expect(proc.output()).toMatch(/workers {5}demo-worker-\d+ \(examples\/echo-worker\/dist\/demo-worker\.js\)/);
    expect(proc.output()).toContain(`gateway     http://127.0.0.1:${p.http} (HTTP`);
    expect(proc.output()).toContain(`curl -s http://127.0.0.1:${p.http}/api/v1/jobs -H 'content-type: application/json'`);
    await httpQuickStart(`http://127.0.0.1:${p.http}`);
    expect(await grpcHealth(p.kernel)).toBe(1);
    const health = (await fetch(`http://127.0.0.1:${p.metrics}/health`).then((r) => r.json())) as { workers: { state: string }[] };
    expect(health.workers).toEqual([expect.objectContaining({ state: 'running' })]);
    expect(await proc.stop('SIGTERM')).toBe(0);
    expect(proc.output()).toMatch(/stopped\n$/);
  }, 60_000);

  it('a port in use fails the start with the flag to change (exit 1)', async () => {
    const p = await ports();
    const first = await cordum(devArgs(p), /cordum dev ready/);
    const second = startCordum([...devArgs({ ...p, metrics: await freePort() })], { ready: /cordum dev ready/ });
    await expect(second).rejects.toThrow(/exited \(1\)[\s\S]*--kernel-addr/);
    expect(await first.stop()).toBe(0);
  }, 60_000);
});

describe('cordum start', () => {
  it('runs the gateway, the safety kernel and the scheduler from their environment, in one process, with a worker process', async () => {
    const prefix = uniquePrefix('e2e-start');
    const kernelPort = await freePort();
    const httpPort = await freePort();
    const env = {
      GATEWAY_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      GATEWAY_GRPC_ADDR: '127.0.0.1:0',
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      CORDUM_REDIS_PREFIX: prefix,
      SAFETY_KERNEL_ADDR: `127.0.0.1:${kernelPort}`,
      SAFETY_KERNEL_METRICS_ADDR: '127.0.0.1:0',
      SAFETY_POLICY_PATH: 'examples/demo/policy.yaml',
      SCHEDULER_METRICS_ADDR: '127.0.0.1:0',
      POOL_CONFIG_PATH: 'examples/demo/pools.yaml',
      TIMEOUT_CONFIG_PATH: 'examples/demo/timeouts.yaml',
      CORDUM_LOG_LEVEL: 'warn',
    };
    const proc = await cordum(['start', 'gateway', 'scheduler', 'safety-kernel'], /cordum start ready/, env);
    // The kernel starts first whatever the order on the command line (its own warnings may come in between).
    expect(proc.output()).toMatch(/starting safety-kernel…[\s\S]*\nsafety-kernel ready \(gRPC port \d+, metrics port \d+\)\nstarting scheduler…/);
    const worker = await startNodeProcess({
      script: 'examples/echo-worker/dist/worker.js',
      env: { ...env, WORKER_ID: 'echo-start', ECHO_TOPIC: 'job.demo.echo,job.demo.approval', WORKER_POOL: 'demo', LOG_LEVEL: 'info' },
      ready: /echo worker ready/,
    });
    cleanup.push(() => worker.stop());

    expect(proc.output()).toMatch(/scheduler ready \(metrics port \d+\)\nstarting gateway…[\s\S]*\ngateway ready \(HTTP http:\/\/127\.0\.0\.1:\d+, gRPC http:\/\/127\.0\.0\.1:\d+, open mode: no API keys\)/);

    await demoJobs(await outside(prefix));
    await httpQuickStart(`http://127.0.0.1:${httpPort}`);
    expect(await grpcHealth(kernelPort)).toBe(1);

    expect(await proc.stop('SIGTERM')).toBe(0);
    expect(proc.output()).toMatch(/stopping gateway…\nstopping scheduler…\nstopping safety-kernel…\nstopped\n$/);
  }, 60_000);

  it("refuses a bad configuration with the service's own message, stopping what had started", async () => {
    const bad = startCordum(['start', 'scheduler'], { ready: /cordum start ready/, env: { SCHEDULER_CONCURRENCY: 'lots', NATS_URL: nats.url } });
    await expect(bad).rejects.toThrow(/exited \(1\)[\s\S]*scheduler did not start: .*SCHEDULER_CONCURRENCY/);
    const open = startCordum(['start', 'safety-kernel', 'gateway'], {
      ready: /cordum start ready/,
      env: {
        GATEWAY_HTTP_ADDR: ':0',
        GATEWAY_GRPC_ADDR: '127.0.0.1:0',
        CORDUM_API_KEYS: '',
        REDIS_URL: redis.url,
        NATS_URL: nats.url,
        SAFETY_KERNEL_ADDR: '127.0.0.1:0',
        SAFETY_KERNEL_METRICS_ADDR: 'off',
        SAFETY_POLICY_PATH: 'examples/demo/policy.yaml',
        CORDUM_LOG_LEVEL: 'error',
      },
    });
    await expect(open).rejects.toThrow(/safety-kernel ready[\s\S]*stopping safety-kernel…[\s\S]*gateway did not start: .*API keys/);
  }, 30_000);
});
