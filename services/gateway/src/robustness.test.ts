import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, holdForApproval, startTestGateway } from './testing/fixture.js';
import { GATED, engineTick } from './testing/workflow-engine.js';

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
FIELDS.push('scope', 'scope_id', 'data', 'meta', 'revision', 'to_revision', 'updated_at', 'id', 'schema', 'expected_version', 'resource', 'owner', 'mode', 'ttl_ms', 'content', 'content_base64', 'content_type', 'retention');
const QUERIES = ['limit=-5', 'limit=1e9', 'limit=abc', 'cursor=%%%', 'cursor=eyJ4Ijo', 'state=RUNNING&state=X', 'created_after=-1', 'created_before=9999999999999999999', 'topic=', 'reason_code=%00', 'x=1'];
QUERIES.push(
  'scope=system', 'scope=galaxy', 'scope=team', 'scope=team&scope_id=%00', 'scope=org&scope_id=tenant-b', 'scope=system&scope_id=policy', 'scope=workflow&scope_id=ok-id&cursor=eyJyIjotMX0',
  'org_id=tenant-b', 'team_id=&step_id=x', 'ptr=redis%3A%2F%2Fctx%3A', 'ptr=redis%3A%2F%2Fart%3A..%2F', 'key=t%3Atenant-a%3Ax', 'ptr=a&key=b', 'resource=', 'resource=ok-id',
  'max_bytes=-1', 'max_bytes=0', 'job_id=*', 'job_id=ok-id',
);
// Workflows and runs.
FIELDS.push('steps', 'depends_on', 'from_step', 'dry_run', 'approved', 'input_schema', 'name', 'version', 'note', 'service');
QUERIES.push(
  'dry_run=maybe', 'dry_run=true', 'revision=0', 'revision=99', 'expected_revision=-1', 'expected_revision=1', 'status=waiting', 'status=nope',
  'workflow_id=%2F', 'kind=workflow_step', 'kind=x', 'cursor=wf%3A', 'cursor=wf%3A%25%25', 'idempotency_key=', 'idempotency_key=k1', 'team_id=%00',
);
const STEP_IDS = ['gate', 'ship', 'ok-id', 'a', 'x y', ''];
const WORKFLOWS: (() => unknown)[] = [
  () => ({ id: pick(['ok-id', '', 'a'.repeat(300), '../x']), steps: { [pick(STEP_IDS)]: { type: pick(['approval', 'notify', 'worker', 'delay', 7]), depends_on: pick([[], ['a'], ['zzz'], 'a', [1]]) } } }),
  () => ({ id: 'ok-id', steps: { a: { depends_on: ['b'] }, b: { depends_on: ['a'] } } }),
  () => ({ id: 'ok-id', input_schema: pick(SCHEMAS), steps: { a: { condition: pick(['input.x ==', '!', 'length(', 'input.x > 2', '${x}']), for_each: pick(['input.items', '[', 5]) } } }),
  () => ({ from_step: pick(STEP_IDS), dry_run: pick(VALUES) }),
  () => ({ approved: pick(VALUES), reason: pick(['', 'ok', 'x'.repeat(3000)]) }),
  () => ({ service: pick(VALUES) }),
];
const YAML_BODIES = ['id: ok-id\nsteps: {gate: {type: approval}}', 'steps: [', '- a\n- b', 'a: &x [*x]', '{{{', 'id: ok-id\nsteps:\n  a: {depends_on: [a]}'];

// Bodies that pass (or nearly pass) the route schemas of config, schemas, locks and artifacts, so the
// feature code behind them runs on odd input too.
const POOLS: unknown[] = [{ topics: { 'job.default': 'default' }, pools: { default: {} } }, { topics: {} }, { topics: { 'job.x': 'nope' }, pools: {} }, 'x', null, [], { topics: { 'job.*': [] }, pools: { a: { requires: 'gpu' } } }];
let deep: unknown = { type: 'string' };
for (let i = 0; i < 3000; i++) deep = { not: deep };
const SCHEMAS: unknown[] = [{ type: 'objectx' }, { $ref: '#/nope' }, { pattern: '(' }, { $schema: 'https://json-schema.org/draft/2020-12/schema', items: [1] }, { $schema: 5 }, { $id: 'x', $ref: 'x#/a' }, deep, true, {}, 7];
const NEAR_VALID: (() => unknown)[] = [
  () => ({ scope: pick(['system', 'org', 'team', 'workflow', 'step', 'x']), scope_id: pick(['default', 'policy', 'ok-id', '', 'a'.repeat(300)]), data: { pools: pick(POOLS), timeouts: pick(VALUES) }, revision: pick([0, 1, 2, -1, 1.5, 2 ** 60]) }),
  () => ({ scope: pick(['system', 'org', 'team']), scope_id: 'ok-id', to_revision: pick([1, 2, 0, 1e20, -3]), revision: pick([0, 1, 99]) }),
  () => ({ id: pick(['ok-id', 'a/b', '', '../x', 'a'.repeat(300)]), schema: pick(SCHEMAS), expected_version: pick([0, 1, -1]) }),
  () => ({ resource: pick(['ok-id', '', 'x'.repeat(600), '\u0000']), owner: pick(['o', '', 'ada']), mode: pick(['shared', 'exclusive', 'x']), ttl_ms: pick([1, 0, -1, 1e12, 3.5, 1000]) }),
  () => ({ content: pick(['', 'abc', undefined]), content_base64: pick([undefined, 'YQ==', '***', 'YQ=']), retention: pick(['short', 'audit', 'x']), labels: pick([{ a: 'b' }, { '': 'x' }, []]) }),
];

function body(): { payload: string; type: string } {
  switch (rand(7)) {
    case 2:
      return { payload: JSON.stringify(pick(NEAR_VALID)()), type: 'application/json' };
    case 3:
      return rand(2) === 0
        ? { payload: JSON.stringify(pick(WORKFLOWS)()), type: 'application/json' }
        : { payload: pick(YAML_BODIES), type: pick(['application/yaml', 'text/yaml', 'application/x-yaml']) };
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
  // tenant-a is the platform tenant, so system config writes reach the routing-document check too.
  t = await startTestGateway({ gateway: { bodyLimitBytes: 64 * 1024, defaultTenant: 'tenant-a' } });
  // Some real objects so that handlers past validation run too.
  const res = await t.call('POST', '/api/v1/jobs', { key: KEYS.operatorA, body: { prompt: 'real' } });
  const id = res.json<{ job_id: string }>().job_id;
  await holdForApproval(t.stores, id);
  IDS.push(id);
  await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'workflow', scope_id: 'ok-id', data: { a: 1 } } });
  await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 'ok-id', schema: { type: 'object' } } });
  await t.call('POST', '/api/v1/locks/acquire', { key: KEYS.adminA, body: { resource: 'ok-id', owner: 'ada', mode: 'shared' } });
  const art = (await t.call('POST', '/api/v1/artifacts', { key: KEYS.operatorA, body: { content: 'real' } })).json<{ artifact_ptr: string; metadata: { id: string } }>();
  IDS.push(encodeURIComponent(art.artifact_ptr), art.metadata.id);
  await t.call('POST', '/api/v1/workflows', { key: KEYS.adminA, body: { ...GATED, id: 'ok-id' } });
  const run = (await t.call('POST', '/api/v1/workflows/ok-id/runs', { key: KEYS.operatorA, body: { service: 'x' } })).json<{ run_id: string }>().run_id;
  await engineTick(t.stores, 'tenant-a', run);
  IDS.push(run, 'gate');
});
afterAll(async () => {
  await t.close();
});

describe('robustness', () => {
  it('5,000 generated bad requests: no 5xx, always the error envelope', async () => {
    const routes = t.gateway.routes.filter((r) => r.url.startsWith('/api/v1/') && !r.url.startsWith('/api/v1/docs'));
    const failures: string[] = [];
    for (let i = 0; i < 5000; i++) {
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
      // This gateway runs without a safety kernel: a well-formed policy question is 503 safety_unavailable by design.
      const noKernel = res.statusCode === 503 && res.json<{ error?: { code?: unknown } }>().error?.code === 'safety_unavailable';
      if (res.statusCode >= 500 && !noKernel) failures.push(`${route.method} ${url.slice(0, 80)} → ${res.statusCode} ${res.body.slice(0, 200)}`);
      else if (res.statusCode >= 400) {
        const e = res.json<{ error?: { code?: unknown; message?: unknown } }>().error;
        if (typeof e?.code !== 'string' || typeof e.message !== 'string') failures.push(`${route.method} ${url.slice(0, 80)}: no envelope ${res.body.slice(0, 200)}`);
      }
    }
    expect(failures).toEqual([]);
    expect((await t.call('GET', '/health')).statusCode).toBe(200);
  }, 120_000);
});
