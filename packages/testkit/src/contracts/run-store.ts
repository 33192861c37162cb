import { ConflictError, InvalidError, type JsonValue } from '@cordum/core';
import {
  type CreateRunResult,
  type NewRun,
  RUN_STATUSES,
  type RunRecord,
  type RunStatus,
  type RunStore,
  type StoreOptions,
  type UpdateRunResult,
  encodeCursor,
} from '@cordum/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allPages, expectInvalid, expectRejection } from './assertions.js';
import type { PortFactory, PortFixture } from './fixture.js';

// The RunStore contract: every adapter passes exactly this. Build the factory with
// RUN_STORE_CONTRACT_OPTIONS: the timeline test fills a timeline past runTimelineLimit, and the
// idempotency test waits for a key to expire.

export const RUN_STORE_CONTRACT_OPTIONS = { runTimelineLimit: 50, idempotencyTtlMs: 1500 } as const satisfies StoreOptions;

function newRun(id: string, extra: Partial<NewRun> = {}): NewRun {
  return { tenant: 'acme', id, workflowId: 'wf-echo', workflowVersion: 1, doc: { steps: {} }, ...extra };
}

async function created(store: RunStore, run: NewRun): Promise<RunRecord> {
  const result = await store.create(run);
  if (result.outcome !== 'created') throw new Error(`expected created, got ${result.outcome}`);
  return result.run;
}

async function updated(store: RunStore, tenant: string, id: string, update: Parameters<RunStore['update']>[2]): Promise<RunRecord> {
  const result = await store.update(tenant, id, update);
  if (result.outcome !== 'updated') throw new Error(`expected updated, got ${result.outcome}`);
  return result.run;
}

async function listAll(store: RunStore, query: Parameters<RunStore['list']>[0], limit = 2): Promise<RunRecord[]> {
  const { items } = await allPages((cursor) => store.list({ ...query, limit, cursor }), { limit });
  return items;
}

export function runRunStoreContract(label: string, factory: PortFactory<RunStore>): void {
  describe(`RunStore contract (${label})`, () => {
    let fx: PortFixture<RunStore>;
    let store: RunStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.port;
    });
    afterEach(async () => {
      await fx.close();
    });

    describe('create and get', () => {
      it('creates a pending run at version 1 stamped with the store clock, holding a slot', async () => {
        const t0 = await store.now();
        const result = await store.create(
          newRun('r-1', { workflowVersion: 3, labels: { org_id: 'o1' }, idempotencyKey: 'k-1', doc: { input: { a: 1 } } }),
        );
        const t1 = await store.now();
        expect(result.outcome).toBe('created');
        const run = (result as Extract<CreateRunResult, { outcome: 'created' }>).run;
        expect(run).toEqual({
          tenant: 'acme',
          id: 'r-1',
          workflowId: 'wf-echo',
          workflowVersion: 3,
          status: 'pending',
          version: 1,
          createdAt: run.createdAt,
          updatedAt: run.createdAt,
          idempotencyKey: 'k-1',
          labels: { org_id: 'o1' },
          dueAt: null,
          doc: { input: { a: 1 } },
        });
        expect(run.createdAt).toBeGreaterThanOrEqual(t0);
        expect(run.createdAt).toBeLessThanOrEqual(t1);
        expect(await store.get('acme', 'r-1')).toEqual(run);
        expect(await store.countActive('acme')).toBe(1);
        expect(await store.get('globex', 'r-1')).toBeUndefined();
      });

      it('round-trips documents and labels that a naive encoder would alter', async () => {
        const doc = JSON.parse(
          '{"empty":[],"obj":{},"big":9007199254740991,"tiny":1e-7,"text":"héllo ✓ \\"q\\" \\\\ \\n","n":null,"__proto__":{"x":1}}',
        ) as Record<string, JsonValue>;
        const labels = JSON.parse('{"with space":"v","empty":"","__proto__":"p"}') as Record<string, string>;
        const run = await created(store, newRun('r-json', { doc, labels }));
        const read = await store.get('acme', 'r-json');
        expect(read).toEqual(run);
        expect(JSON.stringify(read?.doc)).toBe(JSON.stringify(doc));
        expect(Object.prototype.hasOwnProperty.call(read?.labels, '__proto__')).toBe(true);
        expect(({} as Record<string, unknown>)['x']).toBeUndefined();
      });

      it('refuses a second run with the same id in the tenant, but not in another tenant', async () => {
        const first = await created(store, newRun('dup'));
        await expectRejection(store.create(newRun('dup', { doc: { other: true } })), ConflictError, 'already_exists');
        expect(await store.get('acme', 'dup')).toEqual(first);
        expect(await store.countActive('acme')).toBe(1);
        await created(store, newRun('dup', { tenant: 'globex' }));
        expect(await store.countActive('globex')).toBe(1);
      });

      it('answers the existing run for a known idempotency key, per tenant', async () => {
        const first = await created(store, newRun('r-a', { idempotencyKey: 'start-1' }));
        const again = await store.create(newRun('r-b', { idempotencyKey: 'start-1', doc: { different: true } }));
        expect(again).toEqual({ outcome: 'existing', run: first });
        expect(await store.get('acme', 'r-b')).toBeUndefined();
        // The answer is the run as it is now, whatever its status.
        const moved = await updated(store, 'acme', 'r-a', { expectedVersion: 1, status: 'succeeded' });
        expect(await store.create(newRun('r-c', { idempotencyKey: 'start-1' }))).toEqual({ outcome: 'existing', run: moved });
        // Another tenant's key space is its own.
        expect((await store.create(newRun('r-a', { tenant: 'globex', idempotencyKey: 'start-1' }))).outcome).toBe('created');
        // The same id again with the same key (a retried create) answers the run, not already_exists.
        expect(await store.create(newRun('r-a', { idempotencyKey: 'start-1' }))).toEqual({ outcome: 'existing', run: moved });
      });

      it('frees the idempotency key when its run is deleted or the key expires', async () => {
        await created(store, newRun('r-del', { idempotencyKey: 'k' }));
        expect(await store.delete('acme', 'r-del')).toBe(true);
        const next = await created(store, newRun('r-new', { idempotencyKey: 'k' }));
        expect(next.idempotencyKey).toBe('k');
        expect((await store.create(newRun('r-x', { idempotencyKey: 'k' }))).outcome).toBe('existing');
        await fx.elapse(RUN_STORE_CONTRACT_OPTIONS.idempotencyTtlMs + 200);
        expect((await store.create(newRun('r-later', { idempotencyKey: 'k' }))).outcome).toBe('created');
        // Deleting the older run must not release the key the newer one holds.
        expect(await store.delete('acme', 'r-new')).toBe(true);
        expect((await store.create(newRun('r-y', { idempotencyKey: 'k' }))).outcome).toBe('existing');
      });

      it('stops at the tenant limit, writing nothing, and frees slots on terminal status and delete', async () => {
        await created(store, newRun('l-1', { maxActive: 2 }));
        await created(store, newRun('l-2', { maxActive: 2, idempotencyKey: 'k-2' }));
        expect(await store.create(newRun('l-3', { maxActive: 2, idempotencyKey: 'k-3' }))).toEqual({
          outcome: 'limit_reached',
          active: 2,
          limit: 2,
        });
        expect(await store.get('acme', 'l-3')).toBeUndefined();
        expect(await store.countActive('acme')).toBe(2);
        // A known key is answered even at the limit; the refused key was not taken.
        expect((await store.create(newRun('l-9', { maxActive: 2, idempotencyKey: 'k-2' }))).outcome).toBe('existing');
        // Other tenants and creates without a limit are not affected.
        await created(store, newRun('l-1', { tenant: 'globex', maxActive: 1 }));
        await created(store, newRun('l-free'));
        expect(await store.countActive('acme')).toBe(3);

        await updated(store, 'acme', 'l-1', { expectedVersion: 1, status: 'running' });
        expect((await store.create(newRun('l-3', { maxActive: 3 }))).outcome).toBe('limit_reached');
        await updated(store, 'acme', 'l-1', { expectedVersion: 2, status: 'failed' });
        expect(await store.countActive('acme')).toBe(2);
        await created(store, newRun('l-3', { maxActive: 3, idempotencyKey: 'k-3' }));
        expect(await store.delete('acme', 'l-free')).toBe(true);
        await created(store, newRun('l-4', { maxActive: 3 }));
        expect(await store.countActive('acme')).toBe(3);
        expect((await store.create(newRun('l-5', { maxActive: 0 }))).outcome).toBe('limit_reached');
      });

      it('appends the creation timeline entries in the same write', async () => {
        await created(store, newRun('r-tl', { timeline: [{ key: 'created', data: { type: 'run_status', status: 'pending' } }] }));
        const page = await store.timeline('acme', 'r-tl');
        expect(page.items).toHaveLength(1);
        expect(page.items[0]).toMatchObject({ seq: 1, key: 'created', data: { type: 'run_status', status: 'pending' } });
      });

      it('rejects bad input without writing anything', async () => {
        const cyclic: Record<string, unknown> = {};
        cyclic['self'] = cyclic;
        const bad: NewRun[] = [
          newRun(''),
          newRun('a b'),
          newRun('x'.repeat(201)),
          newRun('ok', { tenant: '' }),
          newRun('ok', { tenant: 'a:b' }),
          newRun('ok', { workflowId: '' }),
          newRun('ok', { workflowId: 'a/b' }),
          newRun('ok', { workflowVersion: 0 }),
          newRun('ok', { workflowVersion: 1.5 }),
          newRun('ok', { doc: [] }),
          newRun('ok', { doc: null }),
          newRun('ok', { doc: cyclic }),
          newRun('ok', { labels: { n: 5 as unknown as string } }),
          newRun('ok', { idempotencyKey: '' }),
          newRun('ok', { idempotencyKey: 'line\nbreak' }),
          newRun('ok', { maxActive: -1 }),
          newRun('ok', { dueAt: -5 }),
          newRun('ok', { timeline: [{ data: 'text' }] }),
          newRun('ok', { timeline: [{ key: '', data: {} }] }),
        ];
        for (const input of bad) {
          const err = await expectRejection(store.create(input), InvalidError, 'invalid_argument');
          expect(err.message).not.toBe('');
        }
        expect(await store.get('acme', 'ok')).toBeUndefined();
        expect(await store.countActive('acme')).toBe(0);
      });

      it('answers undefined and empty results for unknown or impossible ids', async () => {
        expect(await store.get('acme', 'nope')).toBeUndefined();
        expect(await store.get('acme', 'a b')).toBeUndefined();
        expect(await store.update('acme', 'nope', { expectedVersion: 1 })).toEqual({ outcome: 'not_found' });
        expect(await store.update('acme', 'a b', { expectedVersion: 1 })).toEqual({ outcome: 'not_found' });
        expect(await store.delete('acme', 'nope')).toBe(false);
        expect(await store.timeline('acme', 'nope')).toEqual({ items: [], nextCursor: null });
        expect(await store.appendTimeline('acme', 'nope', [{ data: {} }])).toEqual({ outcome: 'not_found' });
        expect(await store.pushEvent('acme', 'nope', { type: 'cancel' })).toEqual({ outcome: 'not_found' });
        expect(await store.inbox('acme', 'nope')).toEqual([]);
        await expectInvalid(store.get('bad tenant', 'r'));
      });

      it('never shares objects with the caller', async () => {
        const doc = { steps: { a: { status: 'pending' } } };
        const labels = { a: '1' };
        const run = await created(store, newRun('copy', { doc, labels }));
        doc.steps.a.status = 'changed';
        labels.a = 'changed';
        (run.doc as Record<string, JsonValue>)['steps'] = null;
        (run.labels as Record<string, string>)['a'] = 'mutated';
        const read = await store.get('acme', 'copy');
        expect(read?.doc).toEqual({ steps: { a: { status: 'pending' } } });
        expect(read?.labels).toEqual({ a: '1' });
      });

      it('is visible to another instance over the same backend', async () => {
        const run = await created(store, newRun('shared'));
        const other = fx.twin();
        expect(await other.get('acme', 'shared')).toEqual(run);
        const next = await updated(other, 'acme', 'shared', { expectedVersion: 1, status: 'running' });
        expect(await store.get('acme', 'shared')).toEqual(next);
      });
    });

    describe('races', () => {
      it('creates one run for many concurrent creates with the same idempotency key', async () => {
        const views = [store, fx.twin(), fx.twin(), fx.twin()];
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => views[i % views.length]!.create(newRun(`race-${i}`, { idempotencyKey: 'same' }))),
        );
        const made = results.filter((r) => r.outcome === 'created');
        expect(made).toHaveLength(1);
        const winner = (made[0] as Extract<CreateRunResult, { outcome: 'created' }>).run;
        for (const r of results) {
          expect(r.outcome === 'created' || r.outcome === 'existing').toBe(true);
          if (r.outcome === 'existing') expect(r.run.id).toBe(winner.id);
        }
        expect((await listAll(store, { tenant: 'acme' }, 50)).map((r) => r.id)).toEqual([winner.id]);
        expect(await store.countActive('acme')).toBe(1);
      });

      it('creates exactly L of N concurrent creates at limit L', async () => {
        const views = [store, fx.twin(), fx.twin()];
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, i) => views[i % views.length]!.create(newRun(`cap-${i}`, { maxActive: 5 }))),
        );
        expect(results.filter((r) => r.outcome === 'created')).toHaveLength(5);
        const refused = results.filter((r) => r.outcome === 'limit_reached');
        expect(refused).toHaveLength(7);
        for (const r of refused) expect(r).toEqual({ outcome: 'limit_reached', active: 5, limit: 5 });
        expect(await store.countActive('acme')).toBe(5);
        expect(await listAll(store, { tenant: 'acme' }, 50)).toHaveLength(5);
      });

      it('lets exactly one of several concurrent updates at the same version win', async () => {
        await created(store, newRun('cas'));
        const views = [store, fx.twin(), fx.twin()];
        const results: UpdateRunResult[] = await Promise.all(
          Array.from({ length: 9 }, (_, i) =>
            views[i % views.length]!.update('acme', 'cas', {
              expectedVersion: 1,
              status: 'running',
              doc: { writer: i },
              timeline: [{ data: { writer: i } }],
            }),
          ),
        );
        const won = results.filter((r) => r.outcome === 'updated');
        expect(won).toHaveLength(1);
        const winner = (won[0] as Extract<UpdateRunResult, { outcome: 'updated' }>).run;
        for (const r of results) {
          if (r.outcome === 'conflict') expect(r.current.version).toBe(2);
          else expect(r.outcome).toBe('updated');
        }
        expect(await store.get('acme', 'cas')).toEqual(winner);
        const timeline = await store.timeline('acme', 'cas');
        expect(timeline.items.map((e) => e.data)).toEqual([winner.doc]);
      });

      it('gives concurrent pushes distinct seqs and keeps one event per key', async () => {
        await created(store, newRun('push'));
        const views = [store, fx.twin(), fx.twin()];
        const results = await Promise.all(
          Array.from({ length: 15 }, (_, i) =>
            views[i % views.length]!.pushEvent('acme', 'push', { n: i }, i < 5 ? { key: 'same' } : {}),
          ),
        );
        const queued = results.filter((r) => r.outcome === 'queued');
        expect(queued).toHaveLength(11);
        expect(results.filter((r) => r.outcome === 'duplicate')).toHaveLength(4);
        const seqs = queued.map((r) => (r as { seq: number }).seq).sort((a, b) => a - b);
        expect(seqs).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
        expect((await store.inbox('acme', 'push')).map((e) => e.seq)).toEqual(seqs);
      });

      it('appends an entry key once when several writers append it at the same time', async () => {
        await created(store, newRun('tl-race'));
        const views = [store, fx.twin(), fx.twin()];
        await Promise.all(
          Array.from({ length: 9 }, (_, i) =>
            views[i % views.length]!.appendTimeline('acme', 'tl-race', [{ key: 'dispatch:j1', data: { i } }, { data: { i } }]),
          ),
        );
        const { items } = await store.timeline('acme', 'tl-race', { limit: 100 });
        expect(items.filter((e) => e.key === 'dispatch:j1')).toHaveLength(1);
        expect(items).toHaveLength(10);
        expect(items.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      });
    });

    describe('update', () => {
      it('replaces what it names, keeps the rest and bumps version and updatedAt', async () => {
        const run = await created(store, newRun('u-1', { labels: { a: '1' }, dueAt: 5_000, idempotencyKey: 'u' }));
        await fx.elapse(2);
        const next = await updated(store, 'acme', 'u-1', { expectedVersion: 1, status: 'running', doc: { steps: { a: 'running' } } });
        expect(next).toEqual({
          ...run,
          status: 'running',
          version: 2,
          updatedAt: next.updatedAt,
          doc: { steps: { a: 'running' } },
        });
        expect(next.updatedAt).toBeGreaterThan(run.updatedAt);
        const third = await updated(store, 'acme', 'u-1', { expectedVersion: 2, labels: { b: '2' }, dueAt: null });
        expect(third).toMatchObject({ status: 'running', version: 3, labels: { b: '2' }, dueAt: null, doc: { steps: { a: 'running' } } });
        expect(await store.get('acme', 'u-1')).toEqual(third);
      });

      it('answers a stale version with the current run and writes nothing', async () => {
        await created(store, newRun('u-stale'));
        const current = await updated(store, 'acme', 'u-stale', { expectedVersion: 1, status: 'running' });
        const stale = await store.update('acme', 'u-stale', {
          expectedVersion: 1,
          status: 'failed',
          doc: { lost: true },
          timeline: [{ data: { lost: true } }],
          ackInbox: 100,
        });
        expect(stale).toEqual({ outcome: 'conflict', current });
        expect(await store.get('acme', 'u-stale')).toEqual(current);
        expect((await store.timeline('acme', 'u-stale')).items).toEqual([]);
        expect(await store.countActive('acme')).toBe(1);
        expect(await store.update('acme', 'u-stale', { expectedVersion: 3 })).toEqual({ outcome: 'conflict', current });
      });

      it('keeps a terminal status final but lets the document change', async () => {
        await created(store, newRun('u-end', { dueAt: 1 }));
        await store.pushEvent('acme', 'u-end', { type: 'job_result' });
        const done = await updated(store, 'acme', 'u-end', { expectedVersion: 1, status: 'succeeded', dueAt: 10 });
        expect(done).toMatchObject({ status: 'succeeded', dueAt: null });
        expect(await store.countActive('acme')).toBe(0);
        expect(await store.inbox('acme', 'u-end')).toEqual([]);
        const err = await expectRejection(
          store.update('acme', 'u-end', { expectedVersion: 2, status: 'running' }),
          InvalidError,
          'invalid_transition',
        );
        expect(err.details).toMatchObject({ current_status: 'succeeded', to: 'running' });
        await expectRejection(store.update('acme', 'u-end', { expectedVersion: 2, status: 'failed' }), InvalidError, 'invalid_transition');
        const noted = await updated(store, 'acme', 'u-end', { expectedVersion: 2, doc: { note: 'late result ignored' }, dueAt: 5 });
        expect(noted).toMatchObject({ status: 'succeeded', version: 3, dueAt: null, doc: { note: 'late result ignored' } });
        expect(await updated(store, 'acme', 'u-end', { expectedVersion: 3, status: 'succeeded' })).toMatchObject({ version: 4 });
      });

      it("answers only version, status and updatedAt with reply 'version', writing the same as a full reply", async () => {
        await created(store, newRun('u-brief', { dueAt: 9_000 }));
        await store.pushEvent('acme', 'u-brief', { type: 'job_result', job_id: 'j1' });
        await fx.elapse(2);
        const res = await store.update('acme', 'u-brief', {
          expectedVersion: 1,
          status: 'running',
          doc: { steps: { a: 'running' } },
          dueAt: 7_000,
          timeline: [{ key: 'k1', data: { type: 'run_status' } }],
          ackInbox: 1,
          reply: 'version',
        });
        if (res.outcome !== 'updated') throw new Error(`expected updated, got ${res.outcome}`);
        const stored = await store.get('acme', 'u-brief');
        expect(res.run).toEqual({ version: 2, status: 'running', updatedAt: stored?.updatedAt });
        expect(Object.keys(res.run).sort()).toEqual(['status', 'updatedAt', 'version']);
        expect(stored).toMatchObject({ version: 2, status: 'running', dueAt: 7_000, doc: { steps: { a: 'running' } } });
        expect(await store.inbox('acme', 'u-brief')).toEqual([]);
        expect((await store.timeline('acme', 'u-brief')).items.map((e) => e.data)).toEqual([{ type: 'run_status' }]);

        // A stale version: the current write state, nothing written.
        const stale = await store.update('acme', 'u-brief', { expectedVersion: 1, status: 'failed', doc: { lost: true }, reply: 'version' });
        expect(stale).toEqual({ outcome: 'conflict', current: res.run });
        expect(await store.get('acme', 'u-brief')).toEqual(stored);

        // Terminal, then an explicit full reply.
        const done = await store.update('acme', 'u-brief', { expectedVersion: 2, status: 'succeeded', reply: 'version' });
        expect(done).toMatchObject({ outcome: 'updated', run: { version: 3, status: 'succeeded' } });
        expect(await store.countActive('acme')).toBe(0);
        const full = await updated(store, 'acme', 'u-brief', { expectedVersion: 3, doc: { note: 'x' }, reply: 'record' });
        expect(full).toMatchObject({ version: 4, status: 'succeeded', doc: { note: 'x' }, dueAt: null });
        expect(await store.update('acme', 'nope', { expectedVersion: 1, reply: 'version' })).toEqual({ outcome: 'not_found' });
      });

      it('moves the run between the status listings', async () => {
        await created(store, newRun('s-1'));
        await created(store, newRun('s-2'));
        await updated(store, 'acme', 's-1', { expectedVersion: 1, status: 'waiting' });
        const ids = async (status: RunStatus): Promise<string[]> => (await listAll(store, { tenant: 'acme', status })).map((r) => r.id);
        expect(await ids('waiting')).toEqual(['s-1']);
        expect(await ids('pending')).toEqual(['s-2']);
        await updated(store, 'acme', 's-1', { expectedVersion: 2, status: 'cancelled' });
        expect(await ids('waiting')).toEqual([]);
        expect(await ids('cancelled')).toEqual(['s-1']);
        for (const status of RUN_STATUSES) {
          const expected = status === 'cancelled' ? ['s-1'] : status === 'pending' ? ['s-2'] : [];
          expect(await ids(status)).toEqual(expected);
        }
      });

      it('rejects bad updates', async () => {
        await created(store, newRun('u-bad'));
        const bad: Array<Parameters<RunStore['update']>[2]> = [
          { expectedVersion: 0 },
          { expectedVersion: 1.5 },
          { expectedVersion: 1, status: 'done' as RunStatus },
          { expectedVersion: 1, doc: [] },
          { expectedVersion: 1, labels: { a: 1 as unknown as string } },
          { expectedVersion: 1, dueAt: -1 },
          { expectedVersion: 1, ackInbox: -1 },
          { expectedVersion: 1, timeline: [{ data: [] }] },
          { expectedVersion: 1, reply: 'doc' as 'record' },
        ];
        for (const update of bad) await expectInvalid(store.update('acme', 'u-bad', update));
        expect((await store.get('acme', 'u-bad'))?.version).toBe(1);
      });
    });

    describe('delete', () => {
      it('removes the run with its timeline, inbox and index entries, and frees its slot', async () => {
        await created(store, newRun('d-1', { dueAt: 1, idempotencyKey: 'dk', timeline: [{ key: 'c', data: {} }] }));
        await store.pushEvent('acme', 'd-1', { type: 'cancel' }, { key: 'cancel' });
        expect(await store.delete('acme', 'd-1')).toBe(true);
        expect(await store.get('acme', 'd-1')).toBeUndefined();
        expect(await store.countActive('acme')).toBe(0);
        expect(await listAll(store, { tenant: 'acme' })).toEqual([]);
        expect(await listAll(store, { tenant: 'acme', status: 'pending' })).toEqual([]);
        expect(await listAll(store, { tenant: 'acme', workflowId: 'wf-echo' })).toEqual([]);
        expect((await store.listDue({ before: Number.MAX_SAFE_INTEGER })).filter((d) => d.id === 'd-1')).toEqual([]);
        expect((await store.listActive({ limit: 1000 })).items.filter((a) => a.id === 'd-1' && a.tenant === 'acme')).toEqual([]);
        expect(await store.delete('acme', 'd-1')).toBe(false);

        // The id starts afresh: no timeline, no inbox, no remembered keys.
        const again = await created(store, newRun('d-1'));
        expect(again.version).toBe(1);
        expect((await store.timeline('acme', 'd-1')).items).toEqual([]);
        expect(await store.pushEvent('acme', 'd-1', { type: 'cancel' }, { key: 'cancel' })).toEqual({ outcome: 'queued', seq: 1 });
        expect((await store.appendTimeline('acme', 'd-1', [{ key: 'c', data: {} }])).outcome).toBe('appended');
        expect((await store.timeline('acme', 'd-1')).items.map((e) => e.seq)).toEqual([1]);
      });
    });

    describe('list', () => {
      it('lists a tenant newest first, filtered by workflow and/or status, page by page', async () => {
        const made: RunRecord[] = [];
        for (let i = 0; i < 7; i++) {
          made.push(await created(store, newRun(`l-${i}`, { workflowId: i % 2 === 0 ? 'wf-even' : 'wf-odd' })));
          await fx.elapse(2);
        }
        await created(store, newRun('other', { tenant: 'globex' }));
        await updated(store, 'acme', 'l-2', { expectedVersion: 1, status: 'running' });
        await updated(store, 'acme', 'l-3', { expectedVersion: 1, status: 'running' });
        const newest = [...made].reverse().map((r) => r.id);
        expect((await listAll(store, { tenant: 'acme' })).map((r) => r.id)).toEqual(newest);
        expect((await listAll(store, { tenant: 'acme', workflowId: 'wf-even' })).map((r) => r.id)).toEqual(['l-6', 'l-4', 'l-2', 'l-0']);
        expect((await listAll(store, { tenant: 'acme', status: 'running' })).map((r) => r.id)).toEqual(['l-3', 'l-2']);
        expect((await listAll(store, { tenant: 'acme', status: 'running', workflowId: 'wf-even' }, 1)).map((r) => r.id)).toEqual(['l-2']);
        expect((await listAll(store, { tenant: 'acme', status: 'pending', workflowId: 'wf-odd' }, 1)).map((r) => r.id)).toEqual(['l-5', 'l-1']);
        expect((await listAll(store, { tenant: 'globex' })).map((r) => r.id)).toEqual(['other']);
        const first = await store.list({ tenant: 'acme', limit: 3 });
        expect(first.items.map((r) => r.id)).toEqual(newest.slice(0, 3));
        expect(first.items[0]).toEqual(await store.get('acme', 'l-6'));
        expect(first.nextCursor).not.toBeNull();
      });

      it('rejects malformed queries', async () => {
        await expectInvalid(store.list({ tenant: 'acme', cursor: 'junk' }));
        await expectInvalid(store.list({ tenant: 'acme', cursor: encodeCursor({ after: 'x' }) }));
        await expectInvalid(store.list({ tenant: 'acme', status: 'done' as RunStatus }));
        await expectInvalid(store.list({ tenant: 'acme', workflowId: 'a b' }));
        await expectInvalid(store.list({ tenant: 'acme', limit: 0 }));
        await expectInvalid(store.list({ tenant: '' }));
      });
    });

    describe('timeline', () => {
      it('appends in order with seqs and store-clock times, idempotent per key', async () => {
        await created(store, newRun('t-1'));
        const t0 = await store.now();
        const first = await store.appendTimeline('acme', 't-1', [
          { key: 'dispatch:j1', data: { type: 'step_dispatched', step_id: 'a', job_id: 'j1' } },
          { data: { type: 'run_status', status: 'running' } },
          { key: 'dispatch:j1', data: { type: 'dup in the same batch' } },
        ]);
        expect(first).toEqual({
          outcome: 'appended',
          entries: [
            { seq: 1, duplicate: false },
            { seq: 2, duplicate: false },
            { seq: 1, duplicate: true },
          ],
        });
        const again = await store.appendTimeline('acme', 't-1', [
          { key: 'dispatch:j1', data: { type: 'step_dispatched', retried: true } },
          { key: 'result:j1', data: { type: 'step_completed', result_ptr: 'redis://res:j1' } },
        ]);
        expect(again).toEqual({ outcome: 'appended', entries: [{ seq: 1, duplicate: true }, { seq: 3, duplicate: false }] });
        const { items, nextCursor } = await store.timeline('acme', 't-1');
        expect(nextCursor).toBeNull();
        expect(items.map((e) => [e.seq, e.key, e.data['type']])).toEqual([
          [1, 'dispatch:j1', 'step_dispatched'],
          [2, null, 'run_status'],
          [3, 'result:j1', 'step_completed'],
        ]);
        expect(items[0]?.data).toEqual({ type: 'step_dispatched', step_id: 'a', job_id: 'j1' });
        for (const e of items) expect(e.at).toBeGreaterThanOrEqual(t0);
        // Appending does not touch the run.
        expect((await store.get('acme', 't-1'))?.version).toBe(1);
      });

      it('appends the entries of an update in the same write and reads page by page', async () => {
        await created(store, newRun('t-page'));
        let version = 1;
        for (let i = 0; i < 7; i++) {
          const run = await updated(store, 'acme', 't-page', { expectedVersion: version, timeline: [{ key: `e${i}`, data: { i } }] });
          version = run.version;
        }
        const { items, pages } = await allPages((cursor) => store.timeline('acme', 't-page', { limit: 3, cursor }), { limit: 3 });
        expect(pages).toBe(3);
        expect(items.map((e) => e.data['i'])).toEqual([0, 1, 2, 3, 4, 5, 6]);
        expect(items.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
        // An update re-sending a key already appended does not append it again.
        await updated(store, 'acme', 't-page', { expectedVersion: version, timeline: [{ key: 'e6', data: { i: 'again' } }] });
        expect((await store.timeline('acme', 't-page', { limit: 100 })).items).toHaveLength(7);
        await expectInvalid(store.timeline('acme', 't-page', { cursor: 'junk' }));
      });

      it('keeps the newest runTimelineLimit entries and forgets the keys of dropped ones', async () => {
        const limit = RUN_STORE_CONTRACT_OPTIONS.runTimelineLimit;
        await created(store, newRun('t-cap'));
        await store.appendTimeline('acme', 't-cap', Array.from({ length: limit + 10 }, (_, i) => ({ key: `k${i}`, data: { i } })));
        const { items } = await store.timeline('acme', 't-cap', { limit: 1000 });
        expect(items).toHaveLength(limit);
        expect(items[0]?.seq).toBe(11);
        expect(items[limit - 1]?.seq).toBe(limit + 10);
        const re = await store.appendTimeline('acme', 't-cap', [{ key: 'k0', data: {} }, { key: `k${limit + 9}`, data: {} }]);
        expect(re).toEqual({ outcome: 'appended', entries: [{ seq: limit + 11, duplicate: false }, { seq: limit + 10, duplicate: true }] });
      });

      it('rejects bad entries', async () => {
        await created(store, newRun('t-bad'));
        await expectInvalid(store.appendTimeline('acme', 't-bad', [{ data: null }]));
        await expectInvalid(store.appendTimeline('acme', 't-bad', [{ key: 'x'.repeat(513), data: {} }]));
        await expectInvalid(store.appendTimeline('acme', 't-bad', 'nope' as never));
        expect((await store.timeline('acme', 't-bad')).items).toEqual([]);
      });
    });

    describe('inbox', () => {
      it('queues events without touching the run and drops them with the update that reduces them', async () => {
        const run = await created(store, newRun('i-1'));
        const t0 = await store.now();
        expect(await store.pushEvent('acme', 'i-1', { type: 'job_result', job_id: 'j1' }, { key: 'result:j1' })).toEqual({
          outcome: 'queued',
          seq: 1,
        });
        expect(await store.pushEvent('acme', 'i-1', { type: 'approve', step_id: 'gate', by: 'alice' })).toEqual({ outcome: 'queued', seq: 2 });
        expect(await store.pushEvent('acme', 'i-1', { type: 'job_result', job_id: 'j1' }, { key: 'result:j1' })).toEqual({
          outcome: 'duplicate',
          seq: 1,
        });
        expect(await store.get('acme', 'i-1')).toEqual(run);
        const events = await store.inbox('acme', 'i-1');
        expect(events.map((e) => [e.seq, e.key, e.event])).toEqual([
          [1, 'result:j1', { type: 'job_result', job_id: 'j1' }],
          [2, null, { type: 'approve', step_id: 'gate', by: 'alice' }],
        ]);
        for (const e of events) expect(e.at).toBeGreaterThanOrEqual(t0);
        expect(await store.inbox('acme', 'i-1', { limit: 1 })).toHaveLength(1);

        await store.pushEvent('acme', 'i-1', { type: 'cancel' });
        await updated(store, 'acme', 'i-1', { expectedVersion: 1, status: 'running', ackInbox: 2 });
        expect((await store.inbox('acme', 'i-1')).map((e) => e.seq)).toEqual([3]);
        // A key stays known for the run's lifetime, also after its event was reduced.
        expect(await store.pushEvent('acme', 'i-1', { type: 'job_result' }, { key: 'result:j1' })).toEqual({ outcome: 'duplicate', seq: 1 });
        await updated(store, 'acme', 'i-1', { expectedVersion: 2, ackInbox: 3 });
        expect(await store.inbox('acme', 'i-1')).toEqual([]);
        expect(await store.pushEvent('acme', 'i-1', { type: 'tick' })).toEqual({ outcome: 'queued', seq: 4 });
      });

      it('refuses events for a terminal run', async () => {
        await created(store, newRun('i-end'));
        await updated(store, 'acme', 'i-end', { expectedVersion: 1, status: 'cancelled' });
        expect(await store.pushEvent('acme', 'i-end', { type: 'approve' })).toEqual({ outcome: 'terminal', status: 'cancelled' });
        expect(await store.inbox('acme', 'i-end')).toEqual([]);
      });

      it('rejects bad events and limits', async () => {
        await created(store, newRun('i-bad'));
        await expectInvalid(store.pushEvent('acme', 'i-bad', 'text'));
        await expectInvalid(store.pushEvent('acme', 'i-bad', {}, { key: '' }));
        await expectInvalid(store.inbox('acme', 'i-bad', { limit: 0 }));
        await expectInvalid(store.inbox('acme', 'i-bad', { limit: 1001 }));
        expect(await store.inbox('acme', 'i-bad')).toEqual([]);
      });
    });

    describe('due index', () => {
      it('lists runs whose due time has passed, earliest first, across tenants', async () => {
        await created(store, newRun('due-3', { dueAt: 3_000 }));
        await created(store, newRun('due-1', { dueAt: 1_000 }));
        await created(store, newRun('due-2', { tenant: 'globex', dueAt: 2_000 }));
        await created(store, newRun('due-late', { dueAt: 9_000 }));
        await created(store, newRun('never'));
        const mine = async (before: number, limit?: number): Promise<string[]> =>
          (await store.listDue(limit === undefined ? { before } : { before, limit }))
            .filter((d) => d.id.startsWith('due-'))
            .map((d) => `${d.tenant}/${d.id}@${d.at}`);
        expect(await mine(3_000)).toEqual(['acme/due-1@1000', 'globex/due-2@2000', 'acme/due-3@3000']);
        expect(await mine(2_999, 1)).toEqual(['acme/due-1@1000']);
        await updated(store, 'acme', 'due-1', { expectedVersion: 1, dueAt: 2_500 });
        expect(await mine(3_000)).toEqual(['globex/due-2@2000', 'acme/due-1@2500', 'acme/due-3@3000']);
        await updated(store, 'acme', 'due-1', { expectedVersion: 2, dueAt: null });
        await updated(store, 'acme', 'due-3', { expectedVersion: 1, status: 'timed_out' });
        expect(await mine(10_000)).toEqual(['globex/due-2@2000', 'acme/due-late@9000']);
      });

      it('makes a run due when events are queued for it, until they are reduced', async () => {
        await created(store, newRun('due-ev', { dueAt: Number.MAX_SAFE_INTEGER - 1 }));
        const dueIds = async (): Promise<Array<{ id: string; at: number }>> =>
          (await store.listDue({ limit: 1000 })).filter((d) => d.id === 'due-ev').map(({ id, at }) => ({ id, at }));
        expect(await dueIds()).toEqual([]);
        const before = await store.now();
        await store.pushEvent('acme', 'due-ev', { type: 'job_result' });
        await fx.elapse(2);
        await store.pushEvent('acme', 'due-ev', { type: 'job_result' });
        const after = await store.now();
        const due = await dueIds();
        expect(due).toHaveLength(1);
        const at = due[0]?.at ?? 0;
        expect(at).toBeGreaterThanOrEqual(before);
        expect(at).toBeLessThan(after);
        // Reducing the first event leaves the run due for the second, at its later push time.
        await updated(store, 'acme', 'due-ev', { expectedVersion: 1, ackInbox: 1 });
        const later = await dueIds();
        expect(later[0]?.at ?? 0).toBeGreaterThan(at);
        await updated(store, 'acme', 'due-ev', { expectedVersion: 2, ackInbox: 2 });
        expect(await dueIds()).toEqual([]);
        // An earlier timer wins over a queued event.
        await store.pushEvent('acme', 'due-ev', { type: 'x' });
        await updated(store, 'acme', 'due-ev', { expectedVersion: 3, dueAt: 7 });
        expect(await store.listDue({ before: 7 })).toEqual([{ tenant: 'acme', id: 'due-ev', at: 7 }]);
      });

      it('compares with the store clock by default', async () => {
        const now = await store.now();
        await created(store, newRun('due-now', { dueAt: now - 1 }));
        await created(store, newRun('due-future', { dueAt: now + 3_600_000 }));
        const ids = (await store.listDue()).map((d) => d.id);
        expect(ids).toContain('due-now');
        expect(ids).not.toContain('due-future');
        await expectInvalid(store.listDue({ before: -1 }));
        await expectInvalid(store.listDue({ limit: 0 }));
      });
    });

    describe('activity index', () => {
      it('lists non-terminal runs least recently updated first, page by page', async () => {
        for (const id of ['a-1', 'a-2', 'a-3', 'a-4']) {
          await created(store, newRun(id));
          await fx.elapse(2);
        }
        await created(store, newRun('a-x', { tenant: 'globex' }));
        await fx.elapse(2);
        await updated(store, 'acme', 'a-1', { expectedVersion: 1, status: 'running' });
        await updated(store, 'acme', 'a-3', { expectedVersion: 1, status: 'failed' });
        const all = async (options: { updatedBefore?: number } = {}): Promise<string[]> => {
          const { items } = await allPages((cursor) => store.listActive({ ...options, limit: 2, cursor }), { limit: 2 });
          return items.map((a) => `${a.tenant}/${a.id}`);
        };
        expect(await all()).toEqual(['acme/a-2', 'acme/a-4', 'globex/a-x', 'acme/a-1']);
        const a4 = await store.get('acme', 'a-4');
        expect(await all({ updatedBefore: a4?.updatedAt ?? 0 })).toEqual(['acme/a-2', 'acme/a-4']);
        const page = await store.listActive({ limit: 1 });
        expect(page.items[0]).toEqual({ tenant: 'acme', id: 'a-2', updatedAt: (await store.get('acme', 'a-2'))?.updatedAt });
        await expectInvalid(store.listActive({ cursor: 'junk' }));
        await expectInvalid(store.listActive({ updatedBefore: -1 }));
      });

      it('sees every run the scan does not touch exactly once, even when others move behind the cursor', async () => {
        for (let i = 0; i < 6; i++) {
          await created(store, newRun(`m-${i}`));
          await fx.elapse(2);
        }
        const first = await store.listActive({ limit: 2 });
        expect(first.items.map((a) => a.id)).toEqual(['m-0', 'm-1']);
        // m-0 (already seen) and m-3 (not yet) are updated: both move to the end.
        await updated(store, 'acme', 'm-0', { expectedVersion: 1 });
        await updated(store, 'acme', 'm-3', { expectedVersion: 1 });
        const { items } = await allPages((cursor) => store.listActive({ limit: 2, cursor }), { from: first.nextCursor });
        expect(items.map((a) => a.id)).toEqual(['m-2', 'm-4', 'm-5', 'm-0', 'm-3']);
      });
    });
  });
}
