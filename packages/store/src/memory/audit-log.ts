import { checkTenant, settle } from '../model/common.js';
import { auditEntry, checkAuditEntry, checkAuditQuery, listAuditPage } from '../model/audit.js';
import type { AuditEntry, AuditLog } from '../ports/audit-log.js';
import type { MemoryStoreContext } from './context.js';

// The embedded AuditLog: one append-only array per tenant, ids assigned like XADD * (model/audit.ts), and
// listing by the same algorithm as the Redis adapter over a binary search instead of XREVRANGE.

type Stored = { ms: number; seq: number; id: string; kind: string; actor: string; subject: string; dataJson: string };
type TenantLog = { lastMs: number; lastSeq: number; entries: Stored[] };

export function createMemoryAuditLog(ctx: MemoryStoreContext): AuditLog {
  const logs = new Map<string, TenantLog>();

  const toEntry = (tenant: string, s: Stored): AuditEntry => auditEntry(tenant, s.id, s.kind, s.actor, s.subject, s.dataJson);

  return {
    append: (entry) =>
      settle(() => {
        const w = checkAuditEntry(entry);
        let log = logs.get(w.tenant);
        if (log === undefined) {
          log = { lastMs: -1, lastSeq: -1, entries: [] };
          logs.set(w.tenant, log);
        }
        // Like XADD *: the clock never runs backwards within a log; same millisecond → next sequence.
        const ms = Math.max(Math.floor(ctx.clock.now()), log.lastMs);
        const seq = ms === log.lastMs ? log.lastSeq + 1 : 0;
        log.lastMs = ms;
        log.lastSeq = seq;
        const stored: Stored = { ms, seq, id: `${ms}-${seq}`, kind: w.kind, actor: w.actor, subject: w.subject, dataJson: w.dataJson };
        log.entries.push(stored);
        return toEntry(w.tenant, stored);
      }),

    async list(tenant, query) {
      checkTenant(tenant);
      const q = checkAuditQuery(query);
      const entries = logs.get(tenant)?.entries ?? [];
      return listAuditPage((before, count) => {
        // entries are in append order, i.e. ascending (ms, seq): find the first one not older than `before`.
        let end = entries.length;
        if (before !== undefined) {
          const [ms, seq] = before.split('-').map(Number) as [number, number];
          let lo = 0;
          let hi = entries.length;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            const e = entries[mid]!;
            if (e.ms < ms || (e.ms === ms && e.seq < seq)) lo = mid + 1;
            else hi = mid;
          }
          end = lo;
        }
        const batch = entries.slice(Math.max(0, end - count), end).reverse();
        return Promise.resolve(batch.map((s) => toEntry(tenant, s)));
      }, q);
    },
  };
}
