import { hashJson, parsePoolsConfig, toError } from '@cordum/core';
import { Subjects } from '@cordum/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, startTestGateway } from '../testing/fixture.js';

// tenant-a is the platform tenant here (options.defaultTenant): its admins may write system documents.

type Doc = { scope: string; scope_id: string; revision: number; data: Record<string, unknown>; meta: Record<string, unknown>; updated_by: string };
type ErrorBody = { error: { code: string; message: string; details: Record<string, unknown> } };

let t: TestGateway;
beforeEach(async () => {
  t = await startTestGateway({ gateway: { defaultTenant: 'tenant-a' } });
});
afterEach(async () => {
  await t.close();
});

const POOLS = { topics: { 'job.default': 'default', 'job.gpu.*': ['gpu'] }, pools: { default: { requires: [] }, gpu: { requires: ['gpu'] } } };

describe('config documents', () => {
  it('writes and reads a tenant document with compare-and-set on revision (409 when stale)', async () => {
    const first = await t.call('POST', '/api/v1/config', {
      key: KEYS.adminA,
      body: { scope: 'team', scope_id: 'payments', data: { limits: { max: 3 } }, meta: { note: 'first' }, revision: 0 },
    });
    expect(first.statusCode).toBe(200);
    expect(first.json<Doc>()).toMatchObject({ scope: 'team', scope_id: 'payments', revision: 1, data: { limits: { max: 3 } }, meta: { note: 'first' }, updated_by: 'ada' });

    const read = await t.call('GET', '/api/v1/config?scope=team&scope_id=payments', { key: KEYS.viewerA });
    expect(read.statusCode).toBe(200);
    const doc = read.json<Doc>();
    expect(doc.revision).toBe(1);

    // A document read can be written back as it is (read-only fields are ignored), changed, with its revision.
    const second = await t.call('PUT', '/api/v1/config', { key: KEYS.adminA, body: { ...doc, data: { limits: { max: 5 } } } });
    expect(second.statusCode).toBe(200);
    expect(second.json<Doc>()).toMatchObject({ revision: 2, data: { limits: { max: 5 } } });

    const stale = await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'team', scope_id: 'payments', data: { limits: { max: 9 } }, revision: 1 } });
    expect(stale.statusCode).toBe(409);
    expect(stale.json<ErrorBody>().error).toMatchObject({ code: 'revision_conflict', details: { current_revision: 2, expected_revision: 1 } });
    const mustNotExist = await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'team', scope_id: 'payments', data: {}, revision: 0 } });
    expect(mustNotExist.statusCode).toBe(409);
    expect((await t.call('GET', '/api/v1/config?scope=team&scope_id=payments', { key: KEYS.viewerA })).json<Doc>().data).toEqual({ limits: { max: 5 } });

    // Without a revision the write is unconditional (upstream's POST).
    const blind = await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'team', scope_id: 'payments', data: { x: 1 } } });
    expect(blind.json<Doc>().revision).toBe(3);
  });

  it('reads need viewer and writes admin; org defaults to the tenant, team needs a scope_id, a missing document is 404', async () => {
    const asOperator = await t.call('POST', '/api/v1/config', { key: KEYS.operatorA, body: { scope: 'org', data: { a: 1 } } });
    expect(asOperator.statusCode).toBe(403);
    expect(asOperator.json<ErrorBody>().error.code).toBe('permission_denied');

    const org = await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'org', data: { a: 1 } } });
    expect(org.json<Doc>()).toMatchObject({ scope: 'org', scope_id: 'tenant-a', revision: 1 });
    expect((await t.call('GET', '/api/v1/config?scope=org', { key: KEYS.viewerA })).json<Doc>().data).toEqual({ a: 1 });

    const noId = await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'team', data: {} } });
    expect(noId.statusCode).toBe(400);
    expect(noId.json<ErrorBody>().error.message).toContain('scope_id is required for scope team');

    const missing = await t.call('GET', '/api/v1/config?scope=workflow&scope_id=nope', { key: KEYS.viewerA });
    expect(missing.statusCode).toBe(404);
    expect(missing.json<ErrorBody>().error.code).toBe('not_found');

    for (const body of [{ scope: 'galaxy', data: {} }, { scope: 'org', data: [] }, { scope: 'org', data: {}, revision: -1 }, { scope: 'org', data: {}, dataa: 1 }]) {
      const res = await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
    expect((await t.call('POST', '/api/v1/config', { key: KEYS.adminA })).statusCode).toBe(400);
  });

  it('checks system/default as the scheduler does: an invalid data.pools or data.timeouts is 400 with the path and the previous revision stays', async () => {
    const good = await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', data: { pools: POOLS } } });
    expect(good.statusCode).toBe(200);
    expect(good.json<Doc>()).toMatchObject({ scope: 'system', scope_id: 'default', revision: 1 });

    const badPools = { topics: { 'job.x': 'missing-pool' }, pools: { default: {} } };
    const rejected = await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', scope_id: 'default', data: { pools: badPools } } });
    expect(rejected.statusCode).toBe(400);
    const error = rejected.json<ErrorBody>().error;
    expect(error.code).toBe('config_invalid');
    expect(error.details['path']).toBe('data.pools.topics.job.x');
    // The very message the scheduler's parser gives (one validator, in @cordum/core).
    let schedulerMessage = '';
    try {
      parsePoolsConfig(badPools, 'data.pools');
    } catch (err) {
      schedulerMessage = toError(err).message;
    }
    expect(error.message).toBe(schedulerMessage);

    const badTimeouts = await t.call('POST', '/api/v1/config', {
      key: KEYS.adminA,
      body: { scope: 'system', data: { pools: POOLS, timeouts: { topics: { 'job.default': { timeout_seconds: -5 } } } }, revision: 1 },
    });
    expect(badTimeouts.statusCode).toBe(400);
    expect(badTimeouts.json<ErrorBody>().error.details['path']).toBe('data.timeouts.topics.job.default.timeout_seconds');

    const current = await t.call('GET', '/api/v1/config?scope=system', { key: KEYS.viewerA });
    expect(current.json<Doc>()).toMatchObject({ revision: 1, data: { pools: POOLS } });
    // Other system documents carry no routing tables and are not checked as such.
    expect((await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', scope_id: 'observability', data: { pools: 'anything' } } })).statusCode).toBe(200);
    // null / absent sections mean "the bootstrap file" to the scheduler: allowed.
    expect((await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', data: { pools: null } } })).statusCode).toBe(200);
  });

  it('system documents: every tenant reads them, only admins of the platform tenant write them, policy and pack documents are not written here', async () => {
    await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', data: { pools: POOLS, banner: 'hi' } } });
    const readByB = await t.call('GET', '/api/v1/config?scope=system&scope_id=default', { key: KEYS.operatorB });
    expect(readByB.statusCode).toBe(200);
    expect(readByB.json<Doc>().data['banner']).toBe('hi');

    const writeByB = await t.call('POST', '/api/v1/config', { key: KEYS.adminB, body: { scope: 'system', data: { banner: 'pwned' } } });
    expect(writeByB.statusCode).toBe(403);
    expect(writeByB.json<ErrorBody>().error.code).toBe('permission_denied');
    const rollbackByB = await t.call('POST', '/api/v1/config/rollback', { key: KEYS.adminB, body: { scope: 'system', to_revision: 1 } });
    expect(rollbackByB.statusCode).toBe(403);
    expect((await t.call('GET', '/api/v1/config?scope=system', { key: KEYS.viewerA })).json<Doc>().data['banner']).toBe('hi');

    await t.stores.config.put({ scope: 'system', scopeId: 'policy' }, { data: { bundles: {} }, actor: 'kernel' });
    const policyWrite = await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', scope_id: 'policy', data: { bundles: { 'secops/x': 'rules: []' } } } });
    expect(policyWrite.statusCode).toBe(403);
    expect(policyWrite.json<ErrorBody>().error.details['use']).toBe('/api/v1/policy');
    expect((await t.call('POST', '/api/v1/config/rollback', { key: KEYS.adminA, body: { scope: 'system', scope_id: 'packs', to_revision: 1 } })).statusCode).toBe(403);
    expect((await t.call('GET', '/api/v1/config?scope=system&scope_id=policy', { key: KEYS.viewerA })).statusCode).toBe(200);
    expect((await t.call('GET', '/api/v1/config?scope=system&scope_id=policy', { key: KEYS.adminB })).statusCode).toBe(403);
    expect((await t.stores.config.get({ scope: 'system', scopeId: 'policy' }))?.revision).toBe(1);
  });

  it('effective config merges system → org → team → workflow → step with version and hash, inside the caller\'s tenant', async () => {
    const put = async (key: string, scope: string, scopeId: string | undefined, data: Record<string, unknown>) => {
      const res = await t.call('POST', '/api/v1/config', { key, body: { scope, ...(scopeId === undefined ? {} : { scope_id: scopeId }), data } });
      expect(res.statusCode, `${scope}/${scopeId}`).toBe(200);
    };
    await put(KEYS.adminA, 'system', undefined, { pools: POOLS, limits: { runs: 10, jobs: 100 }, safety: { denied_topics: ['job.bad'] } });
    await put(KEYS.adminA, 'org', undefined, { limits: { runs: 5 } });
    await put(KEYS.adminA, 'team', 'payments', { team_only: true });
    await put(KEYS.adminA, 'workflow', 'wf-1', { limits: { jobs: 7 } });
    await put(KEYS.adminA, 'step', 'build', { safety: null });
    await put(KEYS.adminB, 'team', 'payments', { team_only: 'from tenant b' });

    const res = await t.call('GET', '/api/v1/config/effective?team_id=payments&workflow_id=wf-1&step_id=build', { key: KEYS.viewerA });
    expect(res.statusCode).toBe(200);
    const out = res.json<{ version: string; hash: string; data: Record<string, unknown> }>();
    const expected = { pools: POOLS, limits: { runs: 5, jobs: 7 }, team_only: true };
    expect(out.data).toEqual(expected);
    expect(out.version).toBe('system:1|org:1|team:1|workflow:1|step:1');
    expect(out.hash).toBe(hashJson(expected));

    const orgOnly = (await t.call('GET', '/api/v1/config/effective?org_id=tenant-a', { key: KEYS.viewerA })).json<{ version: string; data: Record<string, unknown> }>();
    expect(orgOnly.version).toBe('system:1|org:1|team:-|workflow:-|step:-');
    expect(orgOnly.data['team_only']).toBeUndefined();

    // Tenant B: the shared system document, its own team document, nothing of A's.
    const b = (await t.call('GET', '/api/v1/config/effective?team_id=payments', { key: KEYS.adminB })).json<{ version: string; data: Record<string, unknown> }>();
    expect(b.version).toBe('system:1|org:-|team:1|workflow:-|step:-');
    expect(b.data).toMatchObject({ team_only: 'from tenant b', limits: { runs: 10, jobs: 100 } });

    const otherOrg = await t.call('GET', '/api/v1/config/effective?org_id=tenant-b', { key: KEYS.viewerA });
    expect(otherOrg.statusCode).toBe(404);
  });

  it('history pages revisions newest first; rollback restores a revision as a new one, with compare-and-set', async () => {
    for (const n of [1, 2, 3]) {
      await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'workflow', scope_id: 'wf-9', data: { n }, meta: { n } } });
    }
    const page1 = await t.call('GET', '/api/v1/config/history?scope=workflow&scope_id=wf-9&limit=2', { key: KEYS.viewerA });
    expect(page1.statusCode).toBe(200);
    const p1 = page1.json<{ items: Doc[]; next_cursor: string | null }>();
    expect(p1.items.map((d) => d.revision)).toEqual([3, 2]);
    expect(p1.next_cursor).not.toBeNull();
    const p2 = (
      await t.call('GET', `/api/v1/config/history?scope=workflow&scope_id=wf-9&limit=2&cursor=${encodeURIComponent(p1.next_cursor ?? '')}`, { key: KEYS.viewerA })
    ).json<{ items: Doc[]; next_cursor: string | null }>();
    expect(p2.items.map((d) => [d.revision, d.data['n']])).toEqual([[1, 1]]);
    expect(p2.next_cursor).toBeNull();

    const stale = await t.call('POST', '/api/v1/config/rollback', { key: KEYS.adminA, body: { scope: 'workflow', scope_id: 'wf-9', to_revision: 1, revision: 2 } });
    expect(stale.statusCode).toBe(409);
    expect(stale.json<ErrorBody>().error.code).toBe('revision_conflict');
    const back = await t.call('POST', '/api/v1/config/rollback', { key: KEYS.adminA, body: { scope: 'workflow', scope_id: 'wf-9', to_revision: 1, revision: 3 } });
    expect(back.statusCode).toBe(200);
    expect(back.json<Doc>()).toMatchObject({ revision: 4, data: { n: 1 }, meta: { n: 1 }, updated_by: 'ada' });

    expect((await t.call('POST', '/api/v1/config/rollback', { key: KEYS.adminA, body: { scope: 'workflow', scope_id: 'wf-9', to_revision: 99 } })).statusCode).toBe(404);
    expect((await t.call('GET', '/api/v1/config/history?scope=workflow&scope_id=never', { key: KEYS.viewerA })).statusCode).toBe(404);
    expect((await t.call('GET', '/api/v1/config/history?scope=workflow&scope_id=wf-9&cursor=nope', { key: KEYS.viewerA })).statusCode).toBe(400);
    expect((await t.call('POST', '/api/v1/config/rollback', { key: KEYS.viewerA, body: { scope: 'workflow', scope_id: 'wf-9', to_revision: 1 } })).statusCode).toBe(403);

    const kinds = (await t.stores.audit.list('tenant-a', { kind: 'config.' })).items.map((e) => e.kind);
    expect(kinds).toEqual(['config.rollback', 'config.write', 'config.write', 'config.write']);
  });

  it('rings sys.config.changed after every write and rollback (not after a refused one)', async () => {
    const seen: unknown[] = [];
    await t.bus.subscribe(Subjects.configChanged, (m) => {
      seen.push(JSON.parse(new TextDecoder().decode(m.data)));
    });
    await t.bus.flush();
    await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', data: { pools: POOLS } } });
    await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', data: { pools: { topics: {} } } } });
    await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'team', scope_id: 'ops', data: {} } });
    await t.call('POST', '/api/v1/config/rollback', { key: KEYS.adminA, body: { scope: 'team', scope_id: 'ops', to_revision: 1 } });
    await t.bus.flush();
    await expect.poll(() => seen.length).toBe(3);
    expect(seen).toEqual([
      { scope: 'system', scope_id: 'default', revision: 1 },
      { scope: 'team', scope_id: 'ops', tenant: 'tenant-a', revision: 1 },
      { scope: 'team', scope_id: 'ops', tenant: 'tenant-a', revision: 2 },
    ]);
  });

  it('a rollback of system/default to a revision the scheduler would reject is refused', async () => {
    // Written straight to the store (as before this check existed), then a good revision on top.
    await t.stores.config.put({ scope: 'system', scopeId: 'default' }, { data: { pools: { topics: {} } }, actor: 'legacy' });
    await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'system', data: { pools: POOLS }, revision: 1 } });
    const res = await t.call('POST', '/api/v1/config/rollback', { key: KEYS.adminA, body: { scope: 'system', to_revision: 1 } });
    expect(res.statusCode).toBe(400);
    expect(res.json<ErrorBody>().error).toMatchObject({ code: 'config_invalid', details: { path: 'data.pools.topics' } });
    expect((await t.stores.config.get({ scope: 'system', scopeId: 'default' }))?.revision).toBe(2);
  });
});
