import { checkTenant, compareBytes, pageOf, settle } from '../model/common.js';
import {
  checkDlqEntry,
  checkJobId,
  checkReasonFilter,
  decodeDlqCursor,
  dlqEntryFromJson,
  dlqEntryJson,
  dlqIndexMember,
  encodeDlqCursor,
} from '../model/dlq.js';
import type { Page } from '../ports/common.js';
import { pageLimit } from '../ports/cursor.js';
import type { DlqEntry, DlqStore } from '../ports/dlq-store.js';
import type { MemoryStoreContext } from './context.js';

// The embedded DlqStore: entries per tenant, each with its index member (model/dlq.ts), so listing sorts
// and pages exactly as the Redis adapter's BYLEX index does.

type Stored = { member: string; reasonCode: string; json: string };

export function createMemoryDlqStore(ctx: MemoryStoreContext): DlqStore {
  const tenants = new Map<string, Map<string, Stored>>();

  return {
    put: (entry) =>
      settle(() => {
        const w = checkDlqEntry(entry);
        const createdAt = w.createdAt ?? ctx.clock.now();
        const json = dlqEntryJson(createdAt, w.bodyJson);
        let entries = tenants.get(w.tenant);
        if (entries === undefined) {
          entries = new Map();
          tenants.set(w.tenant, entries);
        }
        entries.set(w.jobId, { member: dlqIndexMember(createdAt, w.jobId), reasonCode: w.reasonCode, json });
        return dlqEntryFromJson(json);
      }),

    get: (tenant, jobId) =>
      settle(() => {
        const t = checkTenant(tenant);
        const id = checkJobId(jobId);
        const stored = tenants.get(t)?.get(id);
        return stored === undefined ? undefined : dlqEntryFromJson(stored.json);
      }),

    list: (tenant, query) =>
      settle((): Page<DlqEntry> => {
        checkTenant(tenant);
        const size = pageLimit(query);
        const after = decodeDlqCursor(query?.cursor);
        const reasonCode = checkReasonFilter(query?.reasonCode);
        const matching = [...(tenants.get(tenant)?.values() ?? [])]
          .filter((s) => reasonCode === undefined || s.reasonCode === reasonCode)
          .filter((s) => after === undefined || compareBytes(s.member, after) < 0)
          .sort((a, b) => compareBytes(b.member, a.member));
        return pageOf(matching, size, (last) => encodeDlqCursor(last.member), (s) => dlqEntryFromJson(s.json));
      }),

    delete: (tenant, jobId) =>
      settle(() => {
        const t = checkTenant(tenant);
        const id = checkJobId(jobId);
        return tenants.get(t)?.delete(id) ?? false;
      }),

    count: (tenant) => settle(() => tenants.get(checkTenant(tenant))?.size ?? 0),
  };
}
