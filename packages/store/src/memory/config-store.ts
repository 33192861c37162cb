import {
  type ConfigScope,
  ConflictError,
  InvalidError,
  type JsonValue,
  NotFoundError,
  canonicalJson,
  isConfigScope,
  isPlainObject,
  isSafeTenantId,
} from '@cordum/core';
import { type Page, type PageQuery, SYSTEM_TENANT } from '../ports/common.js';
import type { ConfigDoc, ConfigRef, ConfigStore, PutConfig } from '../ports/config-store.js';
import { decodeCursor, encodeCursor, pageLimit } from '../ports/cursor.js';
import type { MemoryStoreContext } from './context.js';

// The embedded ConfigStore, and the input checks and record format its Redis twin shares, so both
// adapters reject the same inputs with the same errors and store the same bytes.

/** Longest scope id (and actor) accepted; they end up inside store keys and API paths. */
export const MAX_CONFIG_ID_LENGTH = 256;

/** A ConfigRef that passed validation, with its owning tenant resolved (SYSTEM_TENANT for system). */
export type ResolvedConfigRef = { readonly scope: ConfigScope; readonly scopeId: string; readonly tenant: string };

/** A checked write: data and meta already serialised exactly as they will be stored. */
export type ConfigWrite = {
  readonly dataJson: string;
  readonly metaJson: string;
  readonly actor: string;
  readonly expectedRevision: number | undefined;
};

/** What is stored per revision; the adapters add scope, scopeId and tenant from the ref on read. */
type StoredRevision = {
  revision: number;
  updatedAt: number;
  updatedBy: string;
  data: Record<string, JsonValue>;
  meta: Record<string, JsonValue>;
};

export function resolveConfigRef(ref: ConfigRef): ResolvedConfigRef {
  if (typeof ref !== 'object' || ref === null) throw new InvalidError('config ref must be an object');
  const { scope, tenant } = checkScopeTenant(ref.scope, 'tenant' in ref ? ref.tenant : undefined);
  return { scope, tenant, scopeId: checkName(ref.scopeId, 'scopeId') };
}

/** Checks a scope and resolves its tenant: required for every scope but system, ignored for system. */
export function checkScopeTenant(scope: unknown, tenant: unknown): { scope: ConfigScope; tenant: string } {
  if (typeof scope !== 'string' || !isConfigScope(scope)) {
    throw new InvalidError(`config scope must be one of system, org, team, workflow, step; got ${show(scope)}`, {
      details: { scope: typeof scope === 'string' ? scope : null },
    });
  }
  if (scope === 'system') return { scope, tenant: SYSTEM_TENANT };
  if (typeof tenant !== 'string' || !isSafeTenantId(tenant)) {
    throw new InvalidError(
      `config scope ${scope} needs a tenant id of 1-64 of A-Z a-z 0-9 . _ -; got ${show(tenant)}`,
      { details: { scope, tenant: typeof tenant === 'string' ? tenant : null } },
    );
  }
  return { scope, tenant };
}

export function checkPutConfig(doc: PutConfig): ConfigWrite {
  if (typeof doc !== 'object' || doc === null) throw new InvalidError('config write must be an object');
  return {
    dataJson: jsonObjectText(doc.data, 'data'),
    metaJson: doc.meta === undefined ? '{}' : jsonObjectText(doc.meta, 'meta'),
    actor: checkActor(doc.actor),
    expectedRevision: checkExpectedRevision(doc.expectedRevision),
  };
}

export function checkActor(actor: unknown): string {
  if (actor === undefined) return '';
  if (typeof actor !== 'string' || actor.length > MAX_CONFIG_ID_LENGTH || CONTROL_CHARS.test(actor)) {
    throw new InvalidError(`actor must be a string of at most ${MAX_CONFIG_ID_LENGTH} printable characters`, {
      details: { field: 'actor' },
    });
  }
  return actor;
}

/** undefined (unconditional), 0 (must not exist) or a positive revision. */
export function checkExpectedRevision(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidError(`expectedRevision must be 0 (must not exist) or a revision number; got ${show(value)}`, {
      details: { expected_revision: typeof value === 'number' ? value : null },
    });
  }
  return value;
}

/** A revision number a caller asks for: a positive safe integer. */
export function checkRevision(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidError(`revision must be a positive integer; got ${show(value)}`, {
      details: { revision: typeof value === 'number' ? value : null },
    });
  }
  return value;
}

/** Revisions kept per document; at least one, so the newest revision can always be rolled back to. */
export function historyLimit(configured: number): number {
  return Math.max(1, Math.floor(configured));
}

/** "team/acme/payments" or "system/default": how messages name a document. */
export function describeConfigRef(ref: ResolvedConfigRef): string {
  return ref.scope === 'system' ? `system/${ref.scopeId}` : `${ref.scope}/${ref.tenant}/${ref.scopeId}`;
}

/**
 * The stored record of one revision, as JSON. Both adapters write exactly this shape (the Redis script
 * assembles the same string), so history entries read back identically whichever wrote them.
 */
export function configRecordJson(revision: number, updatedAt: number, write: ConfigWrite): string {
  return (
    `{"revision":${revision},"updatedAt":${updatedAt},"updatedBy":${JSON.stringify(write.actor)},` +
    `"data":${write.dataJson},"meta":${write.metaJson}}`
  );
}

/** Parses a stored record into a fresh ConfigDoc (so callers never share an object with the store). */
export function configDocFromRecord(ref: ResolvedConfigRef, record: string): ConfigDoc {
  const stored = JSON.parse(record) as StoredRevision;
  return {
    scope: ref.scope,
    scopeId: ref.scopeId,
    tenant: ref.tenant,
    revision: stored.revision,
    data: stored.data,
    meta: stored.meta,
    updatedAt: stored.updatedAt,
    updatedBy: stored.updatedBy,
  };
}

/** Checked rollback options (checked before the source revision is looked up, in both adapters). */
export type RollbackOptions = { readonly expectedRevision: number | undefined; readonly actor: string };

export function checkRollbackOptions(options: { expectedRevision?: number; actor?: string } | undefined): RollbackOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidError('rollback options must be an object');
  }
  return { expectedRevision: checkExpectedRevision(options?.expectedRevision), actor: checkActor(options?.actor) };
}

/** The write that restores `record`'s data and meta (a rollback), with the caller's CAS and actor. */
export function rollbackWrite(record: string, options: RollbackOptions): ConfigWrite {
  const stored = JSON.parse(record) as StoredRevision;
  return { dataJson: JSON.stringify(stored.data), metaJson: JSON.stringify(stored.meta), ...options };
}

/** History cursor: the revision of the last item returned; the next page starts below it. */
export function encodeHistoryCursor(revision: number): string {
  return encodeCursor({ r: revision });
}

export function decodeHistoryCursor(cursor: string | null | undefined): number | undefined {
  if (cursor === undefined || cursor === null) return undefined;
  return decodeCursor(
    cursor,
    (v): v is { r: number } => isPlainObject(v) && Number.isSafeInteger(v['r']) && (v['r'] as number) > 0,
  ).r;
}

export function revisionConflict(what: string, current: number, expected: number): ConflictError {
  const message = `config ${what} is at revision ${current} (0 = absent), expected ${expected}: re-read it and retry`;
  return new ConflictError(message, {
    code: 'revision_conflict',
    details: { current_revision: current, expected_revision: expected, message },
  });
}

export function revisionNotFound(what: string, revision: number): NotFoundError {
  const message = `revision ${revision} of config ${what} does not exist or has been trimmed from history`;
  return new NotFoundError(message, { details: { revision, message } });
}

/** Sorts ids by their UTF-8 bytes, the order Redis uses, so both adapters list in the same order. */
export function sortIds(ids: string[]): string[] {
  return ids.sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

function checkName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CONFIG_ID_LENGTH || CONTROL_CHARS.test(value)) {
    throw new InvalidError(`${field} must be 1-${MAX_CONFIG_ID_LENGTH} printable characters; got ${show(value)}`, {
      details: { field },
    });
  }
  return value;
}

/** The exact JSON text stored for a data/meta object; InvalidError if it is not a JSON object. */
function jsonObjectText(value: unknown, field: string): string {
  if (!isPlainObject(value)) {
    throw new InvalidError(`${field} must be a JSON object`, { details: { field } });
  }
  try {
    canonicalJson(value);
  } catch (err) {
    throw new InvalidError(`${field} is not representable as JSON: ${(err as Error).message}`, { details: { field } });
  }
  return JSON.stringify(value);
}

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
        const page = newestFirst.slice(0, size);
        const last = page[page.length - 1];
        return {
          items: page.map((h) => configDocFromRecord(r, h.record)),
          nextCursor: newestFirst.length > size && last !== undefined ? encodeHistoryCursor(last.revision) : null,
        };
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


/** A caller's bad value quoted for a message: never throws (BigInt, cycles) and stays short. */
function show(value: unknown): string {
  const text =
    typeof value === 'string'
      ? JSON.stringify(value)
      : typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined
        ? String(value)
        : typeof value;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Runs a synchronous body as a promise, turning a throw into a rejection. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => {
    resolve(fn());
  });
}
