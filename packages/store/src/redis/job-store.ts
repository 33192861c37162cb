import { NotFoundError, isSafeTenantId } from '@cordum/core';
import { JOB_STATES, type JobState } from '@cordum/protocol';
import { checkTenant, pageOf } from '../model/common.js';
import {
  type CheckedQuery,
  LIST_SCAN_BUDGET,
  MAX_JOB_EVENTS,
  checkEventLimit,
  checkNewJob,
  checkQuery,
  checkTimer,
  checkTimerOptions,
  checkTransition,
  encodeJobCursor,
  isPossibleJobId,
  notFoundMessage,
  zeroStateCounts,
} from '../model/job.js';
import type { Page } from '../ports/common.js';
import type { DueJob, JobRecord, JobStore, JobTimer, SlotUsage } from '../ports/job-store.js';
import type { RedisStoreContext } from './context.js';
import { redisCall } from './errors.js';
import {
  decodeEvent,
  decodeJob,
  globalStateMember,
  lexMember,
  newJobFields,
  pad,
  pairsToHash,
  parseLexMember,
  parseRetiredMember,
  parseTimerMember,
  patchArgs,
} from './job-codec.js';
import { loadScript } from './script.js';

// Key layout (every key under the keyspace prefix; tenant keys as t:<tenant>:…):
//   t:<tenant>:job:<id>                record hash (see job-codec.ts)
//   t:<tenant>:job-events:<id>         event list, JSON, oldest first, newest MAX_JOB_EVENTS kept
//                                      (not job:<id>:events: ids may contain ':', so that could collide)
//   t:<tenant>:jobs:all | jobs:state:<STATE> | jobs:topic:<topic>
//                                      lex indexes "<createdAt %015d>|<id>" (newest first = BYLEX REV)
//   t:<tenant>:jobs:active             set of non-terminal ids (countActive)
//   jobref:<id>                        id → tenant: get(id) without a tenant, and id uniqueness
//   jobs:state:<STATE>                 global, "<createdAt>|<tenant>|<id>" scored by entered-at (reconcilers)
//   jobs:timer:due|lease|deadline      global, "<tenant>|<id>" scored by the timer's ms
//   jobs:retired                       "<STATE>|<createdAt>|<tenant>|<id>|<topic>" scored by expiry ms
//   t:<tenant>:jobs:slots              concurrency slots (quotas): hash job id → actor ("" for none); its
//                                      size is the tenant's count. Taken and released by job-transition.
//   t:<tenant>:jobs:actor-slots        hash actor → slots held (derived from jobs:slots; repair recounts)
//   jobs:slot-tenants                  set of tenants holding slots (repairSlots walks it)
// The record, its events and its jobref expire together jobRetentionMs after a terminal state. Index
// entries cannot expire with them, so jobs:retired says which to drop; prune() does that before list()
// and countByState(), and list() also skips any entry whose record is gone or belongs to a newer job.

const createScript = loadScript('job-create');
const transitionScript = loadScript('job-transition');
const expiredScript = loadScript('job-expired');
const slotsRepairScript = loadScript('job-slots-repair');

/** Ids whose tenant this process remembers (a job's tenant never changes while the job exists). */
const TENANT_CACHE_SIZE = 10_000;
const PRUNE_BATCH = 500;
const PRUNE_ROUNDS = 4;
/** Jobs whose slots one repair script call checks. */
const REPAIR_BATCH = 200;

export function createRedisJobStore(ctx: RedisStoreContext): JobStore {
  const { client, keys } = ctx;
  const key = {
    record: (tenant: string, id: string) => keys.tenant(tenant, 'job', id),
    events: (tenant: string, id: string) => keys.tenant(tenant, 'job-events', id),
    ref: (id: string) => keys.key('jobref', id),
    all: (tenant: string) => keys.tenant(tenant, 'jobs', 'all'),
    state: (tenant: string, state: JobState) => keys.tenant(tenant, 'jobs', 'state', state),
    topic: (tenant: string, topic: string) => keys.tenant(tenant, 'jobs', 'topic', topic),
    active: (tenant: string) => keys.tenant(tenant, 'jobs', 'active'),
    globalState: (state: JobState) => keys.key('jobs', 'state', state),
    retired: keys.key('jobs', 'retired'),
    timer: (timer: JobTimer) => keys.key('jobs', 'timer', timer),
    slots: (tenant: string) => keys.tenant(tenant, 'jobs', 'slots'),
    actorSlots: (tenant: string) => keys.tenant(tenant, 'jobs', 'actor-slots'),
    slotTenants: keys.key('jobs', 'slot-tenants'),
  };

  const tenants = new Map<string, string>();

  function remember(id: string, tenant: string): void {
    tenants.delete(id);
    tenants.set(id, tenant);
    if (tenants.size > TENANT_CACHE_SIZE) {
      const oldest = tenants.keys().next();
      if (oldest.done !== true) tenants.delete(oldest.value);
    }
  }

  async function lookupTenant(id: string): Promise<string | undefined> {
    const tenant = await redisCall('job tenant lookup', () => client.get(key.ref(id)));
    if (tenant === null) {
      tenants.delete(id);
      return undefined;
    }
    remember(id, tenant);
    return tenant;
  }

  /**
   * Runs `read` against the job's tenant: the cached one first, then (when that finds nothing) the one
   * jobref names. A cached tenant goes stale only when the job expired and its id was reused elsewhere.
   */
  async function withTenant<T>(id: string, read: (tenant: string) => Promise<T | undefined>): Promise<T | undefined> {
    const cached = tenants.get(id);
    if (cached !== undefined) {
      const hit = await read(cached);
      if (hit !== undefined) return hit;
    }
    const fresh = await lookupTenant(id);
    if (fresh === undefined || fresh === cached) return undefined;
    return read(fresh);
  }

  async function storeNow(): Promise<number> {
    const [seconds, micros] = await redisCall('time', () => client.time());
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  async function prune(): Promise<void> {
    for (let round = 0; round < PRUNE_ROUNDS; round++) {
      const reply = await expiredScript.run(client, [key.retired], [PRUNE_BATCH]);
      const expired = Array.isArray(reply) ? reply.map(String) : [];
      if (expired.length === 0) return;
      // ZREM of a member that is already gone is a no-op, so concurrent prunes by several processes agree.
      const tx = client.multi();
      for (const member of expired) {
        const entry = parseRetiredMember(member);
        if (entry === undefined) continue;
        const lex = lexMember(entry.createdAt, entry.id);
        try {
          tx.zrem(key.all(entry.tenant), lex)
            .zrem(key.state(entry.tenant, entry.state), lex)
            .zrem(key.topic(entry.tenant, entry.topic), lex)
            .zrem(key.globalState(entry.state), globalStateMember(entry.createdAt, entry.tenant, entry.id));
        } catch {
          // A member naming an impossible tenant was not written by us; dropping it below is all we can do.
        }
      }
      tx.zrem(key.retired, ...expired);
      await redisCall('job prune', () => tx.exec());
      if (expired.length < PRUNE_BATCH) return;
    }
  }

  async function readRecords(tenant: string, members: string[]): Promise<Array<JobRecord | undefined>> {
    return Promise.all(
      members.map(async (member) => {
        const pos = parseLexMember(member);
        if (pos === undefined) return undefined;
        const hash = await redisCall('job list', () => client.hgetall(key.record(tenant, pos.i)));
        if (Object.keys(hash).length === 0) return undefined;
        const record = decodeJob(hash);
        // An older incarnation's entry (the id expired and was created again) is stale too.
        return record.createdAt === pos.c ? record : undefined;
      }),
    );
  }

  async function chooseIndex(q: CheckedQuery): Promise<string> {
    if (q.state !== undefined && q.topic !== undefined) {
      // Scan the smaller of the two indexes and filter by the other field.
      const stateKey = key.state(q.tenant, q.state);
      const topicKey = key.topic(q.tenant, q.topic);
      const [byState, byTopic] = await Promise.all([
        redisCall('job list', () => client.zcard(stateKey)),
        redisCall('job list', () => client.zcard(topicKey)),
      ]);
      return byState <= byTopic ? stateKey : topicKey;
    }
    if (q.state !== undefined) return key.state(q.tenant, q.state);
    if (q.topic !== undefined) return key.topic(q.tenant, q.topic);
    return key.all(q.tenant);
  }

  return {
    async create(job) {
      const input = checkNewJob(job);
      const fields = newJobFields(input);
      const reply = await createScript.run(
        client,
        [
          key.record(input.tenant, input.id),
          key.events(input.tenant, input.id),
          key.ref(input.id),
          key.all(input.tenant),
          key.state(input.tenant, input.state),
          key.topic(input.tenant, input.topic),
          key.globalState(input.state),
          key.active(input.tenant),
          key.retired,
          key.timer('due'),
          key.timer('deadline'),
          ...(input.fence === undefined ? [] : [ctx.keys.key('fence', input.fence)]),
        ],
        [
          input.id,
          input.tenant,
          input.topic,
          input.state,
          input.terminal ? '1' : '0',
          ctx.options.jobRetentionMs,
          input.actor,
          input.reason,
          MAX_JOB_EVENTS,
          fields.length / 2,
          ...fields,
        ],
      );
      remember(input.id, input.tenant);
      return decodeJob(pairsToHash(reply));
    },

    async get(id) {
      if (!isPossibleJobId(id)) return undefined;
      return withTenant(id, async (tenant) => {
        const hash = await redisCall('job get', () => client.hgetall(key.record(tenant, id)));
        return Object.keys(hash).length === 0 ? undefined : decodeJob(hash);
      });
    },

    async transition(id, request) {
      const req = checkTransition(request);
      const notFound = (): NotFoundError => {
        const message = notFoundMessage(id);
        return new NotFoundError(message, { details: { id, message } });
      };
      if (!isPossibleJobId(id)) throw notFound();
      const record = await withTenant(id, async (tenant) => {
        const keysList = [
          key.record(tenant, id),
          key.events(tenant, id),
          key.ref(id),
          key.active(tenant),
          key.retired,
          key.timer('due'),
          key.timer('lease'),
          key.timer('deadline'),
          key.state(tenant, req.to),
          key.globalState(req.to),
        ];
        const fromArgs: string[] = [];
        for (const f of req.from) {
          keysList.push(key.state(tenant, f.state), key.globalState(f.state));
          fromArgs.push(f.state, f.allowed ? '1' : '0');
        }
        keysList.push(key.slots(tenant), key.actorSlots(tenant), key.slotTenants);
        if (req.fence !== undefined) keysList.push(keys.key('fence', req.fence));
        try {
          const reply = await transitionScript.run(client, keysList, [
            id,
            tenant,
            req.to,
            req.terminal ? '1' : '0',
            req.expectedVersion === null ? '' : String(req.expectedVersion),
            req.actor,
            req.reason,
            req.hasReason ? '1' : '0',
            ctx.options.jobRetentionMs,
            MAX_JOB_EVENTS,
            req.patch.incrementAttempts ? '1' : '0',
            req.from.length,
            ...fromArgs,
            ...patchArgs(req.patch),
            req.via?.state ?? '',
            req.via?.reason ?? '',
            req.keepsSlot ? '1' : '0',
            req.slot === null ? '0' : '1',
            req.slot?.actor ?? '',
            req.slot?.tenantLimit ?? 0,
            req.slot?.actorLimit ?? 0,
          ]);
          return decodeJob(pairsToHash(reply));
        } catch (err) {
          // Not found under this tenant: withTenant retries once with the tenant jobref names.
          if (err instanceof NotFoundError) return undefined;
          throw err;
        }
      });
      if (record === undefined) throw notFound();
      return record;
    },

    async events(id, options) {
      const limit = checkEventLimit(options);
      if (!isPossibleJobId(id)) return [];
      // Every job has its creation event, so an empty list means "not under this tenant".
      const events = await withTenant(id, async (tenant) => {
        const raw = await redisCall('job events', () => client.lrange(key.events(tenant, id), -limit, -1));
        return raw.length === 0 ? undefined : raw.map(decodeEvent);
      });
      return events ?? [];
    },

    async list(query): Promise<Page<JobRecord>> {
      const q = checkQuery(query);
      await prune();
      const index = await chooseIndex(q);
      // Bounds in index order. createdBefore is inclusive: everything below the next millisecond.
      let max = q.createdBefore === undefined ? '+' : `(${pad(q.createdBefore + 1)}`;
      if (q.cursor !== undefined) {
        const after = `(${lexMember(q.cursor.c, q.cursor.i)}`;
        if (max === '+' || after < max) max = after;
      }
      const min = q.createdAfter === undefined ? '-' : `[${pad(q.createdAfter)}`;

      const items: JobRecord[] = [];
      let scanned = 0;
      let lastScanned: string | undefined;
      let exhausted = false;
      while (items.length <= q.limit) {
        const batch = Math.min(LIST_SCAN_BUDGET - scanned, Math.max(q.limit + 1 - items.length, 16));
        if (batch <= 0) break;
        const members = await redisCall('job list', () =>
          client.zrange(index, max, min, 'BYLEX', 'REV', 'LIMIT', 0, batch),
        );
        const records = await readRecords(q.tenant, members);
        for (let i = 0; i < members.length && items.length <= q.limit; i++) {
          scanned += 1;
          lastScanned = members[i];
          const record = records[i];
          if (record === undefined) continue;
          if (q.state !== undefined && record.state !== q.state) continue;
          if (q.topic !== undefined && record.topic !== q.topic) continue;
          items.push(record);
        }
        if (members.length < batch) {
          exhausted = true;
          break;
        }
        max = `(${members[members.length - 1] ?? ''}`;
      }

      if (items.length > q.limit) {
        return pageOf(items, q.limit, (last) => encodeJobCursor({ c: last.createdAt, i: last.id }));
      }
      if (exhausted || lastScanned === undefined) return { items, nextCursor: null };
      // Scan budget spent before the page filled: continue after the last entry examined.
      const pos = parseLexMember(lastScanned);
      return { items, nextCursor: pos === undefined ? null : encodeJobCursor(pos) };
    },

    async listTimers(timer, options): Promise<DueJob[]> {
      checkTimer(timer);
      const opts = checkTimerOptions(options);
      const until = opts.before ?? (await storeNow());
      const raw = await redisCall('job timers', () =>
        client.zrange(key.timer(timer), '-inf', String(until), 'BYSCORE', 'LIMIT', 0, opts.limit, 'WITHSCORES'),
      );
      const due: DueJob[] = [];
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const member = parseTimerMember(raw[i] ?? '');
        if (member !== undefined) due.push({ id: member.id, tenant: member.tenant, at: Number(raw[i + 1]) });
      }
      return due;
    },

    async countActive(tenant) {
      checkTenant(tenant);
      return redisCall('job count', () => client.scard(key.active(tenant)));
    },

    async countByState(tenant) {
      if (tenant !== undefined) checkTenant(tenant);
      await prune();
      // Exact for non-terminal states (they never expire). Terminal counts include records that expired
      // since the last prune only when more than PRUNE_BATCH * PRUNE_ROUNDS expired at once.
      const counts = await Promise.all(
        JOB_STATES.map((state) =>
          redisCall('job count', () =>
            client.zcard(tenant === undefined ? key.globalState(state) : key.state(tenant, state)),
          ),
        ),
      );
      const out = zeroStateCounts();
      JOB_STATES.forEach((state, i) => {
        out[state] = counts[i] ?? 0;
      });
      return out;
    },

    async slots(tenant): Promise<SlotUsage> {
      checkTenant(tenant);
      const [count, actors] = await Promise.all([
        redisCall('job slots', () => client.hlen(key.slots(tenant))),
        redisCall('job slots', () => client.hgetall(key.actorSlots(tenant))),
      ]);
      const byActor: Record<string, number> = {};
      for (const [actor, n] of Object.entries(actors)) {
        const held = Number(n);
        if (held > 0) byActor[actor] = held;
      }
      return { tenant: count, actors: byActor };
    },

    async repairSlots(options) {
      const only = options?.tenant;
      if (only !== undefined) checkTenant(only);
      const tenantList =
        only !== undefined ? [only] : await redisCall('job slots', () => client.smembers(key.slotTenants));
      let released = 0;
      for (const tenant of tenantList) {
        if (!isSafeTenantId(tenant)) continue; // not written by us
        const ids = await redisCall('job slots', () => client.hkeys(key.slots(tenant)));
        // The last call (an empty list when the tenant holds none) also recounts the per-actor counts.
        for (let at = 0; at === 0 || at < ids.length; at += REPAIR_BATCH) {
          const batch = ids.slice(at, at + REPAIR_BATCH);
          const last = at + REPAIR_BATCH >= ids.length;
          const reply = await slotsRepairScript.run(
            client,
            [key.slots(tenant), key.actorSlots(tenant), key.slotTenants, ...batch.map((id) => key.record(tenant, id))],
            [tenant, last ? '1' : '0', ...batch],
          );
          released += Number(reply);
        }
      }
      return released;
    },

    now: storeNow,
  };
}
