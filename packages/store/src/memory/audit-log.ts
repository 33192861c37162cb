import { InvalidError, canonicalJson, isPlainObject, isSafeTenantId } from '@cordum/core';
import type { AuditEntry, AuditLog, NewAuditEntry } from '../ports/audit-log.js';
import type { Page, PageQuery } from '../ports/common.js';
import { decodeCursor, encodeCursor, pageLimit } from '../ports/cursor.js';
import type { MemoryStoreContext } from './context.js';

// The embedded AuditLog, and the input checks, id format and listing algorithm its Redis twin shares.
//
// Ids have the Redis stream form "<ms>-<seq>": ms is the store clock at append (never moving backwards
// within a tenant), seq counts appends within that millisecond. They are unique per tenant and increase in
// append order comparing (ms, seq) as numbers; `at` is the ms part.

const KIND = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const AUDIT_ID = /^(\d{1,16})-(\d{1,20})$/;
const MAX_KIND_LENGTH = 128;
const MAX_ACTOR_LENGTH = 256;
const MAX_SUBJECT_LENGTH = 512;

/** Entries read per round trip when a filter may skip many (an unfiltered page reads exactly limit + 1). */
export const AUDIT_SCAN_BATCH = 256;

/** A checked entry, data serialised as stored. */
export type AuditWrite = {
  readonly tenant: string;
  readonly kind: string;
  readonly actor: string;
  readonly subject: string;
  readonly dataJson: string;
};

/** A checked listing query. */
export type AuditQuery = {
  readonly limit: number;
  /** Exclusive upper bound: list entries older than this id. */
  readonly before: string | undefined;
  readonly kind: string | undefined;
  readonly subject: string | undefined;
};

/** Reads up to `count` entries older than `before` (all when undefined), newest first. */
export type AuditBatchReader = (before: string | undefined, count: number) => Promise<AuditEntry[]>;

export function checkAuditTenant(tenant: unknown): string {
  if (typeof tenant !== 'string' || !isSafeTenantId(tenant)) {
    throw new InvalidError(`invalid tenant id ${show(tenant)}: use 1-64 of A-Z a-z 0-9 . _ -`, {
      details: { tenant: typeof tenant === 'string' ? tenant : null },
    });
  }
  return tenant;
}

export function checkAuditEntry(entry: NewAuditEntry): AuditWrite {
  if (typeof entry !== 'object' || entry === null) throw new InvalidError('audit entry must be an object');
  const tenant = checkAuditTenant(entry.tenant);
  if (typeof entry.kind !== 'string' || entry.kind.length > MAX_KIND_LENGTH || !KIND.test(entry.kind)) {
    throw invalid(`kind must be dotted words of A-Z a-z 0-9 _ - (at most ${MAX_KIND_LENGTH}); got ${show(entry.kind)}`, 'kind');
  }
  const actor = checkText(entry.actor, 'actor', 1, MAX_ACTOR_LENGTH);
  const subject = checkText(entry.subject, 'subject', 0, MAX_SUBJECT_LENGTH);
  if (!isPlainObject(entry.data)) throw invalid('data must be a JSON object', 'data');
  try {
    canonicalJson(entry.data);
  } catch (err) {
    throw invalid(`data is not representable as JSON: ${(err as Error).message}`, 'data');
  }
  return { tenant, kind: entry.kind, actor, subject, dataJson: JSON.stringify(entry.data) };
}

export function checkAuditQuery(query: (PageQuery & { kind?: string; subject?: string }) | undefined): AuditQuery {
  const limit = pageLimit(query);
  const kind = query?.kind;
  if (kind !== undefined) {
    const exact = typeof kind === 'string' && kind.endsWith('.') ? kind.slice(0, -1) : kind;
    if (typeof exact !== 'string' || kind.length > MAX_KIND_LENGTH || !KIND.test(exact)) {
      throw invalid(`kind filter must be a kind or a prefix ending in "."; got ${show(kind)}`, 'kind');
    }
  }
  const subject = query?.subject === undefined ? undefined : checkText(query.subject, 'subject', 0, MAX_SUBJECT_LENGTH);
  let before: string | undefined;
  if (query?.cursor !== undefined && query.cursor !== null) {
    before = decodeCursor(
      query.cursor,
      (v): v is { before: string } => isPlainObject(v) && typeof v['before'] === 'string' && AUDIT_ID.test(v['before']),
    ).before;
  }
  return { limit, before, kind, subject };
}

/** Builds a fresh entry (parsing the stored data text, so callers never share the store's objects). */
export function auditEntry(tenant: string, id: string, kind: string, actor: string, subject: string, dataJson: string): AuditEntry {
  return {
    id,
    tenant,
    at: Number(id.slice(0, id.indexOf('-'))),
    kind,
    actor,
    subject,
    data: JSON.parse(dataJson) as AuditEntry['data'],
  };
}

/**
 * One page, newest first. Reads in batches until the page is full or the log ends; a further matching entry
 * seen in the last batch proves another page exists. When the page fills exactly at a batch boundary the
 * cursor is returned without looking further, so the next page may be empty (never wrong).
 */
export async function listAuditPage(read: AuditBatchReader, q: AuditQuery): Promise<Page<AuditEntry>> {
  const filtered = q.kind !== undefined || q.subject !== undefined;
  const batchSize = filtered ? Math.max(q.limit + 1, AUDIT_SCAN_BATCH) : q.limit + 1;
  const items: AuditEntry[] = [];
  let before = q.before;
  for (;;) {
    const batch = await read(before, batchSize);
    for (const entry of batch) {
      if (!matches(entry, q)) continue;
      if (items.length === q.limit) return { items, nextCursor: auditCursor(items[items.length - 1]!.id) };
      items.push(entry);
    }
    const last = batch[batch.length - 1];
    if (batch.length < batchSize || last === undefined) return { items, nextCursor: null };
    before = last.id;
    if (items.length === q.limit) return { items, nextCursor: auditCursor(before) };
  }
}

function matches(entry: AuditEntry, q: AuditQuery): boolean {
  if (q.subject !== undefined && entry.subject !== q.subject) return false;
  if (q.kind === undefined) return true;
  return q.kind.endsWith('.') ? entry.kind.startsWith(q.kind) : entry.kind === q.kind;
}

function auditCursor(before: string): string {
  return encodeCursor({ before });
}

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

function checkText(value: unknown, field: string, min: number, max: number): string {
  if (typeof value !== 'string' || value.length < min || value.length > max || CONTROL_CHARS.test(value)) {
    throw invalid(`${field} must be ${min}-${max} printable characters; got ${show(value)}`, field);
  }
  return value;
}

function invalid(message: string, field: string): InvalidError {
  return new InvalidError(message, { details: { field } });
}

type Stored = { ms: number; seq: number; id: string; kind: string; actor: string; subject: string; dataJson: string };
type TenantLog = { lastMs: number; lastSeq: number; entries: Stored[] };

export function createMemoryAuditLog(ctx: MemoryStoreContext): AuditLog {
  const logs = new Map<string, TenantLog>();

  const toEntry = (tenant: string, s: Stored): AuditEntry => auditEntry(tenant, s.id, s.kind, s.actor, s.subject, s.dataJson);

  return {
    append: (entry) =>
      settle(() => {
        const w = checkAuditEntry(entry);
        let log = logs.get(w.tenant);
        if (log === undefined) {
          log = { lastMs: -1, lastSeq: -1, entries: [] };
          logs.set(w.tenant, log);
        }
        // Like XADD *: the clock never runs backwards within a log; same millisecond → next sequence.
        const ms = Math.max(Math.floor(ctx.clock.now()), log.lastMs);
        const seq = ms === log.lastMs ? log.lastSeq + 1 : 0;
        log.lastMs = ms;
        log.lastSeq = seq;
        const stored: Stored = { ms, seq, id: `${ms}-${seq}`, kind: w.kind, actor: w.actor, subject: w.subject, dataJson: w.dataJson };
        log.entries.push(stored);
        return toEntry(w.tenant, stored);
      }),

    async list(tenant, query) {
      checkAuditTenant(tenant);
      const q = checkAuditQuery(query);
      const entries = logs.get(tenant)?.entries ?? [];
      return listAuditPage((before, count) => {
        // entries are in append order, i.e. ascending (ms, seq): find the first one not older than `before`.
        let end = entries.length;
        if (before !== undefined) {
          const [ms, seq] = before.split('-').map(Number) as [number, number];
          let lo = 0;
          let hi = entries.length;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            const e = entries[mid]!;
            if (e.ms < ms || (e.ms === ms && e.seq < seq)) lo = mid + 1;
            else hi = mid;
          }
          end = lo;
        }
        const batch = entries.slice(Math.max(0, end - count), end).reverse();
        return Promise.resolve(batch.map((s) => toEntry(tenant, s)));
      }, q);
    },
  };
}

/** A caller's bad value quoted for a message: never throws (BigInt, cycles) and stays short. */
function show(value: unknown): string {
  const text =
    typeof value === 'string'
      ? JSON.stringify(value)
      : typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined
        ? String(value)
        : typeof value;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Runs a synchronous body as a promise, turning a throw into a rejection. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => {
    resolve(fn());
  });
}
