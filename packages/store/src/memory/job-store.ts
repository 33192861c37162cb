import { ConflictError, InvalidError, type JsonValue, NotFoundError } from '@cordum/core';
import type { JobState } from '@cordum/protocol';
import { checkTenant, isExpired, pageOf, settle } from '../model/common.js';
import {
  type CheckedPatch,
  type CheckedSlot,
  type CheckedTransition,
  type JobCursor,
  type JobScalars,
  MAX_JOB_EVENTS,
  alreadyExistsMessage,
  checkEventLimit,
  checkNewJob,
  checkQuery,
  checkTimer,
  checkTimerOptions,
  checkTransition,
  encodeJobCursor,
  initialScalars,
  invalidTransitionMessage,
  isPossibleJobId,
  notFoundMessage,
  quotaMessage,
  SLOT_STATES,
  stateConflictMessage,
  timerField,
  zeroStateCounts,
} from '../model/job.js';
import type { Page } from '../ports/common.js';
import type { DueJob, JobEvent, JobRecord, JobStore, SlotUsage } from '../ports/job-store.js';
import { FENCE_TTL_MS, fenceDown, outcomeFenceValue } from '../model/fence.js';
import { type MemoryStoreContext, fenceUp, raiseFence } from './context.js';

// The embedded JobStore. Every method runs synchronously to completion inside one tick, so a
// compare-and-set cannot interleave with another write: that is this backend's atomicity. Records are kept
// in an internal shape (data values as JSON text, like the Redis hash) and copied out on every read, so a
// caller can never reach stored state through a returned object or through an object it passed in.

type Row = {
  readonly id: string;
  readonly tenant: string;
  readonly topic: string;
  readonly traceId: string;
  readonly createdAt: number;
  state: JobState;
  version: number;
  attempts: number;
  updatedAt: number;
  scalars: JobScalars;
  labels: Map<string, string>;
  /** Key → JSON text. */
  data: Map<string, string>;
  events: JobEvent[];
  /** Store-clock ms after which the row is gone (set when it reaches a terminal state). */
  expiresAt: number | null;
};

/** Newest created first, then by id descending: the order the Redis lex indexes give. */
function newestFirst(a: Row, b: Row): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function before(row: Row, cursor: JobCursor): boolean {
  return row.createdAt < cursor.c || (row.createdAt === cursor.c && row.id < cursor.i);
}

function applyPatch(row: Row, patch: CheckedPatch): void {
  const scalars: Record<string, unknown> = { ...row.scalars };
  for (const [field, value] of patch.scalars) scalars[field] = value;
  row.scalars = scalars as JobScalars;
  for (const [key, value] of patch.labels) {
    if (value === null) row.labels.delete(key);
    else row.labels.set(key, value);
  }
  for (const [key, value] of patch.data) {
    if (value === null) row.data.delete(key);
    else row.data.set(key, value);
  }
  if (patch.incrementAttempts) row.attempts += 1;
}

function toRecord(row: Row): JobRecord {
  return {
    id: row.id,
    tenant: row.tenant,
    topic: row.topic,
    traceId: row.traceId,
    state: row.state,
    version: row.version,
    attempts: row.attempts,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    ...row.scalars,
    // fromEntries defines own properties, so a key such as "__proto__" stays data, never a prototype.
    labels: Object.fromEntries(row.labels),
    data: Object.fromEntries([...row.data].map(([k, v]) => [k, JSON.parse(v) as JsonValue])),
  };
}

export function createMemoryJobStore(ctx: MemoryStoreContext): JobStore {
  const rows = new Map<string, Row>();
  const byTenant = new Map<string, Set<string>>();
  /** Ids of non-terminal jobs (the only ones timers and countActive look at). */
  const active = new Set<string>();
  // Terminal rows in the order they retired. With a constant retention and a forward-moving clock this is
  // also expiry order, so sweeping stops at the first live entry; live() re-checks each read regardless.
  const retired: Array<{ id: string; expiresAt: number }> = [];
  let retiredHead = 0;
  // Concurrency slots (quotas), per tenant: job id → actor ("" for none), and actor → slots held.
  const slots = new Map<string, { jobs: Map<string, string>; actors: Map<string, number> }>();

  const now = (): number => ctx.clock.now();

  // Non-terminal rows never expire (expiresAt null).
  const expired = (row: Row, t: number): boolean => row.expiresAt !== null && isExpired(row.expiresAt, t);

  function drop(row: Row): void {
    rows.delete(row.id);
    active.delete(row.id);
    const ids = byTenant.get(row.tenant);
    ids?.delete(row.id);
    if (ids?.size === 0) byTenant.delete(row.tenant);
  }

  function sweep(): void {
    const t = now();
    while (retiredHead < retired.length) {
      const entry = retired[retiredHead];
      if (entry === undefined || !isExpired(entry.expiresAt, t)) break;
      retiredHead += 1;
      const row = rows.get(entry.id);
      if (row !== undefined && row.expiresAt === entry.expiresAt) drop(row);
    }
    if (retiredHead > 1024 && retiredHead * 2 > retired.length) {
      retired.splice(0, retiredHead);
      retiredHead = 0;
    }
  }

  function live(id: string): Row | undefined {
    sweep();
    const row = rows.get(id);
    if (row === undefined) return undefined;
    if (expired(row, now())) {
      drop(row);
      return undefined;
    }
    return row;
  }

  function liveRows(tenant: string | undefined): Row[] {
    sweep();
    const t = now();
    const ids = tenant === undefined ? [...rows.keys()] : [...(byTenant.get(tenant) ?? [])];
    const out: Row[] = [];
    for (const id of ids) {
      const row = rows.get(id);
      if (row !== undefined && !expired(row, t)) out.push(row);
    }
    return out;
  }

  function retire(row: Row, at: number): void {
    active.delete(row.id);
    row.expiresAt = at + ctx.options.jobRetentionMs;
    retired.push({ id: row.id, expiresAt: row.expiresAt });
  }

  function tenantSlots(tenant: string): { jobs: Map<string, string>; actors: Map<string, number> } {
    let t = slots.get(tenant);
    if (t === undefined) {
      t = { jobs: new Map(), actors: new Map() };
      slots.set(tenant, t);
    }
    return t;
  }

  /** Throws quota_exceeded when the slot cannot be taken; checks the actor first (see TransitionRequest.slot). */
  function checkQuota(row: Row, slot: CheckedSlot): void {
    const held = slots.get(row.tenant);
    if (held?.jobs.has(row.id) === true) return;
    const refuse = (scope: 'tenant' | 'actor', active: number, limit: number): ConflictError => {
      const message = quotaMessage(scope, row.tenant, slot.actor, active, limit);
      return new ConflictError(message, {
        code: 'quota_exceeded',
        details: { scope, tenant: row.tenant, actor: slot.actor, active, limit, message },
      });
    };
    if (slot.actor !== '' && slot.actorLimit > 0) {
      const active = held?.actors.get(slot.actor) ?? 0;
      if (active >= slot.actorLimit) throw refuse('actor', active, slot.actorLimit);
    }
    if (slot.tenantLimit > 0) {
      const active = held?.jobs.size ?? 0;
      if (active >= slot.tenantLimit) throw refuse('tenant', active, slot.tenantLimit);
    }
  }

  function takeSlot(row: Row, slot: CheckedSlot): void {
    const t = tenantSlots(row.tenant);
    if (t.jobs.has(row.id)) return;
    t.jobs.set(row.id, slot.actor);
    if (slot.actor !== '') t.actors.set(slot.actor, (t.actors.get(slot.actor) ?? 0) + 1);
  }

  /** Releases the job's slot, if it holds one; true when it did. */
  function releaseSlot(tenant: string, id: string): boolean {
    const t = slots.get(tenant);
    const actor = t?.jobs.get(id);
    if (t === undefined || actor === undefined) return false;
    t.jobs.delete(id);
    if (actor !== '') {
      const left = (t.actors.get(actor) ?? 1) - 1;
      if (left > 0) t.actors.set(actor, left);
      else t.actors.delete(actor);
    }
    if (t.jobs.size === 0) slots.delete(tenant);
    return true;
  }

  function appendEvent(row: Row, event: JobEvent): void {
    row.events.push(event);
    if (row.events.length > MAX_JOB_EVENTS) row.events.splice(0, row.events.length - MAX_JOB_EVENTS);
  }

  function conflict(row: Row, id: string, req: CheckedTransition): ConflictError {
    const message = stateConflictMessage(id, row.state, row.version, req);
    return new ConflictError(message, {
      code: 'state_conflict',
      details: { current_state: row.state, current_version: row.version, message },
    });
  }

  return {
    create(job) {
      return settle(() => {
        const input = checkNewJob(job);
        if (input.fence !== undefined && !fenceUp(ctx, input.fence)) throw fenceDown(input.fence, `job ${input.id}`);
        if (live(input.id) !== undefined) {
          const message = alreadyExistsMessage(input.id);
          throw new ConflictError(message, { code: 'already_exists', details: { id: input.id, message } });
        }
        const t = now();
        const row: Row = {
          id: input.id,
          tenant: input.tenant,
          topic: input.topic,
          traceId: input.traceId,
          createdAt: t,
          state: input.state,
          version: 1,
          attempts: 0,
          updatedAt: t,
          scalars: initialScalars(input),
          labels: new Map(input.labels),
          data: new Map(input.data),
          events: [],
          expiresAt: null,
        };
        appendEvent(row, {
          at: t,
          from: null,
          to: input.state,
          actor: input.actor,
          reason: input.reason,
          attempt: 0,
          version: 1,
        });
        rows.set(row.id, row);
        let ids = byTenant.get(row.tenant);
        if (ids === undefined) {
          ids = new Set();
          byTenant.set(row.tenant, ids);
        }
        ids.add(row.id);
        if (input.terminal) retire(row, t);
        else active.add(row.id);
        return toRecord(row);
      });
    },

    get(id) {
      return settle(() => {
        if (!isPossibleJobId(id)) return undefined;
        const row = live(id);
        return row === undefined ? undefined : toRecord(row);
      });
    },

    transition(id, request) {
      return settle(() => {
        const req = checkTransition(request);
        const row = isPossibleJobId(id) ? live(id) : undefined;
        if (row === undefined) {
          const message = notFoundMessage(id);
          throw new NotFoundError(message, { details: { id, message } });
        }
        const match = req.from.find((f) => f.state === row.state);
        if (match === undefined) throw conflict(row, id, req);
        if (req.expectedVersion !== null && req.expectedVersion !== row.version) throw conflict(row, id, req);
        if (!match.allowed) {
          const message = invalidTransitionMessage(id, row.state, req.to);
          throw new InvalidError(message, {
            code: 'invalid_transition',
            details: { current_state: row.state, to: req.to, message },
          });
        }
        if (req.slot !== null) checkQuota(row, req.slot);
        const t = now();
        let from = row.state;
        applyPatch(row, req.patch);
        row.version += 1;
        row.updatedAt = t;
        if (req.via !== null && from !== req.via.state) {
          appendEvent(row, {
            at: t,
            from,
            to: req.via.state,
            actor: req.actor,
            reason: req.via.reason,
            attempt: row.attempts,
            version: row.version,
          });
          from = req.via.state;
        }
        row.state = req.to;
        if (from !== req.to || req.hasReason) {
          appendEvent(row, {
            at: t,
            from,
            to: req.to,
            actor: req.actor,
            reason: req.reason,
            attempt: row.attempts,
            version: row.version,
          });
        }
        if (req.terminal) retire(row, t);
        if (!req.keepsSlot) releaseSlot(row.tenant, row.id);
        else if (req.slot !== null) takeSlot(row, req.slot);
        const record = toRecord(row);
        if (req.fence !== undefined) raiseFence(ctx, req.fence, FENCE_TTL_MS, outcomeFenceValue({ ...record, runId: record.labels['run_id'] ?? '' }));
        return record;
      });
    },

    events(id, options) {
      return settle(() => {
        const limit = checkEventLimit(options);
        const row = isPossibleJobId(id) ? live(id) : undefined;
        if (row === undefined) return [];
        return row.events.slice(-limit).map((e) => ({ ...e }));
      });
    },

    list(query) {
      return settle((): Page<JobRecord> => {
        const q = checkQuery(query);
        const matching = liveRows(q.tenant)
          .filter(
            (row) =>
              (q.state === undefined || row.state === q.state) &&
              (q.topic === undefined || row.topic === q.topic) &&
              (q.createdAfter === undefined || row.createdAt >= q.createdAfter) &&
              (q.createdBefore === undefined || row.createdAt <= q.createdBefore) &&
              (q.cursor === undefined || before(row, q.cursor)),
          )
          .sort(newestFirst);
        return pageOf(matching, q.limit, (last) => encodeJobCursor({ c: last.createdAt, i: last.id }), toRecord);
      });
    },

    listTimers(timer, options) {
      return settle((): DueJob[] => {
        const field = timerField(checkTimer(timer));
        const opts = checkTimerOptions(options);
        sweep();
        const until = opts.before ?? now();
        const due: DueJob[] = [];
        for (const id of active) {
          const row = rows.get(id);
          const at = row?.scalars[field];
          if (row !== undefined && at !== null && at !== undefined && at <= until) {
            due.push({ id: row.id, tenant: row.tenant, at });
          }
        }
        // Earliest first; ties in the order of the Redis index members (`<tenant>|<id>`).
        const tie = (j: DueJob): string => `${j.tenant}|${j.id}`;
        due.sort((a, b) => a.at - b.at || (tie(a) < tie(b) ? -1 : tie(a) > tie(b) ? 1 : 0));
        return due.slice(0, opts.limit);
      });
    },

    countActive(tenant) {
      return settle(() => {
        checkTenant(tenant);
        let n = 0;
        for (const id of active) if (rows.get(id)?.tenant === tenant) n += 1;
        return n;
      });
    },

    countByState(tenant) {
      return settle(() => {
        if (tenant !== undefined) checkTenant(tenant);
        const counts = zeroStateCounts();
        for (const row of liveRows(tenant)) counts[row.state] += 1;
        return counts;
      });
    },

    slots(tenant) {
      return settle((): SlotUsage => {
        checkTenant(tenant);
        const t = slots.get(tenant);
        return { tenant: t?.jobs.size ?? 0, actors: Object.fromEntries(t?.actors ?? []) };
      });
    },

    repairSlots(options) {
      return settle(() => {
        const only = options?.tenant;
        if (only !== undefined) checkTenant(only);
        let released = 0;
        for (const [tenant, t] of [...slots]) {
          if (only !== undefined && tenant !== only) continue;
          for (const id of [...t.jobs.keys()]) {
            const row = live(id);
            const holds = row !== undefined && row.tenant === tenant && SLOT_STATES.includes(row.state);
            if (!holds && releaseSlot(tenant, id)) released += 1;
          }
        }
        return released;
      });
    },

    now() {
      return settle(now);
    },
  };
}

