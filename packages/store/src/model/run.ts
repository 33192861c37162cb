import { InvalidError, type JsonValue, isPlainObject, isSafeId } from '@cordum/core';
import type { PageQuery } from '../ports/common.js';
import { encodeCursor, pageLimit } from '../ports/cursor.js';
import {
  type InboxEvent,
  type NewRun,
  type NewRunTimelineEntry,
  RUN_STATUSES,
  type RunQuery,
  type RunStatus,
  type FenceRequirement,
  type RunUpdate,
  type RunTimelineEntry,
  isRunStatus,
  isTerminalRunStatus,
} from '../ports/run-store.js';
import { checkTenant, decodeQueryCursor, invalidField, isPrintableText, show } from './common.js';
import { checkFence, checkRequirements } from './fence.js';
import { checkWorkflowId, jsonObjectText } from './workflow.js';

// RunStore input checks, stored formats and cursors, shared by the memory and Redis adapters so both
// reject the same requests with the same errors and order listings the same way.
//
// Stored formats. The run document, the labels, timeline entries and inbox events are kept as JSON text
// written here; the Redis scripts never decode and re-encode them (cjson would turn [] into {} and round
// numbers to 14 digits). A timeline entry is stored as `{"seq":<n>,"at":<ms>,"key":…,"data":…}` and an
// inbox event as `{"seq":<n>,"at":<ms>,"key":…,"event":…}`: the store prepends seq and at to the tail built
// by entryTail()/eventTail().

/** The most index entries one list() examines when it has to filter; past it the page comes back short. */
export const RUN_LIST_SCAN_BUDGET = 5000;

/** The most inbox events one inbox() call returns. */
export const MAX_INBOX_READ = 1000;

const MAX_KEY_LENGTH = 512;

/** Lex index members sort by this: 15 digits cover every millisecond timestamp until the year 33658. */
const PAD = 15;

export function padMs(ms: number): string {
  return String(Math.min(Math.max(ms, 0), 10 ** PAD - 1)).padStart(PAD, '0');
}

/** Member of the per-tenant run indexes (all, status, workflow): newest first is BYLEX REV. */
export function runLexMember(createdAt: number, id: string): string {
  return `${padMs(createdAt)}|${id}`;
}

/** Member of the global activity index: least recently updated first is BYLEX. */
export function activeMember(updatedAt: number, tenant: string, id: string): string {
  return `${padMs(updatedAt)}|${tenant}|${id}`;
}

/** Member of the global due index (scored by the due time). Tenants and run ids never contain "|". */
export function dueMember(tenant: string, id: string): string {
  return `${tenant}|${id}`;
}

export function parseDueMember(member: string): { tenant: string; id: string } | undefined {
  const bar = member.indexOf('|');
  if (bar <= 0) return undefined;
  return { tenant: member.slice(0, bar), id: member.slice(bar + 1) };
}

export function parseActiveMember(member: string): { updatedAt: number; tenant: string; id: string } | undefined {
  const parts = member.split('|');
  if (parts.length !== 3 || parts[0]?.length !== PAD) return undefined;
  const updatedAt = Number(parts[0]);
  const [, tenant, id] = parts as [string, string, string];
  return Number.isSafeInteger(updatedAt) ? { updatedAt, tenant, id } : undefined;
}

export function parseRunLexMember(member: string): RunCursor | undefined {
  if (member.indexOf('|') !== PAD) return undefined;
  const c = Number(member.slice(0, PAD));
  return Number.isSafeInteger(c) ? { c, i: member.slice(PAD + 1) } : undefined;
}

function invalid(message: string, details: Record<string, unknown>): InvalidError {
  return new InvalidError(message, { details });
}

export function checkRunId(id: unknown): string {
  if (typeof id !== 'string' || !isSafeId(id)) {
    throw invalid(
      `invalid run id ${show(id)}: use 1-200 of A-Z a-z 0-9 . _ : @ # - [ ], starting with a letter or digit`,
      { field: 'id' },
    );
  }
  return id;
}

/** Ids that can never name a stored run: reads answer "not found" for them instead of throwing. */
export function isPossibleRunId(id: unknown): id is string {
  return typeof id === 'string' && isSafeId(id);
}

function checkReply(value: unknown): boolean {
  if (value === undefined || value === 'record') return false;
  if (value === 'version') return true;
  throw invalidField(`reply must be "record" or "version", got ${show(value)}`, 'reply');
}

function checkStatus(value: unknown, field: string): RunStatus {
  if (!isRunStatus(value)) {
    throw invalid(`${field} must be one of ${RUN_STATUSES.join(', ')}, got ${show(value)}`, { field });
  }
  return value;
}

function checkMillis(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${field} must be a non-negative integer of milliseconds, got ${show(value)}`, { field });
  }
  return value;
}

function checkCount(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`${field} must be an integer of at least ${min}, got ${show(value)}`, { field });
  }
  return value;
}

/** Idempotency keys and timeline/inbox entry keys: 1-512 printable characters. */
function checkKey(value: unknown, field: string): string {
  if (!isPrintableText(value, 1, MAX_KEY_LENGTH)) {
    throw invalid(`${field} must be 1-${MAX_KEY_LENGTH} printable characters; got ${show(value)}`, { field });
  }
  return value;
}

function labelsText(value: unknown): string {
  if (!isPlainObject(value)) throw invalidField('labels must be an object of strings', 'labels');
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  for (const [k, v] of entries) {
    if (typeof v !== 'string') throw invalidField(`label ${JSON.stringify(k)} must be a string`, 'labels');
  }
  // fromEntries defines own properties, so a "__proto__" label stays a label.
  return JSON.stringify(Object.fromEntries(entries));
}

/** A timeline entry as the store appends it: its key (or null) and the stored tail (see file header). */
export type CheckedEntry = { key: string | null; tail: string };

/** `"key":…,"data":…}`: the stored entry without its leading `{"seq":<n>,"at":<ms>,`. */
function entryTail(key: string | null, dataJson: string): string {
  return `"key":${JSON.stringify(key)},"data":${dataJson}}`;
}

export function checkTimelineEntries(entries: unknown, field = 'timeline'): CheckedEntry[] {
  if (entries === undefined) return [];
  if (!Array.isArray(entries)) throw invalidField(`${field} must be an array of entries`, field);
  return entries.map((raw: unknown, i) => {
    if (!isPlainObject(raw)) throw invalidField(`${field}[${i}] must be an object {key?, data}`, field);
    const entry = raw as NewRunTimelineEntry;
    const key = entry.key === undefined ? null : checkKey(entry.key, `${field}[${i}].key`);
    return { key, tail: entryTail(key, jsonObjectText(entry.data, `${field}[${i}].data`)) };
  });
}

export function checkPushEvent(event: unknown, options: { key?: string } | undefined): CheckedEntry {
  const key = options?.key === undefined ? null : checkKey(options.key, 'key');
  return { key, tail: `"key":${JSON.stringify(key)},"event":${jsonObjectText(event, 'event')}}` };
}

/** The full stored text of an entry or event, given the seq and time the store assigned. */
export function storedEntry(seq: number, at: number, tail: string): string {
  return `{"seq":${seq},"at":${at},${tail}`;
}

function checkDoc(doc: unknown): Record<string, unknown> {
  if (!isPlainObject(doc)) throw invalidField('doc must be a JSON object', 'doc');
  return doc;
}

export type CheckedNewRun = {
  tenant: string;
  id: string;
  workflowId: string;
  workflowVersion: number;
  /** The document, checked to be a JSON object (each adapter serialises it its own way). */
  doc: Record<string, unknown>;
  labelsJson: string;
  idempotencyKey: string | null;
  maxActive: number | null;
  dueAt: number | null;
  timeline: CheckedEntry[];
};

export function checkNewRun(run: NewRun): CheckedNewRun {
  if (!isPlainObject(run)) throw invalid('run must be an object', {});
  const tenant = checkTenant(run.tenant);
  const id = checkRunId(run.id);
  let workflowId: string;
  try {
    workflowId = checkWorkflowId(run.workflowId);
  } catch {
    throw invalid(`invalid workflowId ${show(run.workflowId)}: use 1-200 of A-Z a-z 0-9 . _ : @ # - [ ]`, {
      field: 'workflowId',
    });
  }
  return {
    tenant,
    id,
    workflowId,
    workflowVersion: checkCount(run.workflowVersion, 'workflowVersion', 1),
    doc: checkDoc(run.doc),
    labelsJson: run.labels === undefined ? '{}' : labelsText(run.labels),
    idempotencyKey: run.idempotencyKey === undefined ? null : checkKey(run.idempotencyKey, 'idempotencyKey'),
    maxActive: run.maxActive === undefined ? null : checkCount(run.maxActive, 'maxActive', 0),
    dueAt: run.dueAt === undefined || run.dueAt === null ? null : checkMillis(run.dueAt, 'dueAt'),
    timeline: checkTimelineEntries(run.timeline),
  };
}

export type CheckedUpdate = {
  expectedVersion: number;
  status: RunStatus | undefined;
  terminal: boolean;
  doc: Record<string, unknown> | undefined;
  /** The document being replaced, as the caller has it (RunUpdate.previousDoc). */
  previousDoc: unknown;
  fence: string | undefined;
  requires: FenceRequirement[];
  labelsJson: string | undefined;
  /** undefined: keep; null: clear. */
  dueAt: number | null | undefined;
  timeline: CheckedEntry[];
  ackInbox: number | undefined;
  /** Answer with the RunWriteSummary only. */
  versionOnly: boolean;
};

export function checkRunUpdate(update: RunUpdate): CheckedUpdate {
  if (!isPlainObject(update)) throw invalid('update must be an object', {});
  const status = update.status === undefined ? undefined : checkStatus(update.status, 'status');
  return {
    expectedVersion: checkCount(update.expectedVersion, 'expectedVersion', 1),
    status,
    terminal: status !== undefined && isTerminalRunStatus(status),
    doc: update.doc === undefined ? undefined : checkDoc(update.doc),
    previousDoc: update.previousDoc,
    fence: checkFence(update.fence, 'fence'),
    requires: checkRequirements(update.requires),
    labelsJson: update.labels === undefined ? undefined : labelsText(update.labels),
    dueAt: update.dueAt === undefined || update.dueAt === null ? update.dueAt : checkMillis(update.dueAt, 'dueAt'),
    timeline: checkTimelineEntries(update.timeline),
    ackInbox: update.ackInbox === undefined ? undefined : checkCount(update.ackInbox, 'ackInbox', 0),
    versionOnly: checkReply(update.reply),
  };
}

/** Position in a run listing: the last item's createdAt and id (newest-first order). */
export type RunCursor = { c: number; i: string };

const isRunCursor = (v: unknown): v is RunCursor =>
  isPlainObject(v) &&
  typeof v['c'] === 'number' &&
  Number.isSafeInteger(v['c']) &&
  v['c'] >= 0 &&
  isPossibleRunId(v['i']);

export function encodeRunCursor(position: RunCursor): string {
  return encodeCursor(position);
}

export type CheckedRunQuery = {
  tenant: string;
  workflowId: string | undefined;
  status: RunStatus | undefined;
  limit: number;
  cursor: RunCursor | undefined;
};

export function checkRunQuery(query: RunQuery): CheckedRunQuery {
  if (!isPlainObject(query)) throw invalid('query must be an object', {});
  const tenant = checkTenant(query.tenant);
  let workflowId: string | undefined;
  if (query.workflowId !== undefined) {
    if (typeof query.workflowId !== 'string' || !isSafeId(query.workflowId)) {
      throw invalid(`invalid workflowId ${show(query.workflowId)}`, { field: 'workflowId' });
    }
    workflowId = query.workflowId;
  }
  return {
    tenant,
    workflowId,
    status: query.status === undefined ? undefined : checkStatus(query.status, 'status'),
    limit: pageLimit(query),
    cursor: decodeQueryCursor(query.cursor, isRunCursor),
  };
}

/** Timeline cursor: the seq of the last entry returned. */
const isSeqCursor = (v: unknown): v is { s: number } =>
  isPlainObject(v) && typeof v['s'] === 'number' && Number.isSafeInteger(v['s']) && v['s'] >= 0;

export function encodeTimelineCursor(seq: number): string {
  return encodeCursor({ s: seq });
}

export function checkTimelineQuery(query: PageQuery | undefined): { limit: number; afterSeq: number } {
  return { limit: pageLimit(query), afterSeq: decodeQueryCursor(query?.cursor, isSeqCursor)?.s ?? 0 };
}

/** Activity-index cursor: the last member returned (see activeMember). */
const isActiveCursor = (v: unknown): v is { m: string } =>
  isPlainObject(v) && typeof v['m'] === 'string' && parseActiveMember(v['m']) !== undefined;

export function encodeActiveCursor(member: string): string {
  return encodeCursor({ m: member });
}

export function checkActiveQuery(options: (PageQuery & { updatedBefore?: number }) | undefined): {
  limit: number;
  after: string | undefined;
  updatedBefore: number | undefined;
} {
  return {
    limit: pageLimit(options),
    after: decodeQueryCursor(options?.cursor, isActiveCursor)?.m,
    updatedBefore:
      options?.updatedBefore === undefined ? undefined : checkMillis(options.updatedBefore, 'updatedBefore'),
  };
}

export function checkDueOptions(options: { before?: number; limit?: number } | undefined): {
  before: number | undefined;
  limit: number;
} {
  return {
    before: options?.before === undefined ? undefined : checkMillis(options.before, 'before'),
    limit: pageLimit(options?.limit === undefined ? {} : { limit: options.limit }),
  };
}

export function checkInboxLimit(options: { limit?: number } | undefined): number {
  const limit = options?.limit ?? MAX_INBOX_READ;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_INBOX_READ) {
    throw invalid(`inbox limit must be an integer from 1 to ${MAX_INBOX_READ}, got ${show(limit)}`, { field: 'limit' });
  }
  return limit;
}

/** Parses a stored labels text. */
export function parseLabels(text: string): Record<string, string> {
  return JSON.parse(text) as Record<string, string>;
}

export function parseDoc(text: string): Record<string, JsonValue> {
  return JSON.parse(text) as Record<string, JsonValue>;
}

/** Decodes a stored timeline entry (a fresh object every time). */
export function parseTimelineEntry(text: string): RunTimelineEntry {
  const e = JSON.parse(text) as { seq: number; at: number; key: string | null; data: Record<string, JsonValue> };
  return { seq: e.seq, at: e.at, key: e.key, data: e.data };
}

/** Decodes a stored inbox event (a fresh object every time). */
export function parseInboxEvent(text: string): InboxEvent {
  const e = JSON.parse(text) as { seq: number; at: number; key: string | null; event: Record<string, JsonValue> };
  return { seq: e.seq, at: e.at, key: e.key, event: e.event };
}

// Messages of the domain failures, shared so both adapters word them identically.

export function runExistsMessage(tenant: string, id: string): string {
  return `run ${id} already exists in tenant ${tenant}`;
}

export function terminalStatusMessage(id: string, current: RunStatus, to: RunStatus): string {
  return `run ${id} is ${current}, a final status: it cannot become ${to}`;
}
