import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, holdForApproval, startTestGateway } from '../testing/fixture.js';

type Entry = { id: string; at: number; kind: string; actor: string; subject: string; data: Record<string, unknown> };
type AuditPage = { items: Entry[]; next_cursor: string | null };

let t: TestGateway;
beforeEach(async () => {
  t = await startTestGateway();
});
afterEach(async () => {
  await t.close();
});

const submit = async (key: string): Promise<string> =>
  (await t.call('POST', '/api/v1/jobs', { key, body: { prompt: 'p' } })).json<{ job_id: string }>().job_id;

describe('audit', () => {
  it('lists the tenant\'s decision records newest first, paged, filtered by job', async () => {
    const [j1, j2] = [await submit(KEYS.operatorA), await submit(KEYS.operatorA)];
    // As the policy decision point records each check.
    for (const [job, decision] of [[j1, 'ALLOW'], [j2, 'DENY'], [j1, 'REQUIRE_HUMAN']] as const) {
      await t.stores.audit.append({ tenant: 'tenant-a', kind: 'policy.decision', actor: 'scheduler', subject: job, data: { decision, rule_id: `r-${decision}`, snapshot: 's1' } });
    }
    await t.stores.audit.append({ tenant: 'tenant-b', kind: 'policy.decision', actor: 'scheduler', subject: 'b-job', data: { decision: 'ALLOW' } });

    const all = (await t.call('GET', '/api/v1/audit/decisions', { key: KEYS.viewerA })).json<AuditPage>();
    expect(all.items.map((e) => [e.subject, e.data['decision']])).toEqual([[j1, 'REQUIRE_HUMAN'], [j2, 'DENY'], [j1, 'ALLOW']]);
    expect(all.items.every((e) => e.kind === 'policy.decision' && e.actor === 'scheduler')).toBe(true);

    const p1 = (await t.call('GET', '/api/v1/audit/decisions?limit=2', { key: KEYS.viewerA })).json<AuditPage>();
    expect(p1.items).toHaveLength(2);
    const p2 = (await t.call('GET', `/api/v1/audit/decisions?limit=2&cursor=${p1.next_cursor ?? ''}`, { key: KEYS.viewerA })).json<AuditPage>();
    expect(p2.items.map((e) => e.data['decision'])).toEqual(['ALLOW']);
    expect(p2.next_cursor).toBeNull();

    const forJob = (await t.call('GET', `/api/v1/audit/decisions?job_id=${j1}`, { key: KEYS.viewerA })).json<AuditPage>();
    expect(forJob.items.map((e) => e.data['decision'])).toEqual(['REQUIRE_HUMAN', 'ALLOW']);

    expect((await t.call('GET', '/api/v1/audit/decisions', { key: KEYS.adminB })).json<AuditPage>().items.map((e) => e.subject)).toEqual(['b-job']);
    expect((await t.call('GET', '/api/v1/audit/decisions?cursor=garbage', { key: KEYS.viewerA })).statusCode).toBe(400);
  });

  it('lists approvals granted and rejected through the API', async () => {
    const [ok, no] = [await submit(KEYS.operatorA), await submit(KEYS.operatorA)];
    await holdForApproval(t.stores, ok);
    await holdForApproval(t.stores, no);
    expect((await t.call('POST', `/api/v1/approvals/${ok}/approve`, { key: KEYS.adminA, body: { reason: 'fine' } })).statusCode).toBe(200);
    expect((await t.call('POST', `/api/v1/approvals/${no}/reject`, { key: KEYS.adminA, body: { reason: 'risky' } })).statusCode).toBe(200);

    const page = (await t.call('GET', '/api/v1/audit/approvals', { key: KEYS.viewerA })).json<AuditPage>();
    expect(page.items.map((e) => [e.kind, e.subject, e.actor, e.data['reason']])).toEqual([
      ['approval.rejected', no, 'ada', 'risky'],
      ['approval.granted', ok, 'ada', 'fine'],
    ]);
    // Other audit kinds (job.cancel, config.write, …) are not approvals.
    await t.call('POST', `/api/v1/jobs/${await submit(KEYS.operatorA)}/cancel`, { key: KEYS.operatorA });
    expect((await t.call('GET', '/api/v1/audit/approvals', { key: KEYS.viewerA })).json<AuditPage>().items).toHaveLength(2);
    expect((await t.call('GET', '/api/v1/audit/approvals', { key: KEYS.adminB })).json<AuditPage>().items).toEqual([]);
  });
});
