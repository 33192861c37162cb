import type { JsonValue } from '@cordum/core';
import { type AuditEntry, type AuditLog, type NewAuditEntry, encodeCursor } from '@cordum/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allPages, expectInvalid } from './assertions.js';
import type { PortFactory, PortFixture } from './fixture.js';

// What every AuditLog adapter must do. Ids have the form "<ms>-<seq>" (the Redis stream id form) and are
// unique and increasing in append order within a tenant, comparing (ms, seq) as numbers. Listing is newest
// first; a filtered page may be followed by an empty page (the adapter stops scanning once a page is full),
// but following cursors always yields every match exactly once.

const ID = /^(\d+)-(\d+)$/;

function compareIds(a: string, b: string): number {
  const [, am, as] = ID.exec(a) ?? [];
  const [, bm, bs] = ID.exec(b) ?? [];
  if (am === undefined || as === undefined || bm === undefined || bs === undefined) throw new Error(`not an audit id: ${a} / ${b}`);
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

function expectStrictlyIncreasing(ids: readonly string[]): void {
  for (let i = 1; i < ids.length; i++) expect(compareIds(ids[i - 1]!, ids[i]!), `${ids[i - 1]} < ${ids[i]}`).toBe(-1);
}

const event = (overrides: Partial<NewAuditEntry> = {}): NewAuditEntry => ({
  tenant: 'acme',
  kind: 'approval.granted',
  actor: 'alice',
  subject: 'job-1',
  data: { reason: 'looks fine' },
  ...overrides,
});

/** Every entry of a listing, following nextCursor until null; no page may exceed the limit. */
const listAll = (
  log: AuditLog,
  tenant: string,
  query: { limit: number; kind?: string; subject?: string },
): Promise<{ items: AuditEntry[]; pages: number }> =>
  allPages((cursor) => log.list(tenant, { ...query, cursor }), { limit: query.limit });

export function runAuditLogContract(label: string, factory: PortFactory<AuditLog>): void {
  describe(`AuditLog contract (${label})`, () => {
    let fx: PortFixture<AuditLog>;
    let log: AuditLog;
    beforeEach(async () => {
      fx = await factory();
      log = fx.port;
    });
    afterEach(async () => {
      await fx.close();
    });

    describe('append', () => {
      it('returns the stored entry with an id and the store time', async () => {
        const before = Date.now();
        const entry = await log.append(event({ data: { list: [], big: 9007199254740991 } }));
        expect(entry).toEqual({
          id: entry.id,
          tenant: 'acme',
          at: entry.at,
          kind: 'approval.granted',
          actor: 'alice',
          subject: 'job-1',
          data: { list: [], big: 9007199254740991 },
        });
        expect(entry.id).toMatch(ID);
        expect(Number.isInteger(entry.at)).toBe(true);
        expect(Math.abs(entry.at - before)).toBeLessThan(60_000);
        expect((await log.list('acme')).items).toEqual([entry]);
      });

      it('gives unique ids that increase in append order, even within one millisecond', async () => {
        const entries: AuditEntry[] = [];
        for (let i = 0; i < 30; i++) entries.push(await log.append(event({ subject: `s${i}` })));
        const ids = entries.map((e) => e.id);
        expect(new Set(ids).size).toBe(30);
        expectStrictlyIncreasing(ids);
        for (let i = 1; i < entries.length; i++) expect(entries[i]!.at).toBeGreaterThanOrEqual(entries[i - 1]!.at);
        await fx.elapse(5);
        const later = await log.append(event());
        expect(later.at).toBeGreaterThan(entries[0]!.at);
        expect(compareIds(entries[entries.length - 1]!.id, later.id)).toBe(-1);
      });

      it('keeps entries from concurrent appenders: all present, ids unique and ordered', async () => {
        const writers = [log, fx.twin(), fx.twin(), fx.twin()];
        const perWriter = await Promise.all(
          writers.map(async (w, n) => {
            const mine: AuditEntry[] = [];
            for (let i = 0; i < 25; i++) mine.push(await w.append(event({ actor: `writer-${n}`, subject: `${n}:${i}` })));
            return mine;
          }),
        );
        for (const mine of perWriter) expectStrictlyIncreasing(mine.map((e) => e.id));
        const appended = perWriter.flat();
        const listed = (await log.list('acme', { limit: 1000 })).items;
        expect(listed).toHaveLength(100);
        expect(new Set(listed.map((e) => e.id)).size).toBe(100);
        expectStrictlyIncreasing(listed.map((e) => e.id).reverse());
        const byId = new Map(listed.map((e) => [e.id, e]));
        for (const e of appended) expect(byId.get(e.id)).toEqual(e);
      });

      it('never shares objects with the caller', async () => {
        const data: Record<string, JsonValue> = { list: [1] };
        const entry = await log.append(event({ data }));
        (data['list'] as JsonValue[]).push(2);
        (entry.data as Record<string, JsonValue>)['x'] = 1;
        const read = (await log.list('acme')).items[0]!;
        expect(read.data).toEqual({ list: [1] });
        (read.data as Record<string, JsonValue>)['x'] = 1;
        expect((await log.list('acme')).items[0]!.data).toEqual({ list: [1] });
      });

      it('offers no way to change or remove an entry', () => {
        const methods = Object.keys(log).sort();
        expect(methods).toEqual(['append', 'list']);
      });
    });

    describe('list', () => {
      it('is newest first and pages across several pages without gaps or duplicates', async () => {
        const appended: AuditEntry[] = [];
        for (let i = 0; i < 30; i++) appended.push(await log.append(event({ subject: `s${i}` })));
        const newestFirst = [...appended].reverse();
        const { items, pages } = await listAll(log, 'acme', { limit: 7 });
        expect(pages).toBe(5);
        expect(items).toEqual(newestFirst);
        const exact = await log.list('acme', { limit: 30 });
        expect(exact.items).toEqual(newestFirst);
        expect(exact.nextCursor).toBeNull();
        const almost = await log.list('acme', { limit: 29 });
        expect(almost.nextCursor).not.toBeNull();
        expect(await log.list('acme', { limit: 29, cursor: almost.nextCursor })).toEqual({ items: [appended[0]], nextCursor: null });
      });

      it('keeps a cursor stable while newer entries are appended', async () => {
        for (let i = 0; i < 5; i++) await log.append(event({ subject: `old-${i}` }));
        const first = await log.list('acme', { limit: 2 });
        expect(first.items.map((e) => e.subject)).toEqual(['old-4', 'old-3']);
        await log.append(event({ subject: 'new' }));
        const rest = await listAll(log, 'acme', { limit: 2 });
        expect(rest.items.map((e) => e.subject)).toEqual(['new', 'old-4', 'old-3', 'old-2', 'old-1', 'old-0']);
        const second = await log.list('acme', { limit: 5, cursor: first.nextCursor });
        expect(second.items.map((e) => e.subject)).toEqual(['old-2', 'old-1', 'old-0']);
        expect(second.nextCursor).toBeNull();
      });

      it('filters by exact kind, by a prefix ending in "." and by subject', async () => {
        await log.append(event({ kind: 'approval.granted', subject: 'job-1' }));
        await log.append(event({ kind: 'approval.rejected', subject: 'job-2' }));
        await log.append(event({ kind: 'approval', subject: 'job-1' }));
        await log.append(event({ kind: 'approvals.other', subject: 'job-1' }));
        await log.append(event({ kind: 'policy.decision', subject: 'job-1' }));
        await log.append(event({ kind: 'approval.granted.late', subject: 'job-3' }));
        const kinds = async (q: { kind?: string; subject?: string }): Promise<string[]> =>
          (await log.list('acme', q)).items.map((e) => `${e.kind}@${e.subject}`);
        expect(await kinds({ kind: 'approval.' })).toEqual([
          'approval.granted.late@job-3',
          'approval.rejected@job-2',
          'approval.granted@job-1',
        ]);
        expect(await kinds({ kind: 'approval' })).toEqual(['approval@job-1']);
        expect(await kinds({ kind: 'approval.granted' })).toEqual(['approval.granted@job-1']);
        expect(await kinds({ kind: 'approval.granted.' })).toEqual(['approval.granted.late@job-3']);
        expect(await kinds({ subject: 'job-1' })).toEqual([
          'policy.decision@job-1',
          'approvals.other@job-1',
          'approval@job-1',
          'approval.granted@job-1',
        ]);
        expect(await kinds({ kind: 'approval.', subject: 'job-1' })).toEqual(['approval.granted@job-1']);
        expect(await kinds({ subject: 'nobody' })).toEqual([]);
        expect(await kinds({ kind: 'config.' })).toEqual([]);
      });

      it('pages a sparse filter across many scanned entries without gaps or duplicates', async () => {
        // Far more entries than one scan batch, few of them matching, so a page needs several reads.
        const writes: Promise<AuditEntry>[] = [];
        for (let i = 0; i < 700; i++) {
          writes.push(log.append(event({ kind: i % 97 === 0 ? 'rare.hit' : 'noise.event', subject: `s${i}` })));
        }
        const appended = await Promise.all(writes);
        const expected = appended.filter((e) => e.kind === 'rare.hit').reverse();
        expect(expected).toHaveLength(8);
        const { items, pages } = await listAll(log, 'acme', { limit: 3, kind: 'rare.' });
        expect(items).toEqual(expected);
        expect(pages).toBeGreaterThanOrEqual(3);
        expect(pages).toBeLessThanOrEqual(4);
        const bySubject = await listAll(log, 'acme', { limit: 2, subject: 's0' });
        expect(bySubject.items).toEqual([appended[0]]);
        const everything = await listAll(log, 'acme', { limit: 1000 });
        expect(everything.items).toEqual([...appended].reverse());
        expect(everything.pages).toBe(1);
      });

      it('returns an empty page for a tenant without entries', async () => {
        expect(await log.list('acme')).toEqual({ items: [], nextCursor: null });
        expect(await log.list('acme', { kind: 'approval.' })).toEqual({ items: [], nextCursor: null });
      });
    });

    describe('tenant isolation', () => {
      it('never shows one tenant’s entries to another', async () => {
        const a = await log.append(event({ tenant: 'tenant-a', subject: 'secret' }));
        await log.append(event({ tenant: 'tenant-a', subject: 'secret-2' }));
        expect(await log.list('tenant-b')).toEqual({ items: [], nextCursor: null });
        expect((await log.list('tenant-b', { subject: 'secret' })).items).toEqual([]);
        const b = await log.append(event({ tenant: 'tenant-b', subject: 'mine' }));
        expect((await log.list('tenant-b')).items).toEqual([b]);
        expect((await log.list('tenant-a')).items.map((e) => e.tenant)).toEqual(['tenant-a', 'tenant-a']);
        // A cursor from one tenant only positions within the other tenant's own log.
        const pageA = await log.list('tenant-a', { limit: 1 });
        const viaB = await listAll(log, 'tenant-b', { limit: 5 });
        expect(viaB.items).toEqual([b]);
        const crossed = await log.list('tenant-b', { cursor: pageA.nextCursor });
        expect(crossed.items.every((e) => e.tenant === 'tenant-b')).toBe(true);
        expect(crossed.items.some((e) => e.id === a.id && e.subject === 'secret')).toBe(false);
      });
    });

    describe('invalid input', () => {
      it('rejects malformed entries', async () => {
        await expectInvalid(log.append(event({ tenant: 'bad:tenant' })));
        await expectInvalid(log.append(event({ tenant: '' })));
        for (const kind of ['', 'a..b', '.a', 'a.', 'has space', 'x'.repeat(129)]) await expectInvalid(log.append(event({ kind })));
        await expectInvalid(log.append(event({ actor: '' })));
        await expectInvalid(log.append(event({ actor: 'x'.repeat(257) })));
        await expectInvalid(log.append(event({ subject: 'x'.repeat(513) })));
        await expectInvalid(log.append(event({ subject: 'new\nline' })));
        await expectInvalid(log.append(event({ subject: 7 as never })));
        await expectInvalid(log.append(event({ kind: 1n as never })));
        await expectInvalid(log.append(event({ tenant: 1n as never })));
        await expectInvalid(log.append(event({ data: [] as never })));
        await expectInvalid(log.append(event({ data: { n: Number.NaN } })));
        expect(await log.list('acme')).toEqual({ items: [], nextCursor: null });
        // An empty subject is allowed (not every event has one).
        expect((await log.append(event({ subject: '' }))).subject).toBe('');
      });

      it('rejects bad tenants, limits, cursors and filters', async () => {
        await expectInvalid(log.list('bad:tenant'));
        await expectInvalid(log.list('acme', { limit: 0 }));
        await expectInvalid(log.list('acme', { limit: 1001 }));
        await expectInvalid(log.list('acme', { limit: 1.5 }));
        await expectInvalid(log.list('acme', { cursor: 'garbage' }));
        await expectInvalid(log.list('acme', { cursor: encodeCursor({ before: 'abc' }) }));
        await expectInvalid(log.list('acme', { cursor: encodeCursor({ m: '0000000000000001:x' }) }));
        await expectInvalid(log.list('acme', { kind: '' }));
        await expectInvalid(log.list('acme', { kind: '.' }));
        await expectInvalid(log.list('acme', { kind: 'a..' }));
        await expectInvalid(log.list('acme', { kind: 'a b' }));
        await expectInvalid(log.list('acme', { kind: 3n as never }));
        await expectInvalid(log.list('acme', { subject: 'x'.repeat(513) }));
      });

      it('rejects crafted cursors whose id parts exceed 2^64 - 1, and accepts every id up to it', async () => {
        const entry = await log.append(event());
        const max = '18446744073709551615';
        for (const before of [`1-${BigInt(max) + 1n}`, '1-99999999999999999999', `${entry.at}-${max}0`]) {
          await expectInvalid(log.list('acme', { cursor: encodeCursor({ before }) }));
        }
        // Ids up to the largest are valid bounds (leading zeros included): the entry is older than these…
        for (const before of [`9999999999999999-${max}`, `${entry.at}-${max}`, `0${entry.at}-0${max.slice(1)}`]) {
          const page = await log.list('acme', { cursor: encodeCursor({ before }) });
          expect(page.items.map((e) => e.id), before).toEqual([entry.id]);
        }
        // …and newer than this one.
        expect((await log.list('acme', { cursor: encodeCursor({ before: `1-${max}` }) })).items).toEqual([]);
        // Nothing is older than the smallest id, however it is spelled.
        for (const before of ['0-0', '00-000', '0-1', '1-0']) {
          expect(await log.list('acme', { cursor: encodeCursor({ before }) }), before).toEqual({ items: [], nextCursor: null });
        }
      });
    });
  });
}
