import { checkTenant, pageOf } from '../model/common.js';
import {
  checkWorkflowListQuery,
  checkWorkflowWrite,
  encodeWorkflowCursor,
  isPossibleWorkflowId,
  possibleVersion,
  workflowRecord,
} from '../model/workflow.js';
import type { WorkflowRecord, WorkflowStore } from '../ports/workflow-store.js';
import type { RedisStoreContext } from './context.js';
import { redisCall } from './errors.js';
import { loadScript } from './script.js';

// Keys per tenant (ids may contain ':', so each kind has its own word rather than a suffix):
//   t:<tenant>:wf:<id>            head hash {last, current}: last = highest version ever assigned (kept
//                                 after delete), current = latest live version (absent after delete)
//   t:<tenant>:wf-versions:<id>   hash: <n> = definition JSON, <n>:sha = sha256, <n>:at = created ms
//   t:<tenant>:wfs                zset (scores 0) of live ids: ZRANGE BYLEX lists them in id order

const putScript = loadScript('workflow-put');
const deleteScript = loadScript('workflow-delete');

export function createRedisWorkflowStore(ctx: RedisStoreContext): WorkflowStore {
  const { client } = ctx;
  const key = {
    head: (tenant: string, id: string) => ctx.keys.tenant(tenant, 'wf', id),
    versions: (tenant: string, id: string) => ctx.keys.tenant(tenant, 'wf-versions', id),
    index: (tenant: string) => ctx.keys.tenant(tenant, 'wfs'),
  };

  async function readVersion(tenant: string, id: string, version: number): Promise<WorkflowRecord | undefined> {
    const [docJson, sha256, at] = await redisCall('workflow get', () =>
      client.hmget(key.versions(tenant, id), String(version), `${version}:sha`, `${version}:at`),
    );
    if (typeof docJson !== 'string' || typeof sha256 !== 'string' || typeof at !== 'string') return undefined;
    return workflowRecord(tenant, id, version, { docJson, sha256, createdAt: Number(at) });
  }

  async function readLatest(tenant: string, id: string): Promise<WorkflowRecord | undefined> {
    const current = await redisCall('workflow get', () => client.hget(key.head(tenant, id), 'current'));
    // Versions are immutable, so reading the head and then the version is consistent; only a concurrent
    // purge can make the second read miss, and then the workflow is gone anyway.
    return current === null ? undefined : readVersion(tenant, id, Number(current));
  }

  return {
    async put(tenant, id, doc, options) {
      const w = checkWorkflowWrite(tenant, id, doc, options);
      const [version, createdAt] = (await putScript.run(
        client,
        [key.head(w.tenant, w.id), key.versions(w.tenant, w.id), key.index(w.tenant)],
        [w.id, w.expectedVersion ?? '', w.docJson, w.sha256, `${w.id} of tenant ${w.tenant}`],
      )) as [number, number];
      return workflowRecord(w.tenant, w.id, Number(version), { docJson: w.docJson, sha256: w.sha256, createdAt: Number(createdAt) });
    },

    async get(tenant, id) {
      checkTenant(tenant);
      return isPossibleWorkflowId(id) ? readLatest(tenant, id) : undefined;
    },

    async getVersion(tenant, id, version) {
      checkTenant(tenant);
      const v = possibleVersion(version);
      return isPossibleWorkflowId(id) && v !== undefined ? readVersion(tenant, id, v) : undefined;
    },

    async list(tenant, query) {
      const q = checkWorkflowListQuery(tenant, query);
      const found: WorkflowRecord[] = [];
      let from = q.after === undefined ? '-' : `(${q.after}`;
      // One extra item tells whether another page exists; an id deleted between the index read and the
      // record read is skipped and the loop reads on.
      for (;;) {
        const want = q.limit + 1 - found.length;
        const ids = await redisCall('workflow list', () =>
          client.zrange(key.index(q.tenant), from, '+', 'BYLEX', 'LIMIT', 0, want),
        );
        const records = await Promise.all(ids.map((id) => readLatest(q.tenant, id)));
        for (const record of records) if (record !== undefined) found.push(record);
        const last = ids[ids.length - 1];
        if (found.length > q.limit || ids.length < want || last === undefined) break;
        from = `(${last}`;
      }
      return pageOf(found, q.limit, (last) => encodeWorkflowCursor(last.id));
    },

    async delete(tenant, id, options) {
      checkTenant(tenant);
      if (!isPossibleWorkflowId(id)) return false;
      const deleted = await deleteScript.run(
        client,
        [key.head(tenant, id), key.versions(tenant, id), key.index(tenant)],
        [id, options?.purgeVersions === true ? '1' : '0'],
      );
      return deleted === 1;
    },
  };
}
