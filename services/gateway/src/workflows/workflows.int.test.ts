import type { Stores } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import { type RedisServer, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, startTestGateway } from '../testing/fixture.js';
import { GATED, engineTick } from '../testing/workflow-engine.js';

// Workflows and runs on the Redis stores (a real redis-server): the atomic create with idempotency key and
// concurrency slot under parallel starts, and the inbox-first approve/cancel, as on the memory stores.

let redis: RedisServer;
let stores: Stores;
let t: TestGateway;

beforeAll(async () => {
  redis = await startRedis();
  stores = createRedisStores({ url: redis.url, prefix: uniquePrefix('gw-workflows') });
  t = await startTestGateway({ stores });
});
afterAll(async () => {
  await t?.close();
  await stores?.close();
  await redis?.stop();
});

const start = (headers: Record<string, string> = {}) =>
  t.call('POST', '/api/v1/workflows/gated/runs', { key: KEYS.operatorA, body: { service: 'api' }, headers });

describe('workflows on Redis', () => {
  it('20 parallel starts against a limit of 3: exactly 3 runs; parallel repeats of one key make one run', async () => {
    expect((await t.call('POST', '/api/v1/workflows', { key: KEYS.adminA, body: GATED })).statusCode).toBe(201);
    await stores.config.put({ scope: 'org', tenant: 'tenant-a', scopeId: 'tenant-a' }, { data: { limits: { max_concurrent_runs: 3 } } });
    const codes = (await Promise.all(Array.from({ length: 20 }, () => start()))).map((r) => r.statusCode);
    expect(codes.filter((c) => c === 201)).toHaveLength(3);
    expect(codes.filter((c) => c === 429)).toHaveLength(17);
    expect(await stores.runs.countActive('tenant-a')).toBe(3);

    await stores.config.put({ scope: 'org', tenant: 'tenant-a', scopeId: 'tenant-a' }, { data: {} });
    const same = await Promise.all(Array.from({ length: 10 }, () => start({ 'idempotency-key': 'once' })));
    const ids = new Set(same.map((r) => r.json<{ run_id: string }>().run_id));
    expect(ids.size).toBe(1);
    expect(same.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(await stores.runs.countActive('tenant-a')).toBe(4);
  });

  it('approve and cancel queue inbox events the engine applies; the timeline pages oldest first', async () => {
    const runId = (await start()).json<{ run_id: string }>().run_id;
    await engineTick(stores, 'tenant-a', runId);
    expect((await t.call('POST', `/api/v1/workflow-runs/${runId}/steps/gate/approve`, { key: KEYS.adminA, body: { reason: 'ok' } })).statusCode).toBe(202);
    expect((await t.call('POST', `/api/v1/workflow-runs/${runId}/steps/gate/approve`, { key: KEYS.adminA, body: {} })).statusCode).toBe(409);
    const { run } = await engineTick(stores, 'tenant-a', runId);
    expect(run.steps['gate']).toMatchObject({ status: 'succeeded', approval: { by: 'ada', reason: 'ok' } });
    expect((await t.call('POST', `/api/v1/workflow-runs/${runId}/cancel`, { key: KEYS.operatorA, body: {} })).statusCode).toBe(202);
    expect((await engineTick(stores, 'tenant-a', runId)).run.status).toBe('cancelled');
    const timeline = await t.call('GET', `/api/v1/workflow-runs/${runId}/timeline`, { key: KEYS.viewerA });
    const types = timeline.json<{ items: { type: string }[] }>().items.map((e) => e.type);
    expect(types[0]).toBe('run_status');
    expect(types).toEqual(expect.arrayContaining(['step_waiting', 'step_approved', 'cancel_requested']));
    expect((await t.call('DELETE', `/api/v1/workflow-runs/${runId}`, { key: KEYS.adminA })).statusCode).toBe(204);
  });
});
