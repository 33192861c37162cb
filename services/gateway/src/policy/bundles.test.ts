import { create } from '@bufbuild/protobuf';
import { PolicyCheckRequestSchema } from '@cordum/protocol';
import { SYSTEM_TENANT } from '@cordum/store';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYS } from '../testing/fixture.js';
import { type PolicyHarness, type PolicyHarnessOptions, SECOPS_B, startPolicyHarness } from './kernel-harness.js';

// Policy Studio routes: drafts in the config document the kernel reads, publish, rollback, audit.

let h: PolicyHarness | undefined;
const start = async (options: PolicyHarnessOptions = {}): Promise<PolicyHarness> => {
  h = await startPolicyHarness(options);
  return h;
};
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const FREEZE = 'version: f1\nrules:\n  - id: freeze\n    match: {topics: ["job.reports.*"]}\n    decision: deny\n    reason: change freeze\n';
const REF = { scope: 'system', scopeId: 'policy' } as const;

type Bundle = { id: string; live: boolean; enabled: boolean; content?: string; revision: number; draft: { content?: string; enabled: boolean } | null; kernel_check?: string };

async function decide(t: PolicyHarness, topic: string): Promise<string> {
  return (await t.call('POST', '/api/v1/policy/evaluate', { key: KEYS.viewerA, body: { topic } })).json<{ decision: string }>().decision;
}

async function saveFreeze(t: PolicyHarness, body: Record<string, unknown> = {}): Promise<Bundle> {
  const res = await t.call('PUT', '/api/v1/policy/bundles/secops~freeze', { key: KEYS.secopsA, body: { content: FREEZE, message: 'freeze reports', ...body } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Bundle>();
}

describe('PUT /api/v1/policy/bundles/{id}: drafts', () => {
  it('stores a validated draft beside what the kernel reads; nothing changes until it is published', async () => {
    const t = await start();
    const before = t.runtime.snapshot().id;
    const saved = await saveFreeze(t);
    expect(saved).toMatchObject({
      id: 'secops/freeze',
      kind: 'secops',
      editable: true,
      live: false,
      enabled: false,
      revision: 1,
      kernel_check: 'ok',
      draft: { content: FREEZE, enabled: true, author: 'sec', message: 'freeze reports', updated_by: 'sec' },
    });
    const doc = await t.stores.config.get(REF);
    expect(doc?.data['bundles']).toMatchObject({ 'secops/freeze': { enabled: false, draft: { content: FREEZE } } });
    expect(doc?.meta).toMatchObject({ action: 'save', by: 'sec', tenant: 'tenant-a' });
    // The kernel loads the document and finds nothing enabled: same snapshot, same decision.
    expect(await t.runtime.reload()).toMatchObject({ outcome: 'unchanged', snapshot: before });
    expect(await decide(t, 'job.reports.daily')).toBe('ALLOW');

    const got = await t.call('GET', '/api/v1/policy/bundles/secops~freeze', { key: KEYS.secopsA });
    expect(got.json()).toMatchObject({ id: 'secops/freeze', revision: 1, draft: { content: FREEZE } });
    const byQuery = await t.call('GET', '/api/v1/policy/bundles/_?bundle_id=secops/freeze', { key: KEYS.secopsA });
    expect(byQuery.json()).toMatchObject({ id: 'secops/freeze' });
    const list = await t.call('GET', '/api/v1/policy/bundles', { key: KEYS.secopsA });
    expect(list.json()).toEqual({ revision: 1, bundles: [expect.objectContaining({ id: 'secops/freeze', live: false, draft: expect.objectContaining({ enabled: true }) as object })] });
    expect(list.json<{ bundles: Record<string, unknown>[] }>().bundles[0]).not.toHaveProperty('content');
    expect((await t.call('GET', '/api/v1/policy/bundles/secops~nope', { key: KEYS.secopsA })).statusCode).toBe(404);
  });

  it('a bundle that does not parse is 400 policy_invalid naming the rule, field and line', async () => {
    const t = await start();
    const badRule = await t.call('PUT', '/api/v1/policy/bundles/secops~bad', {
      key: KEYS.secopsA,
      body: { content: 'rules:\n  - id: r1\n    match: {topcs: ["job.*"]}\n    decision: deny\n' },
    });
    expect(badRule.statusCode).toBe(400);
    expect(badRule.json()).toMatchObject({
      error: { code: 'policy_invalid', details: { bundle: 'secops/bad', rule_id: 'r1', field: 'match.topcs', line: 3 } },
    });
    const badYaml = await t.call('PUT', '/api/v1/policy/bundles/secops~bad', { key: KEYS.secopsA, body: { content: 'rules: [\n' } });
    expect(badYaml.statusCode).toBe(400);
    expect(badYaml.json()).toMatchObject({ error: { code: 'policy_invalid', message: expect.stringContaining('YAML syntax error') as string, details: { line: 2 } } });
    expect(await t.stores.config.get(REF)).toBeUndefined();
  });

  it('refuses a rule id that clashes with the kernel\'s base bundle or another live bundle', async () => {
    const t = await start();
    const clashBase = await t.call('PUT', '/api/v1/policy/bundles/secops~dup', {
      key: KEYS.secopsA,
      body: { content: 'rules:\n  - id: no-shell\n    decision: allow\n' },
    });
    expect(clashBase.statusCode).toBe(400);
    expect(clashBase.json()).toMatchObject({ error: { code: 'policy_invalid', message: expect.stringMatching(/kernel would not load.*duplicate rule id/) as string } });

    await t.stores.config.put(REF, { data: { bundles: { 'tracker/safety': { content: 'rules:\n  - id: tracker-write\n    decision: deny\n', version: '0.1.0' } } } });
    const clashPack = await t.call('PUT', '/api/v1/policy/bundles/secops~dup', {
      key: KEYS.secopsA,
      body: { content: 'rules:\n  - id: tracker-write\n    decision: allow\n' },
    });
    expect(clashPack.statusCode).toBe(400);
    expect(clashPack.json()).toMatchObject({ error: { code: 'policy_invalid', details: { rule_id: 'tracker-write', field: 'id' } } });
    // Disabled, it cannot clash with anything.
    const disabled = await t.call('PUT', '/api/v1/policy/bundles/secops~dup', {
      key: KEYS.secopsA,
      body: { content: 'rules:\n  - id: tracker-write\n    decision: allow\n', enabled: false },
    });
    expect(disabled.statusCode).toBe(200);
  });

  it('compare-and-set: a stale expected_revision is 409 revision_conflict and writes nothing', async () => {
    const t = await start();
    await saveFreeze(t, { expected_revision: 0 });
    const stale = await t.call('PUT', '/api/v1/policy/bundles/secops~freeze', { key: KEYS.secopsA, body: { content: FREEZE, expected_revision: 0 } });
    expect(stale.statusCode).toBe(409);
    expect(stale.json()).toMatchObject({ error: { code: 'revision_conflict', details: { current_revision: 1, expected_revision: 0 } } });
    const ok = await saveFreeze(t, { expected_revision: 1, message: 'second' });
    expect(ok.revision).toBe(2);
    const publishStale = await t.call('POST', '/api/v1/policy/publish', { key: KEYS.secopsA, body: { expected_revision: 1 } });
    expect(publishStale.statusCode).toBe(409);
    expect((await t.stores.config.get(REF))?.revision).toBe(2);
  });

  it('only secops of the platform tenant reads and writes bundles, and only secops/<name> ones', async () => {
    const t = await start();
    for (const key of [KEYS.viewerA, KEYS.operatorA, KEYS.adminA]) {
      const put = await t.call('PUT', '/api/v1/policy/bundles/secops~freeze', { key, body: { content: FREEZE } });
      expect(put.statusCode).toBe(403);
      expect(put.json()).toMatchObject({ error: { code: 'permission_denied', details: { required_role: 'secops' } } });
      expect((await t.call('POST', '/api/v1/policy/publish', { key, body: {} })).statusCode).toBe(403);
      expect((await t.call('POST', '/api/v1/policy/rollback', { key, body: { revision: 1 } })).statusCode).toBe(403);
      expect((await t.call('GET', '/api/v1/policy/bundles', { key })).statusCode).toBe(403);
      expect((await t.call('GET', '/api/v1/policy/audit', { key })).statusCode).toBe(403);
    }
    // Bundles apply to every tenant: a secops key of another tenant than the platform one manages nothing.
    for (const [method, url, body] of [
      ['PUT', '/api/v1/policy/bundles/secops~freeze', { content: FREEZE }],
      ['GET', '/api/v1/policy/bundles', undefined],
      ['GET', '/api/v1/policy/bundles/secops~freeze', undefined],
      ['GET', '/api/v1/policy/bundles/snapshots', undefined],
      ['GET', '/api/v1/policy/rules', undefined],
      ['GET', '/api/v1/policy/audit', undefined],
      ['POST', '/api/v1/policy/publish', {}],
      ['POST', '/api/v1/policy/rollback', { revision: 1 }],
      ['POST', '/api/v1/policy/bundles/secops~freeze/simulate', { request: { topic: 'job.a' } }],
    ] as const) {
      const res = await t.call(method, url, { key: SECOPS_B, body });
      expect(res.statusCode, url).toBe(403);
      expect(res.json(), url).toMatchObject({ error: { code: 'permission_denied', details: { platform_tenant: 'tenant-a' } } });
    }
    expect((await t.call('POST', '/api/v1/policy/explain', { key: SECOPS_B, body: { topic: 'job.a' } })).json()).toMatchObject({ tenant: 'tenant-b' });
    const pack = await t.call('PUT', '/api/v1/policy/bundles/tracker~safety', { key: KEYS.secopsA, body: { content: FREEZE } });
    expect(pack.statusCode).toBe(403);
    expect(pack.json()).toMatchObject({ error: { code: 'permission_denied', details: { bundle_id: 'tracker/safety', pack_id: 'tracker' } } });
    const badId = await t.call('PUT', '/api/v1/policy/bundles/secops~a~b', { key: KEYS.secopsA, body: { content: FREEZE } });
    expect(badId.statusCode).toBe(400);
    expect(await t.stores.config.get(REF)).toBeUndefined();
  });
});

describe('a broken entry written another way (config API, a bad pack)', () => {
  it('is shown with its problem, does not block drafts, and blocks publishing (the kernel could not load it)', async () => {
    const t = await start();
    await t.stores.config.put(REF, { data: { bundles: { 'tracker/broken': 5, 'tracker/bad-yaml': 'rules: [\n' } } });
    const list = await t.call('GET', '/api/v1/policy/bundles', { key: KEYS.secopsA });
    expect(list.json()).toMatchObject({
      revision: 1,
      bundles: [
        { id: 'tracker/bad-yaml', kind: 'pack', pack_id: 'tracker', live: true, problem: null },
        { id: 'tracker/broken', live: false, problem: expect.stringContaining('neither') as string },
      ],
    });
    await saveFreeze(t);
    const res = await t.call('POST', '/api/v1/policy/publish', { key: KEYS.secopsA, body: {} });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'policy_invalid', details: { bundle: 'tracker/bad-yaml' } } });
    const rules = await t.call('GET', '/api/v1/policy/rules?bundle_id=tracker/bad-yaml', { key: KEYS.secopsA });
    expect(rules.statusCode).toBe(409);
  });

  it('a request without a body is 400 naming the missing field, never a 500', async () => {
    const t = await start();
    for (const [method, url, field] of [
      ['PUT', '/api/v1/policy/bundles/secops~x', 'content'],
      ['POST', '/api/v1/policy/evaluate', 'topic'],
      ['POST', '/api/v1/policy/bundles/secops~x/simulate', 'request'],
    ] as const) {
      const res = await t.gateway.app.inject({ method, url, headers: { 'x-api-key': KEYS.secopsA } });
      expect(res.statusCode, url).toBe(400);
      expect(res.json(), url).toMatchObject({ error: { code: 'invalid_argument', message: `body: missing required field "${field}"` } });
    }
  });
});

describe('simulate a draft', () => {
  it('POST bundles/{id}/simulate evaluates the stored draft (or content sent) over the live policy', async () => {
    const t = await start();
    await saveFreeze(t);
    const res = await t.call('POST', '/api/v1/policy/bundles/secops~freeze/simulate', { key: KEYS.secopsA, body: { request: { topic: 'job.reports.daily' } } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ decision: 'DENY', rule_id: 'freeze', drafts: ['secops/freeze'], tenant: 'tenant-a' });
    const sent = await t.call('POST', '/api/v1/policy/bundles/secops~freeze/simulate', {
      key: KEYS.secopsA,
      body: { request: { topic: 'job.reports.daily' }, content: 'rules: []\n' },
    });
    expect(sent.json()).toMatchObject({ decision: 'ALLOW' });
    expect(await decide(t, 'job.reports.daily')).toBe('ALLOW');
    expect((await t.call('POST', '/api/v1/policy/bundles/secops~other/simulate', { key: KEYS.secopsA, body: { request: { topic: 'job.a' } } })).statusCode).toBe(404);
  });
});

describe('publish and rollback', () => {
  it('publish makes drafts live in the document the kernel reads; the kernel picks them up; audited', async () => {
    const t = await start();
    const before = t.runtime.snapshot().id;
    await saveFreeze(t);
    const res = await t.call('POST', '/api/v1/policy/publish', { key: KEYS.secopsA, body: { message: 'go', note: 'CHG-1' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      revision: 2,
      previous_revision: 1,
      bundle_ids: ['secops/freeze'],
      rolled_back_to: null,
      snapshot_before: before,
      snapshot_after: before,
      kernel: 'pending',
    });
    expect((await t.stores.config.get(REF))?.data['bundles']).toEqual({
      'secops/freeze': expect.objectContaining({ content: FREEZE, enabled: true, published_by: 'sec', message: 'go' }) as object,
    });
    // The remote kernel reloads on its poll; here the poll is run by hand.
    expect(await t.runtime.reload({ force: false })).toMatchObject({ outcome: 'loaded' });
    expect(await decide(t, 'job.reports.daily')).toBe('DENY');
    const bundle = await t.call('GET', '/api/v1/policy/bundles/secops~freeze', { key: KEYS.secopsA });
    expect(bundle.json()).toMatchObject({ live: true, enabled: true, content: FREEZE, draft: null, published_by: 'sec' });

    const nothing = await t.call('POST', '/api/v1/policy/publish', { key: KEYS.secopsA, body: {} });
    expect(nothing.statusCode).toBe(409);
    const unknown = await t.call('POST', '/api/v1/policy/publish', { key: KEYS.secopsA, body: { bundle_ids: ['secops/nope'] } });
    expect(unknown.statusCode).toBe(404);

    const audit = await t.call('GET', '/api/v1/policy/audit', { key: KEYS.secopsA });
    expect(audit.json<{ items: unknown[] }>().items).toEqual([
      expect.objectContaining({ action: 'policy.bundle.publish', actor: 'sec', tenant: 'tenant-a', subject: 'secops/freeze', data: expect.objectContaining({ revision: 2, note: 'CHG-1' }) as object }),
      expect.objectContaining({ action: 'policy.bundle.save', actor: 'sec', tenant: 'tenant-a', subject: 'secops/freeze' }),
    ]);
    // The caller's tenant log has its copy; another tenant's has nothing.
    expect((await t.stores.audit.list('tenant-a', { kind: 'policy.bundle.' })).items).toHaveLength(2);
    expect((await t.stores.audit.list('tenant-b', { kind: 'policy.bundle.' })).items).toHaveLength(0);
  });

  it('in-process kernel (cordum dev): publish reloads at once and reports the new snapshot', async () => {
    const t = await start({ port: 'embedded' });
    const before = t.runtime.snapshot().id;
    await saveFreeze(t);
    const res = await t.call('POST', '/api/v1/policy/publish', { key: KEYS.secopsA, body: { bundle_ids: ['secops/freeze'] } });
    const out = res.json<{ snapshot_before: string; snapshot_after: string; kernel: string }>();
    expect(out).toMatchObject({ snapshot_before: before, kernel: 'reloaded' });
    expect(out.snapshot_after).toMatch(/^v1:/);
    expect(out.snapshot_after).not.toBe(before);
    expect(await decide(t, 'job.reports.daily')).toBe('DENY');
    const snapshots = await t.call('GET', '/api/v1/policy/snapshots', { key: KEYS.viewerA });
    expect(snapshots.json()).toEqual({ current: out.snapshot_after, snapshots: [out.snapshot_after, before] });
  });

  it('rollback returns the live bundles to an earlier revision, keeps drafts, and is validated and audited', async () => {
    const t = await start({ port: 'embedded' });
    await saveFreeze(t);
    await t.call('POST', '/api/v1/policy/publish', { key: KEYS.secopsA, body: {} });
    expect(await decide(t, 'job.reports.daily')).toBe('DENY');
    // A new draft in progress survives the rollback.
    await saveFreeze(t, { content: FREEZE.replace('job.reports.*', 'job.invoices.*'), message: 'wip' });

    const res = await t.call('POST', '/api/v1/policy/rollback', { key: KEYS.secopsA, body: { revision: 1, note: 'undo' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ revision: 4, previous_revision: 3, rolled_back_to: 1, bundle_ids: ['secops/freeze'], kernel: 'reloaded' });
    expect(await decide(t, 'job.reports.daily')).toBe('ALLOW');
    const bundle = (await t.call('GET', '/api/v1/policy/bundles/secops~freeze', { key: KEYS.secopsA })).json<Bundle>();
    expect(bundle).toMatchObject({ live: false, draft: { content: expect.stringContaining('job.invoices.*') as string } });

    // The same again changes nothing and writes nothing; snapshot_id is the revision's alias.
    const again = await t.call('POST', '/api/v1/policy/rollback', { key: KEYS.secopsA, body: { snapshot_id: '1' } });
    expect(again.json()).toMatchObject({ revision: 4, bundle_ids: [], kernel: 'unchanged' });
    expect((await t.call('POST', '/api/v1/policy/rollback', { key: KEYS.secopsA, body: { revision: 99 } })).statusCode).toBe(404);
    expect((await t.call('POST', '/api/v1/policy/rollback', { key: KEYS.secopsA, body: {} })).statusCode).toBe(400);

    const revisions = await t.call('GET', '/api/v1/policy/bundles/snapshots', { key: KEYS.secopsA });
    expect(revisions.json<{ items: { revision: number; action: string; bundles: { id: string; live: boolean }[] }[] }>().items.map((r) => [r.revision, r.action, r.bundles[0]?.live])).toEqual([
      [4, 'rollback', false],
      [3, 'save', true],
      [2, 'publish', true],
      [1, 'save', false],
    ]);
    const audit = await t.call('GET', '/api/v1/policy/audit?bundle_id=secops/freeze&limit=1', { key: KEYS.secopsA });
    expect(audit.json()).toMatchObject({ items: [{ action: 'policy.bundle.rollback', data: { rolled_back_to: 1, note: 'undo' } }], next_cursor: expect.any(String) as string });
  });

  it('publish needs the kernel to check the change: a kernel that is down is 503 and nothing is written', async () => {
    const t = await start();
    await saveFreeze(t);
    await t.stopKernel();
    const res = await t.call('POST', '/api/v1/policy/publish', { key: KEYS.secopsA, body: {} });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ error: { code: 'safety_unavailable' } });
    expect(res.headers['retry-after']).toBeDefined();
    expect((await t.stores.config.get(REF))?.revision).toBe(1);
    // A draft can still be saved (checked locally; the kernel check says it could not run).
    const draft = await t.call('PUT', '/api/v1/policy/bundles/secops~other', { key: KEYS.secopsA, body: { content: 'rules: []\n' } });
    expect(draft.statusCode).toBe(200);
    expect(draft.json()).toMatchObject({ kernel_check: 'unavailable' });
  });
});

describe('GET /api/v1/policy/rules', () => {
  it('lists the rules in force in evaluation order, with details of stored bundles; or one bundle\'s rules', async () => {
    const t = await start({ port: 'embedded' });
    await saveFreeze(t);
    await t.call('POST', '/api/v1/policy/publish', { key: KEYS.secopsA, body: {} });
    const res = await t.call('GET', '/api/v1/policy/rules', { key: KEYS.secopsA });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ snapshot: string; rules: { rule_id: string; bundle_id: string; index: number; decision: string; detail: string; match: unknown; source: unknown }[] }>();
    expect(body.snapshot).toBe(t.runtime.snapshot().id);
    expect(body.rules.map((r) => [r.rule_id, r.bundle_id, r.index, r.decision, r.detail])).toEqual([
      ['no-shell', 'base', 0, 'DENY', 'summary'],
      ['writes-need-human', 'base', 1, 'REQUIRE_APPROVAL', 'summary'],
      ['freeze', 'secops/freeze', 2, 'DENY', 'stored'],
    ]);
    expect(body.rules[2]).toMatchObject({
      reason: 'change freeze',
      match: { topics: ['job.reports.*'] },
      source: { bundle_id: 'secops/freeze', pack_id: '', overlay_name: 'freeze', version: 'f1' },
    });

    await saveFreeze(t, { content: 'rules:\n  - id: wip\n    match: {risk_tags: [pii]}\n    decision: require_approval\n' });
    const draft = await t.call('GET', '/api/v1/policy/rules?bundle_id=secops/freeze&draft=true', { key: KEYS.secopsA });
    expect(draft.json()).toMatchObject({ bundle_id: 'secops/freeze', rules: [{ rule_id: 'wip', decision: 'REQUIRE_APPROVAL', match: { risk_tags: ['pii'] }, index: 0 }] });
    const live = await t.call('GET', '/api/v1/policy/rules?bundle_id=secops/freeze', { key: KEYS.secopsA });
    expect(live.json()).toMatchObject({ rules: [{ rule_id: 'freeze' }] });
  });
});

describe('GET /api/v1/policy/audit', () => {
  it('lists policy changes only, never the kernel\'s per-job decision records of any tenant', async () => {
    const t = await start();
    await saveFreeze(t);
    // Decision records as the kernel writes them on Check, in two tenants.
    await t.pdp.check(create(PolicyCheckRequestSchema, { jobId: 'j-a', topic: 'job.a', tenant: 'tenant-a' }));
    await t.pdp.check(create(PolicyCheckRequestSchema, { jobId: 'j-b', topic: 'job.a', tenant: 'tenant-b' }));
    expect((await t.stores.audit.list('tenant-b', { kind: 'policy.decision' })).items).toHaveLength(1);
    const res = await t.call('GET', '/api/v1/policy/audit', { key: KEYS.secopsA });
    expect(res.json<{ items: { action: string }[] }>().items.map((i) => i.action)).toEqual(['policy.bundle.save']);
    expect((await t.stores.audit.list(SYSTEM_TENANT, {})).items.every((e) => e.kind.startsWith('policy.bundle.'))).toBe(true);
  });
});
