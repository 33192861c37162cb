import { ConflictError, type JsonValue, hashJson } from '@cordum/core';
import { type WorkflowRecord, type WorkflowStore, encodeCursor } from '@cordum/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allPages, expectInvalid, expectRejection } from './assertions.js';
import type { PortFactory, PortFixture } from './fixture.js';

// What every WorkflowStore adapter must do: every put a new immutable version (runs pin one), the latest
// by get, any version by getVersion (also after delete, until purged), compare-and-set on the latest
// version, listing in id order with stable cursors, and nothing visible across tenants.

const ECHO: Record<string, JsonValue> = {
  id: 'hello-pack.echo',
  name: 'Echo',
  input_schema: { type: 'object', properties: { text: { type: 'string' } } },
  steps: {
    first: { type: 'worker', topic: 'job.hello-pack.echo', input: { text: '${input.text}' } },
    second: { type: 'worker', topic: 'job.hello-pack.echo', depends_on: ['first'] },
  },
};

const listAll = (store: WorkflowStore, tenant: string, limit: number): Promise<{ items: WorkflowRecord[]; pages: number }> =>
  allPages((cursor) => store.list(tenant, { limit, cursor }), { limit });

export function runWorkflowStoreContract(label: string, factory: PortFactory<WorkflowStore>): void {
  describe(`WorkflowStore contract (${label})`, () => {
    let fx: PortFixture<WorkflowStore>;
    let store: WorkflowStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.port;
    });
    afterEach(async () => {
      await fx.close();
    });

    describe('put and get', () => {
      it('answers nothing for an unknown workflow', async () => {
        expect(await store.get('acme', 'nope')).toBeUndefined();
        expect(await store.getVersion('acme', 'nope', 1)).toBeUndefined();
        expect(await store.list('acme')).toEqual({ items: [], nextCursor: null });
        expect(await store.delete('acme', 'nope')).toBe(false);
      });

      it('stores version 1 with the canonical hash and a store-clock time', async () => {
        const before = Date.now();
        const record = await store.put('acme', 'hello-pack.echo', ECHO);
        expect(record).toEqual({
          tenant: 'acme',
          id: 'hello-pack.echo',
          version: 1,
          doc: ECHO,
          sha256: hashJson(ECHO),
          createdAt: record.createdAt,
        });
        expect(Number.isSafeInteger(record.createdAt)).toBe(true);
        expect(Math.abs(record.createdAt - before)).toBeLessThan(60_000);
        expect(await store.get('acme', 'hello-pack.echo')).toEqual(record);
        expect(await store.getVersion('acme', 'hello-pack.echo', 1)).toEqual(record);
      });

      it('makes every put a new version and keeps the earlier ones unchanged', async () => {
        const v1 = await store.put('acme', 'wf', { steps: { a: { type: 'worker' } } });
        await fx.elapse(2);
        const v2 = await store.put('acme', 'wf', { steps: { a: { type: 'worker' }, b: { type: 'delay', delay_sec: 1 } } });
        // Same content again is still a new version; the hash tells a caller it did not change.
        const v3 = await store.put('acme', 'wf', { steps: { b: { delay_sec: 1, type: 'delay' }, a: { type: 'worker' } } });
        expect([v1.version, v2.version, v3.version]).toEqual([1, 2, 3]);
        expect(v3.sha256).toBe(v2.sha256);
        expect(v2.sha256).not.toBe(v1.sha256);
        expect(v2.createdAt).toBeGreaterThan(v1.createdAt);
        expect(await store.get('acme', 'wf')).toEqual(v3);
        expect(await store.getVersion('acme', 'wf', 1)).toEqual(v1);
        expect(await store.getVersion('acme', 'wf', 2)).toEqual(v2);
        expect(await store.getVersion('acme', 'wf', 4)).toBeUndefined();
      });

      it('round-trips JSON that a naive encoder would alter', async () => {
        const doc = JSON.parse(
          '{"empty":[],"obj":{},"big":9007199254740991,"tiny":1e-7,"neg":-0.5,"text":"héllo ✓ \\"q\\" \\\\ \\n","n":null,"__proto__":{"x":1}}',
        ) as Record<string, JsonValue>;
        const record = await store.put('acme', 'exact', doc);
        expect(record.doc).toEqual(doc);
        const read = await store.get('acme', 'exact');
        expect(read?.doc).toEqual(doc);
        expect(Object.prototype.hasOwnProperty.call(read?.doc, '__proto__')).toBe(true);
        expect(JSON.stringify(read?.doc)).toBe(JSON.stringify(doc));
      });

      it('never shares objects with the caller', async () => {
        const doc = { steps: { a: { type: 'worker' } } };
        const record = await store.put('acme', 'copy', doc);
        doc.steps.a.type = 'changed';
        (record.doc['steps'] as Record<string, Record<string, string>>)['a'] = { type: 'mutated' };
        const read = await store.get('acme', 'copy');
        expect(read?.doc).toEqual({ steps: { a: { type: 'worker' } } });
        (read?.doc as Record<string, JsonValue>)['steps'] = null;
        expect((await store.getVersion('acme', 'copy', 1))?.doc).toEqual({ steps: { a: { type: 'worker' } } });
      });

      it('keeps tenants apart: same id, independent versions', async () => {
        await store.put('acme', 'shared', { owner: 'acme' });
        await store.put('acme', 'shared', { owner: 'acme', v: 2 });
        const other = await store.put('globex', 'shared', { owner: 'globex' });
        expect(other.version).toBe(1);
        expect((await store.get('acme', 'shared'))?.doc).toEqual({ owner: 'acme', v: 2 });
        expect((await store.get('globex', 'shared'))?.doc).toEqual({ owner: 'globex' });
        expect(await store.getVersion('globex', 'shared', 2)).toBeUndefined();
        expect(await store.delete('globex', 'shared')).toBe(true);
        expect((await store.get('acme', 'shared'))?.version).toBe(2);
      });

      it('is visible to another instance over the same backend', async () => {
        const record = await store.put('acme', 'seen', ECHO);
        const other = fx.twin();
        expect(await other.get('acme', 'seen')).toEqual(record);
        const next = await other.put('acme', 'seen', { changed: true }, { expectedVersion: 1 });
        expect(await store.get('acme', 'seen')).toEqual(next);
      });
    });

    describe('compare-and-set', () => {
      it('checks expectedVersion against the latest version and writes nothing on a mismatch', async () => {
        const v1 = await store.put('acme', 'cas', { n: 1 }, { expectedVersion: 0 });
        const err = await expectRejection(store.put('acme', 'cas', { n: 2 }, { expectedVersion: 0 }), ConflictError, 'revision_conflict');
        expect(err.details).toMatchObject({ current_version: 1, expected_version: 0 });
        expect(err.message).toContain('cas');
        await expectRejection(store.put('acme', 'cas', { n: 2 }, { expectedVersion: 2 }), ConflictError, 'revision_conflict');
        expect(await store.get('acme', 'cas')).toEqual(v1);
        expect(await store.getVersion('acme', 'cas', 2)).toBeUndefined();
        const v2 = await store.put('acme', 'cas', { n: 2 }, { expectedVersion: 1 });
        expect(v2.version).toBe(2);
      });

      it('lets exactly one of several writers holding the same version win', async () => {
        await store.put('acme', 'race', { n: 0 });
        const views = [store, fx.twin(), fx.twin()];
        const results = await Promise.allSettled(
          Array.from({ length: 9 }, (_, i) => views[i % views.length]!.put('acme', 'race', { n: i + 1 }, { expectedVersion: 1 })),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'revision_conflict' });
        }
        expect((await store.get('acme', 'race'))?.version).toBe(2);
      });

      it('gives concurrent unconditional puts distinct consecutive versions', async () => {
        const views = [store, fx.twin(), fx.twin()];
        const records = await Promise.all(
          Array.from({ length: 12 }, (_, i) => views[i % views.length]!.put('acme', 'many', { n: i })),
        );
        expect(records.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
        const latest = await store.get('acme', 'many');
        expect(latest?.version).toBe(12);
        // Each version holds the document of the put that got it.
        for (const r of records) expect((await store.getVersion('acme', 'many', r.version))?.doc).toEqual(r.doc);
      });
    });

    describe('list', () => {
      it('lists the latest version of each workflow in id order, page by page', async () => {
        const ids = ['b', 'a', 'e', 'c', 'd'];
        for (const id of ids) await store.put('acme', id, { id });
        await store.put('acme', 'c', { id: 'c', v: 2 });
        await store.put('globex', 'z', { id: 'z' });
        const { items, pages } = await listAll(store, 'acme', 2);
        expect(items.map((w) => w.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
        expect(pages).toBe(3);
        expect(items.find((w) => w.id === 'c')).toMatchObject({ version: 2, doc: { id: 'c', v: 2 } });
        expect((await store.list('acme', { limit: 5 })).nextCursor).toBeNull();
        expect((await store.list('globex')).items.map((w) => w.id)).toEqual(['z']);
      });

      it('skips deleted workflows and rejects malformed cursors and limits', async () => {
        for (const id of ['a', 'b', 'c']) await store.put('acme', id, {});
        await store.delete('acme', 'b');
        expect((await listAll(store, 'acme', 1)).items.map((w) => w.id)).toEqual(['a', 'c']);
        await expectInvalid(store.list('acme', { cursor: 'not-a-cursor' }));
        await expectInvalid(store.list('acme', { cursor: encodeCursor({ c: 1 }) }));
        await expectInvalid(store.list('acme', { limit: 0 }));
        await expectInvalid(store.list('acme', { limit: 1001 }));
      });
    });

    describe('delete', () => {
      it('removes the workflow from get and list but keeps its versions for pinned runs', async () => {
        const v1 = await store.put('acme', 'gone', { n: 1 });
        const v2 = await store.put('acme', 'gone', { n: 2 });
        expect(await store.delete('acme', 'gone')).toBe(true);
        expect(await store.get('acme', 'gone')).toBeUndefined();
        expect((await store.list('acme')).items).toEqual([]);
        expect(await store.getVersion('acme', 'gone', 1)).toEqual(v1);
        expect(await store.getVersion('acme', 'gone', 2)).toEqual(v2);
        expect(await store.delete('acme', 'gone')).toBe(false);
        // A re-created workflow continues the numbering: version 1 still means the old definition.
        const again = await store.put('acme', 'gone', { n: 3 }, { expectedVersion: 0 });
        expect(again.version).toBe(3);
        expect(await store.getVersion('acme', 'gone', 1)).toEqual(v1);
      });

      it('purges the versions when asked, also of an already deleted workflow', async () => {
        await store.put('acme', 'p', { n: 1 });
        expect(await store.delete('acme', 'p', { purgeVersions: true })).toBe(true);
        expect(await store.getVersion('acme', 'p', 1)).toBeUndefined();
        await store.put('acme', 'q', { n: 1 });
        await store.delete('acme', 'q');
        expect(await store.delete('acme', 'q', { purgeVersions: true })).toBe(false);
        expect(await store.getVersion('acme', 'q', 1)).toBeUndefined();
        expect((await store.put('acme', 'p', { n: 2 })).version).toBe(2);
      });
    });

    describe('input checks', () => {
      it('rejects bad tenants, ids, documents and expected versions without writing', async () => {
        const cyclic: Record<string, unknown> = {};
        cyclic['self'] = cyclic;
        await expectInvalid(store.put('', 'wf', {}));
        await expectInvalid(store.put('a:b', 'wf', {}));
        await expectInvalid(store.put('acme', '', {}));
        await expectInvalid(store.put('acme', 'a b', {}));
        await expectInvalid(store.put('acme', 'a/b', {}));
        await expectInvalid(store.put('acme', 'x'.repeat(201), {}));
        for (const doc of [null, [], 'text', 5, cyclic, { n: 10n }]) await expectInvalid(store.put('acme', 'wf', doc));
        await expectInvalid(store.put('acme', 'wf', {}, { expectedVersion: -1 }));
        await expectInvalid(store.put('acme', 'wf', {}, { expectedVersion: 1.5 }));
        await expectInvalid(store.get('bad tenant', 'wf'));
        expect(await store.get('acme', 'wf')).toBeUndefined();
        expect(await store.getVersion('acme', 'wf', 1)).toBeUndefined();
      });

      it('answers undefined for ids and versions that cannot exist', async () => {
        await store.put('acme', 'ok', {});
        expect(await store.get('acme', 'a b')).toBeUndefined();
        expect(await store.getVersion('acme', 'ok', 0)).toBeUndefined();
        expect(await store.getVersion('acme', 'ok', -1)).toBeUndefined();
        expect(await store.getVersion('acme', 'ok', 1.5)).toBeUndefined();
        expect(await store.delete('acme', 'a b')).toBe(false);
      });
    });
  });
}
