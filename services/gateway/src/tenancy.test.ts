import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, failToDlq, holdForApproval, startTestGateway } from './testing/fixture.js';
import { GATED, engineTick } from './testing/workflow-engine.js';

let t: TestGateway;
beforeEach(async () => {
  t = await startTestGateway();
});
afterEach(async () => {
  await t.close();
});

describe('tenant isolation', () => {
  it('a key of tenant A gets 404 (never 403) for every tenant-B object, and B\'s objects stay as they were', async () => {
    const submitB = async () =>
      ((await t.call('POST', '/api/v1/jobs', { key: KEYS.adminB, body: { prompt: 'b', labels: { owner: 'b' } } })).json<{ job_id: string; trace_id: string }>());
    const plain = await submitB();
    const heldJob = await submitB();
    await holdForApproval(t.stores, heldJob.job_id, { remediations: [{ id: 'r', replacement_topic: 'job.r' }] });
    const dead = await submitB();
    await failToDlq(t.stores, dead.job_id);

    const probes: [string, 'GET' | 'POST' | 'DELETE', string, unknown?][] = [
      ['job', 'GET', `/api/v1/jobs/${plain.job_id}`],
      ['decisions', 'GET', `/api/v1/jobs/${plain.job_id}/decisions`],
      ['cancel', 'POST', `/api/v1/jobs/${plain.job_id}/cancel`, {}],
      ['remediate', 'POST', `/api/v1/jobs/${heldJob.job_id}/remediate`, {}],
      ['trace', 'GET', `/api/v1/traces/${plain.trace_id}`],
      ['approve', 'POST', `/api/v1/approvals/${heldJob.job_id}/approve`, {}],
      ['reject', 'POST', `/api/v1/approvals/${heldJob.job_id}/reject`, {}],
      ['dlq entry', 'GET', `/api/v1/dlq/${dead.job_id}`],
      ['dlq retry', 'POST', `/api/v1/dlq/${dead.job_id}/retry`],
      ['dlq delete', 'DELETE', `/api/v1/dlq/${dead.job_id}`],
    ];
    for (const [what, method, url, body] of probes) {
      const res = await t.call(method, url, { key: KEYS.adminA, ...(body === undefined ? {} : { body }) });
      expect(res.statusCode, what).toBe(404);
      expect((res.json<{ error: { code: string } }>()).error.code, what).toBe('not_found');
      expect(res.body, what).not.toContain('tenant-b');
    }
    // Lists never show B's objects.
    for (const url of ['/api/v1/jobs', '/api/v1/approvals', '/api/v1/dlq', '/api/v1/dlq/page']) {
      const res = (await t.call('GET', url, { key: KEYS.adminA })).json<{ items: unknown[] }>();
      expect(res.items, url).toEqual([]);
    }
    // Nothing of B's changed.
    expect((await t.stores.jobs.get(plain.job_id))?.state).toBe('PENDING');
    expect((await t.stores.jobs.get(heldJob.job_id))?.state).toBe('APPROVAL_REQUIRED');
    expect(await t.stores.dlq.get('tenant-b', dead.job_id)).toBeDefined();
    // And B sees its own.
    expect((await t.call('GET', `/api/v1/jobs/${plain.job_id}`, { key: KEYS.adminB })).statusCode).toBe(200);
    expect(((await t.call('GET', '/api/v1/jobs', { key: KEYS.adminB })).json<{ items: unknown[] }>()).items).toHaveLength(3);
  });

  it('store-backed kinds (config, schemas, locks, artifacts, pointers, audit): tenant A gets 404 for every tenant-B object, B\'s stay unchanged', async () => {
    const asB = async (method: 'POST' | 'PUT', url: string, body: unknown) => {
      const res = await t.call(method, url, { key: KEYS.adminB, body });
      expect(res.statusCode, url).toBeLessThan(300);
      return res.json<Record<string, unknown>>();
    };
    await asB('POST', '/api/v1/config', { scope: 'org', data: { owner: 'b' } });
    await asB('POST', '/api/v1/config', { scope: 'team', scope_id: 'b-team', data: { owner: 'b' } });
    await asB('POST', '/api/v1/schemas', { id: 'b-pack/Secret', schema: { type: 'object' } });
    await asB('POST', '/api/v1/locks/acquire', { resource: 'b-res', owner: 'b-owner', mode: 'exclusive', ttl_ms: 600_000 });
    const art = (await asB('POST', '/api/v1/artifacts', { content: 'tenant b evidence' }))['artifact_ptr'] as string;
    const job = (await asB('POST', '/api/v1/jobs', { prompt: 'tenant b input' }))['job_id'] as string;
    await holdForApproval(t.stores, job);
    await asB('POST', `/api/v1/approvals/${job}/reject`, { reason: 'b reason' });
    await t.stores.audit.append({ tenant: 'tenant-b', kind: 'policy.decision', actor: 'scheduler', subject: job, data: { decision: 'DENY' } });
    const enc = encodeURIComponent;

    const probes: [string, 'GET' | 'POST' | 'DELETE', string, unknown?][] = [
      ['org config', 'GET', '/api/v1/config?scope=org&scope_id=tenant-b'],
      ['team config', 'GET', '/api/v1/config?scope=team&scope_id=b-team'],
      ['config history', 'GET', '/api/v1/config/history?scope=team&scope_id=b-team'],
      ['config rollback', 'POST', '/api/v1/config/rollback', { scope: 'team', scope_id: 'b-team', to_revision: 1 }],
      ['effective config', 'GET', '/api/v1/config/effective?org_id=tenant-b'],
      ['schema', 'GET', `/api/v1/schemas/${enc('b-pack/Secret')}`],
      ['schema delete', 'DELETE', `/api/v1/schemas/${enc('b-pack/Secret')}`],
      ['lock', 'GET', '/api/v1/locks?resource=b-res'],
      ['lock release', 'POST', '/api/v1/locks/release', { resource: 'b-res', owner: 'b-owner' }],
      ['lock renew', 'POST', '/api/v1/locks/renew', { resource: 'b-res', owner: 'b-owner' }],
      ['artifact', 'GET', `/api/v1/artifacts/${enc(art)}`],
      ['artifact pointer', 'GET', `/api/v1/pointers?ptr=${enc(art)}`],
      ['context pointer', 'GET', `/api/v1/pointers?ptr=${enc(`redis://ctx:${job}`)}`],
      ['memory key', 'GET', `/api/v1/memory?key=${enc(`ctx:${job}`)}`],
    ];
    for (const [what, method, url, body] of probes) {
      const res = await t.call(method, url, { key: KEYS.adminA, ...(body === undefined ? {} : { body }) });
      expect(res.statusCode, what).toBe(404);
      expect(['not_found', 'lock_not_held'], what).toContain(res.json<{ error: { code: string } }>().error.code);
      // Nothing of B's: its tenant name (unless the caller typed it), data, schema or owners.
      if (!url.includes('tenant-b')) expect(res.body, what).not.toContain('tenant-b');
      for (const secret of ['tenant b', '"owner":"b"', '"type":"object"', '"owners"']) expect(res.body, what).not.toContain(secret);
    }
    // Lists never show B's objects.
    expect((await t.call('GET', '/api/v1/schemas', { key: KEYS.adminA })).json<{ items: unknown[] }>().items).toEqual([]);
    for (const url of ['/api/v1/audit/decisions', '/api/v1/audit/approvals']) {
      expect((await t.call('GET', url, { key: KEYS.adminA })).json<{ items: unknown[] }>().items, url).toEqual([]);
    }
    const effectiveA = (await t.call('GET', '/api/v1/config/effective?team_id=b-team', { key: KEYS.adminA })).json<{ data: unknown }>();
    expect(effectiveA.data).toEqual({});
    // A's writes under the same names land in A's own namespace.
    expect((await t.call('POST', '/api/v1/config', { key: KEYS.adminA, body: { scope: 'team', scope_id: 'b-team', data: { owner: 'a' }, revision: 0 } })).statusCode).toBe(200);
    expect((await t.call('POST', '/api/v1/locks/acquire', { key: KEYS.adminA, body: { resource: 'b-res', owner: 'a-owner' } })).statusCode).toBe(200);
    expect((await t.call('POST', '/api/v1/schemas', { key: KEYS.adminA, body: { id: 'b-pack/Secret', schema: { type: 'string' } } })).statusCode).toBe(201);

    // Nothing of B's changed.
    expect((await t.stores.config.get({ scope: 'team', tenant: 'tenant-b', scopeId: 'b-team' }))).toMatchObject({ revision: 1, data: { owner: 'b' } });
    expect((await t.stores.config.get({ scope: 'org', tenant: 'tenant-b', scopeId: 'tenant-b' }))).toMatchObject({ revision: 1, data: { owner: 'b' } });
    expect(await t.stores.schemas.get('tenant-b', 'b-pack/Secret')).toMatchObject({ version: 1, schema: { type: 'object' } });
    const lock = await t.stores.locks.get('tenant-b', 'b-res');
    expect(lock?.mode).toBe('exclusive');
    expect(Object.keys(lock?.owners ?? {})).toEqual(['b-owner']);
    expect(lock?.owners['b-owner']?.count).toBe(1);
    expect((await t.stores.artifacts.get('tenant-b', art))?.meta.sizeBytes).toBe('tenant b evidence'.length);
    expect((await t.stores.pointers.get(`redis://ctx:${job}`))?.tenant).toBe('tenant-b');
    // And B sees its own.
    expect((await t.call('GET', '/api/v1/config?scope=team&scope_id=b-team', { key: KEYS.adminB })).json<{ data: unknown }>().data).toEqual({ owner: 'b' });
    expect((await t.call('GET', '/api/v1/audit/approvals', { key: KEYS.adminB })).json<{ items: unknown[] }>().items).toHaveLength(1);
    expect((await t.call('GET', `/api/v1/pointers?ptr=${enc(art)}`, { key: KEYS.adminB })).statusCode).toBe(200);
  });

  it('workflows and runs: tenant A gets 404 for every tenant-B workflow and run, B\'s stay unchanged', async () => {
    expect((await t.call('POST', '/api/v1/workflows', { key: KEYS.adminB, body: GATED })).statusCode).toBe(201);
    const start = await t.call('POST', '/api/v1/workflows/gated/runs', { key: KEYS.adminB, body: { service: 'b-secret' }, headers: { 'idempotency-key': 'b-key' } });
    expect(start.statusCode).toBe(201);
    const run = start.json<{ run_id: string }>().run_id;
    await engineTick(t.stores, 'tenant-b', run);
    const before = await t.stores.runs.get('tenant-b', run);

    const probes: [string, 'GET' | 'POST' | 'DELETE', string, unknown?][] = [
      ['workflow', 'GET', '/api/v1/workflows/gated'],
      ['workflow revision', 'GET', '/api/v1/workflows/gated?revision=1'],
      ['workflow delete', 'DELETE', '/api/v1/workflows/gated'],
      ['start run', 'POST', '/api/v1/workflows/gated/runs', { service: 'a' }],
      ['run', 'GET', `/api/v1/workflow-runs/${run}`],
      ['run delete', 'DELETE', `/api/v1/workflow-runs/${run}`],
      ['timeline', 'GET', `/api/v1/workflow-runs/${run}/timeline`],
      ['cancel', 'POST', `/api/v1/workflow-runs/${run}/cancel`, {}],
      ['cancel (upstream path)', 'POST', `/api/v1/workflows/gated/runs/${run}/cancel`, {}],
      ['rerun', 'POST', `/api/v1/workflow-runs/${run}/rerun`, {}],
      ['approve step', 'POST', `/api/v1/workflow-runs/${run}/steps/gate/approve`, {}],
      ['reject step', 'POST', `/api/v1/workflow-runs/${run}/steps/gate/reject`, {}],
      ['approve step (upstream path)', 'POST', `/api/v1/workflows/gated/runs/${run}/steps/gate/approve`, { approved: true }],
    ];
    for (const [what, method, url, body] of probes) {
      const res = await t.call(method, url, { key: KEYS.adminA, ...(body === undefined ? {} : { body }) });
      expect(res.statusCode, what).toBe(404);
      expect(res.json<{ error: { code: string } }>().error.code, what).toBe('not_found');
      expect(res.body, what).not.toContain('tenant-b');
      expect(res.body, what).not.toContain('b-secret');
    }
    // Lists never show B's workflows, runs or waiting steps; B's idempotency key is not A's.
    for (const url of ['/api/v1/workflows', '/api/v1/workflow-runs', '/api/v1/workflows/gated/runs', '/api/v1/approvals?kind=workflow_step', '/api/v1/approvals']) {
      expect((await t.call('GET', url, { key: KEYS.adminA })).json<{ items: unknown[] }>().items, url).toEqual([]);
    }
    expect((await t.call('POST', '/api/v1/workflows', { key: KEYS.adminA, body: GATED })).statusCode).toBe(201);
    const mine = await t.call('POST', '/api/v1/workflows/gated/runs', { key: KEYS.adminA, body: { service: 'a' }, headers: { 'idempotency-key': 'b-key' } });
    expect(mine.statusCode).toBe(201);
    expect(mine.json<{ run_id: string }>().run_id).not.toBe(run);
    expect((await t.call('POST', `/api/v1/workflow-runs/${run}/steps/gate/approve`, { key: KEYS.adminA, body: {} })).statusCode).toBe(404);

    // Nothing of B's changed.
    expect(await t.stores.runs.get('tenant-b', run)).toEqual(before);
    expect(await t.stores.runs.inbox('tenant-b', run)).toEqual([]);
    expect((await t.stores.workflows.get('tenant-b', 'gated'))?.version).toBe(1);
    // And B sees its own.
    expect((await t.call('GET', `/api/v1/workflow-runs/${run}`, { key: KEYS.adminB })).json<{ status: string }>().status).toBe('waiting');
    expect((await t.call('GET', '/api/v1/approvals?kind=workflow_step', { key: KEYS.adminB })).json<{ items: unknown[] }>().items).toHaveLength(1);
  });
});
