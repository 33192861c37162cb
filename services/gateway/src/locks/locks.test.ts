import { createManualClock } from '@cordum/core';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, startTestGateway } from '../testing/fixture.js';

type Lock = { resource: string; mode: string; owners: Record<string, { count: number; expires_at: number }>; expires_at: number };
type ErrorBody = { error: { code: string; message: string; details: Record<string, unknown> } };

let t: TestGateway;
afterEach(async () => {
  await t.close();
});

describe('locks', () => {
  it('exclusive: re-entrant for its owner, 409 for anyone else, released hold by hold', async () => {
    t = await startTestGateway();
    const first = await t.call('POST', '/api/v1/locks/acquire', { key: KEYS.operatorA, body: { resource: 'deploy/prod' } });
    expect(first.statusCode).toBe(200);
    expect(first.json<Lock>()).toMatchObject({ resource: 'deploy/prod', mode: 'exclusive', owners: { otto: { count: 1 } } });

    expect((await t.call('POST', '/api/v1/locks/acquire', { key: KEYS.operatorA, body: { resource: 'deploy/prod', owner: 'otto' } })).json<Lock>().owners['otto']?.count).toBe(2);

    const blocked = await t.call('POST', '/api/v1/locks/acquire', { key: KEYS.adminA, body: { resource: 'deploy/prod', mode: 'shared' } });
    expect(blocked.statusCode).toBe(409);
    expect(blocked.json<ErrorBody>().error).toMatchObject({ code: 'lock_held', details: { mode: 'exclusive', owners: ['otto'] } });

    const got = await t.call('GET', `/api/v1/locks?resource=${encodeURIComponent('deploy/prod')}`, { key: KEYS.viewerA });
    expect(got.statusCode).toBe(200);
    expect(got.json<Lock>().owners['otto']?.count).toBe(2);

    const once = await t.call('POST', '/api/v1/locks/release', { key: KEYS.operatorA, body: { resource: 'deploy/prod' } });
    expect(once.json<{ released: boolean; lock: Lock | null }>()).toMatchObject({ released: true, owner: 'otto', lock: { owners: { otto: { count: 1 } } } });
    const twice = await t.call('POST', '/api/v1/locks/release', { key: KEYS.operatorA, body: { resource: 'deploy/prod' } });
    expect(twice.json<{ lock: Lock | null }>().lock).toBeNull();

    const notHeld = await t.call('POST', '/api/v1/locks/release', { key: KEYS.operatorA, body: { resource: 'deploy/prod' } });
    expect(notHeld.statusCode).toBe(404);
    expect(notHeld.json<ErrorBody>().error.code).toBe('lock_not_held');
    expect((await t.call('GET', '/api/v1/locks?resource=deploy%2Fprod', { key: KEYS.viewerA })).statusCode).toBe(404);
  });

  it('shared: many owners; exclusive blocked until the sole owner upgrades', async () => {
    t = await startTestGateway();
    const share = (owner: string, mode = 'shared') => t.call('POST', '/api/v1/locks/acquire', { key: KEYS.operatorA, body: { resource: 'cache', owner, mode } });
    expect((await share('r1')).statusCode).toBe(200);
    const both = await share('r2');
    expect(Object.keys(both.json<Lock>().owners).sort()).toEqual(['r1', 'r2']);
    expect((await share('w', 'exclusive')).statusCode).toBe(409);
    expect((await share('r1', 'exclusive')).statusCode).toBe(409);
    await t.call('POST', '/api/v1/locks/release', { key: KEYS.operatorA, body: { resource: 'cache', owner: 'r2' } });
    const upgraded = await share('r1', 'exclusive');
    expect(upgraded.statusCode).toBe(200);
    expect(upgraded.json<Lock>().mode).toBe('exclusive');
  });

  it('holds expire after ttl_ms unless renewed (store clock)', async () => {
    const clock = createManualClock(1_000_000);
    t = await startTestGateway({ clock });
    const held = await t.call('POST', '/api/v1/locks/acquire', { key: KEYS.operatorA, body: { resource: 'job-x', ttl_ms: 1000 } });
    expect(held.json<Lock>().expires_at).toBe(1_001_000);
    clock.advance(600);
    const renewed = await t.call('POST', '/api/v1/locks/renew', { key: KEYS.operatorA, body: { resource: 'job-x', ttl_ms: 1000 } });
    expect(renewed.statusCode).toBe(200);
    expect(renewed.json<Lock>().expires_at).toBe(1_001_600);
    clock.advance(900);
    expect((await t.call('GET', '/api/v1/locks?resource=job-x', { key: KEYS.viewerA })).statusCode).toBe(200);
    clock.advance(200);
    expect((await t.call('GET', '/api/v1/locks?resource=job-x', { key: KEYS.viewerA })).statusCode).toBe(404);
    const late = await t.call('POST', '/api/v1/locks/renew', { key: KEYS.operatorA, body: { resource: 'job-x' } });
    expect(late.statusCode).toBe(404);
    expect(late.json<ErrorBody>().error.code).toBe('lock_not_held');
    // Now free: anyone may take it.
    expect((await t.call('POST', '/api/v1/locks/acquire', { key: KEYS.adminA, body: { resource: 'job-x' } })).statusCode).toBe(200);
  });

  it('writes need operator; bad bodies are 400', async () => {
    t = await startTestGateway();
    expect((await t.call('POST', '/api/v1/locks/acquire', { key: KEYS.viewerA, body: { resource: 'r' } })).statusCode).toBe(403);
    for (const body of [undefined, {}, { resource: '' }, { resource: 'r', mode: 'weird' }, { resource: 'r', ttl_ms: 0 }, { resource: 'r', ttl_ms: 1.5 }, { resource: 'r', owner: 'a\u0000b' }, { resource: 'r', ttlMs: 5 }]) {
      const res = await t.call('POST', '/api/v1/locks/acquire', { key: KEYS.operatorA, ...(body === undefined ? {} : { body }) });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
    expect((await t.call('GET', '/api/v1/locks', { key: KEYS.viewerA })).statusCode).toBe(400);
  });
});
