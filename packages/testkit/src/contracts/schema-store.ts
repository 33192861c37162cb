import { type JsonValue, hashJson } from '@cordum/core';
import { type SchemaRecord, type SchemaStore, encodeCursor } from '@cordum/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allPages, expectInvalid } from './assertions.js';
import type { PortFactory, PortFixture } from './fixture.js';

// What every SchemaStore adapter must do: versioned compare-and-set registration, content hashes of the
// canonical JSON, listing in id order with stable cursors, and nothing visible across tenants.

const INCIDENT: JsonValue = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['incident_id'],
  properties: { incident_id: { type: 'string' }, tags: { type: 'array', items: { type: 'string' }, default: [] } },
};

/** Every schema of a listing, following nextCursor until null; no page may exceed the limit. */
const listAll = (store: SchemaStore, tenant: string, limit: number): Promise<{ items: SchemaRecord[]; pages: number }> =>
  allPages((cursor) => store.list(tenant, { limit, cursor }), { limit });

export function runSchemaStoreContract(label: string, factory: PortFactory<SchemaStore>): void {
  describe(`SchemaStore contract (${label})`, () => {
    let fx: PortFixture<SchemaStore>;
    let store: SchemaStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.port;
    });
    afterEach(async () => {
      await fx.close();
    });

    describe('put and get', () => {
      it('returns undefined for an unknown id', async () => {
        expect(await store.get('acme', 'pack/Nope')).toBeUndefined();
      });

      it('registers version 1 with the canonical hash and store-clock times', async () => {
        const before = Date.now();
        const record = await store.put('acme', 'sre-investigator/IncidentContext', INCIDENT);
        expect(record).toEqual({
          tenant: 'acme',
          id: 'sre-investigator/IncidentContext',
          schema: INCIDENT,
          version: 1,
          sha256: hashJson(INCIDENT),
          createdAt: record.createdAt,
          updatedAt: record.createdAt,
        });
        expect(record.sha256).toMatch(/^[0-9a-f]{64}$/);
        expect(Number.isInteger(record.createdAt)).toBe(true);
        expect(Math.abs(record.createdAt - before)).toBeLessThan(60_000);
        expect(await store.get('acme', 'sre-investigator/IncidentContext')).toEqual(record);
      });

      it('hashes the canonical form: key order does not matter, content does', async () => {
        const a = await store.put('acme', 'a', { b: 2, a: 1 });
        const b = await store.put('acme', 'b', { a: 1, b: 2 });
        const c = await store.put('acme', 'c', { a: 1, b: 3 });
        expect(a.sha256).toBe(b.sha256);
        expect(c.sha256).not.toBe(a.sha256);
      });

      it('accepts any JSON value as a schema', async () => {
        expect((await store.put('acme', 'bool', true)).schema).toBe(true);
        expect((await store.put('acme', 'list', [1, 'x', null])).schema).toEqual([1, 'x', null]);
        expect((await store.get('acme', 'bool'))?.schema).toBe(true);
        expect((await store.get('acme', 'list'))?.schema).toEqual([1, 'x', null]);
      });

      it('replaces a schema with version + 1, keeping createdAt', async () => {
        const v1 = await store.put('acme', 'x', { type: 'string' });
        await fx.elapse(5);
        const v2 = await store.put('acme', 'x', { type: 'number' });
        expect(v2).toMatchObject({ version: 2, schema: { type: 'number' }, createdAt: v1.createdAt, sha256: hashJson({ type: 'number' }) });
        expect(v2.updatedAt).toBeGreaterThan(v1.updatedAt);
        expect(await store.get('acme', 'x')).toEqual(v2);
      });

      it('never shares objects with the caller', async () => {
        const schema = { type: 'object', required: ['a'] };
        const record = await store.put('acme', 'x', schema);
        schema.required.push('b');
        (record.schema as { type: string }).type = 'changed';
        const read = await store.get('acme', 'x');
        expect(read?.schema).toEqual({ type: 'object', required: ['a'] });
        (read!.schema as { type: string }).type = 'changed';
        expect((await store.list('acme')).items[0]?.schema).toEqual({ type: 'object', required: ['a'] });
      });
    });

    describe('compare-and-set', () => {
      it('expectedVersion 0 registers only when absent', async () => {
        expect(await store.put('acme', 'x', { v: 1 }, { expectedVersion: 0 })).toMatchObject({ version: 1 });
        await expect(store.put('acme', 'x', { v: 2 }, { expectedVersion: 0 })).rejects.toMatchObject({
          kind: 'conflict',
          code: 'revision_conflict',
          details: { current_version: 1, expected_version: 0, message: expect.any(String) as unknown },
        });
        expect(await store.get('acme', 'x')).toMatchObject({ version: 1, schema: { v: 1 } });
      });

      it('expectedVersion n replaces only version n', async () => {
        await store.put('acme', 'x', { v: 1 });
        await store.put('acme', 'x', { v: 2 });
        await expect(store.put('acme', 'x', { v: 3 }, { expectedVersion: 1 })).rejects.toMatchObject({
          code: 'revision_conflict',
          details: { current_version: 2 },
        });
        await expect(store.put('acme', 'y', { v: 1 }, { expectedVersion: 1 })).rejects.toMatchObject({
          code: 'revision_conflict',
          details: { current_version: 0 },
        });
        expect(await store.get('acme', 'y')).toBeUndefined();
        expect(await store.put('acme', 'x', { v: 3 }, { expectedVersion: 2 })).toMatchObject({ version: 3, schema: { v: 3 } });
      });

      it('lets exactly one of many concurrent writers with the same expectedVersion win', async () => {
        await store.put('acme', 'race', { v: 0 });
        const writers = [store, fx.twin(), fx.twin()];
        const results = await Promise.allSettled(
          Array.from({ length: 9 }, (_, i) => writers[i % writers.length]!.put('acme', 'race', { v: i + 1 }, { expectedVersion: 1 })),
        );
        const won = results.filter((r): r is PromiseFulfilledResult<SchemaRecord> => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'revision_conflict' });
        expect(await store.get('acme', 'race')).toEqual(won[0]!.value);
        expect(won[0]!.value.version).toBe(2);
      });
    });

    describe('delete', () => {
      it('unregisters a schema; re-registering continues the version numbering', async () => {
        await store.put('acme', 'x', { v: 1 });
        await store.put('acme', 'x', { v: 2 });
        expect(await store.delete('acme', 'x')).toBe(true);
        expect(await store.delete('acme', 'x')).toBe(false);
        expect(await store.delete('acme', 'never')).toBe(false);
        expect(await store.get('acme', 'x')).toBeUndefined();
        expect((await store.list('acme')).items).toEqual([]);
        await expect(store.put('acme', 'x', { v: 3 }, { expectedVersion: 2 })).rejects.toMatchObject({
          code: 'revision_conflict',
          details: { current_version: 0 },
        });
        await fx.elapse(5);
        const again = await store.put('acme', 'x', { v: 3 }, { expectedVersion: 0 });
        expect(again.version).toBe(3);
        expect(again.createdAt).toBe(again.updatedAt);
        expect((await store.list('acme')).items).toEqual([again]);
      });
    });

    describe('list', () => {
      it('lists by id in byte order, paging without gaps or duplicates', async () => {
        const ids = ['b/One', 'a/Two', 'B/Upper', 'a/One', 'pack/X', 'pack/X/nested', 'z', '0', 'a', 'é-accent', 'a/Three', 'c'];
        for (const id of ids) await store.put('acme', id, { id });
        const sorted = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        const { items, pages } = await listAll(store, 'acme', 5);
        expect(pages).toBe(3);
        expect(items.map((r) => r.id)).toEqual(sorted);
        expect(items.map((r) => r.schema)).toEqual(sorted.map((id) => ({ id })));
        const exact = await store.list('acme', { limit: ids.length });
        expect(exact.items).toHaveLength(ids.length);
        expect(exact.nextCursor).toBeNull();
        expect((await store.list('acme')).items).toHaveLength(ids.length);
      });

      it('continues after the cursor even when ids around it change', async () => {
        for (const id of ['a', 'b', 'c', 'd', 'e']) await store.put('acme', id, {});
        const first = await store.list('acme', { limit: 2 });
        expect(first.items.map((r) => r.id)).toEqual(['a', 'b']);
        await store.delete('acme', 'b');
        await store.delete('acme', 'c');
        await store.put('acme', 'bb', {});
        await store.put('acme', 'aa', {});
        const second = await store.list('acme', { limit: 2, cursor: first.nextCursor });
        expect(second.items.map((r) => r.id)).toEqual(['bb', 'd']);
        const third = await store.list('acme', { limit: 2, cursor: second.nextCursor });
        expect(third.items.map((r) => r.id)).toEqual(['e']);
        expect(third.nextCursor).toBeNull();
      });

      it('returns an empty page for a tenant without schemas', async () => {
        expect(await store.list('acme')).toEqual({ items: [], nextCursor: null });
      });
    });

    describe('tenant isolation', () => {
      it('never shows or changes one tenant’s schemas through another', async () => {
        const a = await store.put('tenant-a', 'shared/Id', { owner: 'a' });
        expect(await store.get('tenant-b', 'shared/Id')).toBeUndefined();
        expect(await store.list('tenant-b')).toEqual({ items: [], nextCursor: null });
        expect(await store.delete('tenant-b', 'shared/Id')).toBe(false);
        const b = await store.put('tenant-b', 'shared/Id', { owner: 'b' }, { expectedVersion: 0 });
        expect(b).toMatchObject({ tenant: 'tenant-b', version: 1, schema: { owner: 'b' } });
        expect(await store.get('tenant-a', 'shared/Id')).toEqual(a);
        expect((await store.list('tenant-a')).items).toEqual([a]);
      });
    });

    describe('invalid input', () => {
      it('rejects bad tenants, ids, schemas and versions', async () => {
        await expectInvalid(store.put('bad:tenant', 'x', {}));
        await expectInvalid(store.put('', 'x', {}));
        await expectInvalid(store.put('acme', '', {}));
        await expectInvalid(store.put('acme', 'x'.repeat(257), {}));
        await expectInvalid(store.put('acme', 'tab\there', {}));
        await expectInvalid(store.put('acme', 'x', undefined as never));
        await expectInvalid(store.put('acme', 'x', { n: Number.NaN }));
        await expectInvalid(store.put('acme', 'x', { f: (() => 1) as never }));
        await expectInvalid(store.put('acme', 'x', {}, { expectedVersion: -1 }));
        await expectInvalid(store.put('acme', 'x', {}, { expectedVersion: 0.5 }));
        await expectInvalid(store.put('acme', 'x', {}, { expectedVersion: 2n as never }));
        await expectInvalid(store.put(5n as never, 'x', {}));
        await expectInvalid(store.get('acme', 5n as never));
        await expectInvalid(store.get('a/b', 'x'));
        await expectInvalid(store.get('acme', ''));
        await expectInvalid(store.delete('bad tenant', 'x'));
        await expectInvalid(store.delete('acme', ''));
        expect(await store.get('acme', 'x')).toBeUndefined();
      });

      it('rejects bad limits and cursors', async () => {
        await expectInvalid(store.list('bad:tenant'));
        await expectInvalid(store.list('acme', { limit: 0 }));
        await expectInvalid(store.list('acme', { limit: 1001 }));
        await expectInvalid(store.list('acme', { cursor: '!!' }));
        await expectInvalid(store.list('acme', { cursor: encodeCursor({ after: 7 }) }));
        await expectInvalid(store.list('acme', { cursor: encodeCursor(['x']) }));
      });
    });
  });
}
