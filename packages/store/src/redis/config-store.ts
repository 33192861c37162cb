import {
  type ConfigWrite,
  type ResolvedConfigRef,
  checkExpectedRevision,
  checkPutConfig,
  checkRevision,
  checkRollbackOptions,
  checkScopeTenant,
  configDocFromRecord,
  decodeHistoryCursor,
  describeConfigRef,
  encodeHistoryCursor,
  historyLimit,
  resolveConfigRef,
  revisionNotFound,
  rollbackWrite,
  sortIds,
} from '../model/config.js';
import type { ConfigDoc, ConfigStore } from '../ports/config-store.js';
import { pageLimit } from '../ports/cursor.js';
import type { RedisStoreContext } from './context.js';
import { redisCall } from './errors.js';
import { loadScript } from './script.js';

// Keys per document (system scope under the prefix, every other scope under its tenant):
//   cfg:<scope>:<id>       current revision's record JSON (string)
//   cfg-seq:<scope>:<id>   last revision number ever assigned (string; survives delete)
//   cfg-hist:<scope>:<id>  kept revisions (zset, score = revision, member = record JSON)
//   cfg-ids:<scope>        scope ids that have a document (set)
// The kind comes before the scope id, so an id containing ":hist" can never collide with another key.

const putScript = loadScript('config-put');
const deleteScript = loadScript('config-delete');

type ConfigKeys = { doc: string; seq: string; hist: string; ids: string };

export function createRedisConfigStore(ctx: RedisStoreContext): ConfigStore {
  const { client } = ctx;
  const limit = historyLimit(ctx.options.configHistoryLimit);

  const scoped = (scope: string, tenant: string, ...parts: string[]): string =>
    scope === 'system' ? ctx.keys.key(...parts) : ctx.keys.tenant(tenant, ...parts);

  const keysOf = (r: ResolvedConfigRef): ConfigKeys => ({
    doc: scoped(r.scope, r.tenant, 'cfg', r.scope, r.scopeId),
    seq: scoped(r.scope, r.tenant, 'cfg-seq', r.scope, r.scopeId),
    hist: scoped(r.scope, r.tenant, 'cfg-hist', r.scope, r.scopeId),
    ids: scoped(r.scope, r.tenant, 'cfg-ids', r.scope),
  });

  const write = async (r: ResolvedConfigRef, w: ConfigWrite, sourceRevision?: number): Promise<ConfigDoc> => {
    const k = keysOf(r);
    const record = await putScript.run(
      client,
      [k.doc, k.seq, k.hist, k.ids],
      [
        r.scopeId,
        w.expectedRevision === undefined ? '' : w.expectedRevision,
        limit,
        JSON.stringify(w.actor),
        w.dataJson,
        w.metaJson,
        sourceRevision ?? '',
        describeConfigRef(r),
      ],
    );
    return configDocFromRecord(r, record as string);
  };

  const readRevision = async (r: ResolvedConfigRef, revision: number): Promise<string | undefined> => {
    const found = await redisCall('config getRevision', () =>
      client.zrange(keysOf(r).hist, revision, revision, 'BYSCORE'),
    );
    return found[0];
  };

  return {
    async get(ref) {
      const r = resolveConfigRef(ref);
      const record = await redisCall('config get', () => client.get(keysOf(r).doc));
      return record === null ? undefined : configDocFromRecord(r, record);
    },

    async put(ref, doc) {
      return write(resolveConfigRef(ref), checkPutConfig(doc));
    },

    async getRevision(ref, revision) {
      const r = resolveConfigRef(ref);
      const record = await readRevision(r, checkRevision(revision));
      return record === undefined ? undefined : configDocFromRecord(r, record);
    },

    async history(ref, query) {
      const r = resolveConfigRef(ref);
      const size = pageLimit(query);
      const before = decodeHistoryCursor(query?.cursor);
      const records = await redisCall('config history', () =>
        client.zrange(keysOf(r).hist, before === undefined ? '+inf' : `(${before}`, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, size + 1),
      );
      const items = records.slice(0, size).map((record) => configDocFromRecord(r, record));
      const last = items[items.length - 1];
      return {
        items,
        nextCursor: records.length > size && last !== undefined ? encodeHistoryCursor(last.revision) : null,
      };
    },

    async rollback(ref, revision, options) {
      const r = resolveConfigRef(ref);
      const n = checkRevision(revision);
      const checked = checkRollbackOptions(options);
      // Kept revisions never change, so reading the source first is safe; the script re-checks that it is
      // still kept (it may be trimmed in between) before writing.
      const source = await readRevision(r, n);
      if (source === undefined) throw revisionNotFound(describeConfigRef(r), n);
      return write(r, rollbackWrite(source, checked), n);
    },

    async delete(ref, options) {
      const r = resolveConfigRef(ref);
      const expected = checkExpectedRevision(options?.expectedRevision);
      const k = keysOf(r);
      const deleted = await deleteScript.run(
        client,
        [k.doc, k.seq, k.ids],
        [r.scopeId, expected === undefined ? '' : expected, describeConfigRef(r)],
      );
      return deleted === 1;
    },

    async list(scope, tenant) {
      const owner = checkScopeTenant(scope, tenant);
      const ids = await redisCall('config list', () =>
        client.smembers(scoped(owner.scope, owner.tenant, 'cfg-ids', owner.scope)),
      );
      return sortIds(ids);
    },
  };
}
