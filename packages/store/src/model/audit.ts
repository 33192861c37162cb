import { InvalidError, isPlainObject } from '@cordum/core';
import type { AuditEntry, NewAuditEntry } from '../ports/audit-log.js';
import type { Page, PageQuery } from '../ports/common.js';
import { encodeCursor, pageLimit } from '../ports/cursor.js';
import { checkJsonObject, checkTenant, checkText, decodeQueryCursor, invalidField, show } from './common.js';

// AuditLog input checks, id format and listing algorithm, shared by the memory and Redis adapters.
//
// Ids have the Redis stream form "<ms>-<seq>": ms is the store clock at append (never moving backwards
// within a tenant), seq counts appends within that millisecond. They are unique per tenant and increase in
// append order comparing (ms, seq) as numbers; `at` is the ms part.

const KIND = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const AUDIT_ID = /^(\d{1,16})-(\d{1,20})$/;
/** Both parts of a Redis stream id are unsigned 64-bit: XREVRANGE refuses anything larger. */
const MAX_ID_PART = 2n ** 64n - 1n;
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

export function checkAuditEntry(entry: NewAuditEntry): AuditWrite {
  if (typeof entry !== 'object' || entry === null) throw new InvalidError('audit entry must be an object');
  const tenant = checkTenant(entry.tenant);
  if (typeof entry.kind !== 'string' || entry.kind.length > MAX_KIND_LENGTH || !KIND.test(entry.kind)) {
    throw invalidField(`kind must be dotted words of A-Z a-z 0-9 _ - (at most ${MAX_KIND_LENGTH}); got ${show(entry.kind)}`, 'kind');
  }
  const actor = checkText(entry.actor, 'actor', 1, MAX_ACTOR_LENGTH);
  const subject = checkText(entry.subject, 'subject', 0, MAX_SUBJECT_LENGTH);
  const data = checkJsonObject(entry.data, 'data');
  return { tenant, kind: entry.kind, actor, subject, dataJson: JSON.stringify(data) };
}

export function checkAuditQuery(query: (PageQuery & { kind?: string; subject?: string }) | undefined): AuditQuery {
  const limit = pageLimit(query);
  const kind = query?.kind;
  if (kind !== undefined) {
    const exact = typeof kind === 'string' && kind.endsWith('.') ? kind.slice(0, -1) : kind;
    if (typeof exact !== 'string' || kind.length > MAX_KIND_LENGTH || !KIND.test(exact)) {
      throw invalidField(`kind filter must be a kind or a prefix ending in "."; got ${show(kind)}`, 'kind');
    }
  }
  const subject = query?.subject === undefined ? undefined : checkText(query.subject, 'subject', 0, MAX_SUBJECT_LENGTH);
  const cursor = decodeQueryCursor(query?.cursor, isAuditCursor);
  return { limit, before: cursor === undefined ? undefined : canonicalId(cursor.before), kind, subject };
}

const isAuditCursor = (v: unknown): v is { before: string } =>
  isPlainObject(v) && typeof v['before'] === 'string' && isAuditId(v['before']);

/** "<ms>-<seq>" with both parts at most 2^64 - 1, the range Redis accepts; cursors come from callers. */
function isAuditId(id: string): boolean {
  const m = AUDIT_ID.exec(id);
  return m !== null && BigInt(m[1]!) <= MAX_ID_PART && BigInt(m[2]!) <= MAX_ID_PART;
}

/** Without leading zeros, so "0-0" is the one spelling of the smallest id. */
function canonicalId(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  return `${BigInt(ms)}-${BigInt(seq)}`;
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
  // Nothing is older than the smallest id, and Redis refuses "(0-0" as a range end: answer without reading.
  if (q.before === '0-0') return { items: [], nextCursor: null };
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
