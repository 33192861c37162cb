import { ConflictError, RetryableError, TerminalError } from '@cordum/core';
import { checkTenant, pageOf } from '../model/common.js';
import {
  type CheckedEntry,
  type CheckedRunQuery,
  RUN_LIST_SCAN_BUDGET,
  checkActiveQuery,
  checkDueOptions,
  checkInboxLimit,
  checkNewRun,
  checkPushEvent,
  checkRunQuery,
  checkRunUpdate,
  checkTimelineEntries,
  checkTimelineQuery,
  encodeActiveCursor,
  encodeRunCursor,
  encodeTimelineCursor,
  isPossibleRunId,
  padMs,
  parseActiveMember,
  parseDueMember,
  parseInboxEvent,
  parseLabels,
  parseRunLexMember,
  parseTimelineEntry,
  runExistsMessage,
} from '../model/run.js';
import { type RunDocWrite, joinRunDoc, splitRunDoc } from '../model/run-doc.js';
import type { Page } from '../ports/common.js';
import {
  type ActiveRun,
  type AppendedEntry,
  type CreateRunResult,
  type DueRun,
  RUN_STATUSES,
  type RunRecord,
  type RunStatus,
  type RunStore,
  type RunUpdate,
  type RunWriteSummary,
  type UpdateRunResult,
  type UpdateRunVersionResult,
  isRunStatus,
} from '../ports/run-store.js';
import type { RedisStoreContext } from './context.js';
import { redisCall } from './errors.js';
import { loadScript } from './script.js';

// Key layout (every key under the keyspace prefix; ids may contain ':', so each kind has its own word):
//   t:<tenant>:run:<id>              record hash: id, tenant, workflowId, workflowVersion, status, terminal
//                                    (0/1), version, createdAt, updatedAt, idempotencyKey?, dueAt?, labels
//                                    (JSON), tlSeq, inSeq (last timeline / inbox seq), and the document
//                                    in parts (model/run-doc.ts): layout = 2, doc (the base JSON), def
//                                    (the definition), s:<step id> and c:<step id> (each step, each
//                                    context step), so an update sends only the parts that changed
//   t:<tenant>:run-timeline:<id>     zset of entries scored by seq (model/run.ts has the member format)
//   t:<tenant>:run-tlkeys:<id>       timeline entry key -> seq
//   t:<tenant>:run-inbox:<id>        zset of unreduced events scored by seq
//   t:<tenant>:run-inkeys:<id>       event key -> seq, for the run's lifetime (dedupe)
//   t:<tenant>:run-idem:<key>        idempotency key -> run id, PX idempotencyTtlMs
//   t:<tenant>:runs:all | runs:status:<status> | runs:wf:<workflowId>
//                                    lex indexes "<createdAt %015d>|<id>" (newest first = BYLEX REV)
//   t:<tenant>:runs:slots            set of non-terminal run ids: the tenant's concurrency slots
//   runs:due                         global, "<tenant>|<id>" scored by min(dueAt, oldest inbox push)
//   runs:active                      global lex index "<updatedAt %015d>|<tenant>|<id>" of non-terminal runs
// Every write is one script (lua/run-*.lua), so records, indexes, slots, timeline and inbox never disagree.

const createScript = loadScript('run-create');
const updateScript = loadScript('run-update');
const deleteScript = loadScript('run-delete');
const pushScript = loadScript('run-push');
const appendScript = loadScript('run-timeline-append');

/** Calls of a script that asks to be called again (its premise changed) before giving up. */
const MAX_ROUNDS = 5;

function hashOf(reply: unknown): Record<string, string> {
  if (!Array.isArray(reply)) throw new TerminalError('run script returned a malformed record');
  const entries: Array<[string, string]> = [];
  for (let i = 0; i + 1 < reply.length; i += 2) entries.push([String(reply[i]), String(reply[i + 1])]);
  return Object.fromEntries(entries);
}

function decodeRun(hash: Record<string, string>): RunRecord {
  const status = hash['status'];
  if (!isRunStatus(status)) throw new TerminalError(`run record ${hash['id'] ?? '?'} has an unknown status`);
  const dueAt = hash['dueAt'];
  return {
    tenant: hash['tenant'] ?? '',
    id: hash['id'] ?? '',
    workflowId: hash['workflowId'] ?? '',
    workflowVersion: Number(hash['workflowVersion']),
    status,
    version: Number(hash['version']),
    createdAt: Number(hash['createdAt']),
    updatedAt: Number(hash['updatedAt']),
    idempotencyKey: hash['idempotencyKey'] ?? null,
    labels: parseLabels(hash['labels'] ?? '{}'),
    dueAt: dueAt === undefined ? null : Number(dueAt),
    doc: joinRunDoc(hash),
  };
}

function decodeSummary(hash: Record<string, string>): RunWriteSummary {
  const status = hash['status'];
  if (!isRunStatus(status)) throw new TerminalError('run-update answered an unknown status');
  return { version: Number(hash['version']), status, updatedAt: Number(hash['updatedAt']) };
}

/** A script reply `{kind, payload}`. */
function kindOf(reply: unknown): [string, unknown] {
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') throw new TerminalError('run script returned a malformed reply');
  return [reply[0], reply[1]];
}

/** The script arguments of a document write: mode, the part fields to set, the part fields to drop. */
function docArgs(w: RunDocWrite): string[] {
  return [w.full ? 'full' : 'delta', String(w.set.length), ...w.set.flat(), String(w.drop.length), ...w.drop];
}

function entryArgs(entries: readonly CheckedEntry[]): string[] {
  return [String(entries.length), ...entries.flatMap((e) => [e.key ?? '', e.tail])];
}

function appendedOf(flat: unknown): AppendedEntry[] {
  const list = Array.isArray(flat) ? flat : [];
  const out: AppendedEntry[] = [];
  for (let i = 0; i + 1 < list.length; i += 2) out.push({ seq: Number(list[i]), duplicate: Number(list[i + 1]) === 1 });
  return out;
}

export function createRedisRunStore(ctx: RedisStoreContext): RunStore {
  const { client, keys } = ctx;
  const key = {
    record: (tenant: string, id: string) => keys.tenant(tenant, 'run', id),
    timeline: (tenant: string, id: string) => keys.tenant(tenant, 'run-timeline', id),
    timelineKeys: (tenant: string, id: string) => keys.tenant(tenant, 'run-tlkeys', id),
    inbox: (tenant: string, id: string) => keys.tenant(tenant, 'run-inbox', id),
    inboxKeys: (tenant: string, id: string) => keys.tenant(tenant, 'run-inkeys', id),
    idempotency: (tenant: string, idemKey: string) => keys.tenant(tenant, 'run-idem', idemKey),
    slots: (tenant: string) => keys.tenant(tenant, 'runs', 'slots'),
    all: (tenant: string) => keys.tenant(tenant, 'runs', 'all'),
    status: (tenant: string, status: RunStatus) => keys.tenant(tenant, 'runs', 'status', status),
    workflow: (tenant: string, workflowId: string) => keys.tenant(tenant, 'runs', 'wf', workflowId),
    due: keys.key('runs', 'due'),
    active: keys.key('runs', 'active'),
  };
  const statusKeys = (tenant: string): string[] => RUN_STATUSES.map((s) => key.status(tenant, s));
  const limit = String(ctx.options.runTimelineLimit);

  async function storeNow(): Promise<number> {
    const [seconds, micros] = await redisCall('time', () => client.time());
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  async function readRun(tenant: string, id: string): Promise<RunRecord | undefined> {
    const hash = await redisCall('run get', () => client.hgetall(key.record(tenant, id)));
    return Object.keys(hash).length === 0 ? undefined : decodeRun(hash);
  }

  function chooseIndex(q: CheckedRunQuery): Promise<string> | string {
    if (q.status !== undefined && q.workflowId !== undefined) {
      // Scan the smaller of the two indexes and filter by the other field.
      const byStatus = key.status(q.tenant, q.status);
      const byWorkflow = key.workflow(q.tenant, q.workflowId);
      return Promise.all([
        redisCall('run list', () => client.zcard(byStatus)),
        redisCall('run list', () => client.zcard(byWorkflow)),
      ]).then(([s, w]) => (s <= w ? byStatus : byWorkflow));
    }
    if (q.status !== undefined) return key.status(q.tenant, q.status);
    if (q.workflowId !== undefined) return key.workflow(q.tenant, q.workflowId);
    return key.all(q.tenant);
  }

  return {
    async create(run): Promise<CreateRunResult> {
      const input = checkNewRun(run);
      const doc = splitRunDoc(input.doc);
      const record = key.record(input.tenant, input.id);
      let holder = '';
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const reply = await createScript.run(
          client,
          [
            record,
            key.slots(input.tenant),
            key.all(input.tenant),
            key.status(input.tenant, 'pending'),
            key.workflow(input.tenant, input.workflowId),
            key.due,
            key.active,
            key.timeline(input.tenant, input.id),
            key.timelineKeys(input.tenant, input.id),
            input.idempotencyKey === null ? record : key.idempotency(input.tenant, input.idempotencyKey),
            holder === '' ? record : key.record(input.tenant, holder),
          ],
          [
            input.id,
            input.tenant,
            input.workflowId,
            String(input.workflowVersion),
            input.labelsJson,
            doc.base,
            input.idempotencyKey ?? '',
            String(ctx.options.idempotencyTtlMs),
            holder,
            input.maxActive === null ? '' : String(input.maxActive),
            input.dueAt === null ? '' : String(input.dueAt),
            limit,
            ...entryArgs(input.timeline),
            ...docArgs(doc),
          ],
        );
        const [kind, payload] = kindOf(reply);
        switch (kind) {
          case 'created':
            return { outcome: 'created', run: decodeRun(hashOf(payload)) };
          case 'existing':
            return { outcome: 'existing', run: decodeRun(hashOf(payload)) };
          case 'limit':
            return { outcome: 'limit_reached', active: Number(payload), limit: input.maxActive ?? 0 };
          case 'retry':
            // The key is held by a run the script was not told about: call again naming it.
            holder = String(payload);
            continue;
          default:
            throw new TerminalError(`run-create answered ${kind}`);
        }
      }
      throw new RetryableError(`idempotency key of run ${input.id} kept changing hands; retry`, {
        code: 'unavailable',
        retryAfterMs: 100,
      });
    },

    async get(tenant, id) {
      checkTenant(tenant);
      return isPossibleRunId(id) ? readRun(tenant, id) : undefined;
    },

    update: (async (tenant: string, id: string, update: RunUpdate): Promise<UpdateRunResult | UpdateRunVersionResult> => {
      checkTenant(tenant);
      const u = checkRunUpdate(update);
      if (!isPossibleRunId(id)) return { outcome: 'not_found' };
      let doc = u.doc === undefined ? undefined : splitRunDoc(u.doc, u.previousDoc);
      for (;;) {
        const reply = await updateScript.run(
          client,
          [
            key.record(tenant, id),
            key.slots(tenant),
            key.due,
            key.active,
            key.timeline(tenant, id),
            key.timelineKeys(tenant, id),
            key.inbox(tenant, id),
            key.inboxKeys(tenant, id),
            // The status indexes only for a write that sets a status (the only kind that can move the run).
            ...(u.status === undefined ? [] : statusKeys(tenant)),
            ...u.requires.map((r) => keys.key('fence', r.fence)),
            ...(u.fence === undefined ? [] : [keys.key('fence', u.fence)]),
          ],
          [
            id,
            tenant,
            String(u.expectedVersion),
            u.status ?? '',
            u.terminal ? '1' : '0',
            doc?.base ?? '',
            u.labelsJson ?? '',
            u.dueAt === undefined ? '' : u.dueAt === null ? '-' : String(u.dueAt),
            u.ackInbox === undefined ? '' : String(u.ackInbox),
            limit,
            u.versionOnly ? 'v' : '',
            ...(u.status === undefined ? ['0'] : [String(RUN_STATUSES.length), ...RUN_STATUSES]),
            ...entryArgs(u.timeline),
            String(u.requires.length),
            ...u.requires.map((r) => r.value),
            ...(doc === undefined ? [] : docArgs(doc)),
          ],
        );
        const [kind, payload] = kindOf(reply);
        const decode = u.versionOnly ? decodeSummary : decodeRun;
        if (kind === 'updated') return { outcome: 'updated', run: decode(hashOf(payload)) };
        if (kind === 'conflict') return { outcome: 'conflict', current: decode(hashOf(payload)) };
        // A record written before documents were stored in parts: write the whole document once.
        if (kind === 'full' && doc !== undefined && !doc.full) {
          doc = splitRunDoc(u.doc);
          continue;
        }
        if (kind === 'not_found') return { outcome: 'not_found' };
        if (kind === 'fenced') return { outcome: 'fenced' };
        throw new TerminalError(`run-update answered ${kind}`);
      }
    }) as RunStore['update'],

    async delete(tenant, id) {
      checkTenant(tenant);
      if (!isPossibleRunId(id)) return false;
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const [createdAt, workflowId, idempotencyKey] = await redisCall('run delete', () =>
          client.hmget(key.record(tenant, id), 'createdAt', 'workflowId', 'idempotencyKey'),
        );
        if (typeof createdAt !== 'string' || typeof workflowId !== 'string') return false;
        const deleted = await deleteScript.run(
          client,
          [
            key.record(tenant, id),
            key.slots(tenant),
            key.all(tenant),
            key.workflow(tenant, workflowId),
            key.due,
            key.active,
            key.timeline(tenant, id),
            key.timelineKeys(tenant, id),
            key.inbox(tenant, id),
            key.inboxKeys(tenant, id),
            typeof idempotencyKey !== 'string' ? key.record(tenant, id) : key.idempotency(tenant, idempotencyKey),
            ...statusKeys(tenant),
          ],
          [id, tenant, createdAt, workflowId, typeof idempotencyKey === 'string' ? idempotencyKey : '', String(RUN_STATUSES.length), ...RUN_STATUSES],
        );
        if (deleted === 1) return true;
        if (deleted === 0) return false;
        // -1: the run was deleted and created again between the read and the script; read again.
      }
      const message = runExistsMessage(tenant, id);
      throw new ConflictError(`${message} and kept being re-created while it was deleted; retry`, {
        code: 'conflict',
        details: { id, message },
      });
    },

    async list(query): Promise<Page<RunRecord>> {
      const q = checkRunQuery(query);
      const index = await chooseIndex(q);
      let max = q.cursor === undefined ? '+' : `(${padMs(q.cursor.c)}|${q.cursor.i}`;
      const items: RunRecord[] = [];
      let scanned = 0;
      let lastScanned: string | undefined;
      let exhausted = false;
      while (items.length <= q.limit) {
        const batch = Math.min(RUN_LIST_SCAN_BUDGET - scanned, Math.max(q.limit + 1 - items.length, 16));
        if (batch <= 0) break;
        const members = await redisCall('run list', () => client.zrange(index, max, '-', 'BYLEX', 'REV', 'LIMIT', 0, batch));
        const records = await Promise.all(
          members.map(async (member) => {
            const pos = parseRunLexMember(member);
            if (pos === undefined) return undefined;
            const record = await readRun(q.tenant, pos.i);
            // An entry of an earlier run with the same id (deleted, created again) is not this run.
            return record?.createdAt === pos.c ? record : undefined;
          }),
        );
        for (let i = 0; i < members.length && items.length <= q.limit; i++) {
          scanned += 1;
          lastScanned = members[i];
          const record = records[i];
          if (record === undefined) continue;
          if (q.status !== undefined && record.status !== q.status) continue;
          if (q.workflowId !== undefined && record.workflowId !== q.workflowId) continue;
          items.push(record);
        }
        if (members.length < batch) {
          exhausted = true;
          break;
        }
        max = `(${members[members.length - 1] ?? ''}`;
      }
      if (items.length > q.limit) {
        return pageOf(items, q.limit, (last) => encodeRunCursor({ c: last.createdAt, i: last.id }));
      }
      if (exhausted || lastScanned === undefined) return { items, nextCursor: null };
      // Scan budget spent before the page filled: continue after the last entry examined.
      const pos = parseRunLexMember(lastScanned);
      return { items, nextCursor: pos === undefined ? null : encodeRunCursor(pos) };
    },

    async appendTimeline(tenant, id, entries) {
      checkTenant(tenant);
      const checked = checkTimelineEntries(entries, 'entries');
      if (!isPossibleRunId(id)) return { outcome: 'not_found' };
      const reply = await appendScript.run(
        client,
        [key.record(tenant, id), key.timeline(tenant, id), key.timelineKeys(tenant, id)],
        [limit, ...entryArgs(checked)],
      );
      const [kind, payload] = kindOf(reply);
      return kind === 'appended' ? { outcome: 'appended', entries: appendedOf(payload) } : { outcome: 'not_found' };
    },

    async timeline(tenant, id, query) {
      checkTenant(tenant);
      const q = checkTimelineQuery(query);
      if (!isPossibleRunId(id)) return { items: [], nextCursor: null };
      const raw = await redisCall('run timeline', () =>
        client.zrange(key.timeline(tenant, id), `(${q.afterSeq}`, '+inf', 'BYSCORE', 'LIMIT', 0, q.limit + 1),
      );
      return pageOf(raw.map(parseTimelineEntry), q.limit, (last) => encodeTimelineCursor(last.seq));
    },

    async pushEvent(tenant, id, event, options) {
      checkTenant(tenant);
      const entry = checkPushEvent(event, options);
      if (!isPossibleRunId(id)) return { outcome: 'not_found' };
      const reply = await pushScript.run(
        client,
        [key.record(tenant, id), key.inbox(tenant, id), key.inboxKeys(tenant, id), key.due],
        [tenant, id, entry.key ?? '', entry.tail],
      );
      const [kind, payload] = kindOf(reply);
      switch (kind) {
        case 'queued':
          return { outcome: 'queued', seq: Number(payload) };
        case 'duplicate':
          return { outcome: 'duplicate', seq: Number(payload) };
        case 'terminal': {
          const status = String(payload);
          if (!isRunStatus(status)) throw new TerminalError(`run ${id} has an unknown status`);
          return { outcome: 'terminal', status };
        }
        default:
          return { outcome: 'not_found' };
      }
    },

    async inbox(tenant, id, options) {
      checkTenant(tenant);
      const max = checkInboxLimit(options);
      if (!isPossibleRunId(id)) return [];
      const raw = await redisCall('run inbox', () => client.zrange(key.inbox(tenant, id), 0, max - 1));
      return raw.map(parseInboxEvent);
    },

    async listDue(options): Promise<DueRun[]> {
      const o = checkDueOptions(options);
      const until = o.before ?? (await storeNow());
      const raw = await redisCall('run due', () =>
        client.zrange(key.due, '-inf', String(until), 'BYSCORE', 'LIMIT', 0, o.limit, 'WITHSCORES'),
      );
      const due: DueRun[] = [];
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const member = parseDueMember(raw[i] ?? '');
        if (member !== undefined) due.push({ tenant: member.tenant, id: member.id, at: Number(raw[i + 1]) });
      }
      return due;
    },

    async listActive(options): Promise<Page<ActiveRun>> {
      const q = checkActiveQuery(options);
      const min = q.after === undefined ? '-' : `(${q.after}`;
      const max = q.updatedBefore === undefined ? '+' : `(${padMs(q.updatedBefore + 1)}`;
      const raw = await redisCall('run active', () => client.zrange(key.active, min, max, 'BYLEX', 'LIMIT', 0, q.limit + 1));
      const found: Array<ActiveRun & { member: string }> = [];
      for (const member of raw) {
        const parsed = parseActiveMember(member);
        if (parsed !== undefined) found.push({ ...parsed, member });
      }
      return pageOf(
        found,
        q.limit,
        (last) => encodeActiveCursor(last.member),
        ({ tenant, id, updatedAt }) => ({ tenant, id, updatedAt }),
      );
    },

    async countActive(tenant) {
      checkTenant(tenant);
      return redisCall('run count', () => client.scard(key.slots(tenant)));
    },

    now: storeNow,
  };
}
