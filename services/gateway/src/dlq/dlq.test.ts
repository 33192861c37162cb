import { JobPriority, decodeStoredRequest } from '@cordum/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, captureSubmits, failToDlq, startTestGateway } from '../testing/fixture.js';

let t: TestGateway;
beforeEach(async () => {
  t = await startTestGateway();
});
afterEach(async () => {
  await t.close();
});

const failed = async (body: Record<string, unknown> = { prompt: 'x' }, reason = 'max_retries_exceeded') => {
  const res = await t.call('POST', '/api/v1/jobs', { key: KEYS.operatorA, body });
  const id = (res.json<{ job_id: string }>()).job_id;
  await failToDlq(t.stores, id, reason);
  return id;
};

describe('DLQ', () => {
  it('lists (and pages) the tenant\'s entries, newest first, filtered by reason', async () => {
    const a = await failed();
    const b = await failed({ prompt: 'y' }, 'no_pool_mapping');
    for (const path of ['/api/v1/dlq', '/api/v1/dlq/page']) {
      const all = (await t.call('GET', path, { key: KEYS.viewerA })).json<{ items: { job_id: string }[] }>();
      expect(all.items.map((e) => e.job_id)).toEqual([b, a]);
    }
    const page = (await t.call('GET', '/api/v1/dlq/page?limit=1', { key: KEYS.viewerA })).json<{ items: { job_id: string }[]; next_cursor: string }>();
    expect(page.items.map((e) => e.job_id)).toEqual([b]);
    const next = (await t.call('GET', `/api/v1/dlq/page?limit=1&cursor=${page.next_cursor}`, { key: KEYS.viewerA })).json<{ items: { job_id: string }[] }>();
    expect(next.items.map((e) => e.job_id)).toEqual([a]);
    const byReason = (await t.call('GET', '/api/v1/dlq?reason_code=no_pool_mapping', { key: KEYS.viewerA })).json<{ items: { job_id: string }[] }>();
    expect(byReason.items.map((e) => e.job_id)).toEqual([b]);
    const one = await t.call('GET', `/api/v1/dlq/${a}`, { key: KEYS.viewerA });
    expect(one.json()).toMatchObject({ job_id: a, reason_code: 'max_retries_exceeded', status: 'FAILED', attempts: 3, tenant: 'tenant-a' });
    expect((await t.call('GET', '/api/v1/dlq', { key: KEYS.adminB })).json()).toEqual({ items: [], next_cursor: null });
  });

  it('retry: a new job <id>-retry-<8hex> keeping meta, labels, priority, budget and input; the entry is removed', async () => {
    const id = await failed({
      input: { n: 1 },
      topic: 'job.flaky',
      priority: 'critical',
      labels: { team: 'red' },
      capability: 'x.run',
      risk_tags: ['write'],
      requires: ['gpu'],
      max_output_tokens: 7,
      deadline_ms: 5000,
      actor_type: 'service',
    });
    const submits = await captureSubmits(t.bus);
    const res = await t.call('POST', `/api/v1/dlq/${id}/retry`, { key: KEYS.operatorA });
    expect(res.statusCode).toBe(201);
    const out = res.json<{ job_id: string; trace_id: string; retry_of: string }>();
    expect(out.job_id).toMatch(new RegExp(`^${id}-retry-[0-9a-f]{8}$`));
    expect(out.retry_of).toBe(id);
    const original = decodeStoredRequest((await t.stores.jobs.get(id))?.data['request'])!;
    const job = await t.stores.jobs.get(out.job_id);
    expect(job).toMatchObject({ state: 'PENDING', topic: 'job.flaky', traceId: out.trace_id, labels: { team: 'red', retry_of_job: id, dlq_entry: id } });
    expect(out.trace_id).toBe((await t.stores.jobs.get(id))?.traceId);
    const request = decodeStoredRequest(job?.data['request'])!;
    expect(request.priority).toBe(JobPriority.CRITICAL);
    expect(request.budget).toEqual(original.budget);
    expect(request.meta).toMatchObject({ capability: 'x.run', riskTags: ['write'], requires: ['gpu'], actorType: original.meta?.actorType });
    expect(request.env).toMatchObject({ ...original.env, retry_of_job: id });
    expect(request.contextPtr).toBe(`redis://ctx:${out.job_id}`);
    expect(JSON.parse(new TextDecoder().decode((await t.stores.pointers.require(request.contextPtr)).bytes))).toEqual({ n: 1 });
    expect(await t.stores.dlq.get('tenant-a', id)).toBeUndefined();
    await t.bus.flush();
    expect(submits.map((s) => s.request.jobId)).toEqual([out.job_id]);
    expect((await t.call('POST', `/api/v1/dlq/${id}/retry`, { key: KEYS.operatorA })).statusCode).toBe(404);
  });

  it('concurrent retries of one entry make one new job; the others are 404', async () => {
    const id = await failed();
    const answers = await Promise.all(Array.from({ length: 5 }, () => t.call('POST', `/api/v1/dlq/${id}/retry`, { key: KEYS.operatorA })));
    expect(answers.map((r) => r.statusCode).sort()).toEqual([201, 404, 404, 404, 404]);
    const retries = (await t.stores.jobs.list({ tenant: 'tenant-a' })).items.filter((j) => j.data['retry_of'] === id);
    expect(retries).toHaveLength(1);
    expect(await t.stores.dlq.get('tenant-a', id)).toBeUndefined();
  });

  it('retry of an entry whose input expired is 410 input_expired (the entry stays)', async () => {
    const id = await failed();
    await t.stores.pointers.delete(`redis://ctx:${id}`);
    const res = await t.call('POST', `/api/v1/dlq/${id}/retry`, { key: KEYS.operatorA });
    expect(res.statusCode).toBe(410);
    expect(await t.stores.dlq.get('tenant-a', id)).toBeDefined();
  });

  it('delete needs admin; 204 then 404', async () => {
    const id = await failed();
    expect((await t.call('DELETE', `/api/v1/dlq/${id}`, { key: KEYS.operatorA })).statusCode).toBe(403);
    const del = await t.call('DELETE', `/api/v1/dlq/${id}`, { key: KEYS.adminA });
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    expect((await t.call('DELETE', `/api/v1/dlq/${id}`, { key: KEYS.adminA })).statusCode).toBe(404);
    expect((await t.call('GET', `/api/v1/dlq/${id}`, { key: KEYS.adminA })).statusCode).toBe(404);
  });
});
