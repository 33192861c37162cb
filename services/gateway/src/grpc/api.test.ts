import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createManualClock, isCordumError, RetryableError } from '@cordum/core';
import { CordumApi, Health, HealthCheckResponse_ServingStatus as Serving, Subjects, decodePacket } from '@cordum/protocol';
import { createGrpcClient } from '@cordum/rpc';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, captureSubmits, startTestGateway } from '../testing/fixture.js';
import { peerHost } from './api.js';

// cordum.v1.CordumApi on a listening gateway (memory bus and stores), called with real grpc-js clients and,
// through reflection, with `buf curl`.

const run = promisify(execFile);
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const buf = join(repoRoot, 'node_modules', '.bin', 'buf');

let t: TestGateway | undefined;
let address: string;
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await t?.close();
  t = undefined;
});

async function start(over: Parameters<typeof startTestGateway>[0] = {}): Promise<TestGateway> {
  t = await startTestGateway({ ...over, gateway: { grpcAddr: '127.0.0.1:0', ...over.gateway } });
  const bound = await t.gateway.listen();
  if (bound.grpc === undefined) throw new Error('no gRPC listener');
  address = `127.0.0.1:${bound.grpc.port}`;
  expect(bound.grpc.url).toBe(`http://${address}`);
  return t;
}

function api(metadata: Record<string, string> = {}, tls?: { ca: string }) {
  const client = createGrpcClient(CordumApi, tls === undefined ? address : `localhost:${address.split(':')[1]}`, { metadata, timeoutMs: 5000, tls });
  closers.push(() => client.close());
  return client;
}

const as = (key: string) => api({ 'x-api-key': key });

/** The gRPC status name a call failed with (and the stable Cordum code). */
async function failure(call: Promise<unknown>): Promise<{ status: string; code: string; message: string }> {
  try {
    await call;
  } catch (err) {
    if (!isCordumError(err)) throw err;
    return { status: String(err.details['grpc_status']), code: err.code, message: err.message };
  }
  throw new Error('the call succeeded');
}

describe('peerHost', () => {
  it('reads the host of every peer form grpc-js reports', () => {
    expect(peerHost('ipv4:10.1.2.3:51234')).toBe('10.1.2.3');
    expect(peerHost('ipv6:[::1]:51234')).toBe('::1');
    expect(peerHost('10.1.2.3:51234')).toBe('10.1.2.3');
    expect(peerHost('unix:/tmp/sock')).toBe('/tmp/sock');
    expect(peerHost('::1')).toBe('::1');
  });
});

describe('CordumApi auth', () => {
  it('UNAUTHENTICATED without a key or with a bad one; PERMISSION_DENIED for a role too low', async () => {
    await start();
    expect(await failure(api().submitJob({ prompt: 'x' }))).toMatchObject({ status: 'UNAUTHENTICATED', code: 'unauthenticated' });
    expect(await failure(api().getJobStatus({ jobId: 'j1' }))).toMatchObject({ status: 'UNAUTHENTICATED' });
    expect(await failure(as('not-a-key-0123456789').submitJob({ prompt: 'x' }))).toMatchObject({
      status: 'UNAUTHENTICATED',
      message: 'invalid API key',
    });
    const viewer = await failure(as(KEYS.viewerA).submitJob({ prompt: 'x' }));
    expect(viewer).toMatchObject({ status: 'PERMISSION_DENIED', code: 'permission_denied' });
    expect(viewer.message).toMatch(/needs the operator role/);
    // A viewer may read.
    expect(await failure(as(KEYS.viewerA).getJobStatus({ jobId: 'nope' }))).toMatchObject({ status: 'NOT_FOUND' });
    const metrics = (await t!.call('GET', '/metrics')).body;
    expect(metrics).toMatch(/cordum_gateway_auth_failures_total\{reason="unauthenticated"\} 3/);
    expect(metrics).toMatch(/cordum_gateway_auth_failures_total\{reason="permission_denied"\} 1/);
  });

  it('takes the key as x-api-key, authorization: Bearer, or api-key', async () => {
    await start();
    for (const md of [{ 'x-api-key': KEYS.operatorA }, { authorization: `Bearer ${KEYS.operatorA}` }, { 'api-key': KEYS.operatorA }]) {
      const out = await api(md).submitJob({ prompt: 'hi' });
      expect((await t!.stores.jobs.get(out.jobId))?.tenant).toBe('tenant-a');
    }
  });
});

describe('CordumApi.SubmitJob', () => {
  it('goes through the HTTP submit: the job is stored PENDING in the caller\'s tenant, then the doorbell rings', async () => {
    await start();
    const submits = await captureSubmits(t!.bus);
    const out = await as(KEYS.operatorA).submitJob({
      prompt: 'hello',
      topic: 'job.demo.echo',
      priority: 'batch',
      orgId: 'tenant-a',
      teamId: 'blue',
      actorType: 'service',
      capability: 'echo',
      riskTags: ['low'],
      requires: ['cpu'],
      labels: { owner: 'me' },
      memoryId: 'mem-1',
    });
    expect(out.jobId).not.toBe('');
    expect(out.traceId).not.toBe('');
    const job = await t!.stores.jobs.get(out.jobId);
    expect(job).toMatchObject({ tenant: 'tenant-a', topic: 'job.demo.echo', state: 'PENDING', traceId: out.traceId, labels: { owner: 'me' } });
    await expect.poll(() => submits.length).toBe(1);
    const request = submits[0]!.request;
    expect(request).toMatchObject({ jobId: out.jobId, tenantId: 'tenant-a', principalId: 'otto', memoryId: 'mem-1', env: { team_id: 'blue' } });
    expect(request.meta).toMatchObject({ capability: 'echo', riskTags: ['low'], requires: ['cpu'] });
    expect(submits[0]!.stored).toBe(true);
    expect((await t!.call('GET', `/api/v1/jobs/${out.jobId}`, { key: KEYS.viewerA })).statusCode).toBe(200);
  });

  it('INVALID_ARGUMENT for bad fields, with the same rules as HTTP', async () => {
    await start();
    const op = as(KEYS.operatorA);
    const cases: [Parameters<typeof op.submitJob>[0], RegExp][] = [
      [{}, /prompt is required/],
      [{ prompt: 'x', topic: 'nope' }, /topic/],
      [{ prompt: 'x', topic: 'job.bad topic' }, /topic must start with "job\."/],
      [{ prompt: 'x', priority: 'urgent' }, /priority/],
      [{ prompt: 'x', actorType: 'robot' }, /actor_type/],
      [{ prompt: 'x', labels: { 'cordum.pool': 'x' } }, /reserved/],
      [{ prompt: 'x', orgId: 'bad tenant!' }, /org_id/],
      [{ prompt: 'x'.repeat(100_001) }, /prompt/],
    ];
    for (const [request, message] of cases) {
      const f = await failure(op.submitJob(request));
      expect(f, JSON.stringify(request).slice(0, 80)).toMatchObject({ status: 'INVALID_ARGUMENT', code: 'invalid_argument' });
      expect(f.message).toMatch(message);
    }
    expect((await t!.stores.jobs.list({ tenant: 'tenant-a' })).items).toEqual([]);
  });

  it('PERMISSION_DENIED for another tenant\'s org_id or another principal without admin', async () => {
    await start();
    expect(await failure(as(KEYS.operatorA).submitJob({ prompt: 'x', orgId: 'tenant-b' }))).toMatchObject({ status: 'PERMISSION_DENIED' });
    expect(await failure(as(KEYS.operatorA).submitJob({ prompt: 'x', principalId: 'someone-else' }))).toMatchObject({ status: 'PERMISSION_DENIED' });
    const onBehalf = await as(KEYS.adminA).submitJob({ prompt: 'x', principalId: 'someone-else' });
    expect(onBehalf.jobId).not.toBe('');
  });

  it('a repeated idempotency_key answers OK with the original job, across gRPC and HTTP, per tenant', async () => {
    await start();
    const first = await as(KEYS.operatorA).submitJob({ prompt: 'x', idempotencyKey: 'deploy-42' });
    const again = await as(KEYS.operatorA).submitJob({ prompt: 'something else', idempotencyKey: 'deploy-42' });
    expect(again).toMatchObject({ jobId: first.jobId, traceId: first.traceId });
    const http = await t!.call('POST', '/api/v1/jobs', { key: KEYS.operatorA, body: { prompt: 'x', idempotency_key: 'deploy-42' } });
    expect(http.statusCode).toBe(200);
    expect(http.json()).toEqual({ job_id: first.jobId, trace_id: first.traceId });
    const otherTenant = await as(KEYS.operatorB).submitJob({ prompt: 'x', idempotencyKey: 'deploy-42' });
    expect(otherTenant.jobId).not.toBe(first.jobId);
    expect((await t!.stores.jobs.list({ tenant: 'tenant-a' })).items).toHaveLength(1);
  });

  it('ALREADY_EXISTS when the key is held but its job cannot be resolved in the caller\'s tenant', async () => {
    await start();
    const foreign = await as(KEYS.operatorB).submitJob({ prompt: 'b' });
    // A key of tenant A that points at B's job id (what a corrupted or hostile store entry would look like).
    await t!.stores.idempotency.claim({ tenant: 'tenant-a', scope: 'job', key: 'clash' }, foreign.jobId);
    const f = await failure(as(KEYS.operatorA).submitJob({ prompt: 'a', idempotencyKey: 'clash' }));
    expect(f).toMatchObject({ status: 'ALREADY_EXISTS', code: 'already_exists' });
    expect(f.message).not.toContain('tenant-b');
    expect((await t!.stores.jobs.get(foreign.jobId))?.tenant).toBe('tenant-b');
  });

  it('RESOURCE_EXHAUSTED over the per-key rate limit, with a retry hint; the next second is fine', async () => {
    const clock = createManualClock(1_000_000_250);
    await start({ clock, gateway: { rateLimitRps: 2 } });
    const viewer = as(KEYS.viewerA);
    for (let i = 0; i < 2; i++) expect(await failure(viewer.getJobStatus({ jobId: 'j' }))).toMatchObject({ status: 'NOT_FOUND' });
    let limited: unknown;
    await viewer.getJobStatus({ jobId: 'j' }).catch((err: unknown) => (limited = err));
    expect(limited).toBeInstanceOf(RetryableError);
    expect(limited).toMatchObject({ code: 'rate_limited', retryAfterMs: 750, details: { grpc_status: 'RESOURCE_EXHAUSTED' } });
    // Another key has its own budget.
    expect(await failure(as(KEYS.adminA).getJobStatus({ jobId: 'j' }))).toMatchObject({ status: 'NOT_FOUND' });
    clock.advance(1000);
    expect(await failure(viewer.getJobStatus({ jobId: 'j' }))).toMatchObject({ status: 'NOT_FOUND' });
  });
});

describe('CordumApi.GetJobStatus', () => {
  it('the state and result pointer of a job of the caller\'s tenant; NOT_FOUND for another tenant\'s job', async () => {
    await start();
    const { jobId } = await as(KEYS.operatorA).submitJob({ prompt: 'x' });
    expect(await as(KEYS.viewerA).getJobStatus({ jobId })).toMatchObject({ jobId, status: 'PENDING', resultPtr: '' });
    for (const to of ['SCHEDULED', 'DISPATCHED', 'RUNNING'] as const) {
      const job = (await t!.stores.jobs.get(jobId))!;
      await t!.stores.jobs.transition(jobId, { from: job.state, to, actor: 'test' });
    }
    await t!.stores.jobs.transition(jobId, { from: 'RUNNING', to: 'SUCCEEDED', actor: 'test', patch: { resultPtr: `redis://res:${jobId}` } });
    expect(await as(KEYS.viewerA).getJobStatus({ jobId })).toMatchObject({ jobId, status: 'SUCCEEDED', resultPtr: `redis://res:${jobId}` });

    const other = await failure(as(KEYS.adminB).getJobStatus({ jobId }));
    expect(other).toMatchObject({ status: 'NOT_FOUND', code: 'not_found' });
    expect(other.message).not.toContain('tenant-a');
    expect(await failure(as(KEYS.adminB).getJobStatus({ jobId: 'never-was' }))).toEqual(
      expect.objectContaining({ status: 'NOT_FOUND', message: 'job never-was not found' }),
    );
  });

  it('INVALID_ARGUMENT for a missing or malformed job_id', async () => {
    await start();
    expect(await failure(as(KEYS.viewerA).getJobStatus({ jobId: '' }))).toMatchObject({ status: 'INVALID_ARGUMENT', message: 'job_id is required' });
    expect(await failure(as(KEYS.viewerA).getJobStatus({ jobId: 'a b/c' }))).toMatchObject({ status: 'INVALID_ARGUMENT' });
  });
});

describe('gateway gRPC server', () => {
  it('serves grpc.health.v1 for the process and CordumApi; stops with the gateway', async () => {
    await start();
    const health = createGrpcClient(Health, address, { timeoutMs: 5000 });
    closers.push(() => health.close());
    expect((await health.check({ service: '' })).status).toBe(Serving.SERVING);
    expect((await health.check({ service: 'cordum.v1.CordumApi' })).status).toBe(Serving.SERVING);
    await t!.close();
    t = undefined;
    expect(await failure(health.check({ service: '' }))).toMatchObject({ status: 'UNAVAILABLE' });
  });

  it('refuses to serve gRPC open (no API keys) on a non-loopback address', async () => {
    t = await startTestGateway({ open: true, gateway: { grpcAddr: '0.0.0.0:0' } });
    await expect(t.gateway.listen()).rejects.toThrow(/refusing to serve gRPC without authentication on 0\.0\.0\.0:0/);
  });

  it('serves TLS with GRPC_TLS_CERT/_KEY contents; a plaintext client cannot talk to it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-grpc-tls-'));
    try {
      await run('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'),
      ]);
      const pem = { cert: await readFile(join(dir, 'c.pem'), 'utf8'), key: await readFile(join(dir, 'k.pem'), 'utf8') };
      t = await startTestGateway({ gateway: { grpcAddr: '127.0.0.1:0', grpcTls: pem } });
      const bound = await t.gateway.listen();
      address = `127.0.0.1:${bound.grpc!.port}`;
      expect(bound.grpc!.url).toBe(`https://${address}`);
      const secure = api({ 'x-api-key': KEYS.operatorA }, { ca: pem.cert });
      const out = await secure.submitJob({ prompt: 'over tls' });
      expect((await t.stores.jobs.get(out.jobId))?.tenant).toBe('tenant-a');
      expect(await failure(as(KEYS.operatorA).submitJob({ prompt: 'plain' }))).toMatchObject({ status: 'UNAVAILABLE' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('buf curl finds CordumApi by reflection and submits with an API key header', async () => {
    await start();
    const bufCurl = async (args: string[]) =>
      (await run(buf, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], { timeout: 30_000 })).stdout;
    const services = (await bufCurl(['--list-services', `http://${address}`])).trim().split('\n');
    expect(services).toEqual(expect.arrayContaining(['cordum.v1.CordumApi', 'grpc.health.v1.Health']));
    const methods = (await bufCurl(['--list-methods', `http://${address}`])).trim().split('\n');
    expect(methods).toEqual(expect.arrayContaining(['cordum.v1.CordumApi/SubmitJob', 'cordum.v1.CordumApi/GetJobStatus']));
    const submitted = JSON.parse(
      await bufCurl(['-H', `x-api-key: ${KEYS.operatorA}`, '--data', '{"prompt":"hello","topic":"job.default","orgId":"tenant-a"}', `http://${address}/cordum.v1.CordumApi/SubmitJob`]),
    ) as { jobId: string; traceId: string };
    expect((await t!.stores.jobs.get(submitted.jobId))?.tenant).toBe('tenant-a');
    const status = JSON.parse(
      await bufCurl(['-H', `x-api-key: ${KEYS.viewerA}`, '--data', JSON.stringify({ job_id: submitted.jobId }), `http://${address}/cordum.v1.CordumApi/GetJobStatus`]),
    ) as { jobId: string; status: string };
    expect(status).toEqual({ jobId: submitted.jobId, status: 'PENDING' });
    // Without a key buf curl reports the status and exits non-zero.
    const refused = await run(buf, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--data', '{"prompt":"x"}', `http://${address}/cordum.v1.CordumApi/SubmitJob`], {
      timeout: 30_000,
    }).catch((err: unknown) => err as { stderr: string; code: number });
    expect(refused).toMatchObject({ stderr: expect.stringMatching(/unauthenticated/i) as string });
  });
});

// Keep an eye on the bus subject the submit uses (the same doorbell as HTTP).
describe('SubmitJob doorbell', () => {
  it('publishes one sys.job.submit per new job and none for a duplicate', async () => {
    await start();
    const seen: string[] = [];
    await t!.bus.subscribe(Subjects.jobSubmit, (m) => {
      const p = decodePacket(m.data);
      if (p.payload.case === 'jobRequest') seen.push(p.payload.value.jobId);
    });
    const a = await as(KEYS.operatorA).submitJob({ prompt: 'x', idempotencyKey: 'once' });
    await as(KEYS.operatorA).submitJob({ prompt: 'x', idempotencyKey: 'once' });
    await t!.bus.flush();
    await expect.poll(() => seen).toEqual([a.jobId]);
  });
});
