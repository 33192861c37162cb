import { createServer } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSilentLogger } from '@cordum/core';
import { JobStatus } from '@cordum/protocol';
import { createClient } from '@cordum/sdk';
import { eventually } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { devBanner } from './banner.js';
import { REPO_ROOT } from './examples.js';
import { type DevOptions } from './options.js';
import { type DevPlatform, startDevPlatform } from './platform.js';
import { createMemoryOutput } from '../output.js';

// The whole platform in this process on the memory backends, as `cordum dev` composes it (the gateway aside),
// with the examples: the demo policy and pools and the echo worker module (its TypeScript source here).

const ANY = { host: '127.0.0.1', port: 0 };
const options = (over: Partial<DevOptions> = {}): DevOptions => ({
  nats: undefined,
  redis: undefined,
  redisPrefix: 'cordum:',
  workers: [],
  policy: undefined,
  pools: undefined,
  timeouts: undefined,
  httpAddr: ANY,
  grpcAddr: ANY,
  kernelAddr: ANY,
  metricsAddr: ANY,
  examples: true,
  logLevel: 'silent',
  drainTimeoutMs: 1000,
  ...over,
});

let dir: string;
const running: DevPlatform[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cordum-dev-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});

async function start(over: Partial<DevOptions> = {}) {
  const output = createMemoryOutput();
  const platform = await startDevPlatform({ options: options(over), cwd: REPO_ROOT, output, logger: createSilentLogger() });
  running.push(platform);
  return { platform, output };
}

describe('cordum dev platform (memory backends)', () => {
  it('runs job.demo.echo on the in-process echo worker and holds job.demo.approval for a human', async () => {
    const { platform, output } = await start();
    expect(platform.backend).toBe('memory');
    expect(platform.policySnapshot).toMatch(/^demo-1:/);
    expect(platform.workers).toEqual([{ workerId: `demo-worker-${process.pid}`, module: expect.stringContaining('demo-worker') as string }]);
    expect(platform.kernelPort).toBeGreaterThan(0);
    expect(platform.gateway).toMatchObject({
      httpUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) as string,
      grpcUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) as string,
      open: true,
    });
    expect(output.lines).toContain('starting the scheduler…');

    const bus = await platform.connectBus('test client');
    const client = createClient({ bus, pointers: platform.stores.pointers, senderId: 'dev-test', tenantId: 'default' });
    try {
      const echoed = await client.run({ topic: 'job.demo.echo', input: { hello: 'dev' }, timeoutMs: 10_000 });
      expect(echoed).toMatchObject({ status: JobStatus.SUCCEEDED, workerId: `demo-worker-${process.pid}` });
      expect(echoed.result).toMatchObject({ echo: { hello: 'dev' }, job_id: echoed.jobId });
      // The client hears the worker's result directly; the scheduler records it a moment later.
      await eventually(async () => {
        expect(await platform.stores.jobs.get(echoed.jobId)).toMatchObject({ state: 'SUCCEEDED' });
      }, 5000, 20);

      const held = await client.submit({ topic: 'job.demo.approval', input: { hello: 'human' } });
      await eventually(async () => {
        expect(await platform.stores.jobs.get(held.jobId)).toMatchObject({ state: 'APPROVAL_REQUIRED', waitReason: 'awaiting_approval' });
      }, 10_000, 20);
      const job = await platform.stores.jobs.get(held.jobId);
      expect(job?.data['decision']).toMatchObject({ decision: 'REQUIRE_HUMAN', rule_id: 'demo-approval' });
    } finally {
      await client.close();
      await bus.close();
    }

    const base = `http://127.0.0.1:${platform.metricsPort ?? 0}`;
    const metrics = await fetch(`${base}/metrics`).then((r) => r.text());
    expect(metrics).toContain('cordum_scheduler_');
    expect(metrics).toContain('cordum_policy_rules');
    const health = (await fetch(`${base}/health`).then((r) => r.json())) as Record<string, unknown>;
    expect(health).toMatchObject({ ok: true, backend: 'memory', gateway: platform.gateway.httpUrl, policy: { snapshot: platform.policySnapshot } });
    expect((await fetch(`${base}/nope`)).status).toBe(404);

    const lines = devBanner(platform, { cwd: REPO_ROOT, kernelAddr: ANY, metricsAddr: ANY });
    expect(lines).toContain('  policy      examples/demo/policy.yaml (snapshot ' + platform.policySnapshot + ')');
    expect(lines.join('\n')).toContain(`127.0.0.1:${platform.kernelPort} (gRPC: SafetyKernel`);
    expect(lines.join('\n')).toContain(`http://127.0.0.1:${platform.metricsPort}/metrics`);
    expect(lines.join('\n')).toContain(`curl -s ${platform.gateway.httpUrl}/api/v1/jobs -H 'content-type: application/json' -d '{"topic":"job.demo.echo","prompt":"hello"}'`);
    expect(lines.join('\n')).toContain(`http://127.0.0.1:${platform.kernelPort}/cordum.agent.v1.SafetyKernel/Evaluate`);
    expect(lines.join('\n')).toContain(`(HTTP; gRPC ${platform.gateway.grpcUrl}; open mode`);
    expect(lines.join('\n')).toContain(`${platform.gateway.grpcUrl}/cordum.v1.CordumApi/SubmitJob`);

    running.splice(running.indexOf(platform), 1);
    await platform.stop();
    expect(output.lines.slice(-6)).toEqual([
      '  stopping the gateway',
      '  draining 1 worker (running jobs get up to 1 s)',
      '  stopping the workflow engine',
      '  stopping the scheduler',
      '  stopping the safety kernel',
      '  closing the stores',
    ]);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
    await platform.stop(); // idempotent
  }, 30_000);

  it('the quick start through the gateway: submit, read, hold for approval, approve, complete', async () => {
    const { platform } = await start({ metricsAddr: null });
    const url = platform.gateway.httpUrl;
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const job = async (id: string) => (await fetch(`${url}/api/v1/jobs/${id}`).then((r) => r.json())) as Record<string, unknown>;

    const echo = await post('/api/v1/jobs', { topic: 'job.demo.echo', prompt: 'hello' });
    expect(echo.status).toBe(201);
    const echoId = String(echo.body['job_id']);
    await eventually(async () => {
      expect(await job(echoId)).toMatchObject({ state: 'SUCCEEDED', result: { json: { echo: { prompt: 'hello' }, job_id: echoId } } });
    }, 10_000, 20);

    const held = await post('/api/v1/jobs', { topic: 'job.demo.approval', prompt: 'deploy' });
    const heldId = String(held.body['job_id']);
    await eventually(async () => {
      expect(await job(heldId)).toMatchObject({ state: 'APPROVAL_REQUIRED', wait_reason: 'awaiting_approval' });
    }, 10_000, 20);
    const pending = (await fetch(`${url}/api/v1/approvals`).then((r) => r.json())) as { items: { job: { id: string } }[] };
    expect(pending.items.map((i) => i.job.id)).toEqual([heldId]);
    const approved = await post(`/api/v1/approvals/${heldId}/approve`, { reason: 'looks fine' });
    expect(approved).toMatchObject({ status: 200, body: { state: 'PENDING', approval: { reason: 'looks fine' } } });
    await eventually(async () => {
      expect(await job(heldId)).toMatchObject({ state: 'SUCCEEDED', result: { json: { echo: { prompt: 'deploy' } } } });
    }, 10_000, 20);
  }, 30_000);

  it('--no-examples with --policy and --worker: only what was asked for', async () => {
    await writeFile(join(dir, 'deny.yaml'), 'version: strict-1\ndefault_decision: deny\nrules: []\n');
    const { platform } = await start({
      examples: false,
      policy: join(dir, 'deny.yaml'),
      pools: 'examples/demo/pools.yaml',
      workers: ['examples/echo-worker/src/demo-worker.ts'],
      metricsAddr: null,
    });
    expect(platform.policySnapshot).toMatch(/^strict-1:/);
    expect(platform.files).toEqual({ policy: join(dir, 'deny.yaml'), pools: join(REPO_ROOT, 'examples/demo/pools.yaml'), timeouts: null });
    expect(platform.metricsPort).toBeNull();
    expect(platform.workers.map((w) => w.module)).toEqual(['examples/echo-worker/src/demo-worker.ts']);

    const bus = await platform.connectBus('test client');
    const client = createClient({ bus, pointers: platform.stores.pointers, senderId: 'dev-test', tenantId: 'default' });
    try {
      const denied = await client.run({ topic: 'job.demo.echo', input: {}, timeoutMs: 10_000 });
      expect(denied.status).toBe(JobStatus.DENIED);
    } finally {
      await client.close();
      await bus.close();
    }
  }, 30_000);

  it('without routing the scheduler does not start, and says which flag is missing', async () => {
    await writeFile(join(dir, 'allow.yaml'), 'version: open-1\nrules: []\n');
    const output = createMemoryOutput();
    await expect(
      startDevPlatform({
        options: options({ examples: false, policy: join(dir, 'allow.yaml') }),
        cwd: REPO_ROOT,
        output,
        logger: createSilentLogger(),
      }),
    ).rejects.toThrow(/^scheduler: no routing config.*\(pass --pools FILE\)$/);
    expect(output.lines.slice(-2)).toEqual(['  stopping the safety kernel', '  closing the stores']);
  });

  it('a taken kernel port fails the start with the flag to change, and leaves nothing running', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const output = createMemoryOutput();
      await expect(
        startDevPlatform({ options: options({ kernelAddr: { host: '127.0.0.1', port } }), cwd: REPO_ROOT, output, logger: createSilentLogger() }),
      ).rejects.toThrow(/--kernel-addr/);
      expect(output.lines).toContain('  closing the stores');
    } finally {
      blocker.close();
    }
  });

  it('refuses unreadable files before starting anything', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'topics: [unclosed\n');
    const output = createMemoryOutput();
    const go = (over: Partial<DevOptions>) => startDevPlatform({ options: options(over), cwd: dir, output, logger: createSilentLogger() });
    await expect(go({ pools: 'missing.yaml' })).rejects.toThrow(/--pools: cannot read .*missing\.yaml/);
    await expect(go({ timeouts: 'bad.yaml' })).rejects.toThrow(/--timeouts: .*bad\.yaml is not valid YAML/);
    await expect(go({ workers: ['nowhere.js'] })).rejects.toThrow('worker module not found: nowhere.js');
    await writeFile(join(dir, 'broken-policy.yaml'), 'rules:\n  - id: x\n    decision: maybe\n');
    await expect(go({ policy: 'broken-policy.yaml' })).rejects.toThrow(/safety kernel: no valid policy/);
    expect(output.lines).not.toContain('starting the scheduler…');
  });
});
