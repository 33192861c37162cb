import { InvalidError, isPlainObject } from '@cordum/core';
import { isJobState } from '@cordum/protocol';
import { encodeCursor } from '../ports/cursor.js';
import type { DlqEntry, NewDlqEntry } from '../ports/dlq-store.js';
import { checkJsonObject, checkTenant, checkText, decodeQueryCursor, invalidField } from './common.js';

// DlqStore input checks, stored entry format, index order and cursor format, shared by the memory and
// Redis adapters.
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

export function checkJobId(jobId: unknown): string {
  return checkText(jobId, 'jobId', 1, MAX_DLQ_ID_LENGTH);
}

export function checkReasonCode(reasonCode: unknown): string {
  return checkText(reasonCode, 'reasonCode', 1, 128);
}

export function checkDlqEntry(entry: NewDlqEntry): DlqWrite {
  if (typeof entry !== 'object' || entry === null) throw new InvalidError('DLQ entry must be an object');
  const tenant = checkTenant(entry.tenant);
  const jobId = checkJobId(entry.jobId);
  const reasonCode = checkReasonCode(entry.reasonCode);
  const topic = checkText(entry.topic, 'topic', 0, 512);
  if (typeof entry.reason !== 'string') throw invalidField('reason must be a string', 'reason');
  if (typeof entry.status !== 'string' || !isJobState(entry.status)) throw invalidField('status must be a job state', 'status');
  if (entry.lastState !== null && (typeof entry.lastState !== 'string' || !isJobState(entry.lastState))) {
    throw invalidField('lastState must be a job state or null', 'lastState');
  }
  if (!isCount(entry.errorCode)) throw invalidField('errorCode must be a non-negative integer', 'errorCode');
  if (!isCount(entry.attempts)) throw invalidField('attempts must be a non-negative integer', 'attempts');
  if (entry.createdAt !== undefined && (!isCount(entry.createdAt) || entry.createdAt > MAX_CREATED_AT)) {
    throw invalidField('createdAt must be a non-negative integer of milliseconds', 'createdAt');
  }
  checkJsonObject(entry.data, 'data');
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

const isDlqCursor = (v: unknown): v is { m: string } => isPlainObject(v) && typeof v['m'] === 'string' && MEMBER.test(v['m']);

export function decodeDlqCursor(cursor: string | null | undefined): string | undefined {
  return decodeQueryCursor(cursor, isDlqCursor)?.m;
}

/** Listing filter: a reasonCode, when given, must be a valid one. */
export function checkReasonFilter(reasonCode: unknown): string | undefined {
  return reasonCode === undefined ? undefined : checkReasonCode(reasonCode);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
