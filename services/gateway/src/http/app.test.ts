import { create } from '@bufbuild/protobuf';
import { createMemoryBroker } from '@cordum/bus/memory';
import { ConflictError, RetryableError, createMemoryLogger, createMetrics, createSilentLogger, systemClock } from '@cordum/core';
import { HeartbeatSchema, Subjects, encodePacket, newPacket } from '@cordum/protocol';
import { createMemoryStores } from '@cordum/store/memory';
import { eventually } from '@cordum/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createOpenResolver } from '../auth/api-keys.js';
import { ROUTE_ROLES } from '../auth/principal.js';
import { createGateway } from '../index.js';
import { createGatewayMetrics } from '../metrics.js';
import { resolveGatewayOptions } from '../options.js';
import { createWorkerRegistry } from '../status/workers.js';
import { KEYS, type TestGateway, startTestGateway } from '../testing/fixture.js';
import { buildApp } from './app.js';
import { httpErrorOf } from './errors.js';

let t: TestGateway | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const envelope = (body: string) => JSON.parse(body) as { error: { code: string; message: string; details: Record<string, unknown> } };

describe('routes and roles', () => {
  it('every registered route declares a valid role, and every API route needs credentials', async () => {
    t = await startTestGateway();
    expect(t.gateway.routes.length).toBeGreaterThan(20);
    for (const r of t.gateway.routes) expect(ROUTE_ROLES, `${r.method} ${r.url}`).toContain(r.role);
    const api = t.gateway.routes.filter((r) => r.url.startsWith('/api/v1/') && !r.url.startsWith('/api/v1/docs') && r.url !== '/api/v1/openapi.json');
    expect(api.length).toBeGreaterThan(15);
    for (const r of api) {
      expect(r.role, `${r.method} ${r.url}`).not.toBe('public');
      const url = r.url.replace(/:[a-z_]+/g, 'x1');
      const res = await t.call(r.method as 'GET', url, { body: r.method === 'GET' || r.method === 'DELETE' ? undefined : {} });
      expect(res.statusCode, `${r.method} ${url}`).toBe(401);
      expect(envelope(res.body).error.code).toBe('unauthenticated');
    }
  });

  it('a route without a role is refused when it is registered', async () => {
    const stores = createMemoryStores();
    const metrics = createGatewayMetrics(createMetrics());
    const ctx = {
      bus: createMemoryBroker().connect(),
      stores,
      logger: createSilentLogger(),
      metrics,
      options: resolveGatewayOptions(),
      clock: systemClock,
      workers: createWorkerRegistry(15_000),
      startedAt: 0,
    };
    const app = await buildApp({ ctx, principals: createOpenResolver('default'), metricsText: () => Promise.resolve(''), metricsContentType: 'text/plain' });
    expect(() => app.get('/api/v1/sneaky', () => 'x')).toThrow(/GET \/api\/v1\/sneaky declares no valid role/);
    await app.close();
  });

  it('401 for a bad key, 403 for a role too low; Bearer works like X-API-Key', async () => {
    t = await startTestGateway();
    const bad = await t.call('GET', '/api/v1/jobs', { key: 'not-a-key-0123456789' });
    expect(bad.statusCode).toBe(401);
    expect(envelope(bad.body).error).toMatchObject({ code: 'unauthenticated', message: 'invalid API key' });
    const viewerSubmit = await t.call('POST', '/api/v1/jobs', { key: KEYS.viewerA, body: { prompt: 'x' } });
    expect(viewerSubmit.statusCode).toBe(403);
    expect(envelope(viewerSubmit.body).error).toMatchObject({ code: 'permission_denied', details: { required_role: 'operator' } });
    const workers = await t.call('GET', '/api/v1/workers', { key: KEYS.operatorA });
    expect(workers.statusCode).toBe(403);
    const bearer = await t.call('GET', '/api/v1/jobs', { headers: { authorization: `Bearer ${KEYS.viewerA}` } });
    expect(bearer.statusCode).toBe(200);
    const secopsRead = await t.call('GET', '/api/v1/jobs', { key: KEYS.secopsA });
    expect(secopsRead.statusCode).toBe(200);
  });
});

describe('one error envelope', () => {
  it('invalid JSON, wrong types, unknown fields, empty JSON body → 400 invalid_argument', async () => {
    t = await startTestGateway();
    const json = { 'content-type': 'application/json' };
    const cases = [
      { body: '{"prompt": ', headers: json, message: /not valid JSON/ },
      { body: { prompt: 5 }, message: /body\/prompt: must be string/ },
      { body: { prompt: 'x', jobId: 'camel' }, message: /unknown field "jobId"/ },
      { body: { prompt: 'x', labels: { a: 1 } }, message: /labels\/a/ },
      { body: { prompt: 'x', priority: 'urgent' }, message: /priority/ },
      { body: '[1,2]', headers: json, message: /body: must be object/ },
      { body: '', headers: json, message: /empty/ },
    ];
    for (const c of cases) {
      const res = await t.call('POST', '/api/v1/jobs', { key: KEYS.operatorA, body: c.body, ...(c.headers === undefined ? {} : { headers: c.headers }) });
      expect(res.statusCode, JSON.stringify(c.body)).toBe(400);
      const e = envelope(res.body).error;
      expect(e.code).toBe('invalid_argument');
      expect(e.message).toMatch(c.message);
      expect(res.body).not.toMatch(/at .*\.(js|ts):\d+/);
    }
  });

  it('413 above the body limit, 415 for another content type, 404 for unknown routes and bad ids, never a stack', async () => {
    t = await startTestGateway({ gateway: { bodyLimitBytes: 4096 } });
    const big = await t.call('POST', '/api/v1/jobs', { key: KEYS.operatorA, body: { prompt: 'x'.repeat(5000) } });
    expect(big.statusCode).toBe(413);
    expect(envelope(big.body).error.code).toBe('payload_too_large');
    const form = await t.call('POST', '/api/v1/jobs', { key: KEYS.operatorA, body: 'prompt=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.statusCode).toBe(415);
    expect(envelope(form.body).error.code).toBe('unsupported_media_type');
    const nowhere = await t.call('GET', '/api/v1/nowhere', { key: KEYS.viewerA });
    expect(nowhere.statusCode).toBe(404);
    expect(envelope(nowhere.body).error).toMatchObject({ code: 'not_found', message: 'no route GET /api/v1/nowhere' });
    const traversal = await t.call('GET', '/api/v1/jobs/..%2F..%2Fetc%2Fpasswd', { key: KEYS.viewerA });
    expect(traversal.statusCode).toBe(400);
    expect(envelope(traversal.body).error.code).toBe('invalid_argument');
    const badUrl = await t.call('GET', '/api/v1/jobs/%E0%A4%A', { key: KEYS.viewerA });
    expect(badUrl.statusCode).toBe(400);
    const unicode = await t.call('GET', `/api/v1/jobs/${encodeURIComponent('ジョブ')}`, { key: KEYS.viewerA });
    expect(unicode.statusCode).toBe(400);
  });

  it('maps CordumErrors to statuses and hides internal faults', () => {
    expect(httpErrorOf(new ConflictError('x', { code: 'revision_conflict' })).status).toBe(409);
    const unavailable = httpErrorOf(new RetryableError('down', { retryAfterMs: 2500 }));
    expect(unavailable).toMatchObject({ status: 503, retryAfterS: 3, body: { error: { code: 'unavailable' } } });
    const internal = httpErrorOf(new TypeError('secret detail at /src/x.ts:1'));
    expect(internal).toMatchObject({ status: 500, internal: true, body: { error: { code: 'internal' } } });
    expect(JSON.stringify(internal.body)).not.toContain('secret detail');
  });
});

describe('rate limit and CORS', () => {
  it('limits requests per key with 429 + Retry-After; other keys are unaffected', async () => {
    t = await startTestGateway({ gateway: { rateLimitRps: 3 } });
    const codes: number[] = [];
    let last;
    for (let i = 0; i < 5; i++) {
      last = await t.call('GET', '/api/v1/jobs', { key: KEYS.viewerA });
      codes.push(last.statusCode);
    }
    expect(codes).toEqual([200, 200, 200, 429, 429]);
    expect(last?.headers['retry-after']).toMatch(/^\d+$/);
    expect(envelope(last?.body ?? '{}').error).toMatchObject({ code: 'rate_limited', details: { limit: 3 } });
    expect((await t.call('GET', '/api/v1/jobs', { key: KEYS.adminA })).statusCode).toBe(200);
    expect((await t.call('GET', '/health')).statusCode).toBe(200);
    const metrics = await t.call('GET', '/metrics');
    expect(metrics.body).toMatch(/cordum_gateway_auth_failures_total\{reason="rate_limited"\} 2/);
  });

  it('limits failed authentications per client address: 429 for every key until the minute ends', async () => {
    t = await startTestGateway({ gateway: { authFailuresPerMinute: 3 } });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await t.call('GET', '/api/v1/jobs', { key: `wrong-key-${i}-0123456789` })).statusCode);
    expect(codes).toEqual([401, 401, 401, 429]);
    // A right key from the same address is refused too, so a lucky guess does not stand out.
    const blocked = await t.call('GET', '/api/v1/jobs', { key: KEYS.viewerA });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['retry-after']).toMatch(/^\d+$/);
    expect(envelope(blocked.body).error).toMatchObject({ code: 'rate_limited', details: { limit: 3, reason: 'authentication_failures' } });
    // Another address is not affected.
    const other = await t.gateway.app.inject({ method: 'GET', url: '/api/v1/jobs', headers: { 'x-api-key': KEYS.viewerA }, remoteAddress: '10.1.2.3' });
    expect(other.statusCode).toBe(200);
  });

  it('answers preflights for allowed origins only', async () => {
    t = await startTestGateway({ gateway: { allowedOrigins: ['https://dash.example'] } });
    const preflight = (origin: string) =>
      t!.call('OPTIONS', '/api/v1/jobs', { headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key,content-type' } });
    const ok = await preflight('https://dash.example');
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('https://dash.example');
    expect(String(ok.headers['access-control-allow-headers'])).toMatch(/x-api-key/);
    const evil = await preflight('https://evil.example');
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    const get = await t.call('GET', '/api/v1/jobs', { key: KEYS.viewerA, headers: { origin: 'https://dash.example' } });
    expect(get.headers['access-control-allow-origin']).toBe('https://dash.example');
  });

  it('without an allowlist only localhost origins are allowed', async () => {
    t = await startTestGateway();
    const local = await t.call('GET', '/health', { headers: { origin: 'http://localhost:5173' } });
    expect(local.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    const remote = await t.call('GET', '/health', { headers: { origin: 'https://example.com' } });
    expect(remote.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('system routes', () => {
  it('status, workers from sys.heartbeat, health, metrics, OpenAPI and the docs page', async () => {
    t = await startTestGateway();
    await t.gateway.listen();
    const hb = create(HeartbeatSchema, { workerId: 'w-1', pool: 'default', maxParallelJobs: 4, activeJobs: 1, labels: { zone: 'a' } });
    await t.bus.publish(Subjects.heartbeat, encodePacket(newPacket({ traceId: 'w-1', senderId: 'w-1', payload: { case: 'heartbeat', value: hb } })));
    await eventually(async () => {
      const status = await t!.call('GET', '/api/v1/status', { key: KEYS.viewerA });
      expect(status.json()).toMatchObject({
        build: { version: '0.1.0' },
        bus: { connected: true },
        store: { ok: true },
        workers: { count: 1 },
        auth: { open: false },
        principal: { id: 'vera', tenant: 'tenant-a' },
      });
    });
    const workers = await t.call('GET', '/api/v1/workers', { key: KEYS.adminA });
    expect(workers.json()).toMatchObject({ items: [{ worker_id: 'w-1', pool: 'default', max_parallel_jobs: 4, active_jobs: 1, labels: { zone: 'a' } }] });
    expect((await t.call('GET', '/health')).json()).toEqual({ ok: true, bus: true, store: true });
    expect((await t.call('GET', '/api/v1/jobs/some-id')).statusCode).toBe(401);
    expect((await t.call('GET', '/api/v1/no-such-route', { key: KEYS.adminA })).statusCode).toBe(404);
    const metrics = await t.call('GET', '/metrics');
    expect(metrics.headers['content-type']).toMatch(/text\/plain/);
    expect(metrics.body).toMatch(/cordum_gateway_http_requests_total\{method="GET",route="\/api\/v1\/status",status="200"\}/);
    // Refused requests count under their route; requests no route matched, under "unmatched".
    expect(metrics.body).toMatch(/cordum_gateway_http_requests_total\{method="GET",route="\/api\/v1\/jobs\/:id",status="401"\} 1/);
    expect(metrics.body).toMatch(/cordum_gateway_http_requests_total\{method="GET",route="unmatched",status="404"\} 1/);
    const spec = (await t.call('GET', '/api/v1/openapi.json')).json<{
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown>; description?: string }>>;
    }>();
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(['/api/v1/jobs', '/api/v1/jobs/{id}', '/api/v1/approvals/{job_id}/approve', '/api/v1/dlq/{job_id}/retry', '/api/v1/status']),
    );
    const submit = spec.paths['/api/v1/jobs']?.['post'];
    expect(submit?.security).toEqual([{ api_key: [] }, { bearer: [] }]);
    expect(submit?.description).toMatch(/operator/);
    expect(Object.keys(submit?.responses ?? {})).toEqual(expect.arrayContaining(['200', '201', '4XX', '5XX']));
    expect(JSON.stringify(spec)).not.toMatch(/"jobId"|"traceId"/);
    const docs = await t.call('GET', '/api/v1/docs');
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toMatch(/swagger/i);
    expect((await t.call('GET', '/api/v1/docs/static/swagger-ui-bundle.js')).statusCode).toBe(200);
  });

  it('runs open only on loopback, and says so loudly', async () => {
    const { logger, records } = createMemoryLogger();
    const bus = createMemoryBroker().connect();
    const stores = createMemoryStores();
    const exposed = await createGateway({ bus, stores, metrics: createMetrics(), options: { httpAddr: '0.0.0.0:0' } });
    await expect(exposed.listen()).rejects.toThrow(/refusing to serve without authentication/);
    await exposed.close();
    const local = await createGateway({ bus, stores, logger, metrics: createMetrics(), options: { httpAddr: '127.0.0.1:0' } });
    const { url } = await local.listen();
    expect(records.some((r) => r.level === 'warn' && /OPEN MODE/.test(String(r.msg)))).toBe(true);
    const res = await fetch(`${url}/api/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'hi' }) });
    expect(res.status).toBe(201);
    const job = (await stores.jobs.get(((await res.json()) as { job_id: string }).job_id))!;
    expect(job).toMatchObject({ tenant: 'default', data: { submitted_by: 'anonymous' } });
    await local.close();
    await bus.close();
  });
});
