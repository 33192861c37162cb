import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, failToDlq, holdForApproval, startTestGateway } from './testing/fixture.js';

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
});
