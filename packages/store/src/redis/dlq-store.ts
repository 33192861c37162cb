import type { DlqEntry, DlqStore } from '../ports/dlq-store.js';
import { pageLimit } from '../ports/cursor.js';
import {
  checkDlqEntry,
  checkDlqTenant,
  checkJobId,
  checkReasonFilter,
  decodeDlqCursor,
  dlqContention,
  dlqEntryFromJson,
  encodeDlqCursor,
  jobIdOfMember,
} from '../memory/dlq-store.js';
import type { RedisStoreContext } from './context.js';
import { redisCall } from './errors.js';
import { loadScript } from './script.js';

// Keys per tenant:
//   t:<tenant>:dlq:<jobId>            hash {entry: JSON, member: index member, reason: reasonCode}
//   t:<tenant>:dlq-index              zset (scores 0) of members "<createdAt 16 digits>:<jobId>", all entries
//   t:<tenant>:dlq-reason:<reason>    the same, only entries with that reasonCode (filtered listing in O(page))
// Members sort by createdAt then jobId, so ZRANGE BYLEX REV with an exclusive member is a stable cursor.

const putScript = loadScript('dlq-put');
const deleteScript = loadScript('dlq-delete');

/** Tries before giving up on an entry whose reasonCode keeps changing under us (needs a write race per try). */
const MAX_ATTEMPTS = 10;

export function createRedisDlqStore(ctx: RedisStoreContext): DlqStore {
  const { client } = ctx;
  const entryKey = (tenant: string, jobId: string): string => ctx.keys.tenant(tenant, 'dlq', jobId);
  const indexKey = (tenant: string): string => ctx.keys.tenant(tenant, 'dlq-index');
  const reasonKey = (tenant: string, reasonCode: string): string => ctx.keys.tenant(tenant, 'dlq-reason', reasonCode);

  return {
    async put(entry) {
      const w = checkDlqEntry(entry);
      const key = entryKey(w.tenant, w.jobId);
      const newReason = reasonKey(w.tenant, w.reasonCode);
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        // The script must be told which reason index the current entry is in (keys are declared up front);
        // it refuses (nil) if that changed in between, and we read again.
        const seen = await redisCall('dlq put', () => client.hget(key, 'reason'));
        const stored = await putScript.run(
          client,
          [key, indexKey(w.tenant), newReason, seen === null ? newReason : reasonKey(w.tenant, seen)],
          [w.jobId, w.createdAt ?? '', w.bodyJson, w.reasonCode, seen ?? ''],
        );
        if (typeof stored === 'string') return dlqEntryFromJson(stored);
      }
      throw dlqContention(w.tenant, w.jobId);
    },

    async get(tenant, jobId) {
      const json = await redisCall('dlq get', () => client.hget(entryKey(checkDlqTenant(tenant), checkJobId(jobId)), 'entry'));
      return json === null ? undefined : dlqEntryFromJson(json);
    },

    async list(tenant, query) {
      checkDlqTenant(tenant);
      const size = pageLimit(query);
      const after = decodeDlqCursor(query?.cursor);
      const reasonCode = checkReasonFilter(query?.reasonCode);
      const index = reasonCode === undefined ? indexKey(tenant) : reasonKey(tenant, reasonCode);
      const found: { member: string; entry: DlqEntry }[] = [];
      let from = after === undefined ? '+' : `(${after}`;
      // One extra item tells whether another page exists. Index reads and entry reads are separate calls,
      // so an entry deleted or moved in between is skipped (it is no longer at that member) and the loop
      // reads on until the page is full or the index ends.
      for (;;) {
        const want = size + 1 - found.length;
        const members = await redisCall('dlq list', () => client.zrange(index, from, '-', 'BYLEX', 'REV', 'LIMIT', 0, want));
        const rows = await redisCall('dlq list', () =>
          Promise.all(members.map((m) => client.hmget(entryKey(tenant, jobIdOfMember(m)), 'entry', 'member', 'reason'))),
        );
        members.forEach((member, i) => {
          const [json, current, reason] = rows[i] ?? [];
          if (typeof json !== 'string' || current !== member) return;
          if (reasonCode !== undefined && reason !== reasonCode) return;
          found.push({ member, entry: dlqEntryFromJson(json) });
        });
        const last = members[members.length - 1];
        if (found.length > size || members.length < want || last === undefined) break;
        from = `(${last}`;
      }
      const page = found.slice(0, size);
      const lastReturned = page[page.length - 1];
      return {
        items: page.map((f) => f.entry),
        nextCursor: found.length > size && lastReturned !== undefined ? encodeDlqCursor(lastReturned.member) : null,
      };
    },

    async delete(tenant, jobId) {
      const key = entryKey(checkDlqTenant(tenant), checkJobId(jobId));
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const seen = await redisCall('dlq delete', () => client.hget(key, 'reason'));
        if (seen === null) return false;
        const deleted = await deleteScript.run(client, [key, indexKey(tenant), reasonKey(tenant, seen)], [seen]);
        if (deleted !== null) return deleted === 1;
      }
      throw dlqContention(tenant, jobId);
    },

    async count(tenant) {
      return redisCall('dlq count', () => client.zcard(indexKey(checkDlqTenant(tenant))));
    },
  };
}
