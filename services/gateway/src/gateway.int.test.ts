import type { Bus } from '@cordum/bus';
import { connectNatsBus } from '@cordum/bus/nats';
import { createMetrics } from '@cordum/core';
import { JOB_STORED_HEADER, QueueGroups, Subjects, decodePacket } from '@cordum/protocol';
import type { Stores } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import { type NatsServer, type RedisServer, eventually, startNats, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApiKeyResolver, parseApiKeys } from './auth/api-keys.js';
import { type Gateway, createGateway } from './index.js';
import { KEYS, KEY_FILE, failToDlq, holdForApproval } from './testing/fixture.js';

// The gateway over real NATS (core and JetStream) and Redis, through real HTTP.

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

type Running = { gateway: Gateway; url: string; stores: Stores; bus: Bus; http(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; json: () => Promise<unknown>; headers: Headers }> };

async function start(jetstream = false, rateLimitRps = 0): Promise<Running> {
  const bus = await connectNatsBus({ servers: nats.url, jetstream });
  cleanup.push(() => bus.close());
  const stores = createRedisStores({ url: redis.url, prefix: uniquePrefix('gw') });
  cleanup.push(() => stores.close());
  const gateway = await createGateway({
    bus,
    stores,
    principals: createApiKeyResolver(parseApiKeys(KEY_FILE, { source: 'test', defaultTenant: 'default' })),
    metrics: createMetrics(),
    options: { instanceId: 'gw-int', httpAddr: '127.0.0.1:0', rateLimitRps },
  });
  const { url } = await gateway.listen();
  cleanup.push(() => gateway.close());
  return {
    gateway,
    url,
    stores,
    bus,
    async http(method, path, key, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, json: () => res.json(), headers: res.headers };
    },
  };
}

describe('gateway on NATS and Redis', () => {
  it('submit writes Redis first, then rings sys.job.submit; idempotent repeats; cross-tenant 404', async () => {
    const g = await start();
    const doorbells: { id: string; stored: boolean }[] = [];
    await g.bus.subscribe(Subjects.jobSubmit, (m) => {
      const p = decodePacket(m.data);
      if (p.payload.case === 'jobRequest') doorbells.push({ id: p.payload.value.jobId, stored: m.headers[JOB_STORED_HEADER] === '1' });
    });
    await g.bus.flush();
    const res = await g.http('POST', '/api/v1/jobs', KEYS.operatorA, { prompt: 'hello', topic: 'job.int', idempotency_key: 'k-1' });
    expect(res.status).toBe(201);
    const { job_id: id } = (await res.json()) as { job_id: string };
    expect(await g.stores.jobs.get(id)).toMatchObject({ state: 'PENDING', tenant: 'tenant-a', topic: 'job.int' });
    await eventually(() => expect(doorbells).toEqual([{ id, stored: true }]));
    const again = await g.http('POST', '/api/v1/jobs', KEYS.operatorA, { prompt: 'hello', topic: 'job.int', idempotency_key: 'k-1' });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { job_id: string }).job_id).toBe(id);
    expect((await g.http('GET', `/api/v1/jobs/${id}`, KEYS.adminB)).status).toBe(404);
    const detail = (await (await g.http('GET', `/api/v1/jobs/${id}`, KEYS.viewerA)).json()) as Record<string, unknown>;
    expect(detail).toMatchObject({ id, context: { inlined: true, json: { prompt: 'hello' } }, events: [{ to: 'PENDING' }] });
    const status = (await (await g.http('GET', '/api/v1/status', KEYS.viewerA)).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ bus: { connected: true }, store: { ok: true } });
  });

  it('approve over Redis: hash-bound compare-and-set, 409 on a stale expectation; DLQ retry and delete', async () => {
    const g = await start();
    const res = await g.http('POST', '/api/v1/jobs', KEYS.operatorA, { input: { size: 'big' } });
    const { job_id: id } = (await res.json()) as { job_id: string };
    const held = await holdForApproval(g.stores, id);
    const stale = await g.http('POST', `/api/v1/approvals/${id}/approve`, KEYS.adminA, { expected_policy_snapshot: 'old' });
    expect(stale.status).toBe(409);
    const ok = await g.http('POST', `/api/v1/approvals/${id}/approve`, KEYS.adminA, { expected_job_hash: held.data['job_hash'] as string, reason: 'ok' });
    expect(ok.status).toBe(200);
    expect(await g.stores.jobs.get(id)).toMatchObject({ state: 'PENDING', data: { approval: { by: 'ada', policy_snapshot: 'snap-1' } } });

    await failToDlq(g.stores, id);
    const retry = await g.http('POST', `/api/v1/dlq/${id}/retry`, KEYS.operatorA);
    expect(retry.status).toBe(201);
    const { job_id: retryId } = (await retry.json()) as { job_id: string };
    expect(await g.stores.jobs.get(retryId)).toMatchObject({ state: 'PENDING', labels: { retry_of_job: id } });
    expect((await g.http('GET', `/api/v1/dlq/${id}`, KEYS.viewerA)).status).toBe(404);
  });

  it('JetStream: the doorbell goes through the durable stream to the scheduler\'s queue group', async () => {
    const g = await start(true);
    const seen: string[] = [];
    const sub = await g.bus.subscribe(
      Subjects.jobSubmit,
      (m) => {
        const p = decodePacket(m.data);
        if (p.payload.case === 'jobRequest' && m.durable) seen.push(p.payload.value.jobId);
      },
      { queue: QueueGroups.scheduler },
    );
    cleanup.push(() => sub.drain());
    const res = await g.http('POST', '/api/v1/jobs', KEYS.operatorA, { prompt: 'durable' });
    expect(res.status).toBe(201);
    const { job_id: id } = (await res.json()) as { job_id: string };
    await eventually(() => expect(seen).toEqual([id]), 10_000);
  });

  it('rate limits per key over real HTTP (429 + Retry-After)', async () => {
    const g = await start(false, 2);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 4; i++) {
      const r = await g.http('GET', '/api/v1/jobs', KEYS.viewerA);
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toMatch(/^\d+$/);
  });
});
