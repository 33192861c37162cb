import { checkTenant, pageOf } from '../model/common.js';
import {
  checkDlqEntry,
  checkJobId,
  checkReasonFilter,
  decodeDlqCursor,
  dlqEntryFromJson,
  encodeDlqCursor,
  jobIdOfMember,
} from '../model/dlq.js';
import { pageLimit } from '../ports/cursor.js';
import type { DlqEntry, DlqStore } from '../ports/dlq-store.js';
import type { RedisStoreContext } from './context.js';
import { redisCall } from './errors.js';
import { loadScript } from './script.js';

// Keys per tenant:
//   t:<tenant>:dlq:<jobId>            hash {entry: JSON, member: index member, reason: reasonCode}
//   t:<tenant>:dlq-index              zset (scores 0) of members "<createdAt 16 digits>:<jobId>", all entries
//   t:<tenant>:dlq-reasons            zset (scores 0) of "<reasonCode>\0<index member>": a reason filter is a lex
//                                     range (filtered listing in O(page)), and one key holds every reason, so
//                                     a put knows every key it touches up front (no read-then-retry)
// Members sort by createdAt then jobId, so ZRANGE BYLEX REV with an exclusive member is a stable cursor.

const putScript = loadScript('dlq-put');
const deleteScript = loadScript('dlq-delete');

export function createRedisDlqStore(ctx: RedisStoreContext): DlqStore {
  const { client } = ctx;
  const entryKey = (tenant: string, jobId: string): string => ctx.keys.tenant(tenant, 'dlq', jobId);
  const indexKey = (tenant: string): string => ctx.keys.tenant(tenant, 'dlq-index');
  const reasonsKey = (tenant: string): string => ctx.keys.tenant(tenant, 'dlq-reasons');

  return {
    async put(entry) {
      const w = checkDlqEntry(entry);
      const stored = await putScript.run(
        client,
        [entryKey(w.tenant, w.jobId), indexKey(w.tenant), reasonsKey(w.tenant)],
        [w.jobId, w.createdAt ?? '', w.bodyJson, w.reasonCode],
      );
      return dlqEntryFromJson(String(stored));
    },

    async get(tenant, jobId) {
      const json = await redisCall('dlq get', () => client.hget(entryKey(checkTenant(tenant), checkJobId(jobId)), 'entry'));
      return json === null ? undefined : dlqEntryFromJson(json);
    },

    async list(tenant, query) {
      checkTenant(tenant);
      const size = pageLimit(query);
      const after = decodeDlqCursor(query?.cursor);
      const reasonCode = checkReasonFilter(query?.reasonCode);
      // Unfiltered: the index itself. Filtered: the "<reason>\0" slice of the reasons index, whose members
      // are the index members behind that prefix.
      const index = reasonCode === undefined ? indexKey(tenant) : reasonsKey(tenant);
      const prefix = reasonCode === undefined ? '' : `${reasonCode}\u0000`;
      const lowest = reasonCode === undefined ? '-' : `[${prefix}`;
      const found: { member: string; entry: DlqEntry }[] = [];
      let from =
        after !== undefined ? `(${prefix}${after}` : reasonCode === undefined ? '+' : `(${reasonCode}\u0001`;
      // One extra item tells whether another page exists. Index reads and entry reads are separate calls,
      // so an entry deleted or moved in between is skipped (it is no longer at that member) and the loop
      // reads on until the page is full or the index ends.
      for (;;) {
        const want = size + 1 - found.length;
        const raw = await redisCall('dlq list', () => client.zrange(index, from, lowest, 'BYLEX', 'REV', 'LIMIT', 0, want));
        const members = raw.map((m) => m.slice(prefix.length));
        const rows = await redisCall('dlq list', () =>
          Promise.all(members.map((m) => client.hmget(entryKey(tenant, jobIdOfMember(m)), 'entry', 'member', 'reason'))),
        );
        members.forEach((member, i) => {
          const [json, current, reason] = rows[i] ?? [];
          if (typeof json !== 'string' || current !== member) return;
          if (reasonCode !== undefined && reason !== reasonCode) return;
          found.push({ member, entry: dlqEntryFromJson(json) });
        });
        const last = raw[raw.length - 1];
        if (found.length > size || raw.length < want || last === undefined) break;
        from = `(${last}`;
      }
      return pageOf(found, size, (last) => encodeDlqCursor(last.member), (f) => f.entry);
    },

    async delete(tenant, jobId) {
      const key = entryKey(checkTenant(tenant), checkJobId(jobId));
      const deleted = await deleteScript.run(client, [key, indexKey(tenant), reasonsKey(tenant)], []);
      return deleted === 1;
    },

    async count(tenant) {
      return redisCall('dlq count', () => client.zcard(indexKey(checkTenant(tenant))));
    },
  };
}
