import { ActorType, JobPriority, Subjects, decodePacket, decodeStoredRequest } from '@cordum/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, captureSubmits, failToDlq, startTestGateway } from '../testing/fixture.js';
import { ARTIFACT_REFERENCE_KEY } from './enqueue.js';

let t: TestGateway;
beforeEach(async () => {
  t = await startTestGateway({ gateway: { contextInlineMaxBytes: 1024 } });
});
afterEach(async () => {
  await t.close();
});

const submit = async (body: Record<string, unknown>, key: string = KEYS.operatorA) => {
  const res = await t.call('POST', '/api/v1/jobs', { key, body });
  return { res, body: res.json<{ job_id: string; trace_id: string }>()};
};

describe('POST /api/v1/jobs', () => {
  it('stores the input and the job (PENDING, due after the grace), then rings sys.job.submit with the stored header', async () => {
    const submits = await captureSubmits(t.bus);
    const { res, body } = await submit({
      prompt: 'summarise',
      context: { doc: 'd-1' },
      topic: 'job.demo.echo',
      priority: 'critical',
      team_id: 'red',
      project_id: 'p1',
      actor_type: 'human',
      capability: 'doc.read',
      risk_tags: ['read'],
      requires: ['git'],
      pack_id: 'demo',
      labels: { env: 'dev' },
      memory_id: 'mem-1',
      max_output_tokens: 99,
      deadline_ms: 60_000,
    });
    expect(res.statusCode).toBe(201);
    expect(body.trace_id).toMatch(/^[0-9a-f]{32}$/);
    const job = await t.stores.jobs.get(body.job_id);
    expect(job).toMatchObject({ state: 'PENDING', tenant: 'tenant-a', topic: 'job.demo.echo', traceId: body.trace_id, labels: { env: 'dev' } });
    expect(job?.data['submitted_by']).toBe('otto');
    expect((job?.dueAt ?? 0) - (job?.createdAt ?? 0)).toBeGreaterThanOrEqual(9_000);
    const request = decodeStoredRequest(job?.data['request'])!;
    expect(request).toMatchObject({
      jobId: body.job_id,
      topic: 'job.demo.echo',
      priority: JobPriority.CRITICAL,
      tenantId: 'tenant-a',
      principalId: 'otto',
      memoryId: 'mem-1',
      contextPtr: `redis://ctx:${body.job_id}`,
      env: { tenant_id: 'tenant-a', team_id: 'red', project_id: 'p1', memory_id: 'mem-1', max_output_tokens: '99' },
      meta: { tenantId: 'tenant-a', actorId: 'otto', actorType: ActorType.HUMAN, capability: 'doc.read', riskTags: ['read'], requires: ['git'], packId: 'demo' },
    });
    expect(request.budget).toMatchObject({ maxOutputTokens: 99n, maxInputTokens: 8000n, deadlineMs: 60_000n });
    const input = JSON.parse(new TextDecoder().decode((await t.stores.pointers.require(request.contextPtr)).bytes)) as Record<string, unknown>;
    expect(input).toMatchObject({ prompt: 'summarise', context: { doc: 'd-1' }, topic: 'job.demo.echo', tenant_id: 'tenant-a' });
    await t.bus.flush();
    expect(submits).toHaveLength(1);
    expect(submits[0]).toMatchObject({ stored: true, request: { jobId: body.job_id } });
  });

  it('takes `input` verbatim; needs prompt, context or input; topic must start job.', async () => {
    const { body } = await submit({ input: [1, 'two', { three: 3 }] });
    const job = await t.stores.jobs.get(body.job_id);
    expect(job?.topic).toBe('job.default');
    const bytes = (await t.stores.pointers.require(`redis://ctx:${body.job_id}`)).bytes;
    expect(JSON.parse(new TextDecoder().decode(bytes))).toEqual([1, 'two', { three: 3 }]);
    for (const [bad, message] of [
      [{}, /prompt is required/],
      [{ topic: 'job.x' }, /prompt is required/],
      [{ prompt: 'x', topic: 'sys.job.submit' }, /topic must start with "job."/],
      [{ prompt: 'x', topic: 'job.a b' }, /topic/],
      [{ input: 1, prompt: 'x' }, /not both/],
      [{ prompt: 'x', labels: { 'cordum.direct': '1' } }, /reserved/],
      [{ prompt: 'x', labels: { approval_granted: 'true' } }, /reserved/],
      [{ prompt: 'x', labels: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) }, /labels/],
    ] as const) {
      const { res } = await submit(bad);
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
      expect((res.json<{ error: { message: string } }>()).error.message).toMatch(message);
    }
  });

  it('the tenant comes from the key: another tenant in the body is 403; another principal needs admin', async () => {
    const other = await submit({ prompt: 'x', tenant_id: 'tenant-b' });
    expect(other.res.statusCode).toBe(403);
    expect(other.res.json()).toMatchObject({ error: { code: 'permission_denied', details: { field: 'tenant_id' } } });
    expect((await submit({ prompt: 'x', org_id: 'tenant-a' })).res.statusCode).toBe(201);
    expect((await submit({ prompt: 'x', principal_id: 'someone' })).res.statusCode).toBe(403);
    const onBehalf = await submit({ prompt: 'x', principal_id: 'someone' }, KEYS.adminA);
    expect(onBehalf.res.statusCode).toBe(201);
    const job = await t.stores.jobs.get(onBehalf.body.job_id);
    expect(decodeStoredRequest(job?.data['request'])?.principalId).toBe('someone');
    expect(job?.data['submitted_by']).toBe('ada');
  });

  it('idempotency_key: a repeat returns the original job with 200, scoped per tenant', async () => {
    const first = await submit({ prompt: 'x', idempotency_key: 'incident-42' });
    const again = await submit({ prompt: 'different', idempotency_key: 'incident-42' });
    expect(first.res.statusCode).toBe(201);
    expect(again.res.statusCode).toBe(200);
    expect(again.body).toEqual(first.body);
    const otherTenant = await submit({ prompt: 'x', idempotency_key: 'incident-42' }, KEYS.operatorB);
    expect(otherTenant.res.statusCode).toBe(201);
    expect(otherTenant.body.job_id).not.toBe(first.body.job_id);
    // Concurrent repeats create exactly one job.
    const many = await Promise.all(Array.from({ length: 8 }, () => submit({ prompt: 'y', idempotency_key: 'burst' })));
    expect(new Set(many.map((m) => m.body.job_id)).size).toBe(1);
    expect(many.filter((m) => m.res.statusCode === 201)).toHaveLength(1);
  });

  it('flags secret:// references for policy (risk tag secrets, label secrets_present)', async () => {
    const { body } = await submit({ prompt: 'deploy', context: { token: 'secret://vault/prod/token' }, risk_tags: ['write'] });
    const job = await t.stores.jobs.get(body.job_id);
    const request = decodeStoredRequest(job?.data['request'])!;
    expect(request.meta?.riskTags).toEqual(['write', 'secrets']);
    expect(request.labels['secrets_present']).toBe('true');
    expect(job?.labels['secrets_present']).toBe('true');
    const plain = await submit({ prompt: 'hello' });
    expect((await t.stores.jobs.get(plain.body.job_id))?.labels['secrets_present']).toBeUndefined();
  });

  it('flags a secret:// reference findSecretRefs does not reach (nested past 64 levels, or an object key)', async () => {
    let hidden: unknown = 'secret://vault/prod/token';
    for (let i = 0; i < 70; i++) hidden = { x: hidden };
    for (const input of [hidden, { 'secret://vault/prod/token': 1 }]) {
      const { res, body } = await submit({ input });
      expect(res.statusCode).toBe(201);
      const job = await t.stores.jobs.get(body.job_id);
      const request = decodeStoredRequest(job?.data['request'])!;
      expect(request.meta?.riskTags).toEqual(['secrets']);
      expect(request.meta?.labels['secrets_present']).toBe('true');
      expect(job?.labels['secrets_present']).toBe('true');
    }
  });

  it('an input nested too deep to serialise is a 400, never a 500', async () => {
    const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    for (const field of ['input', 'context']) {
      const res = await t.gateway.app.inject({
        method: 'POST',
        url: '/api/v1/jobs',
        headers: { 'x-api-key': KEYS.operatorA, 'content-type': 'application/json' },
        payload: `{"${field}":${deep(200_000)}}`,
      });
      expect(res.statusCode, field).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'invalid_argument', details: { field } } });
    }
    expect((await t.stores.jobs.list({ tenant: 'tenant-a' })).items).toEqual([]);
  });

  it('moves large inputs to the artifact store; the context holds a reference with the sha256', async () => {
    const big = 'x'.repeat(5000);
    const { body } = await submit({ input: { big } });
    const ctx = JSON.parse(new TextDecoder().decode((await t.stores.pointers.require(`redis://ctx:${body.job_id}`)).bytes)) as Record<
      string,
      { pointer: string; size_bytes: number; sha256: string }
    >;
    const ref = ctx[ARTIFACT_REFERENCE_KEY]!;
    expect(ref.pointer).toMatch(/^redis:\/\/art:/);
    const art = await t.stores.artifacts.get('tenant-a', ref.pointer);
    expect(JSON.parse(new TextDecoder().decode(art?.content))).toEqual({ big });
    expect(ref.sha256).toBe(art?.meta.sha256);
    expect(await t.stores.artifacts.get('tenant-b', ref.pointer)).toBeUndefined();
  });
});

describe('reading jobs', () => {
  it('lists with filters and cursors, newest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submit({ prompt: `p${i}`, topic: i % 2 === 0 ? 'job.even' : 'job.odd' })).body.job_id);
    await submit({ prompt: 'b' }, KEYS.operatorB);
    const page1 = (await t.call('GET', '/api/v1/jobs?limit=2', { key: KEYS.viewerA })).json<{ items: { id: string }[]; next_cursor: string }>();
    expect(page1.items.map((j) => j.id)).toEqual([ids[4], ids[3]]);
    const page2 = (await t.call('GET', `/api/v1/jobs?limit=2&cursor=${page1.next_cursor}`, { key: KEYS.viewerA })).json<{ items: { id: string }[] }>();
    expect(page2.items.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    const even = (await t.call('GET', '/api/v1/jobs?topic=job.even&state=PENDING', { key: KEYS.viewerA })).json<{ items: { id: string }[] }>();
    expect(even.items.map((j) => j.id)).toEqual([ids[4], ids[2], ids[0]]);
    const none = (await t.call('GET', '/api/v1/jobs?state=SUCCEEDED', { key: KEYS.viewerA })).json<{ items: unknown[] }>();
    expect(none.items).toEqual([]);
    const future = (await t.call('GET', `/api/v1/jobs?created_after=${Math.floor(Date.now() / 1000) + 3600}`, { key: KEYS.viewerA })).json<{ items: unknown[] }>();
    expect(future.items).toEqual([]);
    const iso = (await t.call('GET', `/api/v1/jobs?created_before=2000-01-01T00:00:00Z`, { key: KEYS.viewerA })).json<{ items: unknown[] }>();
    expect(iso.items).toEqual([]);
    for (const bad of ['state=DONE', 'limit=0', 'limit=abc', 'cursor=%%%', 'created_after=yesterday', 'tenant=x%2Fy']) {
      const res = await t.call('GET', `/api/v1/jobs?${bad}`, { key: KEYS.viewerA });
      expect(res.statusCode, bad).toBe(400);
    }
    expect((await t.call('GET', '/api/v1/jobs?tenant=tenant-b', { key: KEYS.viewerA })).statusCode).toBe(404);
    expect((await t.call('GET', '/api/v1/jobs?tenant=tenant-a', { key: KEYS.viewerA })).statusCode).toBe(200);
  });

  it('shows a job: events, decision, decision records, result inlined, DLQ entry', async () => {
    const { body } = await submit({ input: { hello: 'world' } });
    const id = body.job_id;
    // Act as the scheduler and a worker: decided, dispatched, failed to the DLQ with a result.
    await t.stores.jobs.transition(id, {
      from: 'PENDING',
      to: 'DISPATCHED',
      via: { state: 'SCHEDULED', reason: 'attempt 1' },
      actor: 'scheduler:test',
      reason: 'dispatching',
      patch: { incrementAttempts: true, data: { decision: { decision: 'ALLOW', rule_id: 'r1', snapshot: 's1', reason: 'ok' } } },
    });
    await t.stores.audit.append({ tenant: 'tenant-a', kind: 'policy.decision', actor: 'safety-kernel', subject: id, data: { decision: 'ALLOW', rule_id: 'r1', snapshot: 's1' } });
    await t.stores.audit.append({ tenant: 'tenant-b', kind: 'policy.decision', actor: 'safety-kernel', subject: id, data: { decision: 'DENY' } });
    const resultPtr = await t.stores.pointers.putResult(id, { tenant: 'tenant-a', bytes: JSON.stringify({ echo: { hello: 'world' } }) });
    await t.stores.jobs.transition(id, { from: 'DISPATCHED', to: 'DISPATCHED', actor: 'w', patch: { resultPtr } });
    await failToDlq(t.stores, id);
    const res = await t.call('GET', `/api/v1/jobs/${id}`, { key: KEYS.viewerA });
    expect(res.statusCode).toBe(200);
    const job = res.json<Record<string, unknown>>();
    expect(job).toMatchObject({
      id,
      state: 'FAILED',
      attempts: 1,
      error_code: 'max_retries_exceeded',
      decision: { decision: 'ALLOW', rule_id: 'r1' },
      context: { inlined: true, json: { hello: 'world' } },
      result: { pointer: resultPtr, inlined: true, json: { echo: { hello: 'world' } } },
      dlq: { job_id: id, reason_code: 'max_retries_exceeded', status: 'FAILED' },
      principal_id: 'otto',
      budget: { max_input_tokens: 8000 },
    });
    expect((job['events'] as { to: string }[]).map((e) => e.to)).toEqual(['PENDING', 'SCHEDULED', 'DISPATCHED', 'FAILED']);
    const decisions = (await t.call('GET', `/api/v1/jobs/${id}/decisions`, { key: KEYS.viewerA })).json<{
      decision: unknown;
      items: { decision: string; actor: string }[];
    }>();
    expect(decisions.decision).toMatchObject({ rule_id: 'r1' });
    expect(decisions.items).toEqual([expect.objectContaining({ decision: 'ALLOW', actor: 'safety-kernel' })]);
  });

  it('a result larger than the inline limit, or written by another tenant, is not inlined', async () => {
    t.gateway.app.log.level = 'silent';
    const { body } = await submit({ prompt: 'x' });
    const ptr = await t.stores.pointers.putResult(body.job_id, { tenant: 'tenant-a', bytes: 'y'.repeat(70_000), contentType: 'text/plain' });
    await t.stores.jobs.transition(body.job_id, { from: 'PENDING', to: 'PENDING', actor: 'w', patch: { resultPtr: ptr } });
    const big = (await t.call('GET', `/api/v1/jobs/${body.job_id}`, { key: KEYS.viewerA })).json<{ result: Record<string, unknown> }>();
    expect(big.result).toEqual({ pointer: ptr, size_bytes: 70_000, content_type: 'text/plain', inlined: false, expired: false });
    const other = await submit({ prompt: 'b' }, KEYS.operatorB);
    const foreign = await t.stores.pointers.putResult(other.body.job_id, { tenant: 'tenant-b', bytes: '"secret of b"' });
    await t.stores.jobs.transition(body.job_id, { from: 'PENDING', to: 'PENDING', actor: 'w', patch: { resultPtr: foreign } });
    const shown = (await t.call('GET', `/api/v1/jobs/${body.job_id}`, { key: KEYS.viewerA })).json<{ result: Record<string, unknown> }>();
    expect(shown.result).toMatchObject({ inlined: false, expired: true });
    expect(JSON.stringify(shown)).not.toContain('secret of b');
  });

  it('traces: the jobs of a trace, oldest first', async () => {
    const { body } = await submit({ prompt: 'x' });
    const res = await t.call('GET', `/api/v1/traces/${body.trace_id}`, { key: KEYS.viewerA });
    expect(res.json()).toMatchObject({ trace_id: body.trace_id, items: [{ id: body.job_id }] });
    expect((await t.call('GET', '/api/v1/traces/nope', { key: KEYS.viewerA })).statusCode).toBe(404);
  });
});

describe('cancel', () => {
  it('cancels a PENDING job at once (200), tells workers and workflows, refuses a terminal one (409)', async () => {
    const cancels: string[] = [];
    const results: number[] = [];
    await t.bus.subscribe(Subjects.jobCancel, (m) => {
      const p = decodePacket(m.data);
      if (p.payload.case === 'jobCancel') cancels.push(p.payload.value.jobId);
    });
    await t.bus.subscribe(Subjects.jobResult, (m) => {
      const p = decodePacket(m.data);
      if (p.payload.case === 'jobResult') results.push(p.payload.value.status);
    });
    const { body } = await submit({ prompt: 'x' });
    const res = await t.call('POST', `/api/v1/jobs/${body.job_id}/cancel`, { key: KEYS.operatorA, body: { reason: 'not needed' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: body.job_id, state: 'CANCELLED', cancel_requested: false });
    expect(await t.stores.jobs.get(body.job_id)).toMatchObject({ state: 'CANCELLED', errorMessage: 'not needed', dueAt: null });
    await t.bus.flush();
    expect(cancels).toEqual([body.job_id]);
    expect(results).toEqual([7]);
    const again = await t.call('POST', `/api/v1/jobs/${body.job_id}/cancel`, { key: KEYS.operatorA });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'conflict', details: { state: 'CANCELLED' } } });
    const audit = await t.stores.audit.list('tenant-a', { kind: 'job.cancel' });
    expect(audit.items[0]).toMatchObject({ actor: 'otto', subject: body.job_id });
  });

  it('asks the scheduler and worker to cancel a running job (202)', async () => {
    const { body } = await submit({ prompt: 'x' });
    await t.stores.jobs.transition(body.job_id, { from: 'PENDING', to: 'DISPATCHED', via: { state: 'SCHEDULED', reason: 'a' }, actor: 's' });
    const res = await t.call('POST', `/api/v1/jobs/${body.job_id}/cancel`, { key: KEYS.operatorA });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ id: body.job_id, state: 'DISPATCHED', cancel_requested: true });
  });
});

describe('remediate', () => {
  const denyWithRemediations = async (id: string, remediations: unknown[]) => {
    await t.stores.jobs.transition(id, {
      from: 'PENDING',
      to: 'DENIED',
      actor: 'scheduler:test',
      reason: 'safety_denied',
      patch: { data: { decision: { decision: 'DENY', rule_id: 'no-shell', snapshot: 's1', remediations } as never } },
    });
  };

  it('applies the offered remediation as a new job: replacement topic and capability, labels, same input', async () => {
    const submits = await captureSubmits(t.bus);
    const { body } = await submit({ input: { cmd: 'ls' }, topic: 'job.ops.shell', capability: 'ops.shell', labels: { shell: 'true', team: 'red' } });
    await denyWithRemediations(body.job_id, [
      { id: 'use-runbook', title: 'Runbook', replacement_topic: 'job.ops.runbook', replacement_capability: 'ops.runbook', add_labels: { runbook: 'true' }, remove_labels: ['shell'] },
    ]);
    const res = await t.call('POST', `/api/v1/jobs/${body.job_id}/remediate`, { key: KEYS.operatorA });
    expect(res.statusCode).toBe(201);
    const out = res.json<{ job_id: string; trace_id: string; remediation_of: string; remediation_id: string }>();
    expect(out).toMatchObject({ trace_id: body.trace_id, remediation_of: body.job_id, remediation_id: 'use-runbook' });
    const job = await t.stores.jobs.get(out.job_id);
    expect(job).toMatchObject({ state: 'PENDING', topic: 'job.ops.runbook', labels: { team: 'red', runbook: 'true', remediation_of: body.job_id, remediation_id: 'use-runbook' } });
    expect(job?.labels['shell']).toBeUndefined();
    const request = decodeStoredRequest(job?.data['request'])!;
    expect(request).toMatchObject({ parentJobId: body.job_id, meta: { capability: 'ops.runbook', labels: { runbook: 'true' } } });
    const input = (await t.stores.pointers.require(request.contextPtr)).bytes;
    expect(JSON.parse(new TextDecoder().decode(input))).toEqual({ cmd: 'ls' });
    await t.bus.flush();
    expect(submits.map((s) => s.request.jobId)).toEqual([body.job_id, out.job_id]);
  });

  it('409 without remediations, 400 when several are offered and none is named, 404 for an unknown one', async () => {
    const { body } = await submit({ prompt: 'x' });
    expect((await t.call('POST', `/api/v1/jobs/${body.job_id}/remediate`, { key: KEYS.operatorA, body: {} })).statusCode).toBe(409);
    await denyWithRemediations(body.job_id, [{ id: 'a', replacement_topic: 'job.a' }, { id: 'b', replacement_topic: 'job.b' }]);
    const several = await t.call('POST', `/api/v1/jobs/${body.job_id}/remediate`, { key: KEYS.operatorA });
    expect(several.statusCode).toBe(400);
    expect(several.json()).toMatchObject({ error: { details: { offered: ['a', 'b'] } } });
    expect((await t.call('POST', `/api/v1/jobs/${body.job_id}/remediate`, { key: KEYS.operatorA, body: { remediation_id: 'zzz' } })).statusCode).toBe(404);
    const b = await t.call('POST', `/api/v1/jobs/${body.job_id}/remediate`, { key: KEYS.operatorA, body: { remediation_id: 'b' } });
    expect(b.statusCode).toBe(201);
    expect((await t.stores.jobs.get((b.json<{ job_id: string }>()).job_id))?.topic).toBe('job.b');
  });

  it('reads remediations from the decision record when the job holds none', async () => {
    const { body } = await submit({ prompt: 'x' });
    await t.stores.audit.append({
      tenant: 'tenant-a',
      kind: 'policy.decision',
      actor: 'safety-kernel',
      subject: body.job_id,
      data: { decision: 'DENY', remediations: [{ id: 'alt', replacementTopic: 'job.alt' }] },
    });
    const res = await t.call('POST', `/api/v1/jobs/${body.job_id}/remediate`, { key: KEYS.operatorA });
    expect(res.statusCode).toBe(201);
  });
});
