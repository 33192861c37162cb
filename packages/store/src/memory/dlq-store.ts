import { ConflictError, InvalidError, canonicalJson, isPlainObject, isSafeTenantId } from '@cordum/core';
import { isJobState } from '@cordum/protocol';
import type { Page } from '../ports/common.js';
import { decodeCursor, encodeCursor, pageLimit } from '../ports/cursor.js';
import type { DlqEntry, DlqStore, NewDlqEntry } from '../ports/dlq-store.js';
import type { MemoryStoreContext } from './context.js';

// The embedded DlqStore, and the input checks, index order and cursor format its Redis twin shares.
//
// Order: newest createdAt first, then jobId descending. Both adapters sort by an index member
// "<createdAt, 16 digits zero-padded>:<jobId>" compared byte by byte (Redis ZRANGE BYLEX order), and a
// cursor is the member of the last item returned, so pages stay stable while entries are added.

export const MAX_DLQ_ID_LENGTH = 256;
/** createdAt must fit the index member's 16 digits; every safe integer does. */
const MAX_CREATED_AT = Number.MAX_SAFE_INTEGER;

/** A checked entry: everything but createdAt serialised as stored (createdAt is added by the adapter). */
export type DlqWrite = {
  readonly tenant: string;
  readonly jobId: string;
  readonly reasonCode: string;
  /** undefined: use the store clock. */
  readonly createdAt: number | undefined;
  /** The entry as a JSON object without createdAt, fields in a fixed order. */
  readonly bodyJson: string;
};

export function checkDlqTenant(tenant: unknown): string {
  if (typeof tenant !== 'string' || !isSafeTenantId(tenant)) {
    throw new InvalidError(`invalid tenant id ${show(tenant)}: use 1-64 of A-Z a-z 0-9 . _ -`, {
      details: { tenant: typeof tenant === 'string' ? tenant : null },
    });
  }
  return tenant;
}

export function checkJobId(jobId: unknown): string {
  return checkText(jobId, 'jobId', 1, MAX_DLQ_ID_LENGTH);
}

export function checkReasonCode(reasonCode: unknown): string {
  return checkText(reasonCode, 'reasonCode', 1, 128);
}

export function checkDlqEntry(entry: NewDlqEntry): DlqWrite {
  if (typeof entry !== 'object' || entry === null) throw new InvalidError('DLQ entry must be an object');
  const tenant = checkDlqTenant(entry.tenant);
  const jobId = checkJobId(entry.jobId);
  const reasonCode = checkReasonCode(entry.reasonCode);
  const topic = checkText(entry.topic, 'topic', 0, 512);
  if (typeof entry.reason !== 'string') throw invalid('reason must be a string', 'reason');
  if (typeof entry.status !== 'string' || !isJobState(entry.status)) throw invalid('status must be a job state', 'status');
  if (entry.lastState !== null && (typeof entry.lastState !== 'string' || !isJobState(entry.lastState))) {
    throw invalid('lastState must be a job state or null', 'lastState');
  }
  if (!isCount(entry.errorCode)) throw invalid('errorCode must be a non-negative integer', 'errorCode');
  if (!isCount(entry.attempts)) throw invalid('attempts must be a non-negative integer', 'attempts');
  if (entry.createdAt !== undefined && (!isCount(entry.createdAt) || entry.createdAt > MAX_CREATED_AT)) {
    throw invalid('createdAt must be a non-negative integer of milliseconds', 'createdAt');
  }
  if (!isPlainObject(entry.data)) throw invalid('data must be a JSON object', 'data');
  try {
    canonicalJson(entry.data);
  } catch (err) {
    throw invalid(`data is not representable as JSON: ${(err as Error).message}`, 'data');
  }
  // Only the port's fields, in a fixed order: extra properties a caller passes are not stored.
  const body = {
    jobId,
    tenant,
    topic,
    status: entry.status,
    reasonCode,
    reason: entry.reason,
    errorCode: entry.errorCode,
    lastState: entry.lastState,
    attempts: entry.attempts,
    data: entry.data,
  };
  return { tenant, jobId, reasonCode, createdAt: entry.createdAt, bodyJson: JSON.stringify(body) };
}

/** The stored entry JSON: createdAt first, then the body's fields (the Redis script splices it the same way). */
export function dlqEntryJson(createdAt: number, bodyJson: string): string {
  return `{"createdAt":${createdAt},${bodyJson.slice(1)}`;
}

/** Parses a stored entry into a fresh object. */
export function dlqEntryFromJson(json: string): DlqEntry {
  return JSON.parse(json) as DlqEntry;
}

/** Index member that orders entries by createdAt, then jobId. */
export function dlqIndexMember(createdAt: number, jobId: string): string {
  return `${String(createdAt).padStart(16, '0')}:${jobId}`;
}

/** The jobId inside an index member. */
export function jobIdOfMember(member: string): string {
  return member.slice(17);
}

const MEMBER = /^\d{16}:.+$/s;

export function encodeDlqCursor(member: string): string {
  return encodeCursor({ m: member });
}

export function decodeDlqCursor(cursor: string | null | undefined): string | undefined {
  if (cursor === undefined || cursor === null) return undefined;
  return decodeCursor(cursor, (v): v is { m: string } => isPlainObject(v) && typeof v['m'] === 'string' && MEMBER.test(v['m'])).m;
}

/** Listing filter: a reasonCode, when given, must be a valid one. */
export function checkReasonFilter(reasonCode: unknown): string | undefined {
  return reasonCode === undefined ? undefined : checkReasonCode(reasonCode);
}

/** Byte order of UTF-8 strings: the order Redis uses for BYLEX ranges. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Thrown by an adapter that could not get a stable read of an entry it was changing. */
export function dlqContention(tenant: string, jobId: string): ConflictError {
  return new ConflictError(`DLQ entry ${jobId} of tenant ${tenant} kept changing during the update: retry`, {
    details: { tenant, job_id: jobId },
  });
}

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

function checkText(value: unknown, field: string, min: number, max: number): string {
  if (typeof value !== 'string' || value.length < min || value.length > max || CONTROL_CHARS.test(value)) {
    throw invalid(`${field} must be ${min}-${max} printable characters; got ${show(value)}`, field);
  }
  return value;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function invalid(message: string, field: string): InvalidError {
  return new InvalidError(message, { details: { field } });
}

type Stored = { member: string; reasonCode: string; json: string };

export function createMemoryDlqStore(ctx: MemoryStoreContext): DlqStore {
  const tenants = new Map<string, Map<string, Stored>>();

  return {
    put: (entry) =>
      settle(() => {
        const w = checkDlqEntry(entry);
        const createdAt = w.createdAt ?? ctx.clock.now();
        const json = dlqEntryJson(createdAt, w.bodyJson);
        let entries = tenants.get(w.tenant);
        if (entries === undefined) {
          entries = new Map();
          tenants.set(w.tenant, entries);
        }
        entries.set(w.jobId, { member: dlqIndexMember(createdAt, w.jobId), reasonCode: w.reasonCode, json });
        return dlqEntryFromJson(json);
      }),

    get: (tenant, jobId) =>
      settle(() => {
        const t = checkDlqTenant(tenant);
        const id = checkJobId(jobId);
        const stored = tenants.get(t)?.get(id);
        return stored === undefined ? undefined : dlqEntryFromJson(stored.json);
      }),

    list: (tenant, query) =>
      settle((): Page<DlqEntry> => {
        checkDlqTenant(tenant);
        const size = pageLimit(query);
        const after = decodeDlqCursor(query?.cursor);
        const reasonCode = checkReasonFilter(query?.reasonCode);
        const matching = [...(tenants.get(tenant)?.values() ?? [])]
          .filter((s) => reasonCode === undefined || s.reasonCode === reasonCode)
          .filter((s) => after === undefined || compareBytes(s.member, after) < 0)
          .sort((a, b) => compareBytes(b.member, a.member));
        const page = matching.slice(0, size);
        const last = page[page.length - 1];
        return {
          items: page.map((s) => dlqEntryFromJson(s.json)),
          nextCursor: matching.length > size && last !== undefined ? encodeDlqCursor(last.member) : null,
        };
      }),

    delete: (tenant, jobId) =>
      settle(() => {
        const t = checkDlqTenant(tenant);
        const id = checkJobId(jobId);
        return tenants.get(t)?.delete(id) ?? false;
      }),

    count: (tenant) => settle(() => tenants.get(checkDlqTenant(tenant))?.size ?? 0),
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
