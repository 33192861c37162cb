import type { JsonValue } from '@cordum/core';
import { type ConfigDoc, type ConfigRef, type ConfigStore, SYSTEM_TENANT, encodeCursor } from '@cordum/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allPages, expectInvalid } from './assertions.js';
import type { PortFactory, PortFixture } from './fixture.js';

// What every ConfigStore adapter must do. History trimming is observed, not assumed: the suite writes more
// revisions than any sensible configHistoryLimit (150 > the default 100) and checks that exactly the newest
// `limit` survive, so a test file may (and should, to keep it quick) pass a small configHistoryLimit.

const TRIM_PROBE_WRITES = 150;

const team = (tenant: string, scopeId: string): ConfigRef => ({ scope: 'team', tenant, scopeId });
const system = (scopeId: string): ConfigRef => ({ scope: 'system', scopeId });

/** Every revision of the history, newest first, following nextCursor until null. */
const allHistory = (store: ConfigStore, ref: ConfigRef, limit: number): Promise<{ items: ConfigDoc[]; pages: number }> =>
  allPages((cursor) => store.history(ref, { limit, cursor }));

export function runConfigStoreContract(label: string, factory: PortFactory<ConfigStore>): void {
  describe(`ConfigStore contract (${label})`, () => {
    let fx: PortFixture<ConfigStore>;
    let store: ConfigStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.port;
    });
    afterEach(async () => {
      await fx.close();
    });

    describe('put and get', () => {
      it('returns undefined for a document that was never written', async () => {
        expect(await store.get(team('acme', 'payments'))).toBeUndefined();
        expect(await store.get(system('default'))).toBeUndefined();
      });

      it('writes revision 1 and reads it back with every field', async () => {
        const before = Date.now();
        const written = await store.put(team('acme', 'payments'), {
          data: { pools: { gpu: { requires: ['gpu'] } }, list: [], big: 9007199254740991, nested: { a: [1, { b: null }] } },
          meta: { note: 'first' },
          actor: 'alice',
        });
        expect(written).toEqual({
          scope: 'team',
          scopeId: 'payments',
          tenant: 'acme',
          revision: 1,
          data: { pools: { gpu: { requires: ['gpu'] } }, list: [], big: 9007199254740991, nested: { a: [1, { b: null }] } },
          meta: { note: 'first' },
          updatedAt: written.updatedAt,
          updatedBy: 'alice',
        });
        // Store clock: memory's manual clock starts at the real time, Redis TIME is the real time.
        expect(Math.abs(written.updatedAt - before)).toBeLessThan(60_000);
        expect(Number.isInteger(written.updatedAt)).toBe(true);
        expect(await store.get(team('acme', 'payments'))).toEqual(written);
      });

      it('defaults meta to {} and updatedBy to ""', async () => {
        const doc = await store.put(team('acme', 'x'), { data: { a: 1 } });
        expect(doc.meta).toEqual({});
        expect(doc.updatedBy).toBe('');
      });

      it('keeps system documents under the system tenant', async () => {
        const doc = await store.put(system('default'), { data: { pools: {} } });
        expect(doc).toMatchObject({ scope: 'system', scopeId: 'default', tenant: SYSTEM_TENANT, revision: 1 });
        expect(await store.get(system('default'))).toEqual(doc);
      });

      it('numbers revisions 1, 2, 3 and moves updatedAt forward with the store clock', async () => {
        const ref = team('acme', 'payments');
        const r1 = await store.put(ref, { data: { v: 1 } });
        await fx.elapse(5);
        const r2 = await store.put(ref, { data: { v: 2 } });
        await fx.elapse(5);
        const r3 = await store.put(ref, { data: { v: 3 } });
        expect([r1.revision, r2.revision, r3.revision]).toEqual([1, 2, 3]);
        expect(r2.updatedAt).toBeGreaterThan(r1.updatedAt);
        expect(r3.updatedAt).toBeGreaterThan(r2.updatedAt);
        expect(await store.get(ref)).toMatchObject({ revision: 3, data: { v: 3 } });
      });

      it('keeps documents of different scopes and ids apart', async () => {
        await store.put({ scope: 'org', tenant: 'acme', scopeId: 'x' }, { data: { s: 'org' } });
        await store.put({ scope: 'team', tenant: 'acme', scopeId: 'x' }, { data: { s: 'team' } });
        await store.put({ scope: 'workflow', tenant: 'acme', scopeId: 'x' }, { data: { s: 'workflow' } });
        await store.put({ scope: 'step', tenant: 'acme', scopeId: 'x' }, { data: { s: 'step' } });
        await store.put(system('x'), { data: { s: 'system' } });
        await store.put(team('acme', 'x:hist'), { data: { s: 'colon id' } });
        for (const scope of ['org', 'team', 'workflow', 'step'] as const) {
          expect(await store.get({ scope, tenant: 'acme', scopeId: 'x' })).toMatchObject({ revision: 1, data: { s: scope } });
        }
        expect(await store.get(system('x'))).toMatchObject({ revision: 1, data: { s: 'system' } });
        expect(await store.get(team('acme', 'x:hist'))).toMatchObject({ revision: 1, data: { s: 'colon id' } });
      });

      it('never shares objects with the caller', async () => {
        const data: Record<string, JsonValue> = { list: [1, 2], obj: { k: 'v' } };
        const ref = team('acme', 'copy');
        const written = await store.put(ref, { data, meta: { m: 1 } });
        (data['list'] as JsonValue[]).push(3);
        (written.data['obj'] as Record<string, JsonValue>)['k'] = 'changed by caller';
        const read = await store.get(ref);
        expect(read?.data).toEqual({ list: [1, 2], obj: { k: 'v' } });
        (read!.meta as Record<string, JsonValue>)['m'] = 2;
        expect((await store.get(ref))?.meta).toEqual({ m: 1 });
        expect((await store.getRevision(ref, 1))?.meta).toEqual({ m: 1 });
      });

      it('drops undefined properties like JSON does', async () => {
        const doc = await store.put(team('acme', 'u'), { data: { a: 1, gone: undefined } as unknown as Record<string, JsonValue> });
        expect(doc.data).toEqual({ a: 1 });
        expect(Object.keys((await store.get(team('acme', 'u')))!.data)).toEqual(['a']);
      });
    });

    describe('compare-and-set', () => {
      it('expectedRevision 0 creates only when absent', async () => {
        const ref = team('acme', 'cas');
        expect(await store.put(ref, { data: { a: 1 }, expectedRevision: 0 })).toMatchObject({ revision: 1 });
        await expect(store.put(ref, { data: { a: 2 }, expectedRevision: 0 })).rejects.toMatchObject({
          kind: 'conflict',
          code: 'revision_conflict',
          details: { current_revision: 1, expected_revision: 0, message: expect.any(String) as unknown },
        });
        expect(await store.get(ref)).toMatchObject({ revision: 1, data: { a: 1 } });
      });

      it('expectedRevision n writes only over revision n', async () => {
        const ref = team('acme', 'cas');
        await store.put(ref, { data: { a: 1 } });
        await store.put(ref, { data: { a: 2 } });
        await expect(store.put(ref, { data: { a: 3 }, expectedRevision: 1 })).rejects.toMatchObject({
          code: 'revision_conflict',
          details: { current_revision: 2 },
        });
        expect(await store.put(ref, { data: { a: 3 }, expectedRevision: 2 })).toMatchObject({ revision: 3, data: { a: 3 } });
        const history = await store.history(ref);
        expect(history.items.map((d) => d.revision)).toEqual([3, 2, 1]);
      });

      it('a CAS on a missing document reports current_revision 0', async () => {
        await expect(store.put(team('acme', 'nope'), { data: {}, expectedRevision: 4 })).rejects.toMatchObject({
          code: 'revision_conflict',
          details: { current_revision: 0, expected_revision: 4 },
        });
        expect(await store.get(team('acme', 'nope'))).toBeUndefined();
        expect((await store.history(team('acme', 'nope'))).items).toEqual([]);
      });

      it('lets exactly one of many concurrent writers with the same expectedRevision win', async () => {
        const ref = team('acme', 'race');
        await store.put(ref, { data: { writer: -1 } });
        const writers = [store, fx.twin(), fx.twin(), fx.twin()];
        const attempts = Array.from({ length: 12 }, (_, i) =>
          writers[i % writers.length]!.put(ref, { data: { writer: i }, expectedRevision: 1, actor: `w${i}` }),
        );
        const results = await Promise.allSettled(attempts);
        const won = results.filter((r): r is PromiseFulfilledResult<ConfigDoc> => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(11);
        for (const l of lost) expect(l.reason).toMatchObject({ code: 'revision_conflict', details: { current_revision: 2 } });
        const winner = won[0]!.value;
        expect(winner.revision).toBe(2);
        const history = await store.history(ref);
        expect(history.items.map((d) => d.revision)).toEqual([2, 1]);
        expect(history.items[0]).toEqual(winner);
        expect(await fx.twin().get(ref)).toEqual(winner);
      });

      it('gives unconditional concurrent writers distinct consecutive revisions', async () => {
        const ref = team('acme', 'burst');
        await store.put(ref, { data: { n: 0 } });
        const writers = [store, fx.twin(), fx.twin()];
        const docs = await Promise.all(
          Array.from({ length: 4 }, (_, i) => writers[i % writers.length]!.put(ref, { data: { n: i + 1 } })),
        );
        expect(docs.map((d) => d.revision).sort((a, b) => a - b)).toEqual([2, 3, 4, 5]);
        const current = await store.get(ref);
        expect(current?.revision).toBe(5);
        expect(current).toEqual(docs.find((d) => d.revision === 5));
      });
    });

    describe('history and revisions', () => {
      it('keeps every revision readable, newest first', async () => {
        const ref = team('acme', 'h');
        const written: ConfigDoc[] = [];
        for (let i = 1; i <= 3; i++) written.push(await store.put(ref, { data: { v: i }, meta: { i }, actor: `a${i}` }));
        for (const doc of written) expect(await store.getRevision(ref, doc.revision)).toEqual(doc);
        expect((await store.history(ref)).items).toEqual([...written].reverse());
        expect(await store.getRevision(ref, 4)).toBeUndefined();
        expect(await store.getRevision(team('acme', 'other'), 1)).toBeUndefined();
      });

      it('pages through history without gaps or duplicates', async () => {
        const ref = team('acme', 'paged');
        for (let i = 1; i <= 4; i++) await store.put(ref, { data: { v: i } });
        const first = await store.history(ref, { limit: 3 });
        expect(first.items.map((d) => d.revision)).toEqual([4, 3, 2]);
        expect(first.nextCursor).not.toBeNull();
        const second = await store.history(ref, { limit: 3, cursor: first.nextCursor });
        expect(second.items.map((d) => d.revision)).toEqual([1]);
        expect(second.nextCursor).toBeNull();
        const { items: docs, pages } = await allHistory(store, ref, 1);
        expect(docs.map((d) => d.revision)).toEqual([4, 3, 2, 1]);
        expect(pages).toBe(4);
        const exact = await store.history(ref, { limit: 4 });
        expect(exact.items).toHaveLength(4);
        expect(exact.nextCursor).toBeNull();
      });

      it('trims history to the configured limit, oldest first, and never reuses trimmed numbers', async () => {
        const ref = team('acme', 'trim');
        for (let i = 1; i <= TRIM_PROBE_WRITES; i++) await store.put(ref, { data: { v: i } });
        const { items: docs, pages } = await allHistory(store, ref, 2);
        const kept = docs.length;
        expect(kept, 'history must be trimmed (configHistoryLimit below 150)').toBeLessThan(TRIM_PROBE_WRITES);
        expect(kept).toBeGreaterThanOrEqual(1);
        expect(pages).toBe(Math.ceil(kept / 2));
        const oldestKept = TRIM_PROBE_WRITES - kept + 1;
        expect(docs.map((d) => d.revision)).toEqual(
          Array.from({ length: kept }, (_, i) => TRIM_PROBE_WRITES - i),
        );
        expect(docs.map((d) => d.data['v'])).toEqual(docs.map((d) => d.revision));
        expect(await store.getRevision(ref, oldestKept)).toMatchObject({ revision: oldestKept, data: { v: oldestKept } });
        expect(await store.getRevision(ref, oldestKept - 1)).toBeUndefined();
        await expect(store.rollback(ref, oldestKept - 1)).rejects.toMatchObject({ kind: 'not_found', code: 'not_found' });

        const next = await store.put(ref, { data: { v: TRIM_PROBE_WRITES + 1 } });
        expect(next.revision).toBe(TRIM_PROBE_WRITES + 1);
        const after = await allHistory(store, ref, 50);
        expect(after.items).toHaveLength(kept);
        expect(after.items[0]).toEqual(next);
        expect(after.items[after.items.length - 1]?.revision).toBe(oldestKept + 1);
        expect(await store.getRevision(ref, oldestKept)).toBeUndefined();
      });
    });

    describe('rollback', () => {
      it('writes a new revision carrying the data and meta of the old one', async () => {
        const ref = team('acme', 'rb');
        await store.put(ref, { data: { v: 1, list: [] }, meta: { note: 'one' }, actor: 'alice' });
        await store.put(ref, { data: { v: 2 }, meta: { note: 'two' }, actor: 'bob' });
        const rolled = await store.rollback(ref, 1, { actor: 'carol' });
        expect(rolled).toMatchObject({ revision: 3, data: { v: 1, list: [] }, meta: { note: 'one' }, updatedBy: 'carol' });
        expect(await store.get(ref)).toEqual(rolled);
        expect((await store.history(ref)).items.map((d) => d.revision)).toEqual([3, 2, 1]);
        expect(await store.getRevision(ref, 1)).toMatchObject({ revision: 1, updatedBy: 'alice' });
      });

      it('honours expectedRevision', async () => {
        const ref = team('acme', 'rb');
        await store.put(ref, { data: { v: 1 } });
        await store.put(ref, { data: { v: 2 } });
        await expect(store.rollback(ref, 1, { expectedRevision: 1 })).rejects.toMatchObject({
          code: 'revision_conflict',
          details: { current_revision: 2, expected_revision: 1 },
        });
        expect(await store.get(ref)).toMatchObject({ revision: 2 });
        expect(await store.rollback(ref, 1, { expectedRevision: 2 })).toMatchObject({ revision: 3, data: { v: 1 } });
      });

      it('throws NotFoundError for a revision that never existed', async () => {
        const ref = team('acme', 'rb');
        await expect(store.rollback(ref, 1)).rejects.toMatchObject({ kind: 'not_found', code: 'not_found' });
        await store.put(ref, { data: { v: 1 } });
        await expect(store.rollback(ref, 2)).rejects.toMatchObject({ kind: 'not_found', code: 'not_found' });
        expect(await store.get(ref)).toMatchObject({ revision: 1 });
      });

      it('restores a deleted document with the next revision number', async () => {
        const ref = team('acme', 'rb');
        await store.put(ref, { data: { v: 1 } });
        await store.put(ref, { data: { v: 2 } });
        expect(await store.delete(ref)).toBe(true);
        expect(await store.rollback(ref, 1, { expectedRevision: 0 })).toMatchObject({ revision: 3, data: { v: 1 } });
        expect(await store.list('team', 'acme')).toEqual(['rb']);
      });
    });

    describe('delete', () => {
      it('deletes the current document, keeps its history and never reuses its revisions', async () => {
        const ref = team('acme', 'd');
        await store.put(ref, { data: { v: 1 } });
        await store.put(ref, { data: { v: 2 } });
        expect(await store.delete(ref)).toBe(true);
        expect(await store.get(ref)).toBeUndefined();
        expect(await store.delete(ref)).toBe(false);
        expect((await store.history(ref)).items.map((d) => d.revision)).toEqual([2, 1]);
        expect(await store.getRevision(ref, 2)).toMatchObject({ data: { v: 2 } });
        // Re-creating continues the numbering; 0 means "must not exist", which holds again after delete.
        const again = await store.put(ref, { data: { v: 3 }, expectedRevision: 0 });
        expect(again.revision).toBe(3);
        expect((await store.history(ref)).items.map((d) => d.revision)).toEqual([3, 2, 1]);
      });

      it('is compare-and-set like put', async () => {
        const ref = team('acme', 'd');
        await expect(store.delete(ref, { expectedRevision: 1 })).rejects.toMatchObject({
          code: 'revision_conflict',
          details: { current_revision: 0 },
        });
        expect(await store.delete(ref, { expectedRevision: 0 })).toBe(false);
        await store.put(ref, { data: { v: 1 } });
        await store.put(ref, { data: { v: 2 } });
        await expect(store.delete(ref, { expectedRevision: 1 })).rejects.toMatchObject({
          code: 'revision_conflict',
          details: { current_revision: 2 },
        });
        await expect(store.delete(ref, { expectedRevision: 0 })).rejects.toMatchObject({ code: 'revision_conflict' });
        expect(await store.get(ref)).toMatchObject({ revision: 2 });
        expect(await store.delete(ref, { expectedRevision: 2 })).toBe(true);
        expect(await store.get(ref)).toBeUndefined();
      });
    });

    describe('list', () => {
      it('lists the scope ids that have a document, sorted, per scope and tenant', async () => {
        expect(await store.list('team', 'acme')).toEqual([]);
        for (const id of ['b', 'a', 'c:1']) await store.put(team('acme', id), { data: {} });
        await store.put({ scope: 'org', tenant: 'acme', scopeId: 'acme' }, { data: {} });
        await store.put(team('globex', 'z'), { data: {} });
        await store.put(system('default'), { data: {} });
        await store.put(system('policy'), { data: {} });
        expect(await store.list('team', 'acme')).toEqual(['a', 'b', 'c:1']);
        expect(await store.list('org', 'acme')).toEqual(['acme']);
        expect(await store.list('team', 'globex')).toEqual(['z']);
        expect(await store.list('workflow', 'acme')).toEqual([]);
        expect(await store.list('system')).toEqual(['default', 'policy']);
        await store.delete(team('acme', 'b'));
        expect(await store.list('team', 'acme')).toEqual(['a', 'c:1']);
      });
    });

    describe('tenant isolation', () => {
      it('never shows or changes one tenant’s documents through another', async () => {
        const a = team('tenant-a', 'shared-name');
        const b = team('tenant-b', 'shared-name');
        await store.put(a, { data: { owner: 'a' } });
        await store.put(a, { data: { owner: 'a', v: 2 } });
        expect(await store.get(b)).toBeUndefined();
        expect(await store.getRevision(b, 1)).toBeUndefined();
        expect((await store.history(b)).items).toEqual([]);
        expect(await store.list('team', 'tenant-b')).toEqual([]);
        expect(await store.delete(b)).toBe(false);
        await expect(store.rollback(b, 1)).rejects.toMatchObject({ code: 'not_found' });
        // B's namespace is independent: its CAS sees nothing, its revisions start at 1.
        expect(await store.put(b, { data: { owner: 'b' }, expectedRevision: 0 })).toMatchObject({ revision: 1, tenant: 'tenant-b' });
        expect(await store.get(a)).toMatchObject({ revision: 2, tenant: 'tenant-a', data: { owner: 'a', v: 2 } });
        // A tenant's org document is not the system document of the same id.
        await store.put({ scope: 'org', tenant: 'tenant-a', scopeId: 'default' }, { data: { mine: true } });
        expect(await store.get(system('default'))).toBeUndefined();
      });
    });

    describe('invalid input', () => {
      it('rejects bad refs', async () => {
        await expectInvalid(store.get({ scope: 'global', scopeId: 'x' } as unknown as ConfigRef));
        await expectInvalid(store.get({ scope: 'team', scopeId: 'x' } as unknown as ConfigRef));
        await expectInvalid(store.get(team('bad:tenant', 'x')));
        await expectInvalid(store.get(team('', 'x')));
        await expectInvalid(store.get(team('a/b', 'x')));
        await expectInvalid(store.get(team('acme', '')));
        await expectInvalid(store.get(team('acme', 'x'.repeat(257))));
        await expectInvalid(store.get(team('acme', 'line\nbreak')));
        await expectInvalid(store.put(team('bad tenant', 'x'), { data: {} }));
        await expectInvalid(store.list('team'));
        await expectInvalid(store.list('team', 'bad:tenant'));
        await expectInvalid(store.list('nope' as never, 'acme'));
      });

      it('rejects data and meta that are not JSON objects', async () => {
        const ref = team('acme', 'x');
        await expectInvalid(store.put(ref, { data: [] as never }));
        await expectInvalid(store.put(ref, { data: null as never }));
        await expectInvalid(store.put(ref, { data: 'text' as never }));
        await expectInvalid(store.put(ref, { data: { n: Number.NaN } }));
        await expectInvalid(store.put(ref, { data: { when: new Map() as never } }));
        await expectInvalid(store.put(ref, { data: {}, meta: [] as never }));
        await expectInvalid(store.put(ref, { data: {}, actor: 5 as never }));
        expect(await store.get(ref)).toBeUndefined();
      });

      it('rejects bad revisions, limits and cursors', async () => {
        const ref = team('acme', 'x');
        await store.put(ref, { data: {} });
        await expectInvalid(store.put(ref, { data: {}, expectedRevision: -1 }));
        await expectInvalid(store.put(ref, { data: {}, expectedRevision: 1.5 }));
        await expectInvalid(store.put(ref, { data: {}, expectedRevision: 1n as never }));
        await expectInvalid(store.put(ref, { data: { n: 1n as never } }));
        await expectInvalid(store.get(team(7n as never, 'x')));
        await expectInvalid(store.delete(ref, { expectedRevision: -1 }));
        await expectInvalid(store.getRevision(ref, 0));
        await expectInvalid(store.getRevision(ref, 1.5));
        await expectInvalid(store.rollback(ref, 0));
        await expectInvalid(store.rollback(ref, 1, { expectedRevision: -2 }));
        await expectInvalid(store.rollback(ref, 99, { expectedRevision: -2 }));
        await expectInvalid(store.rollback(ref, 99, { actor: 'x'.repeat(300) }));
        await expectInvalid(store.history(ref, { limit: 0 }));
        await expectInvalid(store.history(ref, { limit: 1001 }));
        await expectInvalid(store.history(ref, { limit: 2.5 }));
        await expectInvalid(store.history(ref, { cursor: 'not a cursor' }));
        await expectInvalid(store.history(ref, { cursor: encodeCursor({ r: 'x' }) }));
        await expectInvalid(store.history(ref, { cursor: encodeCursor({ r: 0 }) }));
        expect(await store.get(ref)).toMatchObject({ revision: 1 });
      });
    });
  });
}
