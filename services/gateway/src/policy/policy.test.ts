import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYS } from '../testing/fixture.js';
import { type PolicyHarness, type PolicyHarnessOptions, startPolicyHarness } from './kernel-harness.js';

// The kernel-facing policy routes over a real gRPC safety kernel (memory stores, base bundle file).

let h: PolicyHarness | undefined;
const start = async (options: PolicyHarnessOptions = {}): Promise<PolicyHarness> => {
  h = await startPolicyHarness(options);
  return h;
};
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A loopback address nothing listens on. */
async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

describe('POST /api/v1/policy/evaluate', () => {
  it('answers the kernel\'s decision for the caller\'s tenant and records nothing', async () => {
    const t = await start();
    const deny = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.viewerA, body: { topic: 'job.ops.shell', job_id: 'j-1' } });
    expect(deny.statusCode).toBe(200);
    expect(deny.json()).toMatchObject({
      decision: 'DENY',
      rule_id: 'no-shell',
      reason: 'raw shells are not allowed',
      policy_snapshot: t.runtime.snapshot().id,
      tenant: 'tenant-a',
      approval_required: false,
      effective_config: { version: expect.stringMatching(/^system:-\|org:-/) as string, hash: expect.any(String) as string },
    });
    const held = await t.call('POST', '/api/v1/policy/evaluate', {
      key: KEYS.operatorA,
      body: { topic: 'job.tracker.update', job_id: 'j-2', risk_tags: ['write'], actor_type: 'human' },
    });
    expect(held.json()).toMatchObject({ decision: 'REQUIRE_APPROVAL', rule_id: 'writes-need-human', approval_required: true, approval_ref: 'j-2' });
    // meta (upstream's JobMetadata) is read too; top-level fields win.
    const viaMeta = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.viewerA, body: { topic: 'job.x', meta: { risk_tags: ['write'] } } });
    expect(viaMeta.json()).toMatchObject({ decision: 'REQUIRE_APPROVAL' });
    const allow = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.viewerA, body: { topic: 'job.reports.daily' } });
    expect(allow.json()).toMatchObject({ decision: 'ALLOW', rule_id: 'default', constraints: null, remediations: [] });
    // Evaluate is not Check: no decision record in any tenant.
    expect((await t.stores.audit.list('tenant-a', { kind: 'policy.decision' })).items).toEqual([]);
  });

  it('the tenant is always the caller\'s: naming another one is 403', async () => {
    const t = await start();
    for (const field of ['tenant', 'tenant_id', 'org_id']) {
      const res = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.adminA, body: { topic: 'job.a', [field]: 'tenant-b' } });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: { code: 'permission_denied', details: { field: 'tenant' } } });
    }
    const meta = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.adminA, body: { topic: 'job.a', meta: { tenant_id: 'tenant-b' } } });
    expect(meta.statusCode).toBe(403);
    const own = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.adminB, body: { topic: 'job.a', tenant: 'tenant-b' } });
    expect(own.json()).toMatchObject({ tenant: 'tenant-b' });
  });

  it('uses the effective config the scheduler would send (system → org → team)', async () => {
    const t = await start();
    await t.stores.config.put({ scope: 'org', tenant: 'tenant-a', scopeId: 'tenant-a' }, { data: { safety: { denied_topics: ['job.billing.*'] } } });
    const res = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.viewerA, body: { topic: 'job.billing.refund' } });
    expect(res.json()).toMatchObject({ decision: 'DENY', rule_id: 'config:denied_topics', effective_config: { version: expect.stringContaining('org:1') as string } });
    // Tenant B's config does not apply to tenant A, and an explicit effective_config replaces the stored one.
    const b = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.adminB, body: { topic: 'job.billing.refund' } });
    expect(b.json()).toMatchObject({ decision: 'ALLOW' });
    const given = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.viewerA, body: { topic: 'job.billing.refund', effective_config: {} } });
    expect(given.json()).toMatchObject({ decision: 'ALLOW', effective_config: null });
  });

  it('validates the body: topic required, unknown or camelCase fields refused, 401 without a key', async () => {
    const t = await start();
    const missing = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.viewerA, body: { risk_tags: ['x'] } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ error: { code: 'invalid_argument', message: expect.stringContaining('"topic"') as string } });
    const camel = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.viewerA, body: { topic: 'job.a', riskTags: ['x'] } });
    expect(camel.statusCode).toBe(400);
    expect(camel.json()).toMatchObject({ error: { message: expect.stringContaining('riskTags') as string } });
    expect((await t.call('POST', '/api/v1/policy/evaluate', { body: { topic: 'job.a' } })).statusCode).toBe(401);
  });

  it('an effective_config nested too deep to serialise is a 400 on every question route, never a 500', async () => {
    const t = await start();
    const payload = `{"topic":"job.a","effective_config":{"a":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`;
    for (const route of ['evaluate', 'explain', 'simulate']) {
      const res = await t.gateway.app.inject({
        method: 'POST',
        url: `/api/v1/policy/${route}`,
        headers: { 'x-api-key': KEYS.viewerA, 'content-type': 'application/json' },
        payload,
      });
      expect(res.statusCode, route).toBe(400);
      expect(res.json(), route).toMatchObject({ error: { code: 'invalid_argument', details: { field: 'effective_config' } } });
    }
  });
});

describe('POST /api/v1/policy/explain', () => {
  it('returns the decision and every rule with why it did or did not match', async () => {
    const t = await start();
    const res = await t.call('POST', '/api/v1/policy/explain', { key: KEYS.viewerA, body: { topic: 'job.tracker.update', risk_tags: ['write'] } });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ decision: string; rule_id: string; tenant: string; drafts: string[]; trace: { rule_id: string; status: string; matched: boolean; reasons: string[]; bundle_id: string; decision: string; index: number }[] }>();
    expect(body).toMatchObject({ decision: 'REQUIRE_APPROVAL', rule_id: 'writes-need-human', tenant: 'tenant-a', drafts: [] });
    expect(body.trace.map((r) => [r.rule_id, r.bundle_id, r.status, r.matched, r.decision])).toEqual([
      ['no-shell', 'base', 'not_matched', false, 'DENY'],
      ['writes-need-human', 'base', 'matched', true, 'REQUIRE_APPROVAL'],
    ]);
    expect(body.trace[0]?.reasons.join(' ')).toMatch(/topics: .*job\.tracker\.update.*job\.ops\.shell/);
    expect(body.trace.map((r) => r.index)).toEqual([0, 1]);

    const denied = await t.call('POST', '/api/v1/policy/explain', { key: KEYS.viewerA, body: { topic: 'job.ops.shell', risk_tags: ['write'] } });
    expect(denied.json<{ trace: { status: string }[] }>().trace.map((r) => r.status)).toEqual(['matched', 'not_reached']);
  });
});

describe('POST /api/v1/policy/simulate', () => {
  it('evaluates draft bundles without changing the live policy', async () => {
    const t = await start();
    const before = t.runtime.snapshot().id;
    const draft = { id: 'secops/freeze', content: 'rules:\n  - id: freeze\n    match: {topics: ["job.reports.*"]}\n    decision: deny\n    reason: change freeze\n' };
    const res = await t.call('POST', '/api/v1/policy/simulate', { key: KEYS.viewerA, body: { topic: 'job.reports.daily', bundles: [draft] } });
    expect(res.statusCode).toBe(200);
    const sim = res.json<{ decision: string; rule_id: string; drafts: string[]; policy_snapshot: string; trace: { rule_id: string; bundle_id: string; status: string }[] }>();
    expect(sim).toMatchObject({ decision: 'DENY', rule_id: 'freeze', drafts: ['secops/freeze'] });
    expect(sim.policy_snapshot).not.toBe(before);
    expect(sim.trace).toContainEqual(expect.objectContaining({ rule_id: 'freeze', bundle_id: 'secops/freeze', status: 'matched' }));

    // Nothing changed: the live decision, the snapshot list and the config store are as before.
    const live = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.viewerA, body: { topic: 'job.reports.daily' } });
    expect(live.json()).toMatchObject({ decision: 'ALLOW', policy_snapshot: before });
    expect((await t.call('GET', '/api/v1/policy/snapshots', { key: KEYS.viewerA })).json()).toEqual({ current: before, snapshots: [before] });
    expect(await t.stores.config.get({ scope: 'system', scopeId: 'policy' })).toBeUndefined();
    expect(await t.runtime.reload()).toMatchObject({ snapshot: before });

    // A disabled draft switches a bundle off; default_decision overrides the live default.
    const off = await t.call('POST', '/api/v1/policy/simulate', {
      key: KEYS.viewerA,
      body: { topic: 'job.reports.daily', bundles: [{ ...draft, enabled: false }], default_decision: 'deny' },
    });
    expect(off.json()).toMatchObject({ decision: 'DENY', rule_id: 'default' });
  });

  it('a draft that does not parse is 400 policy_invalid', async () => {
    const t = await start();
    const res = await t.call('POST', '/api/v1/policy/simulate', {
      key: KEYS.viewerA,
      body: { topic: 'job.a', bundles: [{ id: 'secops/bad', content: 'rules:\n  - id: x\n    decision: perhaps\n' }] },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'policy_invalid', message: expect.stringContaining('perhaps') as string } });
  });
});

describe('kernel outages', () => {
  it('an unreachable kernel is 503 safety_unavailable with Retry-After on every kernel route, never a 500', async () => {
    const t = await start({ kernelAddress: await deadAddress() });
    const calls: [method: 'GET' | 'POST', url: string, key: string, body?: unknown][] = [
      ['POST', '/api/v1/policy/evaluate', KEYS.viewerA, { topic: 'job.a' }],
      ['POST', '/api/v1/policy/explain', KEYS.viewerA, { topic: 'job.a' }],
      ['POST', '/api/v1/policy/simulate', KEYS.viewerA, { topic: 'job.a' }],
      ['GET', '/api/v1/policy/snapshots', KEYS.viewerA],
      ['GET', '/api/v1/policy/rules', KEYS.secopsA],
    ];
    for (const [method, url, key, body] of calls) {
      const res = await t.call(method, url, { key, body });
      expect(res.statusCode, url).toBe(503);
      expect(res.json(), url).toMatchObject({ error: { code: 'safety_unavailable' } });
      expect(Number(res.headers['retry-after']), url).toBeGreaterThanOrEqual(1);
    }
    // After three failures the breaker is open: still 503, at once, with the time until the next probe.
    expect(t.grpc.breakerState()).toBe('open');
  });

  it('a kernel that stops while the gateway runs is 503 too; a gateway without a kernel says so', async () => {
    const t = await start();
    expect((await t.call('GET', '/api/v1/policy/snapshots', { key: KEYS.viewerA })).statusCode).toBe(200);
    await t.stopKernel();
    const res = await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.viewerA, body: { topic: 'job.a' } });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ error: { code: 'safety_unavailable' } });
    await t.close();

    const none = await start({ port: 'none' });
    const missing = await none.call('POST', '/api/v1/policy/explain', { key: KEYS.viewerA, body: { topic: 'job.a' } });
    expect(missing.statusCode).toBe(503);
    expect(missing.json()).toMatchObject({ error: { code: 'safety_unavailable', message: expect.stringContaining('SAFETY_KERNEL_ADDR') as string } });
    expect(missing.headers['retry-after']).toBe('30');
  });
});

describe('GET /api/v1/policy/snapshots', () => {
  it('lists the kernel\'s snapshot ids, newest first', async () => {
    const t = await start();
    const res = await t.call('GET', '/api/v1/policy/snapshots', { key: KEYS.viewerA });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ current: t.runtime.snapshot().id, snapshots: [t.runtime.snapshot().id] });
    expect(t.runtime.snapshot().id).toMatch(/^v1:[0-9a-f]{12}$/);
  });
});

describe('roles of the policy routes', () => {
  it('questions are open to viewers; bundles, rules and audit need secops', async () => {
    const t = await start();
    const routes = t.gateway.routes.filter((r) => r.url.startsWith('/api/v1/policy/'));
    expect(Object.fromEntries(routes.map((r) => [`${r.method} ${r.url}`, r.role]))).toEqual({
      'POST /api/v1/policy/evaluate': 'viewer',
      'POST /api/v1/policy/explain': 'viewer',
      'POST /api/v1/policy/simulate': 'viewer',
      'GET /api/v1/policy/snapshots': 'viewer',
      'GET /api/v1/policy/rules': 'secops',
      'GET /api/v1/policy/bundles': 'secops',
      'GET /api/v1/policy/bundles/snapshots': 'secops',
      'GET /api/v1/policy/bundles/:id': 'secops',
      'PUT /api/v1/policy/bundles/:id': 'secops',
      'POST /api/v1/policy/bundles/:id/simulate': 'secops',
      'POST /api/v1/policy/publish': 'secops',
      'POST /api/v1/policy/rollback': 'secops',
      'GET /api/v1/policy/audit': 'secops',
    });
    const spec = (await t.call('GET', '/api/v1/openapi.json')).json<{ paths: Record<string, Record<string, { tags: string[]; description: string }>> }>();
    expect(spec.paths['/api/v1/policy/publish']?.['post']).toMatchObject({ tags: ['policy'], description: expect.stringContaining('**secops**') as string });
    expect(spec.paths['/api/v1/policy/bundles/{id}']?.['put']).toBeDefined();
  });
});

describe('robustness of the policy routes', () => {
  it('800 generated odd requests with a secops key and a live kernel: never a 5xx, always the envelope', async () => {
    const t = await start();
    // A stored document with every odd entry shape the kernel tolerates or refuses.
    await t.stores.config.put(
      { scope: 'system', scopeId: 'policy' },
      { data: { bundles: { 'pack/str': 'rules: []\n', 'pack/off': { enabled: false, content: 5 }, 'secops/data': { data: { rules: [] } } } } },
    );
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)] as T;
    const contents = ['', 'rules: [\n', 'rules:\n  - id: x\n    decision: deny\n', 'rules:\n  - id: no-shell\n    decision: deny\n', '{"rules": 5}', 'x'.repeat(3000), 'version: 2\nrules: []\n'];
    const values: unknown[] = [null, true, 0, -1, 1.5, 2 ** 60, 'x', '', [], {}, ['secops/a'], ['../x'], 'secret://x'];
    const bodies = (): unknown =>
      pick([
        null,
        {},
        {},
        { content: 'rules:\n  - id: a-rule\n    match: {topics: ["job.a"]}\n    decision: deny\n', message: 'm' },
        { topic: 'job.a', labels: { env: 'prod' }, risk_tags: ['write'] },
        { revision: pick([1, 2, 3]) },
        { content: pick(contents) },
        { content: pick(contents), enabled: pick([true, false]), expected_revision: pick([0, 1, 5, -1]) },
        { topic: pick(['job.a', 'job.ops.shell', '', 'nojob', 'x'.repeat(300)]), risk_tags: pick(values), labels: pick(values) },
        { request: { topic: 'job.a' }, content: pick(contents), default_decision: pick(['deny', 'perhaps', '']) },
        { topic: 'job.a', bundles: [{ id: pick(['secops/a', 'base', 'a/b/c', '']), content: pick(contents) }], default_decision: pick(['', 'nope']) },
        { bundle_ids: pick(values) },
        { revision: pick(values), snapshot_id: pick(['1', 'x', '99']) },
        { [pick(['topic', 'content', 'revision', 'bundle_ids', 'tenant', 'meta', 'budget', 'effective_config'])]: pick(values) },
      ]);
    const ids = ['secops~a', 'secops~a', 'secops~a', 'pack~off', 'pack~str', 'secops~data', '_', 'a~b~c', '..', '%2F', 'secops%2Fa', 'x'.repeat(250)];
    const queries = ['', '?bundle_id=secops/a', '?bundle_id=pack/off', '?bundle_id=', '?draft=true&bundle_id=secops/data', '?limit=0', '?cursor=%%', '?x=1'];
    const routes = t.gateway.routes.filter((r) => r.url.startsWith('/api/v1/policy/'));
    const failures: string[] = [];
    for (let i = 0; i < 800; i++) {
      const route = pick(routes);
      const url = route.url.replace(':id', pick(ids)) + pick(queries);
      const b = route.method === 'GET' ? undefined : bodies();
      const res = await t.gateway.app.inject({
        method: route.method as 'GET',
        url,
        headers: { 'x-api-key': pick([KEYS.secopsA, KEYS.secopsA, KEYS.viewerA]), ...(b === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(b === undefined ? {} : { payload: JSON.stringify(b) }),
      });
      if (res.statusCode >= 500) failures.push(`${route.method} ${url.slice(0, 80)} ${JSON.stringify(b)?.slice(0, 80)} → ${res.statusCode} ${res.body.slice(0, 200)}`);
      else if (res.statusCode >= 400 && typeof res.json<{ error?: { code?: unknown } }>().error?.code !== 'string') failures.push(`${url}: no envelope`);
    }
    expect(failures).toEqual([]);
  }, 60_000);
});
