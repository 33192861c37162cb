import { TerminalError } from '@cordum/core';
import { auditEntry, checkAuditEntry, checkAuditQuery, listAuditPage } from '../model/audit.js';
import { checkTenant } from '../model/common.js';
import type { AuditEntry, AuditLog } from '../ports/audit-log.js';
import type { RedisStoreContext } from './context.js';
import { redisCall } from './errors.js';

// One stream per tenant, t:<tenant>:audit. An append is a single XADD (atomic on its own, so no script):
// the server assigns the id "<ms>-<seq>" from its clock, never backwards within the stream, which makes ids
// unique and increasing across every process appending, and the ms part is the entry's `at`. Listing is
// XREVRANGE with an exclusive "(id" bound. Entries are never trimmed here: retention of an audit trail is
// a policy decision, not a side effect of writing.

export function createRedisAuditLog(ctx: RedisStoreContext): AuditLog {
  const { client } = ctx;
  const streamKey = (tenant: string): string => ctx.keys.tenant(tenant, 'audit');

  const fromStream = (tenant: string, id: string, fields: string[]): AuditEntry => {
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
    return auditEntry(tenant, id, f.get('kind') ?? '', f.get('actor') ?? '', f.get('subject') ?? '', f.get('data') ?? '{}');
  };

  return {
    async append(entry) {
      const w = checkAuditEntry(entry);
      const id = await redisCall('audit append', () =>
        client.xadd(streamKey(w.tenant), '*', 'kind', w.kind, 'actor', w.actor, 'subject', w.subject, 'data', w.dataJson),
      );
      if (id === null) throw new TerminalError('XADD returned no id for an audit append');
      return auditEntry(w.tenant, id, w.kind, w.actor, w.subject, w.dataJson);
    },

    async list(tenant, query) {
      const key = streamKey(checkTenant(tenant));
      return listAuditPage(async (before, count) => {
        const rows = await redisCall('audit list', () =>
          client.xrevrange(key, before === undefined ? '+' : `(${before}`, '-', 'COUNT', count),
        );
        return rows.map(([id, fields]) => fromStream(tenant, id, fields));
      }, checkAuditQuery(query));
    },
  };
}
