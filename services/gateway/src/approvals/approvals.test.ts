import { Subjects, decodePacket } from '@cordum/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, captureSubmits, holdForApproval, startTestGateway } from '../testing/fixture.js';

let t: TestGateway;
beforeEach(async () => {
  t = await startTestGateway();
});
afterEach(async () => {
  await t.close();
});

const held = async (input: unknown = { size: 'big' }) => {
  const res = await t.call('POST', '/api/v1/jobs', { key: KEYS.operatorA, body: { input, labels: { size: 'big' } } });
  const id = (res.json<{ job_id: string }>()).job_id;
  const job = await holdForApproval(t.stores, id);
  return { id, hash: job.data['job_hash'] as string };
};

describe('approvals', () => {
  it('lists the jobs held for approval in the caller\'s tenant', async () => {
    const { id, hash } = await held();
    const res = await t.call('GET', '/api/v1/approvals', { key: KEYS.viewerA });
    expect(res.json()).toMatchObject({
      items: [
        {
          job: { id, state: 'APPROVAL_REQUIRED', wait_reason: 'awaiting_approval' },
          policy_snapshot: 'snap-1',
          policy_rule_id: 'needs-human',
          policy_reason: 'big jobs need a human',
          job_hash: hash,
          approval_required: true,
          approval_ref: id,
        },
      ],
      next_cursor: null,
    });
    expect((await t.call('GET', '/api/v1/approvals', { key: KEYS.adminB })).json()).toEqual({ items: [], next_cursor: null });
  });

  it('approve: a compare-and-set to PENDING with the approval record, due now, audited, doorbell rung again', async () => {
    const { id, hash } = await held();
    const submits = await captureSubmits(t.bus);
    const res = await t.call('POST', `/api/v1/approvals/${id}/approve`, {
      key: KEYS.adminA,
      body: { reason: 'looks fine', expected_job_hash: hash, expected_policy_snapshot: 'snap-1' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ job_id: id, state: 'PENDING', approval: { by: 'ada', role: 'admin', reason: 'looks fine', job_hash: hash, policy_snapshot: 'snap-1' } });
    const job = await t.stores.jobs.get(id);
    expect(job).toMatchObject({ state: 'PENDING', waitReason: null, data: { approval: { by: 'ada', job_hash: hash, policy_snapshot: 'snap-1' } } });
    expect(job?.dueAt).toBeLessThanOrEqual(await t.stores.jobs.now());
    const audit = await t.stores.audit.list('tenant-a', { kind: 'approval.' });
    expect(audit.items[0]).toMatchObject({ kind: 'approval.granted', actor: 'ada', subject: id, data: { rule_id: 'needs-human' } });
    await t.bus.flush();
    expect(submits).toHaveLength(1);
    expect(submits[0]).toMatchObject({ stored: true, request: { jobId: id } });
    expect(submits[0]?.msgId).toMatch(new RegExp(`^jobreq:${id}:approved:`));
    // A second approval finds the job no longer held.
    const again = await t.call('POST', `/api/v1/approvals/${id}/approve`, { key: KEYS.adminA });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'state_conflict', details: { current_state: 'PENDING' } } });
  });

  it('409 when the job hash or the policy snapshot differ from what the approver saw', async () => {
    const { id, hash } = await held();
    const wrongHash = await t.call('POST', `/api/v1/approvals/${id}/approve`, { key: KEYS.adminA, body: { expected_job_hash: 'f'.repeat(64) } });
    expect(wrongHash.statusCode).toBe(409);
    expect(wrongHash.json()).toMatchObject({ error: { code: 'conflict', details: { expected_job_hash: { current: hash } } } });
    const wrongSnapshot = await t.call('POST', `/api/v1/approvals/${id}/approve`, { key: KEYS.adminA, body: { expected_policy_snapshot: 'snap-0' } });
    expect(wrongSnapshot.statusCode).toBe(409);
    expect(wrongSnapshot.json()).toMatchObject({ error: { details: { expected_policy_snapshot: { expected: 'snap-0', current: 'snap-1' } } } });
    expect((await t.stores.jobs.get(id))?.state).toBe('APPROVAL_REQUIRED');
  });

  it('409 when the job changed since policy held it (the hash it was held with no longer matches)', async () => {
    const { id } = await held();
    const job = await t.stores.jobs.get(id);
    // Someone rewrote the stored request (e.g. a label) after the decision: the held hash is stale.
    await t.stores.jobs.transition(id, { from: 'APPROVAL_REQUIRED', to: 'APPROVAL_REQUIRED', actor: 'x', patch: { data: { job_hash: 'stale' } } });
    const res = await t.call('POST', `/api/v1/approvals/${id}/approve`, { key: KEYS.adminA });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ error: { details: { job_hash: { held_for_approval: 'stale' } } } });
    expect(job?.state).toBe('APPROVAL_REQUIRED');
  });

  it('410 when the input behind the context pointer expired', async () => {
    const { id } = await held();
    await t.stores.pointers.delete(`redis://ctx:${id}`);
    const res = await t.call('POST', `/api/v1/approvals/${id}/approve`, { key: KEYS.adminA });
    expect(res.statusCode).toBe(410);
    expect(res.json()).toMatchObject({ error: { code: 'input_expired' } });
  });

  it('reject: DENIED with approval_rejected, who and why recorded, a DLQ entry, the outcome published', async () => {
    const { id } = await held();
    const results: string[] = [];
    await t.bus.subscribe(Subjects.jobResult, (m) => {
      const p = decodePacket(m.data);
      if (p.payload.case === 'jobResult') results.push(p.payload.value.errorCode);
    });
    const res = await t.call('POST', `/api/v1/approvals/${id}/reject`, { key: KEYS.adminA, body: { reason: 'too risky', note: 'ticket 7' } });
    expect(res.statusCode).toBe(200);
    expect(await t.stores.jobs.get(id)).toMatchObject({
      state: 'DENIED',
      errorCode: 'approval_rejected',
      errorMessage: 'too risky',
      data: { approval: { by: 'ada', decision: 'rejected', reason: 'too risky', note: 'ticket 7' } },
    });
    expect(await t.stores.dlq.get('tenant-a', id)).toMatchObject({ reasonCode: 'approval_rejected', status: 'DENIED', reason: 'too risky' });
    expect((await t.stores.audit.list('tenant-a', { kind: 'approval.rejected' })).items).toHaveLength(1);
    await t.bus.flush();
    expect(results).toEqual(['approval_rejected']);
  });

  it('needs the admin role; other tenants get 404', async () => {
    const { id } = await held();
    expect((await t.call('POST', `/api/v1/approvals/${id}/approve`, { key: KEYS.operatorA })).statusCode).toBe(403);
    expect((await t.call('POST', `/api/v1/approvals/${id}/approve`, { key: KEYS.adminB })).statusCode).toBe(404);
    expect((await t.call('POST', `/api/v1/approvals/${id}/reject`, { key: KEYS.adminB })).statusCode).toBe(404);
    expect((await t.stores.jobs.get(id))?.state).toBe('APPROVAL_REQUIRED');
  });
});
