import type { Bus } from '@cordum/bus';
import { createMemoryBroker } from '@cordum/bus/memory';
import { Subjects, type WorkflowCommand, decodeWorkflowCommand } from '@cordum/protocol';
import type { RunStore, Stores } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import type { WorkflowRun } from '@cordum/workflow';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, holdForApproval, startTestGateway } from '../testing/fixture.js';
import { GATED, engineTick, jobDone } from '../testing/workflow-engine.js';

// Workflows and runs over HTTP on the memory bus and stores. The run store and the bus are wrapped to record
// the order of the gateway's writes and doorbells (every call goes through to the real adapter).

let t: TestGateway;
let log: string[];
let commands: WorkflowCommand[];

function recordingStores(stores: Stores, into: string[]): Stores {
  const runs = new Proxy(stores.runs, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'create') {
        return async (...args: Parameters<RunStore['create']>) => {
          const out = await target.create(...args);
          into.push(`store:create:${out.outcome}`);
          return out;
        };
      }
      if (prop === 'pushEvent') {
        return async (...args: Parameters<RunStore['pushEvent']>) => {
          const out = await target.pushEvent(...args);
          into.push(`store:event:${(args[2] as { type: string }).type}:${out.outcome}`);
          return out;
        };
      }
      return value;
    },
  });
  return { ...stores, runs };
}

function recordingBus(bus: Bus, into: string[]): Bus {
  return new Proxy(bus, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'publish') return value;
      return (subject: string, data: Uint8Array, options?: unknown) => {
        if (subject === Subjects.workflowCommand) into.push(`bus:${decodeWorkflowCommand(data)?.kind ?? '?'}`);
        return (target.publish as (s: string, d: Uint8Array, o?: unknown) => Promise<void>)(subject, data, options);
      };
    },
  });
}

beforeEach(async () => {
  log = [];
  commands = [];
  const bus = createMemoryBroker({ mode: 'core' }).connect();
  t = await startTestGateway({ stores: recordingStores(createMemoryStores(), log), bus: recordingBus(bus, log) });
  await t.bus.subscribe(Subjects.workflowCommand, (m) => {
    const c = decodeWorkflowCommand(m.data);
    if (c !== undefined) commands.push(c);
  });
  await t.bus.flush();
});
afterEach(async () => {
  await t.close();
});

const json = <T = Record<string, unknown>>(res: { json: <U>() => U }): T => res.json<T>();

async function putGated(key: string = KEYS.adminA, definition: unknown = GATED): Promise<void> {
  const res = await t.call('POST', '/api/v1/workflows', { key, body: definition });
  expect(res.statusCode, res.body).toBeLessThan(300);
}

async function start(workflowId = 'gated', options: { key?: string; input?: unknown; query?: string; headers?: Record<string, string> } = {}) {
  return t.call('POST', `/api/v1/workflows/${workflowId}/runs${options.query ?? ''}`, {
    key: options.key ?? KEYS.operatorA,
    body: options.input ?? { service: 'api' },
    ...(options.headers === undefined ? {} : { headers: options.headers }),
  });
}

async function startedRun(options: Parameters<typeof start>[1] = {}): Promise<string> {
  const res = await start('gated', options);
  expect(res.statusCode, res.body).toBe(201);
  return json<{ run_id: string }>(res).run_id;
}

describe('workflow definitions', () => {
  it('create (JSON or YAML), unchanged re-put, new revision, get by revision, list, delete; roles', async () => {
    const created = await t.call('POST', '/api/v1/workflows', { key: KEYS.adminA, body: { ...GATED, extra_field: 1 } });
    expect(created.statusCode).toBe(201);
    expect(json(created)).toMatchObject({
      id: 'gated',
      revision: 1,
      name: 'Gated deploy',
      version: '3',
      step_count: 2,
      unchanged: false,
      warnings: [{ path: 'extra_field', message: expect.stringContaining('unknown field') as unknown }],
    });
    const again = await t.call('POST', '/api/v1/workflows', { key: KEYS.adminA, body: { ...GATED, extra_field: 1 } });
    expect(again.statusCode).toBe(200);
    expect(json(again)).toMatchObject({ revision: 1, unchanged: true });

    const yaml = [
      'id: gated',
      'name: Gated deploy v2',
      'version: 4',
      'steps:',
      '  gate: {type: approval}',
      '  ship:',
      '    topic: job.ship',
      '    depends_on: [gate]',
      '    input: {service: "${input.service}"}',
    ].join('\n');
    const revised = await t.call('POST', '/api/v1/workflows', { key: KEYS.adminA, body: yaml, headers: { 'content-type': 'application/yaml; charset=utf-8' } });
    expect(revised.statusCode, revised.body).toBe(200);
    expect(json(revised)).toMatchObject({ id: 'gated', revision: 2, version: '4', unchanged: false });

    const latest = json<{ revision: number; definition: { steps: Record<string, { type: string }> } }>(
      await t.call('GET', '/api/v1/workflows/gated', { key: KEYS.viewerA }),
    );
    expect(latest.revision).toBe(2);
    expect(latest.definition.steps['ship']?.type).toBe('worker');
    expect(json(await t.call('GET', '/api/v1/workflows/gated?revision=1', { key: KEYS.viewerA }))).toMatchObject({ revision: 1, name: 'Gated deploy' });

    // A generated id when the definition has none.
    const anonymous = json<{ id: string }>(await t.call('POST', '/api/v1/workflows', { key: KEYS.adminA, body: { steps: { only: { type: 'notify' } } } }));
    expect(anonymous.id).toMatch(/^[0-9a-f-]{36}$/);
    const list = json<{ items: { id: string; revision: number }[] }>(await t.call('GET', '/api/v1/workflows', { key: KEYS.viewerA }));
    expect(list.items.map((w) => w.id).sort()).toEqual([anonymous.id, 'gated'].sort());
    const page = json<{ items: unknown[]; next_cursor: string }>(await t.call('GET', '/api/v1/workflows?limit=1', { key: KEYS.viewerA }));
    expect(page.items).toHaveLength(1);
    const page2 = json<{ items: unknown[]; next_cursor: string | null }>(await t.call('GET', `/api/v1/workflows?limit=1&cursor=${page.next_cursor}`, { key: KEYS.viewerA }));
    expect(page2.items).toHaveLength(1);
    expect(page2.items).not.toEqual(page.items);

    // Roles: defining and deleting is admin; reads are viewer.
    expect((await t.call('POST', '/api/v1/workflows', { key: KEYS.operatorA, body: GATED })).statusCode).toBe(403);
    expect((await t.call('DELETE', '/api/v1/workflows/gated', { key: KEYS.operatorA })).statusCode).toBe(403);

    expect((await t.call('DELETE', '/api/v1/workflows/gated', { key: KEYS.adminA })).statusCode).toBe(204);
    expect((await t.call('GET', '/api/v1/workflows/gated', { key: KEYS.viewerA })).statusCode).toBe(404);
    expect((await t.call('DELETE', '/api/v1/workflows/gated', { key: KEYS.adminA })).statusCode).toBe(404);
    // Revisions stay readable for the runs pinned to them.
    expect((await t.call('GET', '/api/v1/workflows/gated?revision=2', { key: KEYS.viewerA })).statusCode).toBe(200);
    // …but a deleted workflow starts no more runs, of any revision.
    expect((await start('gated', { query: '?revision=1' })).statusCode).toBe(404);
    // YAML only on this route; other routes still answer 415 for it.
    const yamlElsewhere = await t.call('POST', '/api/v1/jobs', { key: KEYS.operatorA, body: 'prompt: x', headers: { 'content-type': 'text/yaml' } });
    expect(yamlElsewhere.statusCode).toBe(415);
    const audit = await t.stores.audit.list('tenant-a', { kind: 'workflow.' });
    expect(audit.items.map((e) => e.kind).sort()).toEqual(['workflow.delete', 'workflow.put', 'workflow.put', 'workflow.put']);
  });

  it('400 workflow_invalid with the path for unknown deps, cycles, bad expressions and bad YAML; 403 for another org; 409 on a stale revision', async () => {
    const bad = async (body: unknown, contentType?: string) => {
      const res = await t.call('POST', '/api/v1/workflows', {
        key: KEYS.adminA,
        body,
        ...(contentType === undefined ? {} : { headers: { 'content-type': contentType } }),
      });
      expect(res.statusCode, res.body).toBe(400);
      return json<{ error: { code: string; message: string; details: { problems?: { path: string; message: string }[] } } }>(res).error;
    };
    const unknownDep = await bad({ id: 'w', steps: { a: { type: 'notify' }, b: { type: 'notify', depends_on: ['a', 'zzz'] } } });
    expect(unknownDep).toMatchObject({ code: 'workflow_invalid', details: { problems: [{ path: 'steps.b.depends_on', message: expect.stringContaining('zzz') as unknown }] } });
    const cycle = await bad({ id: 'w', steps: { a: { type: 'notify', depends_on: ['c'] }, b: { type: 'notify', depends_on: ['a'] }, c: { type: 'notify', depends_on: ['b'] } } });
    expect(cycle.code).toBe('workflow_invalid');
    expect(cycle.message).toContain('cycle');
    expect(cycle.details.problems?.[0]?.path).toMatch(/^steps\.[abc]\.depends_on$/);
    const expression = await bad({ id: 'w', steps: { a: { type: 'notify', condition: 'input.x ==' } } });
    expect(expression.details.problems?.[0]?.path).toBe('steps.a.condition');
    const yaml = await bad('id: w\nsteps: {a: [', 'application/yaml');
    expect(yaml.code).toBe('workflow_invalid');
    expect((await bad('"just a string"', 'application/json')).code).toBe('workflow_invalid');
    expect((await bad([1, 2])).code).toBe('invalid_argument');

    const foreign = await t.call('POST', '/api/v1/workflows', { key: KEYS.adminA, body: { ...GATED, org_id: 'tenant-b' } });
    expect(foreign.statusCode).toBe(403);
    expect(json<{ error: { code: string } }>(foreign).error.code).toBe('permission_denied');

    await putGated();
    const stale = await t.call('POST', '/api/v1/workflows?expected_revision=0', { key: KEYS.adminA, body: { ...GATED, name: 'x' } });
    expect(stale.statusCode).toBe(409);
    expect(json<{ error: { code: string } }>(stale).error.code).toBe('revision_conflict');
    expect((await t.call('POST', '/api/v1/workflows?expected_revision=1', { key: KEYS.adminA, body: { ...GATED, name: 'x' } })).statusCode).toBe(200);
    expect((await t.call('GET', '/api/v1/workflows', { key: KEYS.adminA })).json<{ items: unknown[] }>().items).toHaveLength(1);
  });
});

describe('starting runs', () => {
  it('validates the input, stores the pending run (with its timeline) before ringing the engine, and pins the revision', async () => {
    await putGated();
    const invalid = await start('gated', { input: { service: 42 } });
    expect(invalid.statusCode).toBe(400);
    expect(json<{ error: { code: string; details: { field: string } } }>(invalid).error).toMatchObject({ code: 'invalid_argument', details: { field: 'input' } });
    expect((await start('gated', { input: [1] })).statusCode).toBe(400);
    expect((await start('nope')).statusCode).toBe(404);
    expect((await start('gated', { key: KEYS.viewerA })).statusCode).toBe(403);
    expect(log).toEqual([]);

    const res = await start('gated', { query: '?dry_run=true' });
    expect(res.statusCode).toBe(201);
    const out = json<{ run_id: string }>(res);
    expect(out).toMatchObject({ workflow_id: 'gated', workflow_revision: 1, status: 'pending', dry_run: true, created: true, rerun_of: null, policy: null });
    expect(log).toEqual(['store:create:created', 'bus:start']);
    await t.bus.flush();
    expect(commands).toEqual([{ v: 1, kind: 'start', tenant: 'tenant-a', run_id: out.run_id, by: 'otto' }]);

    const record = await t.stores.runs.get('tenant-a', out.run_id);
    expect(record).toMatchObject({ status: 'pending', workflowId: 'gated', workflowVersion: 1, version: 1 });
    // Due after the grace period: an engine reconciler starts it if the doorbell is lost.
    expect(record?.dueAt).toBeGreaterThan(await t.stores.runs.now());
    const doc = record?.doc as unknown as WorkflowRun;
    expect(doc).toMatchObject({ id: out.run_id, status: 'pending', input: { service: 'api' }, dry_run: true, triggered_by: 'otto', tenant_id: 'tenant-a', workflow_revision: 1 });
    const timeline = await t.stores.runs.timeline('tenant-a', out.run_id);
    expect(timeline.items[0]?.data).toMatchObject({ type: 'run_status', status: 'pending', run_id: out.run_id, data: { by: 'otto', dry_run: true } });

    // An edit after the start changes nothing for this run.
    await putGated(KEYS.adminA, { ...GATED, steps: { only: { type: 'notify' } } });
    expect(((await t.stores.runs.get('tenant-a', out.run_id))?.doc as unknown as WorkflowRun).definition.steps['gate']).toBeDefined();
    const older = await start('gated', { query: '?revision=1' });
    expect(json(older)).toMatchObject({ workflow_revision: 1 });
    expect(json(await start('gated'))).toMatchObject({ workflow_revision: 2 });
  });

  it('an input nested deeper than 128 levels is a 400 before anything is written, never a 500', async () => {
    expect((await t.call('POST', '/api/v1/workflows', { key: KEYS.adminA, body: { id: 'plain', steps: { only: { type: 'notify' } } } })).statusCode).toBe(201);
    const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    for (const depth of [129, 200_000]) {
      const res = await t.gateway.app.inject({
        method: 'POST',
        url: '/api/v1/workflows/plain/runs',
        headers: { 'x-api-key': KEYS.operatorA, 'content-type': 'application/json' },
        payload: `{"a":${deep(depth)}}`,
      });
      expect(res.statusCode, String(depth)).toBe(400);
      expect(json<{ error: { code: string; details: { field: string } } }>(res).error).toMatchObject({ code: 'invalid_argument', details: { field: 'input' } });
    }
    expect(log).toEqual([]);
    const ok = await t.gateway.app.inject({
      method: 'POST',
      url: '/api/v1/workflows/plain/runs',
      headers: { 'x-api-key': KEYS.operatorA, 'content-type': 'application/json' },
      payload: `{"a":${deep(127)}}`,
    });
    expect(ok.statusCode).toBe(201);
  });

  it('Idempotency-Key: same key → same run (200, nothing new), per tenant; a key used for another workflow is a 409', async () => {
    await putGated();
    await putGated(KEYS.adminB);
    await putGated(KEYS.adminA, { ...GATED, id: 'other' });
    const first = await start('gated', { headers: { 'idempotency-key': 'deploy-42' } });
    expect(first.statusCode).toBe(201);
    const runId = json<{ run_id: string }>(first).run_id;
    log.length = 0;
    for (const how of [{ headers: { 'idempotency-key': 'deploy-42' } }, { headers: { 'x-idempotency-key': 'deploy-42' } }, { query: '?idempotency_key=deploy-42' }]) {
      const again = await start('gated', how);
      expect(again.statusCode).toBe(200);
      expect(json(again)).toMatchObject({ run_id: runId, created: false, status: 'pending' });
    }
    expect(log).toEqual(['store:create:existing', 'store:create:existing', 'store:create:existing']);
    // Another tenant's key space is its own.
    const b = await start('gated', { key: KEYS.operatorB, headers: { 'idempotency-key': 'deploy-42' } });
    expect(b.statusCode).toBe(201);
    expect(json<{ run_id: string }>(b).run_id).not.toBe(runId);
    const reused = await start('other', { headers: { 'idempotency-key': 'deploy-42' } });
    expect(reused.statusCode).toBe(409);
    expect(json<{ error: { details: { run_id: string } } }>(reused).error.details.run_id).toBe(runId);
    expect((await start('gated', { headers: { 'idempotency-key': ' ' } })).statusCode).toBe(400);
    expect((await t.call('GET', '/api/v1/workflow-runs', { key: KEYS.viewerA })).json<{ items: unknown[] }>().items).toHaveLength(1);
  });

  it('429 with Retry-After at the tenant\'s limit (limits.max_concurrent_runs or rate_limits.concurrent_workflows); a finished run frees its slot', async () => {
    await putGated();
    await t.stores.config.put({ scope: 'org', tenant: 'tenant-a', scopeId: 'tenant-a' }, { data: { limits: { max_concurrent_runs: 2 } } });
    const a = await startedRun({ headers: { 'idempotency-key': 'k-a' } });
    await startedRun();
    log.length = 0;
    const refused = await start();
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('10');
    expect(json<{ error: unknown }>(refused).error).toMatchObject({ code: 'quota_exceeded', details: { active: 2, limit: 2 } });
    // Nothing written, nobody rung.
    expect(log).toEqual(['store:create:limit_reached']);
    // A repeat of a known key is never limited.
    expect((await start('gated', { headers: { 'idempotency-key': 'k-a' } })).statusCode).toBe(200);
    // Another tenant has its own slots.
    await putGated(KEYS.adminB);
    expect((await start('gated', { key: KEYS.operatorB })).statusCode).toBe(201);

    // The run ends (cancelled by the engine): its slot is free again.
    expect((await t.call('POST', `/api/v1/workflow-runs/${a}/cancel`, { key: KEYS.operatorA, body: {} })).statusCode).toBe(202);
    const { run } = await engineTick(t.stores, 'tenant-a', a);
    expect(run.status).toBe('cancelled');
    expect((await start()).statusCode).toBe(201);
    expect((await start()).statusCode).toBe(429);

    // Upstream's key, smaller of the two wins; a team document can lower it further.
    await t.stores.config.put({ scope: 'org', tenant: 'tenant-a', scopeId: 'tenant-a' }, { data: { limits: { max_concurrent_runs: 9 }, rate_limits: { concurrent_workflows: 3 } } });
    expect((await start()).statusCode).toBe(201);
    expect((await start()).statusCode).toBe(429);
    await t.stores.config.put({ scope: 'team', tenant: 'tenant-a', scopeId: 'ops' }, { data: { rate_limits: { concurrent_workflows: 1 } } });
    expect((await start('gated', { query: '?team_id=ops' })).statusCode).toBe(429);
  });
});

describe('runs: reads, cancel, delete', () => {
  it('list (filters, cursor), get (steps, pending events), timeline (paged), org_id of another tenant is 404', async () => {
    await putGated();
    await putGated(KEYS.adminA, { ...GATED, id: 'other' });
    const r1 = await startedRun();
    const r2 = await startedRun();
    const r3 = json<{ run_id: string }>(await start('other')).run_id;
    await engineTick(t.stores, 'tenant-a', r1);

    const all = json<{ items: { id: string; status: string }[] }>(await t.call('GET', '/api/v1/workflow-runs', { key: KEYS.viewerA }));
    expect(all.items.map((r) => r.id)).toEqual([r3, r2, r1]);
    const waiting = json<{ items: { id: string }[] }>(await t.call('GET', '/api/v1/workflow-runs?status=waiting', { key: KEYS.viewerA }));
    expect(waiting.items.map((r) => r.id)).toEqual([r1]);
    const ofGated = json<{ items: { id: string }[] }>(await t.call('GET', '/api/v1/workflows/gated/runs', { key: KEYS.viewerA }));
    expect(ofGated.items.map((r) => r.id)).toEqual([r2, r1]);
    expect(json<{ items: unknown[] }>(await t.call('GET', '/api/v1/workflow-runs?workflow_id=other', { key: KEYS.viewerA })).items).toHaveLength(1);
    const p1 = json<{ items: { id: string }[]; next_cursor: string }>(await t.call('GET', '/api/v1/workflow-runs?limit=2', { key: KEYS.viewerA }));
    const p2 = json<{ items: { id: string }[]; next_cursor: string | null }>(
      await t.call('GET', `/api/v1/workflow-runs?limit=2&cursor=${p1.next_cursor}`, { key: KEYS.viewerA }),
    );
    expect([...p1.items, ...p2.items].map((r) => r.id)).toEqual([r3, r2, r1]);
    expect(p2.next_cursor).toBeNull();
    expect((await t.call('GET', '/api/v1/workflow-runs?org_id=tenant-b', { key: KEYS.viewerA })).statusCode).toBe(404);
    expect((await t.call('GET', '/api/v1/workflow-runs?status=bogus', { key: KEYS.viewerA })).statusCode).toBe(400);

    await t.call('POST', `/api/v1/workflow-runs/${r1}/steps/gate/approve`, { key: KEYS.adminA, body: { reason: 'ok' } });
    const detail = json<Record<string, unknown>>(await t.call('GET', `/api/v1/workflow-runs/${r1}`, { key: KEYS.viewerA }));
    expect(detail).toMatchObject({
      id: r1,
      workflow_id: 'gated',
      status: 'waiting',
      input: { service: 'api' },
      steps: { gate: { status: 'waiting' }, ship: { status: 'pending' } },
      definition: { id: 'gated' },
      pending_events: [{ seq: 1, type: 'step_approved' }],
      triggered_by: 'otto',
    });
    expect(typeof detail['started_at']).toBe('number');

    const timeline = json<{ items: { seq: number; type: string; status?: string }[]; next_cursor: string | null }>(
      await t.call('GET', `/api/v1/workflow-runs/${r1}/timeline?limit=2`, { key: KEYS.viewerA }),
    );
    expect(timeline.items.map((e) => e.seq)).toEqual([1, 2]);
    expect(timeline.items[0]).toMatchObject({ type: 'run_status', status: 'pending' });
    const rest = json<{ items: { seq: number; type: string }[]; next_cursor: string | null }>(
      await t.call('GET', `/api/v1/workflow-runs/${r1}/timeline?cursor=${timeline.next_cursor ?? ''}`, { key: KEYS.viewerA }),
    );
    expect(rest.items[0]?.seq).toBe(3);
    expect(rest.items.map((e) => e.type)).toContain('step_waiting');
    expect((await t.call('GET', '/api/v1/workflow-runs/nope/timeline', { key: KEYS.viewerA })).statusCode).toBe(404);
  });

  it('cancel: the inbox event first, then the doorbell (202); repeated cancel is a duplicate; a finished run is 409; delete only when finished', async () => {
    await putGated();
    const runId = await startedRun();
    await engineTick(t.stores, 'tenant-a', runId);
    log.length = 0;
    commands.length = 0;
    expect((await t.call('POST', `/api/v1/workflow-runs/${runId}/cancel`, { key: KEYS.viewerA, body: {} })).statusCode).toBe(403);
    const res = await t.call('POST', `/api/v1/workflow-runs/${runId}/cancel`, { key: KEYS.operatorA, body: { reason: 'wrong service' } });
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ run_id: runId, status: 'waiting', cancel_requested: true, duplicate: false });
    expect(log).toEqual(['store:event:cancel_requested:queued', 'bus:event']);
    await t.bus.flush();
    expect(commands).toEqual([{ v: 1, kind: 'event', tenant: 'tenant-a', run_id: runId, by: 'otto' }]);
    const inbox = await t.stores.runs.inbox('tenant-a', runId);
    expect(inbox.map((e) => e.event)).toEqual([{ type: 'cancel_requested', by: 'otto', reason: 'wrong service' }]);
    // Upstream's path, same effect; the second cancel is a duplicate, nothing queued twice.
    const upstream = await t.call('POST', `/api/v1/workflows/gated/runs/${runId}/cancel`, { key: KEYS.operatorA });
    expect(json(upstream)).toMatchObject({ duplicate: true });
    expect(await t.stores.runs.inbox('tenant-a', runId)).toHaveLength(1);
    expect((await t.call('POST', `/api/v1/workflows/other/runs/${runId}/cancel`, { key: KEYS.operatorA })).statusCode).toBe(404);

    // A live run cannot be deleted.
    const live = await t.call('DELETE', `/api/v1/workflow-runs/${runId}`, { key: KEYS.adminA });
    expect(live.statusCode).toBe(409);
    expect(json<{ error: { code: string } }>(live).error.code).toBe('state_conflict');

    const { run } = await engineTick(t.stores, 'tenant-a', runId);
    expect(run).toMatchObject({ status: 'cancelled', cancel_requested: { by: 'otto', reason: 'wrong service' } });
    const late = await t.call('POST', `/api/v1/workflow-runs/${runId}/cancel`, { key: KEYS.operatorA });
    expect(late.statusCode).toBe(409);
    expect(json<{ error: unknown }>(late).error).toMatchObject({ code: 'state_conflict', details: { current_status: 'cancelled' } });

    expect((await t.call('DELETE', `/api/v1/workflow-runs/${runId}`, { key: KEYS.operatorA })).statusCode).toBe(403);
    expect((await t.call('DELETE', `/api/v1/workflow-runs/${runId}`, { key: KEYS.adminA })).statusCode).toBe(204);
    expect((await t.call('GET', `/api/v1/workflow-runs/${runId}`, { key: KEYS.viewerA })).statusCode).toBe(404);
    expect((await t.call('DELETE', `/api/v1/workflow-runs/${runId}`, { key: KEYS.adminA })).statusCode).toBe(404);
  });
});

describe('approval steps', () => {
  it('approve: who and why queued, then the doorbell; the engine applies it; 409 for a second decision, a step not waiting, or not an approval step', async () => {
    await putGated();
    const runId = await startedRun();
    const notYet = await t.call('POST', `/api/v1/workflow-runs/${runId}/steps/gate/approve`, { key: KEYS.adminA, body: {} });
    expect(notYet.statusCode).toBe(409);
    expect(json<{ error: unknown }>(notYet).error).toMatchObject({ code: 'state_conflict', details: { current_status: 'pending' } });

    await engineTick(t.stores, 'tenant-a', runId);
    expect((await t.call('POST', `/api/v1/workflow-runs/${runId}/steps/gate/approve`, { key: KEYS.operatorA, body: {} })).statusCode).toBe(403);
    const job = await t.call('POST', `/api/v1/workflow-runs/${runId}/steps/ship/approve`, { key: KEYS.adminA, body: {} });
    expect(job.statusCode).toBe(409);
    expect(json<{ error: { details: unknown } }>(job).error.details).toMatchObject({ step_type: 'worker' });
    expect((await t.call('POST', `/api/v1/workflow-runs/${runId}/steps/nope/approve`, { key: KEYS.adminA, body: {} })).statusCode).toBe(404);

    log.length = 0;
    const res = await t.call('POST', `/api/v1/workflow-runs/${runId}/steps/gate/approve`, { key: KEYS.adminA, body: { reason: 'change ticket 7', note: 'checked' } });
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ run_id: runId, step_id: 'gate', decision: 'approved', by: 'ada', reason: 'change ticket 7', queued: true });
    expect(log).toEqual(['store:event:step_approved:queued', 'bus:event']);
    const audit = await t.stores.audit.list('tenant-a', { kind: 'workflow.step.' });
    expect(audit.items[0]).toMatchObject({ kind: 'workflow.step.approved', actor: 'ada', subject: runId, data: { step_id: 'gate', reason: 'change ticket 7', note: 'checked' } });

    // The first decision wins: a second one (either way) before the engine applied it is refused.
    const second = await t.call('POST', `/api/v1/workflow-runs/${runId}/steps/gate/reject`, { key: KEYS.adminA, body: { reason: 'no' } });
    expect(second.statusCode).toBe(409);
    expect(await t.stores.runs.inbox('tenant-a', runId)).toHaveLength(1);

    const { run, commands: out } = await engineTick(t.stores, 'tenant-a', runId);
    expect(run.steps['gate']).toMatchObject({ status: 'succeeded', approval: { decision: 'approved', by: 'ada', reason: 'change ticket 7' } });
    expect(out.map((c) => c.type)).toEqual(['dispatch_job']);
    const after = await t.call('POST', `/api/v1/workflow-runs/${runId}/steps/gate/approve`, { key: KEYS.adminA, body: {} });
    expect(after.statusCode).toBe(409);
    expect(json<{ error: unknown }>(after).error).toMatchObject({ details: { current_status: 'succeeded' } });
  });

  it('reject (and upstream\'s approve route with approved=false) fails the step and the run', async () => {
    await putGated();
    const a = await startedRun();
    const b = await startedRun();
    await engineTick(t.stores, 'tenant-a', a);
    await engineTick(t.stores, 'tenant-a', b);
    const rejected = await t.call('POST', `/api/v1/workflow-runs/${a}/steps/gate/reject`, { key: KEYS.adminA, body: { reason: 'not today' } });
    expect(json(rejected)).toMatchObject({ decision: 'rejected', by: 'ada', reason: 'not today' });
    const upstream = await t.call('POST', `/api/v1/workflows/gated/runs/${b}/steps/gate/approve`, { key: KEYS.adminA, body: { approved: false } });
    expect(upstream.statusCode).toBe(202);
    expect(json(upstream)).toMatchObject({ decision: 'rejected', reason: null });
    expect((await t.call('POST', `/api/v1/workflows/other/runs/${b}/steps/gate/approve`, { key: KEYS.adminA, body: {} })).statusCode).toBe(404);
    for (const id of [a, b]) {
      const { run } = await engineTick(t.stores, 'tenant-a', id);
      expect(run.status).toBe('failed');
      expect(run.steps['gate']).toMatchObject({ status: 'failed', approval: { decision: 'rejected', by: 'ada' } });
    }
  });

  it('GET /approvals lists waiting workflow steps after held jobs, pages across both, and filters by kind', async () => {
    await putGated();
    const runs = [await startedRun(), await startedRun()];
    for (const id of runs) await engineTick(t.stores, 'tenant-a', id);
    await startedRun(); // pending: not waiting yet
    const jobId = json<{ job_id: string }>(await t.call('POST', '/api/v1/jobs', { key: KEYS.operatorA, body: { prompt: 'held' } })).job_id;
    await holdForApproval(t.stores, jobId);

    const all = json<{ items: Record<string, unknown>[]; next_cursor: string | null }>(await t.call('GET', '/api/v1/approvals', { key: KEYS.viewerA }));
    expect(all.next_cursor).toBeNull();
    expect(all.items.map((i) => i['kind'])).toEqual(['job', 'workflow_step', 'workflow_step']);
    expect(all.items[0]).toMatchObject({ kind: 'job', job: { id: jobId }, approval_ref: jobId });
    expect(all.items[1]).toMatchObject({ kind: 'workflow_step', run_id: runs[1], workflow_id: 'gated', step_id: 'gate', approval_ref: `${runs[1]}/gate`, triggered_by: 'otto', dry_run: false });
    expect(typeof all.items[1]?.['waiting_since']).toBe('number');

    const seen: unknown[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Record<string, unknown>[]; next_cursor: string | null } = json(
        await t.call('GET', `/api/v1/approvals?limit=1${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`, { key: KEYS.viewerA }),
      );
      expect(page.items.length).toBeLessThanOrEqual(1);
      seen.push(...page.items.map((i) => i['run_id'] ?? i['approval_ref']));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual([jobId, runs[1], runs[0]]);

    expect(json<{ items: unknown[] }>(await t.call('GET', '/api/v1/approvals?kind=job', { key: KEYS.viewerA })).items).toHaveLength(1);
    const steps = json<{ items: { run_id: string }[] }>(await t.call('GET', '/api/v1/approvals?kind=workflow_step', { key: KEYS.viewerA }));
    expect(steps.items.map((i) => i.run_id)).toEqual([runs[1], runs[0]]);
    expect(json<{ items: unknown[] }>(await t.call('GET', '/api/v1/approvals', { key: KEYS.adminB })).items).toEqual([]);
  });
});

describe('rerun', () => {
  it('a new run from a step reuses recorded outputs upstream of it; 409 when its dependencies did not succeed; whole rerun without from_step', async () => {
    await putGated();
    const source = await startedRun({ headers: { 'idempotency-key': 'src' } });
    await engineTick(t.stores, 'tenant-a', source);

    const early = await t.call('POST', `/api/v1/workflow-runs/${source}/rerun`, { key: KEYS.operatorA, body: { from_step: 'ship' } });
    expect(early.statusCode).toBe(409);
    expect(json<{ error: { code: string; message: string } }>(early).error).toMatchObject({ code: 'state_conflict', message: expect.stringContaining('gate') as unknown });
    expect((await t.call('POST', `/api/v1/workflow-runs/${source}/rerun`, { key: KEYS.operatorA, body: { from_step: 'nope' } })).statusCode).toBe(400);
    expect((await t.call('POST', `/api/v1/workflow-runs/${source}/rerun`, { key: KEYS.viewerA, body: {} })).statusCode).toBe(403);

    await t.call('POST', `/api/v1/workflow-runs/${source}/steps/gate/approve`, { key: KEYS.adminA, body: {} });
    await engineTick(t.stores, 'tenant-a', source);
    const { run: done } = await engineTick(t.stores, 'tenant-a', source, [jobDone(source, 'ship', 1, { shipped: 1 })]);
    expect(done.status).toBe('succeeded');

    log.length = 0;
    const res = await t.call('POST', `/api/v1/workflow-runs/${source}/rerun`, { key: KEYS.operatorA, body: { from_step: 'ship', dry_run: true } });
    expect(res.statusCode, res.body).toBe(201);
    const out = json<{ run_id: string }>(res);
    expect(out).toMatchObject({ rerun_of: source, rerun_step: 'ship', dry_run: true, workflow_revision: 1, created: true });
    expect(log).toEqual(['store:create:created', 'bus:start']);
    const rerun = (await t.stores.runs.get('tenant-a', out.run_id))?.doc as unknown as WorkflowRun;
    expect(rerun).toMatchObject({ status: 'pending', rerun_of: source, rerun_step: 'ship', dry_run: true, input: { service: 'api' } });
    expect(rerun.steps['gate']).toMatchObject({ status: 'succeeded', approval: { by: 'ada' } });
    expect(rerun.steps['ship']?.status).toBe('pending');
    expect(rerun.idempotency_key).toBeUndefined();

    const whole = json<{ run_id: string }>(await t.call('POST', `/api/v1/workflow-runs/${source}/rerun`, { key: KEYS.operatorA }));
    expect(whole).toMatchObject({ rerun_of: source, rerun_step: null, dry_run: false });
    const fresh = (await t.stores.runs.get('tenant-a', whole.run_id))?.doc as unknown as WorkflowRun;
    expect(fresh.steps['gate']?.status).toBe('pending');
    // A rerun may carry its own Idempotency-Key.
    const keyed = await t.call('POST', `/api/v1/workflow-runs/${source}/rerun`, { key: KEYS.operatorA, headers: { 'idempotency-key': 'rerun-1' } });
    const keyedAgain = await t.call('POST', `/api/v1/workflow-runs/${source}/rerun`, { key: KEYS.operatorA, headers: { 'idempotency-key': 'rerun-1' } });
    expect([keyed.statusCode, keyedAgain.statusCode]).toEqual([201, 200]);
    expect(json<{ run_id: string }>(keyedAgain).run_id).toBe(json<{ run_id: string }>(keyed).run_id);
  });
});
