import { checkTenant, compareBytes, pageOf, settle } from '../model/common.js';
import {
  checkWorkflowListQuery,
  checkWorkflowWrite,
  encodeWorkflowCursor,
  isPossibleWorkflowId,
  possibleVersion,
  workflowRecord,
  workflowVersionConflict,
} from '../model/workflow.js';
import type { Page } from '../ports/common.js';
import type { WorkflowRecord, WorkflowStore } from '../ports/workflow-store.js';
import type { MemoryStoreContext } from './context.js';

// The embedded WorkflowStore. Every method decides synchronously (one tick), which makes its
// compare-and-set atomic. Definitions are kept as JSON text and parsed on every read.

type StoredVersion = { docJson: string; sha256: string; createdAt: number };

type Stored = {
  /** Highest version ever assigned (kept after delete). */
  last: number;
  /** The latest live version, 0 when deleted. */
  current: number;
  versions: Map<number, StoredVersion>;
};

export function createMemoryWorkflowStore(ctx: MemoryStoreContext): WorkflowStore {
  const tenants = new Map<string, Map<string, Stored>>();

  const find = (tenant: string, id: string): Stored | undefined => tenants.get(tenant)?.get(id);

  const recordOf = (tenant: string, id: string, stored: Stored, version: number): WorkflowRecord | undefined => {
    const v = stored.versions.get(version);
    return v === undefined ? undefined : workflowRecord(tenant, id, version, v);
  };

  return {
    put: (tenant, id, doc, options) =>
      settle(() => {
        const w = checkWorkflowWrite(tenant, id, doc, options);
        let workflows = tenants.get(w.tenant);
        if (workflows === undefined) {
          workflows = new Map();
          tenants.set(w.tenant, workflows);
        }
        const stored = workflows.get(w.id) ?? { last: 0, current: 0, versions: new Map<number, StoredVersion>() };
        if (w.expectedVersion !== undefined && w.expectedVersion !== stored.current) {
          throw workflowVersionConflict(w.tenant, w.id, stored.current, w.expectedVersion);
        }
        const version = stored.last + 1;
        const v: StoredVersion = { docJson: w.docJson, sha256: w.sha256, createdAt: ctx.clock.now() };
        stored.versions.set(version, v);
        stored.last = version;
        stored.current = version;
        workflows.set(w.id, stored);
        return workflowRecord(w.tenant, w.id, version, v);
      }),

    get: (tenant, id) =>
      settle(() => {
        checkTenant(tenant);
        if (!isPossibleWorkflowId(id)) return undefined;
        const stored = find(tenant, id);
        return stored === undefined || stored.current === 0 ? undefined : recordOf(tenant, id, stored, stored.current);
      }),

    getVersion: (tenant, id, version) =>
      settle(() => {
        checkTenant(tenant);
        const v = possibleVersion(version);
        if (!isPossibleWorkflowId(id) || v === undefined) return undefined;
        const stored = find(tenant, id);
        return stored === undefined ? undefined : recordOf(tenant, id, stored, v);
      }),

    list: (tenant, query) =>
      settle((): Page<WorkflowRecord> => {
        const q = checkWorkflowListQuery(tenant, query);
        const live = [...(tenants.get(q.tenant) ?? [])]
          .filter(([id, s]) => s.current !== 0 && (q.after === undefined || compareBytes(id, q.after) > 0))
          .sort(([a], [b]) => compareBytes(a, b));
        const found = live.flatMap(([id, s]) => recordOf(q.tenant, id, s, s.current) ?? []);
        return pageOf(found, q.limit, (last) => encodeWorkflowCursor(last.id));
      }),

    delete: (tenant, id, options) =>
      settle(() => {
        checkTenant(tenant);
        if (!isPossibleWorkflowId(id)) return false;
        const stored = find(tenant, id);
        if (stored === undefined) return false;
        const existed = stored.current !== 0;
        stored.current = 0;
        if (options?.purgeVersions === true) stored.versions.clear();
        return existed;
      }),
  };
}
