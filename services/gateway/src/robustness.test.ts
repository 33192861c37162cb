import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, holdForApproval, startTestGateway } from './testing/fixture.js';

// Generated bad requests across every route: wrong types, missing and unknown fields, invalid JSON, huge and
// odd strings, path traversal and unicode in ids, bad query strings. None may answer 5xx or break the envelope.

let t: TestGateway;
let seed = 42;
const rand = (n: number): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed % n;
};
const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)] as T;

const IDS = ['..%2F..%2Fetc%2Fpasswd', '%00', 'a'.repeat(300), encodeURIComponent('ジョブ'), '%F0%9F%92%A9', '-leading', 'x%20y', '*', '>', 'ok-id'];
const VALUES: unknown[] = [null, true, 0, -1, 1e308, 'x', '', 'x'.repeat(200_000), [], [1, 'a'], {}, { a: { b: { c: [] } } }, '\u0000\uffff', 'secret://x'];
const FIELDS = ['prompt', 'input', 'context', 'topic', 'priority', 'labels', 'risk_tags', 'idempotency_key', 'deadline_ms', 'tenant_id', 'reason', 'remediation_id', 'expected_job_hash', 'jobId', '__proto__', 'constructor'];
const QUERIES = ['limit=-5', 'limit=1e9', 'limit=abc', 'cursor=%%%', 'cursor=eyJ4Ijo', 'state=RUNNING&state=X', 'created_after=-1', 'created_before=9999999999999999999', 'topic=', 'reason_code=%00', 'x=1'];

function body(): { payload: string; type: string } {
  switch (rand(5)) {
    case 0:
      return { payload: pick(['{', '{"prompt":', 'null', '[]', '"str"', '{"a":1}}', '\u0000']), type: 'application/json' };
    case 1:
      return { payload: 'prompt=x', type: pick(['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) };
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rand(4); i >= 0; i--) o[pick(FIELDS)] = pick(VALUES);
      return { payload: JSON.stringify(o), type: 'application/json' };
    }
  }
}

beforeAll(async () => {
  t = await startTestGateway({ gateway: { bodyLimitBytes: 64 * 1024 } });
  // Some real objects so that handlers past validation run too.
  const res = await t.call('POST', '/api/v1/jobs', { key: KEYS.operatorA, body: { prompt: 'real' } });
  const id = res.json<{ job_id: string }>().job_id;
  await holdForApproval(t.stores, id);
  IDS.push(id);
});
afterAll(async () => {
  await t.close();
});

describe('robustness', () => {
  it('2,000 generated bad requests: no 5xx, always the error envelope', async () => {
    const routes = t.gateway.routes.filter((r) => r.url.startsWith('/api/v1/') && !r.url.startsWith('/api/v1/docs'));
    const failures: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const route = pick(routes);
      let url = route.url.replace(/:[a-z_]+/g, () => pick(IDS));
      if (rand(3) === 0) url += `?${pick(QUERIES)}`;
      const headers: Record<string, string> = {};
      const key = rand(10);
      if (key > 1) headers['x-api-key'] = pick([KEYS.adminA, KEYS.operatorA, KEYS.viewerA, KEYS.adminB]);
      else if (key === 1) headers['authorization'] = pick(['Bearer', 'Bearer ', 'Basic x', `Bearer ${'k'.repeat(5000)}`]);
      const withBody = route.method === 'POST' || route.method === 'PUT' || rand(8) === 0;
      const b = withBody ? body() : undefined;
      if (b !== undefined) headers['content-type'] = b.type;
      const res = await t.gateway.app.inject({ method: route.method as 'GET', url, headers, ...(b === undefined ? {} : { payload: b.payload }) });
      if (res.statusCode >= 500) failures.push(`${route.method} ${url.slice(0, 80)} → ${res.statusCode} ${res.body.slice(0, 200)}`);
      else if (res.statusCode >= 400) {
        const e = res.json<{ error?: { code?: unknown; message?: unknown } }>().error;
        if (typeof e?.code !== 'string' || typeof e.message !== 'string') failures.push(`${route.method} ${url.slice(0, 80)}: no envelope ${res.body.slice(0, 200)}`);
      }
    }
    expect(failures).toEqual([]);
    expect((await t.call('GET', '/health')).statusCode).toBe(200);
  }, 120_000);
});
