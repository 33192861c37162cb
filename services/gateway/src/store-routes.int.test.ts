import type { Stores } from '@cordum/store';
import { createRedisStores } from '@cordum/store/redis';
import { type RedisServer, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, holdForApproval, startTestGateway } from './testing/fixture.js';

// Config, schemas, locks, artifacts, pointers and audit routes on the Redis stores (a real redis-server):
// the same answers as on the memory stores the unit tests use.

let redis: RedisServer;
let stores: Stores;
let t: TestGateway;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
beforeEach(async () => {
  stores = createRedisStores({ url: redis.url, prefix: uniquePrefix('gw-store-routes') });
  t = await startTestGateway({ stores, gateway: { defaultTenant: 'tenant-a' } });
});
afterEach(async () => {
  await t.close();
  await stores.close();
});

type ErrorBody = { error: { code: string; details: Record<string, unknown> } };

describe('store-backed routes on Redis', () => {
  it('config: compare-and-set, routing check, history, rollback, effective', async () => {
    const pools = { topics: { 'job.default': 'default' }, pools: { default: {} } };
    const created = await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', data: { pools, limit: 1 }, revision: 0 } });
    expect(created.json<{ revision: number }>().revision).toBe(1);
    const stale = await t.call('PUT', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', data: { pools, limit: 2 }, revision: 0 } });
    expect(stale.statusCode).toBe(409);
    expect(stale.json<ErrorBody>().error).toMatchObject({ code: 'revision_conflict', details: { current_revision: 1 } });
    expect((await t.call('PUT', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', data: { pools, limit: 2 }, revision: 1 } })).statusCode).toBe(200);
    const invalid = await t.call('PUT', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', data: { pools: { topics: { 'job.a': 'ghost' }, pools: {} } } } });
    expect(invalid.json<ErrorBody>().error).toMatchObject({ code: 'config_invalid', details: { path: 'data.pools.topics.job.a' } });

    const history = (await t.call('GET', '/api/v1/config/history?scope=system', { key: KEYS.viewerA })).json<{ items: { revision: number }[] }>();
    expect(history.items.map((d) => d.revision)).toEqual([2, 1]);
    const back = await t.call('POST', '/api/v1/config/rollback', { key: KEYS.adminA, body: { scope: 'system', to_revision: 1, revision: 2 } });
    expect(back.json<{ revision: number; data: unknown }>()).toMatchObject({ revision: 3, data: { limit: 1 } });

    await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'team', scope_id: 'ops', data: { limit: 9 } } });
    const effective = (await t.call('GET', '/api/v1/config/effective?team_id=ops', { key: KEYS.viewerA })).json<{ version: string; data: Record<string, unknown> }>();
    expect(effective).toMatchObject({ version: 'system:3|org:-|team:1|workflow:-|step:-', data: { limit: 9 } });
    expect((await t.call('GET', '/api/v1/config?scope=team&scope_id=ops', { key: KEYS.adminB })).statusCode).toBe(404);
  });

  it('schemas, locks, artifacts, pointers and audit', async () => {
    const id = encodeURIComponent('pack/Thing');
    expect((await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 'pack/Thing', schema: { type: 'object' } } })).statusCode).toBe(201);
    expect((await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 'pack/Bad', schema: { type: 1 } } })).statusCode).toBe(400);
    expect((await t.call('GET', `/api/v1/schemas/${id}`, { key: KEYS.viewerA })).json<{ version: number }>().version).toBe(1);
    expect((await t.call('GET', '/api/v1/schemas', { key: KEYS.viewerA })).json<{ schemas: string[] }>().schemas).toEqual(['pack/Thing']);
    expect((await t.call('GET', `/api/v1/schemas/${id}`, { key: KEYS.adminB })).statusCode).toBe(404);
    expect((await t.call('DELETE', `/api/v1/schemas/${id}`, { key: KEYS.adminA })).statusCode).toBe(204);

    expect((await t.call('POST', '/api/v1/locks/acquire', { key: KEYS.operatorA, body: { resource: 'r', owner: 'o1', ttl_ms: 60_000 } })).statusCode).toBe(200);
    const held = await t.call('POST', '/api/v1/locks/acquire', { key: KEYS.operatorA, body: { resource: 'r', owner: 'o2' } });
    expect(held.json<ErrorBody>().error).toMatchObject({ code: 'lock_held', details: { owners: ['o1'] } });
    expect((await t.call('POST', '/api/v1/locks/acquire', { key: KEYS.operatorB, body: { resource: 'r', owner: 'o2' } })).statusCode).toBe(200);
    expect((await t.call('POST', '/api/v1/locks/release', { key: KEYS.operatorA, body: { resource: 'r', owner: 'o1' } })).json<{ lock: unknown }>().lock).toBeNull();
    expect((await t.call('POST', '/api/v1/locks/renew', { key: KEYS.operatorA, body: { resource: 'r', owner: 'o1' } })).statusCode).toBe(404);
    expect((await t.call('GET', '/api/v1/locks?resource=r', { key: KEYS.viewerA })).statusCode).toBe(404);

    const art = (await t.call('POST', '/api/v1/artifacts', { key: KEYS.operatorA, body: { content_base64: 'AAEC', retention: 'short' } })).json<{ artifact_ptr: string }>();
    const got = await t.call('GET', `/api/v1/artifacts/${encodeURIComponent(art.artifact_ptr)}`, { key: KEYS.viewerA });
    expect(got.json<{ content_base64: string; metadata: { retention: string } }>()).toMatchObject({ content_base64: 'AAEC', metadata: { retention: 'short' } });
    expect((await t.call('GET', `/api/v1/artifacts/${encodeURIComponent(art.artifact_ptr)}`, { key: KEYS.adminB })).statusCode).toBe(404);
    expect((await t.call('POST', '/api/v1/artifacts?max_bytes=2', { key: KEYS.operatorA, body: { content: 'abc' } })).statusCode).toBe(413);

    const job = (await t.call('POST', '/api/v1/jobs', { key: KEYS.operatorA, body: { prompt: 'on redis' } })).json<{ job_id: string }>().job_id;
    const ptr = encodeURIComponent(`redis://ctx:${job}`);
    expect((await t.call('GET', `/api/v1/pointers?ptr=${ptr}`, { key: KEYS.viewerA })).json<{ json: unknown }>().json).toMatchObject({ prompt: 'on redis' });
    expect((await t.call('GET', `/api/v1/memory?ptr=${ptr}`, { key: KEYS.adminB })).statusCode).toBe(404);

    await holdForApproval(stores, job);
    expect((await t.call('POST', `/api/v1/approvals/${job}/approve`, { key: KEYS.adminA, body: {} })).statusCode).toBe(200);
    const approvals = (await t.call('GET', `/api/v1/audit/approvals?job_id=${job}`, { key: KEYS.viewerA })).json<{ items: { kind: string }[] }>();
    expect(approvals.items.map((e) => e.kind)).toEqual(['approval.granted']);
    expect((await t.call('GET', '/api/v1/audit/approvals', { key: KEYS.adminB })).json<{ items: unknown[] }>().items).toEqual([]);
  });
});
