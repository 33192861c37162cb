import { pageOf, settle } from '../model/common.js';
import {
  type ConfigWrite,
  type ResolvedConfigRef,
  checkExpectedRevision,
  checkPutConfig,
  checkRevision,
  checkRollbackOptions,
  checkScopeTenant,
  configDocFromRecord,
  configRecordJson,
  decodeHistoryCursor,
  describeConfigRef,
  encodeHistoryCursor,
  historyLimit,
  resolveConfigRef,
  revisionConflict,
  revisionNotFound,
  rollbackWrite,
  sortIds,
} from '../model/config.js';
import type { Page, PageQuery } from '../ports/common.js';
import type { ConfigDoc, ConfigStore } from '../ports/config-store.js';
import { pageLimit } from '../ports/cursor.js';
import type { MemoryStoreContext } from './context.js';

// The embedded ConfigStore. Revisions are kept as the record JSON of model/config.ts, byte for byte what
// the Redis adapter stores.

type DocState = {
  /** Last revision ever assigned; survives delete so revisions are never reused. */
  lastRevision: number;
  /** Whether a current document exists (its revision is then lastRevision). */
  exists: boolean;
  /** Retained revisions, oldest first, as record JSON. */
  history: { revision: number; record: string }[];
};

export function createMemoryConfigStore(ctx: MemoryStoreContext): ConfigStore {
  const docs = new Map<string, DocState>();
  const limit = historyLimit(ctx.options.configHistoryLimit);
  const keyOf = (ref: ResolvedConfigRef): string => `${ref.tenant}\u0000${ref.scope}\u0000${ref.scopeId}`;

  const currentRevision = (state: DocState | undefined): number => (state?.exists === true ? state.lastRevision : 0);

  // Synchronous from check to write, so concurrent callers on one event loop see compare-and-set atomically.
  const write = (ref: ResolvedConfigRef, w: ConfigWrite): ConfigDoc => {
    const key = keyOf(ref);
    const state = docs.get(key) ?? { lastRevision: 0, exists: false, history: [] };
    const current = currentRevision(state);
    if (w.expectedRevision !== undefined && w.expectedRevision !== current) {
      throw revisionConflict(describeConfigRef(ref), current, w.expectedRevision);
    }
    const revision = state.lastRevision + 1;
    const record = configRecordJson(revision, ctx.clock.now(), w);
    state.lastRevision = revision;
    state.exists = true;
    state.history.push({ revision, record });
    if (state.history.length > limit) state.history.splice(0, state.history.length - limit);
    docs.set(key, state);
    return configDocFromRecord(ref, record);
  };

  const recordOf = (ref: ResolvedConfigRef, revision: number): string | undefined =>
    docs.get(keyOf(ref))?.history.find((h) => h.revision === revision)?.record;

  return {
    get: (ref) =>
      settle(() => {
        const r = resolveConfigRef(ref);
        const state = docs.get(keyOf(r));
        if (state?.exists !== true) return undefined;
        const record = recordOf(r, state.lastRevision);
        return record === undefined ? undefined : configDocFromRecord(r, record);
      }),

    put: (ref, doc) => settle(() => write(resolveConfigRef(ref), checkPutConfig(doc))),

    getRevision: (ref, revision) =>
      settle(() => {
        const r = resolveConfigRef(ref);
        const record = recordOf(r, checkRevision(revision));
        return record === undefined ? undefined : configDocFromRecord(r, record);
      }),

    history: (ref, query?: PageQuery) =>
      settle((): Page<ConfigDoc> => {
        const r = resolveConfigRef(ref);
        const size = pageLimit(query);
        const before = decodeHistoryCursor(query?.cursor);
        const newestFirst = [...(docs.get(keyOf(r))?.history ?? [])]
          .reverse()
          .filter((h) => before === undefined || h.revision < before);
        return pageOf(
          newestFirst,
          size,
          (last) => encodeHistoryCursor(last.revision),
          (h) => configDocFromRecord(r, h.record),
        );
      }),

    rollback: (ref, revision, options) =>
      settle(() => {
        const r = resolveConfigRef(ref);
        const n = checkRevision(revision);
        const checked = checkRollbackOptions(options);
        const source = recordOf(r, n);
        if (source === undefined) throw revisionNotFound(describeConfigRef(r), n);
        return write(r, rollbackWrite(source, checked));
      }),

    delete: (ref, options) =>
      settle(() => {
        const r = resolveConfigRef(ref);
        const expected = checkExpectedRevision(options?.expectedRevision);
        const state = docs.get(keyOf(r));
        const current = currentRevision(state);
        if (expected !== undefined && expected !== current) {
          throw revisionConflict(describeConfigRef(r), current, expected);
        }
        if (state === undefined || !state.exists) return false;
        state.exists = false;
        return true;
      }),

    list: (scope, tenant) =>
      settle(() => {
        const owner = checkScopeTenant(scope, tenant);
        const ids: string[] = [];
        for (const [key, state] of docs) {
          const [t, s, id] = key.split('\u0000');
          if (state.exists && t === owner.tenant && s === owner.scope && id !== undefined) ids.push(id);
        }
        return sortIds(ids);
      }),
  };
}

