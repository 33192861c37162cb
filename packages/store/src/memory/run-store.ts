import { ConflictError, InvalidError } from '@cordum/core';
import { checkTenant, compareBytes, isExpired, pageOf, settle } from '../model/common.js';
import {
  type CheckedEntry,
  activeMember,
  checkActiveQuery,
  checkDueOptions,
  checkInboxLimit,
  checkNewRun,
  checkPushEvent,
  checkRunQuery,
  checkRunUpdate,
  checkTimelineEntries,
  checkTimelineQuery,
  dueMember,
  encodeActiveCursor,
  encodeRunCursor,
  encodeTimelineCursor,
  isPossibleRunId,
  parseDoc,
  parseInboxEvent,
  parseLabels,
  parseTimelineEntry,
  runExistsMessage,
  storedEntry,
  terminalStatusMessage,
} from '../model/run.js';
import type { Page } from '../ports/common.js';
import {
  type ActiveRun,
  type AppendedEntry,
  type DueRun,
  type RunRecord,
  type RunStatus,
  type RunStore,
  type RunTimelineEntry,
  type RunUpdate,
  type RunWriteSummary,
  type UpdateRunResult,
  type UpdateRunVersionResult,
  isTerminalRunStatus,
} from '../ports/run-store.js';
import { jsonObjectText } from '../model/workflow.js';
import { FENCE_TTL_MS } from '../model/fence.js';
import { type MemoryStoreContext, fenceValue, raiseFence } from './context.js';

// The embedded RunStore. Every method decides synchronously, within one tick, so a compare-and-set, a
// create with its idempotency key and concurrency slot, or an inbox push cannot interleave with another
// write: that is this backend's atomicity. Documents, labels, timeline entries and inbox events are kept as
// the same JSON text the Redis adapter stores and parsed on every read, so callers never share objects with
// the store.

type Row = {
  readonly tenant: string;
  readonly id: string;
  readonly workflowId: string;
  readonly workflowVersion: number;
  readonly createdAt: number;
  readonly idempotencyKey: string | null;
  status: RunStatus;
  version: number;
  updatedAt: number;
  dueAt: number | null;
  labelsJson: string;
  docJson: string;
  /** Stored entries, oldest first. */
  timeline: Array<{ seq: number; key: string | null; text: string }>;
  timelineSeq: number;
  timelineKeys: Map<string, number>;
  inbox: Array<{ seq: number; at: number; text: string }>;
  inboxSeq: number;
  inboxKeys: Map<string, number>;
};

function toRecord(row: Row): RunRecord {
  return {
    tenant: row.tenant,
    id: row.id,
    workflowId: row.workflowId,
    workflowVersion: row.workflowVersion,
    status: row.status,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    idempotencyKey: row.idempotencyKey,
    labels: parseLabels(row.labelsJson),
    dueAt: row.dueAt,
    doc: parseDoc(row.docJson),
  };
}

function toSummary(row: Row): RunWriteSummary {
  return { version: row.version, status: row.status, updatedAt: row.updatedAt };
}

/** Newest created first, then by id descending: the order the Redis lex indexes give. */
function newestFirst(a: Row, b: Row): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return compareBytes(b.id, a.id);
}

export function createMemoryRunStore(ctx: MemoryStoreContext): RunStore {
  /** tenant → id → row. */
  const tenants = new Map<string, Map<string, Row>>();
  /** tenant → ids of its non-terminal runs (the concurrency slots in use). */
  const active = new Map<string, Set<string>>();
  /** tenant → idempotency key → run id and expiry. */
  const idempotency = new Map<string, Map<string, { id: string; expiresAt: number }>>();

  const now = (): number => ctx.clock.now();
  const find = (tenant: string, id: string): Row | undefined => tenants.get(tenant)?.get(id);
  const activeOf = (tenant: string): Set<string> => {
    let set = active.get(tenant);
    if (set === undefined) {
      set = new Set();
      active.set(tenant, set);
    }
    return set;
  };

  function appendEntries(row: Row, entries: readonly CheckedEntry[], at: number): AppendedEntry[] {
    const out: AppendedEntry[] = [];
    for (const entry of entries) {
      const known = entry.key === null ? undefined : row.timelineKeys.get(entry.key);
      if (known !== undefined) {
        out.push({ seq: known, duplicate: true });
        continue;
      }
      row.timelineSeq += 1;
      const seq = row.timelineSeq;
      row.timeline.push({ seq, key: entry.key, text: storedEntry(seq, at, entry.tail) });
      if (entry.key !== null) row.timelineKeys.set(entry.key, seq);
      out.push({ seq, duplicate: false });
    }
    const excess = row.timeline.length - ctx.options.runTimelineLimit;
    if (excess > 0) {
      for (const dropped of row.timeline.splice(0, excess)) {
        if (dropped.key !== null) row.timelineKeys.delete(dropped.key);
      }
    }
    return out;
  }

  /** The run's position on the due index, or undefined when it is not due at all. */
  function dueAt(row: Row): number | undefined {
    if (isTerminalRunStatus(row.status)) return undefined;
    const oldestEvent = row.inbox[0]?.at;
    if (row.dueAt === null) return oldestEvent;
    return oldestEvent === undefined ? row.dueAt : Math.min(row.dueAt, oldestEvent);
  }

  function allRows(): Row[] {
    return [...tenants.values()].flatMap((rows) => [...rows.values()]);
  }

  function forget(row: Row): void {
    tenants.get(row.tenant)?.delete(row.id);
    active.get(row.tenant)?.delete(row.id);
    if (row.idempotencyKey !== null) {
      const keys = idempotency.get(row.tenant);
      if (keys?.get(row.idempotencyKey)?.id === row.id) keys.delete(row.idempotencyKey);
    }
  }

  return {
    create: (run) =>
      settle(() => {
        const input = checkNewRun(run);
        const docJson = jsonObjectText(input.doc, 'doc');
        const t = now();
        const keys = idempotency.get(input.tenant);
        if (input.idempotencyKey !== null) {
          const claim = keys?.get(input.idempotencyKey);
          const claimed = claim === undefined || isExpired(claim.expiresAt, t) ? undefined : find(input.tenant, claim.id);
          if (claimed !== undefined) return { outcome: 'existing' as const, run: toRecord(claimed) };
        }
        if (find(input.tenant, input.id) !== undefined) {
          const message = runExistsMessage(input.tenant, input.id);
          throw new ConflictError(message, { code: 'already_exists', details: { id: input.id, message } });
        }
        const slots = activeOf(input.tenant);
        if (input.maxActive !== null && slots.size >= input.maxActive) {
          return { outcome: 'limit_reached' as const, active: slots.size, limit: input.maxActive };
        }
        const row: Row = {
          tenant: input.tenant,
          id: input.id,
          workflowId: input.workflowId,
          workflowVersion: input.workflowVersion,
          createdAt: t,
          idempotencyKey: input.idempotencyKey,
          status: 'pending',
          version: 1,
          updatedAt: t,
          dueAt: input.dueAt,
          labelsJson: input.labelsJson,
          docJson,
          timeline: [],
          timelineSeq: 0,
          timelineKeys: new Map(),
          inbox: [],
          inboxSeq: 0,
          inboxKeys: new Map(),
        };
        appendEntries(row, input.timeline, t);
        let rows = tenants.get(row.tenant);
        if (rows === undefined) {
          rows = new Map();
          tenants.set(row.tenant, rows);
        }
        rows.set(row.id, row);
        slots.add(row.id);
        if (input.idempotencyKey !== null) {
          let map = keys;
          if (map === undefined) {
            map = new Map();
            idempotency.set(row.tenant, map);
          }
          map.set(input.idempotencyKey, { id: row.id, expiresAt: t + ctx.options.idempotencyTtlMs });
        }
        return { outcome: 'created' as const, run: toRecord(row) };
      }),

    get: (tenant, id) =>
      settle(() => {
        checkTenant(tenant);
        const row = isPossibleRunId(id) ? find(tenant, id) : undefined;
        return row === undefined ? undefined : toRecord(row);
      }),

    update: ((tenant: string, id: string, update: RunUpdate) =>
      settle((): UpdateRunResult | UpdateRunVersionResult => {
        checkTenant(tenant);
        const u = checkRunUpdate(update);
        const docJson = u.doc === undefined ? undefined : jsonObjectText(u.doc, 'doc');
        const row = isPossibleRunId(id) ? find(tenant, id) : undefined;
        if (row === undefined) return { outcome: 'not_found' as const };
        const answer = u.versionOnly ? toSummary : toRecord;
        if (row.version !== u.expectedVersion) return { outcome: 'conflict' as const, current: answer(row) };
        if (u.requires.some((r) => fenceValue(ctx, r.fence) !== r.value)) return { outcome: 'fenced' as const };
        const to = u.status ?? row.status;
        if (isTerminalRunStatus(row.status) && to !== row.status) {
          const message = terminalStatusMessage(id, row.status, to);
          throw new InvalidError(message, {
            code: 'invalid_transition',
            details: { current_status: row.status, to, message },
          });
        }
        const t = now();
        if (u.fence !== undefined) raiseFence(ctx, u.fence, FENCE_TTL_MS);
        row.status = to;
        row.version += 1;
        row.updatedAt = t;
        if (docJson !== undefined) row.docJson = docJson;
        if (u.labelsJson !== undefined) row.labelsJson = u.labelsJson;
        if (u.dueAt !== undefined) row.dueAt = u.dueAt;
        appendEntries(row, u.timeline, t);
        if (isTerminalRunStatus(to)) {
          row.dueAt = null;
          active.get(tenant)?.delete(id);
          row.inbox = [];
          row.inboxKeys.clear();
        } else if (u.ackInbox !== undefined) {
          const upTo = u.ackInbox;
          row.inbox = row.inbox.filter((e) => e.seq > upTo);
        }
        return { outcome: 'updated' as const, run: answer(row) };
      })) as RunStore['update'],

    delete: (tenant, id) =>
      settle(() => {
        checkTenant(tenant);
        const row = isPossibleRunId(id) ? find(tenant, id) : undefined;
        if (row === undefined) return false;
        forget(row);
        return true;
      }),

    list: (query) =>
      settle((): Page<RunRecord> => {
        const q = checkRunQuery(query);
        const cursor = q.cursor;
        const matching = [...(tenants.get(q.tenant)?.values() ?? [])]
          .filter(
            (row) =>
              (q.status === undefined || row.status === q.status) &&
              (q.workflowId === undefined || row.workflowId === q.workflowId) &&
              (cursor === undefined ||
                row.createdAt < cursor.c ||
                (row.createdAt === cursor.c && compareBytes(row.id, cursor.i) < 0)),
          )
          .sort(newestFirst);
        return pageOf(matching, q.limit, (last) => encodeRunCursor({ c: last.createdAt, i: last.id }), toRecord);
      }),

    appendTimeline: (tenant, id, entries) =>
      settle(() => {
        checkTenant(tenant);
        const checked = checkTimelineEntries(entries, 'entries');
        const row = isPossibleRunId(id) ? find(tenant, id) : undefined;
        if (row === undefined) return { outcome: 'not_found' as const };
        return { outcome: 'appended' as const, entries: appendEntries(row, checked, now()) };
      }),

    timeline: (tenant, id, query) =>
      settle((): Page<RunTimelineEntry> => {
        checkTenant(tenant);
        const q = checkTimelineQuery(query);
        const row = isPossibleRunId(id) ? find(tenant, id) : undefined;
        if (row === undefined) return { items: [], nextCursor: null };
        const after = row.timeline.filter((e) => e.seq > q.afterSeq).slice(0, q.limit + 1);
        return pageOf(after, q.limit, (last) => encodeTimelineCursor(last.seq), (e) => parseTimelineEntry(e.text));
      }),

    pushEvent: (tenant, id, event, options) =>
      settle(() => {
        checkTenant(tenant);
        const entry = checkPushEvent(event, options);
        const row = isPossibleRunId(id) ? find(tenant, id) : undefined;
        if (row === undefined) return { outcome: 'not_found' as const };
        if (isTerminalRunStatus(row.status)) return { outcome: 'terminal' as const, status: row.status };
        const known = entry.key === null ? undefined : row.inboxKeys.get(entry.key);
        if (known !== undefined) return { outcome: 'duplicate' as const, seq: known };
        row.inboxSeq += 1;
        const seq = row.inboxSeq;
        const at = now();
        row.inbox.push({ seq, at, text: storedEntry(seq, at, entry.tail) });
        if (entry.key !== null) row.inboxKeys.set(entry.key, seq);
        return { outcome: 'queued' as const, seq };
      }),

    inbox: (tenant, id, options) =>
      settle(() => {
        checkTenant(tenant);
        const limit = checkInboxLimit(options);
        const row = isPossibleRunId(id) ? find(tenant, id) : undefined;
        return row === undefined ? [] : row.inbox.slice(0, limit).map((e) => parseInboxEvent(e.text));
      }),

    listDue: (options) =>
      settle((): DueRun[] => {
        const o = checkDueOptions(options);
        const until = o.before ?? now();
        const due: Array<DueRun & { member: string }> = [];
        for (const row of allRows()) {
          const at = dueAt(row);
          if (at !== undefined && at <= until) {
            due.push({ tenant: row.tenant, id: row.id, at, member: dueMember(row.tenant, row.id) });
          }
        }
        // Earliest first; ties in member order, as a Redis sorted set orders them.
        due.sort((a, b) => a.at - b.at || compareBytes(a.member, b.member));
        return due.slice(0, o.limit).map(({ tenant, id, at }) => ({ tenant, id, at }));
      }),

    listActive: (options) =>
      settle((): Page<ActiveRun> => {
        const q = checkActiveQuery(options);
        const found: Array<ActiveRun & { member: string }> = [];
        for (const row of allRows()) {
          if (isTerminalRunStatus(row.status)) continue;
          if (q.updatedBefore !== undefined && row.updatedAt > q.updatedBefore) continue;
          const member = activeMember(row.updatedAt, row.tenant, row.id);
          if (q.after !== undefined && compareBytes(member, q.after) <= 0) continue;
          found.push({ tenant: row.tenant, id: row.id, updatedAt: row.updatedAt, member });
        }
        found.sort((a, b) => compareBytes(a.member, b.member));
        return pageOf(
          found,
          q.limit,
          (last) => encodeActiveCursor(last.member),
          ({ tenant, id, updatedAt }) => ({ tenant, id, updatedAt }),
        );
      }),

    countActive: (tenant) =>
      settle(() => {
        checkTenant(tenant);
        return active.get(tenant)?.size ?? 0;
      }),

    now: () => settle(now),
  };
}
