import type { JsonValue } from '@cordum/core';
import { type DlqEntry, type DlqStore, type NewDlqEntry, encodeCursor } from '@cordum/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allPages, expectInvalid } from './assertions.js';
import type { PortFactory, PortFixture } from './fixture.js';

// What every DlqStore adapter must do: upsert by (tenant, jobId), newest first by createdAt then jobId,
// stable cursors, reasonCode filtering, count, and nothing visible across tenants.

const entry = (overrides: Partial<NewDlqEntry> = {}): NewDlqEntry => ({
  jobId: 'job-1',
  tenant: 'acme',
  topic: 'job.default',
  status: 'FAILED',
  reasonCode: 'max_retries_exceeded',
  reason: 'gave up after 3 attempts',
  errorCode: 0,
  lastState: 'RUNNING',
  attempts: 3,
  data: { request: { topic: 'job.default', labels: { a: 'b' } }, priority: 2 },
  ...overrides,
});

/** Every entry of a listing, following nextCursor until null; no page may exceed the limit. */
const listAll = (
  store: DlqStore,
  tenant: string,
  query: { limit: number; reasonCode?: string },
): Promise<{ items: DlqEntry[]; pages: number }> =>
  allPages((cursor) => store.list(tenant, { ...query, cursor }), { limit: query.limit });

export function runDlqStoreContract(label: string, factory: PortFactory<DlqStore>): void {
  describe(`DlqStore contract (${label})`, () => {
    let fx: PortFixture<DlqStore>;
    let store: DlqStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.port;
    });
    afterEach(async () => {
      await fx.close();
    });

    describe('put and get', () => {
      it('returns undefined for an unknown job', async () => {
        expect(await store.get('acme', 'job-1')).toBeUndefined();
      });

      it('stores every field and stamps createdAt with the store clock', async () => {
        const before = Date.now();
        const stored = await store.put(entry({ data: { list: [], big: 9007199254740991, nested: { x: [null] } } }));
        expect(stored).toEqual({
          ...entry({ data: { list: [], big: 9007199254740991, nested: { x: [null] } } }),
          createdAt: stored.createdAt,
        });
        expect(Number.isInteger(stored.createdAt)).toBe(true);
        expect(Math.abs(stored.createdAt - before)).toBeLessThan(60_000);
        expect(await store.get('acme', 'job-1')).toEqual(stored);
        expect(await store.count('acme')).toBe(1);
      });

      it('keeps an explicit createdAt, a null lastState and drops unknown properties', async () => {
        const stored = await store.put({ ...entry({ createdAt: 1234, lastState: null }), extra: 'x' } as NewDlqEntry);
        expect(stored.createdAt).toBe(1234);
        expect(stored.lastState).toBeNull();
        expect(stored).not.toHaveProperty('extra');
        expect(await store.get('acme', 'job-1')).toEqual(stored);
      });

      it('never shares objects with the caller', async () => {
        const data: Record<string, JsonValue> = { list: [1] };
        const stored = await store.put(entry({ data }));
        (data['list'] as JsonValue[]).push(2);
        (stored.data as Record<string, JsonValue>)['added'] = true;
        const read = await store.get('acme', 'job-1');
        expect(read?.data).toEqual({ list: [1] });
        (read!.data as Record<string, JsonValue>)['added'] = true;
        expect((await store.get('acme', 'job-1'))?.data).toEqual({ list: [1] });
        expect((await store.list('acme')).items[0]?.data).toEqual({ list: [1] });
      });
    });

    describe('upsert', () => {
      it('replaces the entry of the same job and moves it to its new createdAt', async () => {
        await store.put(entry({ jobId: 'a', createdAt: 1000 }));
        await store.put(entry({ jobId: 'b', createdAt: 2000 }));
        expect((await store.list('acme')).items.map((e) => e.jobId)).toEqual(['b', 'a']);
        const replaced = await store.put(
          entry({ jobId: 'a', createdAt: 3000, reasonCode: 'safety_denied', status: 'DENIED', attempts: 1 }),
        );
        expect(await store.count('acme')).toBe(2);
        expect(await store.get('acme', 'a')).toEqual(replaced);
        const listed = (await store.list('acme')).items;
        expect(listed.map((e) => e.jobId)).toEqual(['a', 'b']);
        expect(listed[0]).toEqual(replaced);
        expect((await store.list('acme', { reasonCode: 'max_retries_exceeded' })).items.map((e) => e.jobId)).toEqual(['b']);
        expect((await store.list('acme', { reasonCode: 'safety_denied' })).items.map((e) => e.jobId)).toEqual(['a']);
      });

      it('a later put without createdAt takes the later store time', async () => {
        const first = await store.put(entry({ jobId: 'a' }));
        await fx.elapse(5);
        await store.put(entry({ jobId: 'b' }));
        await fx.elapse(5);
        const again = await store.put(entry({ jobId: 'a', reason: 'failed again' }));
        expect(again.createdAt).toBeGreaterThan(first.createdAt);
        expect((await store.list('acme')).items.map((e) => [e.jobId, e.reason])).toEqual([
          ['a', 'failed again'],
          ['b', 'gave up after 3 attempts'],
        ]);
      });

      it('keeps one consistent entry when several instances upsert the same job at once', async () => {
        const writers = [store, fx.twin(), fx.twin(), fx.twin()];
        const reasons = ['r0', 'r1', 'r2', 'r3'];
        await Promise.all(
          Array.from({ length: 16 }, (_, i) =>
            writers[i % writers.length]!.put(entry({ jobId: 'hot', reasonCode: reasons[i % reasons.length]!, attempts: i })),
          ),
        );
        expect(await store.count('acme')).toBe(1);
        const current = await store.get('acme', 'hot');
        expect(current).toBeDefined();
        expect((await store.list('acme')).items).toEqual([current]);
        const perReason = await Promise.all(reasons.map((r) => store.list('acme', { reasonCode: r })));
        expect(perReason.flatMap((p) => p.items)).toEqual([current]);
        expect((await store.list('acme', { reasonCode: current!.reasonCode })).items).toEqual([current]);
      });
    });

    describe('list', () => {
      it('is newest first, ties broken by jobId descending', async () => {
        await store.put(entry({ jobId: 'b', createdAt: 5000 }));
        await store.put(entry({ jobId: 'c', createdAt: 5000 }));
        await store.put(entry({ jobId: 'a', createdAt: 5000 }));
        await store.put(entry({ jobId: 'old', createdAt: 999 }));
        await store.put(entry({ jobId: 'new', createdAt: 10_000 }));
        expect((await store.list('acme')).items.map((e) => e.jobId)).toEqual(['new', 'c', 'b', 'a', 'old']);
      });

      it('pages across several pages without gaps or duplicates, ties included', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 23; i++) {
          const jobId = `job-${String(i).padStart(2, '0')}`;
          ids.push(jobId);
          await store.put(entry({ jobId, createdAt: 1_000 + Math.floor(i / 4) }));
        }
        const expected = [...ids].reverse();
        const { items, pages } = await listAll(store, 'acme', { limit: 5 });
        expect(pages).toBe(5);
        expect(items.map((e) => e.jobId)).toEqual(expected);
        const exact = await store.list('acme', { limit: 23 });
        expect(exact.items).toHaveLength(23);
        expect(exact.nextCursor).toBeNull();
        const first = await store.list('acme', { limit: 22 });
        expect(first.nextCursor).not.toBeNull();
        const rest = await store.list('acme', { limit: 22, cursor: first.nextCursor });
        expect(rest.items.map((e) => e.jobId)).toEqual(['job-00']);
        expect(rest.nextCursor).toBeNull();
      });

      it('keeps a cursor stable while newer entries arrive and listed ones are deleted', async () => {
        for (let i = 0; i < 6; i++) await store.put(entry({ jobId: `j${i}`, createdAt: 100 + i }));
        const first = await store.list('acme', { limit: 2 });
        expect(first.items.map((e) => e.jobId)).toEqual(['j5', 'j4']);
        await store.put(entry({ jobId: 'newer', createdAt: 1_000 }));
        await store.delete('acme', 'j4');
        const second = await store.list('acme', { limit: 2, cursor: first.nextCursor });
        expect(second.items.map((e) => e.jobId)).toEqual(['j3', 'j2']);
        const third = await store.list('acme', { limit: 2, cursor: second.nextCursor });
        expect(third.items.map((e) => e.jobId)).toEqual(['j1', 'j0']);
        expect(third.nextCursor).toBeNull();
      });

      it('filters by reasonCode, also across pages', async () => {
        for (let i = 0; i < 12; i++) {
          await store.put(
            entry({ jobId: `j${String(i).padStart(2, '0')}`, createdAt: 100 + i, reasonCode: i % 3 === 0 ? 'no_pool_mapping' : 'other' }),
          );
        }
        const { items, pages } = await listAll(store, 'acme', { limit: 2, reasonCode: 'no_pool_mapping' });
        expect(items.map((e) => e.jobId)).toEqual(['j09', 'j06', 'j03', 'j00']);
        expect(pages).toBe(2);
        expect(items.every((e) => e.reasonCode === 'no_pool_mapping')).toBe(true);
        expect((await store.list('acme', { reasonCode: 'unknown_reason' })).items).toEqual([]);
        expect((await listAll(store, 'acme', { limit: 3, reasonCode: 'other' })).items).toHaveLength(8);
      });

      it('returns an empty page for a tenant without entries', async () => {
        expect(await store.list('acme')).toEqual({ items: [], nextCursor: null });
        expect(await store.count('acme')).toBe(0);
      });
    });

    describe('delete and count', () => {
      it('deletes an entry from every listing and the count', async () => {
        await store.put(entry({ jobId: 'a', createdAt: 1 }));
        await store.put(entry({ jobId: 'b', createdAt: 2, reasonCode: 'safety_denied' }));
        expect(await store.count('acme')).toBe(2);
        expect(await store.delete('acme', 'b')).toBe(true);
        expect(await store.delete('acme', 'b')).toBe(false);
        expect(await store.delete('acme', 'never')).toBe(false);
        expect(await store.get('acme', 'b')).toBeUndefined();
        expect(await store.count('acme')).toBe(1);
        expect((await store.list('acme')).items.map((e) => e.jobId)).toEqual(['a']);
        expect((await store.list('acme', { reasonCode: 'safety_denied' })).items).toEqual([]);
        // A deleted job can fail again.
        await store.put(entry({ jobId: 'b', createdAt: 3 }));
        expect((await store.list('acme')).items.map((e) => e.jobId)).toEqual(['b', 'a']);
      });
    });

    describe('tenant isolation', () => {
      it('never shows or deletes one tenant’s entries through another', async () => {
        await store.put(entry({ tenant: 'tenant-a', jobId: 'same-id', reason: 'a' }));
        expect(await store.get('tenant-b', 'same-id')).toBeUndefined();
        expect(await store.list('tenant-b')).toEqual({ items: [], nextCursor: null });
        expect((await store.list('tenant-b', { reasonCode: 'max_retries_exceeded' })).items).toEqual([]);
        expect(await store.count('tenant-b')).toBe(0);
        expect(await store.delete('tenant-b', 'same-id')).toBe(false);
        await store.put(entry({ tenant: 'tenant-b', jobId: 'same-id', reason: 'b' }));
        expect(await store.get('tenant-a', 'same-id')).toMatchObject({ tenant: 'tenant-a', reason: 'a' });
        expect(await store.get('tenant-b', 'same-id')).toMatchObject({ tenant: 'tenant-b', reason: 'b' });
        expect(await store.count('tenant-a')).toBe(1);
        // A cursor taken in one tenant reveals nothing of another.
        await store.put(entry({ tenant: 'tenant-a', jobId: 'other' }));
        const pageA = await store.list('tenant-a', { limit: 1 });
        expect(pageA.nextCursor).not.toBeNull();
        const b = await store.list('tenant-b', { cursor: pageA.nextCursor });
        expect(b.items.every((e) => e.tenant === 'tenant-b')).toBe(true);
      });
    });

    describe('invalid input', () => {
      it('rejects malformed entries', async () => {
        await expectInvalid(store.put(entry({ tenant: 'bad:tenant' })));
        await expectInvalid(store.put(entry({ tenant: '' })));
        await expectInvalid(store.put(entry({ jobId: '' })));
        await expectInvalid(store.put(entry({ jobId: 'x'.repeat(257) })));
        await expectInvalid(store.put(entry({ jobId: 'new\nline' })));
        await expectInvalid(store.put(entry({ jobId: 1n as never })));
        await expectInvalid(store.put(entry({ attempts: 1n as never })));
        await expectInvalid(store.put(entry({ reasonCode: '' })));
        await expectInvalid(store.put(entry({ status: 'EXPLODED' as never })));
        await expectInvalid(store.put(entry({ lastState: 'NOPE' as never })));
        await expectInvalid(store.put(entry({ attempts: -1 })));
        await expectInvalid(store.put(entry({ errorCode: 1.5 })));
        await expectInvalid(store.put(entry({ createdAt: -5 })));
        await expectInvalid(store.put(entry({ reason: 42 as never })));
        await expectInvalid(store.put(entry({ data: [] as never })));
        await expectInvalid(store.put(entry({ data: { x: Number.POSITIVE_INFINITY } })));
        expect(await store.count('acme')).toBe(0);
      });

      it('rejects bad tenants, ids, limits, cursors and filters on reads', async () => {
        await expectInvalid(store.get('bad:tenant', 'j'));
        await expectInvalid(store.get('acme', ''));
        await expectInvalid(store.delete('a/b', 'j'));
        await expectInvalid(store.delete('acme', ''));
        await expectInvalid(store.count('bad tenant'));
        await expectInvalid(store.list('bad:tenant'));
        await expectInvalid(store.list('acme', { limit: 0 }));
        await expectInvalid(store.list('acme', { limit: 1001 }));
        await expectInvalid(store.list('acme', { cursor: '%%%' }));
        await expectInvalid(store.list('acme', { cursor: encodeCursor({ m: 'no-timestamp' }) }));
        await expectInvalid(store.list('acme', { cursor: encodeCursor({ r: 3 }) }));
        await expectInvalid(store.list('acme', { reasonCode: '' }));
      });
    });
  });
}
