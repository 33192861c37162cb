import {
  type ConfigScope,
  ConflictError,
  InvalidError,
  type JsonValue,
  NotFoundError,
  isConfigScope,
  isPlainObject,
  isSafeTenantId,
} from '@cordum/core';
import { SYSTEM_TENANT } from '../ports/common.js';
import type { ConfigDoc, ConfigRef, PutConfig } from '../ports/config-store.js';
import { encodeCursor } from '../ports/cursor.js';
import { checkJsonObject, checkText, compareBytes, decodeQueryCursor, isPrintableText, show } from './common.js';

// ConfigStore input checks and the stored record format, shared by the memory and Redis adapters so both
// reject the same inputs with the same errors and store the same bytes.

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
  return { scope, tenant, scopeId: checkText(ref.scopeId, 'scopeId', 1, MAX_CONFIG_ID_LENGTH) };
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
  if (!isPrintableText(actor, 0, MAX_CONFIG_ID_LENGTH)) {
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

const isHistoryCursor = (v: unknown): v is { r: number } =>
  isPlainObject(v) && Number.isSafeInteger(v['r']) && (v['r'] as number) > 0;

export function decodeHistoryCursor(cursor: string | null | undefined): number | undefined {
  return decodeQueryCursor(cursor, isHistoryCursor)?.r;
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
  return ids.sort(compareBytes);
}

/** The exact JSON text stored for a data/meta object; InvalidError if it is not a JSON object. */
function jsonObjectText(value: unknown, field: string): string {
  return JSON.stringify(checkJsonObject(value, field));
}
