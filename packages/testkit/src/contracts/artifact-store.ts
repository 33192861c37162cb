import { randomBytes } from 'node:crypto';
import { InvalidError, sha256Hex } from '@cordum/core';
import { artifactPointer } from '@cordum/protocol';
import {
  type ArtifactMeta,
  type ArtifactStore,
  type PutArtifact,
  type RetentionClass,
  STORE_DEFAULTS,
} from '@cordum/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allPages, expectRejection, rejection } from './assertions.js';
import type { PortFactory, PortFixture } from './fixture.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The store options every factory given to runArtifactStoreContract must use. */
const REQUIRED = { artifactChunkBytes: 1024, artifactMaxBytes: 256 * 1024, shortRetentionMs: 150 } as const;

/**
 * The ArtifactStore contract: byte-exact round trips across the chunk threshold, SHA-256 and size in the
 * metadata, size limits, retention classes with expiry, tenant isolation, newest-first listing with cursors.
 *
 * The factory must be built with `{ artifactChunkBytes: 1024, artifactMaxBytes: 262144,
 * artifactRetentionMs: { short: 150 } }` (standard and audit at their defaults): the suite stores payloads
 * on both sides of 1 KiB, tests the store limit at 256 KiB and waits for a short-retention artifact to expire.
 */
export function runArtifactStoreContract(label: string, factory: PortFactory<ArtifactStore>): void {
  describe(`ArtifactStore contract (${label})`, () => {
    let fx: PortFixture<ArtifactStore>;
    let store: ArtifactStore;
    const art = (content: PutArtifact['content'], extra: Partial<PutArtifact> = {}): PutArtifact => ({
      tenant: 'acme',
      content,
      ...extra,
    });
    const collect = async (tenant: string, limit: number): Promise<ArtifactMeta[]> =>
      (await allPages((cursor) => store.list(tenant, { limit, cursor }), { limit, maxPages: 100 })).items;

    beforeEach(async () => {
      fx = await factory();
      store = fx.port;
    });
    afterEach(async () => {
      await fx.close();
    });

    it('put returns complete metadata with a redis://art:<id> pointer', async () => {
      const content = Buffer.from('{"evidence":true}');
      const meta = await store.put(art(content, { contentType: 'application/json', labels: { job: 'j-1' } }));
      expect(meta.id).toMatch(UUID_V7);
      expect(meta.pointer).toBe(artifactPointer(meta.id));
      expect(meta.tenant).toBe('acme');
      expect(meta.contentType).toBe('application/json');
      expect(meta.sizeBytes).toBe(content.length);
      expect(meta.sha256).toBe(sha256Hex(content));
      expect(meta.retention).toBe('standard');
      expect(meta.labels).toEqual({ job: 'j-1' });
      expect(Math.abs(meta.createdAt - Date.now())).toBeLessThan(5_000);
      expect(meta.expiresAt).toBe(meta.createdAt + STORE_DEFAULTS.artifactRetentionMs.standard);
      const bare = await store.put(art('x'));
      expect(bare.contentType).toBe('application/octet-stream');
      expect(bare.labels).toEqual({});
      expect(bare.id).not.toBe(meta.id);
    });

    it('get and head accept the pointer or the bare id', async () => {
      const meta = await store.put(art('hello', { contentType: 'text/plain' }));
      for (const ref of [meta.id, meta.pointer]) {
        const got = await store.get('acme', ref);
        expect(got?.meta).toEqual(meta);
        expect(Buffer.from(got!.content).toString('utf8')).toBe('hello');
        expect(await store.head('acme', ref)).toEqual(meta);
      }
    });

    it('round-trips contents byte-exact on both sides of the chunk size', async () => {
      const sizes = [0, 1, 1023, 1024, 1025, 2048, 5000, 100_003, REQUIRED.artifactMaxBytes];
      for (const size of sizes) {
        const content = randomBytes(size);
        const meta = await store.put(art(content));
        expect(meta.sizeBytes).toBe(size);
        expect(meta.sha256).toBe(sha256Hex(content));
        const got = await store.get('acme', meta.pointer);
        expect(got, `artifact of ${size} bytes`).toBeDefined();
        expect(got!.content).toBeInstanceOf(Uint8Array);
        expect(Buffer.isBuffer(got!.content)).toBe(false);
        expect(Buffer.from(got!.content).equals(content), `artifact of ${size} bytes`).toBe(true);
      }
    });

    it('stores strings as UTF-8', async () => {
      const value = 'héllo ✓ 世界'.repeat(200);
      const meta = await store.put(art(value));
      expect(meta.sizeBytes).toBe(Buffer.byteLength(value));
      expect(Buffer.from((await store.get('acme', meta.id))!.content).toString('utf8')).toBe(value);
    });

    it('hands out copies of content and labels', async () => {
      const content = Uint8Array.from([1, 2, 3]);
      const labels = { step: 'a' };
      const meta = await store.put(art(content, { labels }));
      content[0] = 9;
      labels.step = 'changed';
      (meta.labels as Record<string, string>)['step'] = 'mutated';
      const got = await store.get('acme', meta.id);
      expect([...got!.content]).toEqual([1, 2, 3]);
      expect(got!.meta.labels).toEqual({ step: 'a' });
      got!.content[1] = 9;
      (got!.meta.labels as Record<string, string>)['extra'] = 'x';
      const again = await store.get('acme', meta.id);
      expect([...again!.content]).toEqual([1, 2, 3]);
      expect(again!.meta.labels).toEqual({ step: 'a' });
    });

    it('keeps label names as data, whatever they are', async () => {
      const labels = JSON.parse('{"__proto__":"p","a.b/c":"y","constructor":"z"}') as Record<string, string>;
      const meta = await store.put(art('x', { labels }));
      expect(Object.keys(meta.labels).sort()).toEqual(['__proto__', 'a.b/c', 'constructor']);
      const read = (await store.head('acme', meta.id))!.labels;
      expect(Object.keys(read).sort()).toEqual(['__proto__', 'a.b/c', 'constructor']);
      expect(read['__proto__']).toBe('p');
      expect((await store.list('acme')).items[0]!.labels['a.b/c']).toBe('y');
    });

    it('reads unknown ids as missing', async () => {
      const unknown = '01890000-0000-7000-8000-000000000000';
      expect(await store.get('acme', unknown)).toBeUndefined();
      expect(await store.head('acme', artifactPointer(unknown))).toBeUndefined();
      expect(await store.delete('acme', unknown)).toBe(false);
    });

    it('another tenant\'s artifact reads as missing and cannot be deleted', async () => {
      const meta = await store.put(art('secret'));
      expect(await store.get('globex', meta.id)).toBeUndefined();
      expect(await store.head('globex', meta.pointer)).toBeUndefined();
      expect(await store.delete('globex', meta.id)).toBe(false);
      expect((await store.list('globex')).items).toEqual([]);
      expect((await store.get('acme', meta.id))?.meta).toEqual(meta);
      expect((await store.list('acme')).items.map((m) => m.id)).toEqual([meta.id]);
    });

    it('refuses content above min(store limit, put.maxBytes) with InvalidError(payload_too_large)', async () => {
      const perCall = await expectRejection(
        store.put(art(Buffer.alloc(11), { maxBytes: 10 })),
        InvalidError,
        'payload_too_large',
      );
      expect(perCall.details).toMatchObject({ size_bytes: 11, max_bytes: 10 });
      expect((await store.put(art(Buffer.alloc(10), { maxBytes: 10 }))).sizeBytes).toBe(10);

      const over = REQUIRED.artifactMaxBytes + 1;
      for (const maxBytes of [undefined, over * 2]) {
        const err = await rejection(store.put(art(Buffer.alloc(over), maxBytes === undefined ? {} : { maxBytes })));
        expect(err.code).toBe('payload_too_large');
        expect(err.details).toMatchObject({ size_bytes: over, max_bytes: REQUIRED.artifactMaxBytes });
      }
      // A multi-byte string is measured in UTF-8 bytes, not characters.
      const err = await rejection(store.put(art('é'.repeat(6), { maxBytes: 10 })));
      expect(err.details).toMatchObject({ size_bytes: 12, max_bytes: 10 });
      expect((await store.list('acme')).items).toHaveLength(1);
    });

    it('retention classes set the expiry; a short-retention artifact expires, others stay', async () => {
      const short = await store.put(art(randomBytes(3000), { retention: 'short' }));
      const standard = await store.put(art('standard'));
      const audit = await store.put(art('audit', { retention: 'audit' }));
      expect(short.retention).toBe('short');
      expect(short.expiresAt - short.createdAt).toBe(REQUIRED.shortRetentionMs);
      expect(standard.expiresAt - standard.createdAt).toBe(STORE_DEFAULTS.artifactRetentionMs.standard);
      expect(audit.expiresAt - audit.createdAt).toBe(STORE_DEFAULTS.artifactRetentionMs.audit);
      expect(await store.get('acme', short.id)).toBeDefined();
      await fx.elapse(REQUIRED.shortRetentionMs + 150);
      expect(await store.get('acme', short.id)).toBeUndefined();
      expect(await store.head('acme', short.id)).toBeUndefined();
      expect(await store.delete('acme', short.id)).toBe(false);
      expect((await store.list('acme')).items.map((m) => m.id).sort()).toEqual([audit.id, standard.id].sort());
      expect((await store.get('acme', standard.id))?.meta).toEqual(standard);
    });

    it('lists newest first, page by page, with cursors', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push((await store.put(art(`a-${i}`, { labels: { n: String(i) } }))).id);
        await fx.elapse(5);
      }
      await store.put(art('other tenant', { tenant: 'globex' }));
      const newestFirst = [...ids].reverse();
      const first = await store.list('acme', { limit: 2 });
      expect(first.items.map((m) => m.id)).toEqual(newestFirst.slice(0, 2));
      expect(first.nextCursor).not.toBeNull();
      const second = await store.list('acme', { limit: 2, cursor: first.nextCursor });
      expect(second.items.map((m) => m.id)).toEqual(newestFirst.slice(2, 4));
      const third = await store.list('acme', { limit: 2, cursor: second.nextCursor });
      expect(third.items.map((m) => m.id)).toEqual(newestFirst.slice(4));
      expect(third.nextCursor).toBeNull();
      const all = await store.list('acme');
      expect(all.items.map((m) => m.id)).toEqual(newestFirst);
      expect(all.nextCursor).toBeNull();
      expect(all.items[4]!.labels).toEqual({ n: '0' });
      expect((await store.list('acme', { limit: 5 })).nextCursor).toBeNull();
    });

    it('pages through artifacts created in the same millisecond without skipping or repeating', async () => {
      const metas = await Promise.all(Array.from({ length: 9 }, (_, i) => store.put(art(`same-${i}`))));
      for (const limit of [1, 2, 4]) {
        const listed = await collect('acme', limit);
        expect(listed.map((m) => m.id).sort()).toEqual(metas.map((m) => m.id).sort());
        for (let i = 1; i < listed.length; i++) {
          const [a, b] = [listed[i - 1]!, listed[i]!];
          expect(a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id)).toBe(true);
        }
      }
    });

    it('pages past expired artifacts that fill more than one read batch, with another lister pruning meanwhile', async () => {
      const live: string[] = [];
      for (let i = 0; i < 3; i++) {
        live.push((await store.put(art(`live-${i}`))).id);
        await fx.elapse(5);
      }
      // Newer than every live artifact, so a page has to read past all of them first: with limit 1 an adapter
      // that reads limit + 1 entries at a time (or twice that) meets several batches of stale entries.
      for (let i = 0; i < 14; i++) await store.put(art(`short-${i}`, { retention: 'short' }));
      await fx.elapse(REQUIRED.shortRetentionMs + 150);
      const newestFirst = [...live].reverse();

      // Several instances list at once, each removing the stale entries it meets while the others scan.
      const listers = [store, fx.twin(), fx.twin(), fx.twin(), fx.twin()];
      const pages = await Promise.all(listers.map((lister) => lister.list('acme', { limit: 1 })));
      for (const page of pages) {
        expect(page.items.map((m) => m.id)).toEqual(newestFirst.slice(0, 1));
        expect(page.nextCursor).not.toBeNull();
      }

      const first = await store.list('acme', { limit: 1 });
      expect(first.items.map((m) => m.id)).toEqual(newestFirst.slice(0, 1));
      expect(first.nextCursor).not.toBeNull();
      // Another instance lists the tenant between two pages (removing whatever stale entries it meets).
      expect((await fx.twin().list('acme', { limit: 2 })).items.map((m) => m.id)).toEqual(newestFirst.slice(0, 2));
      const rest = await allPages((cursor) => store.list('acme', { limit: 1, cursor }), {
        limit: 1,
        from: first.nextCursor,
      });
      expect(rest.items.map((m) => m.id)).toEqual(newestFirst.slice(1));
      for (const limit of [1, 2, 50]) expect((await collect('acme', limit)).map((m) => m.id)).toEqual(newestFirst);
    });

    it('rejects bad page limits and cursors with InvalidError', async () => {
      const queries = [{ limit: 0 }, { limit: 1001 }, { limit: 1.5 }, { cursor: 'not-a-cursor' }, { cursor: 'e30' }];
      for (const query of queries) {
        const err = await rejection(store.list('acme', query));
        expect(err).toBeInstanceOf(InvalidError);
      }
    });

    it('delete removes an artifact (chunked or not) once', async () => {
      for (const content of [Buffer.from('small'), randomBytes(5000)]) {
        const meta = await store.put(art(content));
        expect(await store.delete('acme', meta.pointer)).toBe(true);
        expect(await store.get('acme', meta.id)).toBeUndefined();
        expect(await store.head('acme', meta.id)).toBeUndefined();
        expect(await store.delete('acme', meta.id)).toBe(false);
      }
      expect((await store.list('acme')).items).toEqual([]);
    });

    it('rejects bad tenants, ids, retention, content types, labels and limits with InvalidError', async () => {
      const bad: (() => Promise<unknown>)[] = [
        () => store.put(art('x', { tenant: 'a:b' })),
        () => store.put(art('x', { tenant: '' })),
        () => store.put(art('x', { retention: 'forever' as unknown as RetentionClass })),
        () => store.put(art('x', { contentType: '' })),
        () => store.put(art('x', { labels: { n: 1 as unknown as string } })),
        () => store.put(art('x', { maxBytes: -1 })),
        () => store.put(art('x', { maxBytes: 1.5 })),
        () => store.get('a/b', 'x'),
        () => store.head('acme', ''),
        () => store.get('acme', 'a b'),
        () => store.get('acme', 'redis://ctx:job-1'),
        () => store.head('acme', 'x:y'),
        () => store.list('a b'),
        () => store.delete('acme', ''),
      ];
      for (const call of bad) await expectRejection(call(), InvalidError, 'invalid_argument');
      expect((await store.list('acme')).items).toEqual([]);
    });

    it('another instance over the same backend reads, lists and deletes the artifacts', async () => {
      const meta = await store.put(art(randomBytes(3000)));
      const other = fx.twin();
      expect((await other.get('acme', meta.id))?.meta).toEqual(meta);
      expect((await other.list('acme')).items.map((m) => m.id)).toEqual([meta.id]);
      expect(await other.delete('acme', meta.id)).toBe(true);
      expect(await store.head('acme', meta.id)).toBeUndefined();
    });

    it('concurrent puts get distinct ids and all read back', async () => {
      const ports = [store, fx.twin(), fx.twin()];
      const contents = Array.from({ length: 12 }, () => randomBytes(1500));
      const metas = await Promise.all(contents.map((c, i) => ports[i % ports.length]!.put(art(c))));
      expect(new Set(metas.map((m) => m.id)).size).toBe(12);
      for (const [i, meta] of metas.entries()) {
        expect(Buffer.from((await store.get('acme', meta.id))!.content).equals(contents[i]!)).toBe(true);
      }
    });
  });
}
