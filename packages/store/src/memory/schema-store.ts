import { ConflictError, InvalidError, type JsonValue, hashJson, isPlainObject, isSafeTenantId } from '@cordum/core';
import type { Page } from '../ports/common.js';
import { decodeCursor, encodeCursor, pageLimit } from '../ports/cursor.js';
import type { SchemaRecord, SchemaStore } from '../ports/schema-store.js';
import type { MemoryStoreContext } from './context.js';

// The embedded SchemaStore, and the input checks and cursor format its Redis twin shares.
//
// Versions are monotonic per (tenant, id) and survive delete: re-registering a deleted id continues from
// the last version (createdAt starts afresh), so a writer holding a version read before the delete cannot
// overwrite the new schema with a stale compare-and-set.

export const MAX_SCHEMA_ID_LENGTH = 256;

/** A checked write: the schema serialised as stored, with its content hash. */
export type SchemaWrite = {
  readonly tenant: string;
  readonly id: string;
  readonly schemaJson: string;
  readonly sha256: string;
  readonly expectedVersion: number | undefined;
};

export function checkSchemaTenant(tenant: unknown): string {
  if (typeof tenant !== 'string' || !isSafeTenantId(tenant)) {
    throw new InvalidError(`invalid tenant id ${show(tenant)}: use 1-64 of A-Z a-z 0-9 . _ -`, {
      details: { tenant: typeof tenant === 'string' ? tenant : null },
    });
  }
  return tenant;
}

export function checkSchemaId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_SCHEMA_ID_LENGTH || CONTROL_CHARS.test(id)) {
    throw new InvalidError(`schema id must be 1-${MAX_SCHEMA_ID_LENGTH} printable characters; got ${show(id)}`, {
      details: { field: 'id' },
    });
  }
  return id;
}

export function checkSchemaWrite(
  tenant: string,
  id: string,
  schema: JsonValue,
  options: { expectedVersion?: number } | undefined,
): SchemaWrite {
  const checkedTenant = checkSchemaTenant(tenant);
  const checkedId = checkSchemaId(id);
  let sha256: string;
  try {
    sha256 = hashJson(schema);
  } catch (err) {
    throw new InvalidError(`schema is not representable as JSON: ${(err as Error).message}`, { details: { field: 'schema' } });
  }
  const expected = options?.expectedVersion;
  if (expected !== undefined && (typeof expected !== 'number' || !Number.isSafeInteger(expected) || expected < 0)) {
    throw new InvalidError(`expectedVersion must be 0 (must not exist) or a version number; got ${show(expected)}`, {
      details: { expected_version: typeof expected === 'number' ? expected : null },
    });
  }
  return { tenant: checkedTenant, id: checkedId, schemaJson: JSON.stringify(schema), sha256, expectedVersion: expected };
}

export function schemaVersionConflict(tenant: string, id: string, current: number, expected: number): ConflictError {
  const message = `schema ${id} of tenant ${tenant} is at version ${current} (0 = absent), expected ${expected}: re-read it and retry`;
  return new ConflictError(message, {
    code: 'revision_conflict',
    details: { current_version: current, expected_version: expected, message },
  });
}

/** Builds a fresh record (parsing the stored schema text, so callers never share the store's objects). */
export function schemaRecord(
  w: { tenant: string; id: string; schemaJson: string; sha256: string },
  version: number,
  createdAt: number,
  updatedAt: number,
): SchemaRecord {
  return {
    tenant: w.tenant,
    id: w.id,
    schema: JSON.parse(w.schemaJson) as JsonValue,
    version,
    sha256: w.sha256,
    createdAt,
    updatedAt,
  };
}

/** Listing cursor: the id of the last item returned; the next page starts after it (byte order). */
export function encodeSchemaCursor(id: string): string {
  return encodeCursor({ after: id });
}

export function decodeSchemaCursor(cursor: string | null | undefined): string | undefined {
  if (cursor === undefined || cursor === null) return undefined;
  return decodeCursor(
    cursor,
    (v): v is { after: string } => isPlainObject(v) && typeof v['after'] === 'string' && v['after'].length > 0,
  ).after;
}

/** Byte order of UTF-8 strings: the order Redis uses for BYLEX ranges. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

type Stored = {
  /** Last version ever assigned (kept after delete). */
  version: number;
  current: { schemaJson: string; sha256: string; createdAt: number; updatedAt: number } | undefined;
};

export function createMemorySchemaStore(ctx: MemoryStoreContext): SchemaStore {
  const tenants = new Map<string, Map<string, Stored>>();
  const toRecord = (tenant: string, id: string, s: Stored): SchemaRecord | undefined =>
    s.current === undefined
      ? undefined
      : schemaRecord({ tenant, id, ...s.current }, s.version, s.current.createdAt, s.current.updatedAt);

  return {
    put: (tenant, id, schema, options) =>
      settle(() => {
        const w = checkSchemaWrite(tenant, id, schema, options);
        let schemas = tenants.get(w.tenant);
        if (schemas === undefined) {
          schemas = new Map();
          tenants.set(w.tenant, schemas);
        }
        const stored = schemas.get(w.id) ?? { version: 0, current: undefined };
        const current = stored.current === undefined ? 0 : stored.version;
        if (w.expectedVersion !== undefined && w.expectedVersion !== current) {
          throw schemaVersionConflict(w.tenant, w.id, current, w.expectedVersion);
        }
        const now = ctx.clock.now();
        stored.version += 1;
        stored.current = { schemaJson: w.schemaJson, sha256: w.sha256, createdAt: stored.current?.createdAt ?? now, updatedAt: now };
        schemas.set(w.id, stored);
        return schemaRecord(w, stored.version, stored.current.createdAt, now);
      }),

    get: (tenant, id) =>
      settle(() => {
        const checkedTenant = checkSchemaTenant(tenant);
        const checkedId = checkSchemaId(id);
        const stored = tenants.get(checkedTenant)?.get(checkedId);
        return stored === undefined ? undefined : toRecord(checkedTenant, checkedId, stored);
      }),

    list: (tenant, query) =>
      settle((): Page<SchemaRecord> => {
        checkSchemaTenant(tenant);
        const size = pageLimit(query);
        const after = decodeSchemaCursor(query?.cursor);
        const records = [...(tenants.get(tenant) ?? [])]
          .filter(([id, s]) => s.current !== undefined && (after === undefined || compareBytes(id, after) > 0))
          .sort(([a], [b]) => compareBytes(a, b));
        const page = records.slice(0, size).flatMap(([id, s]) => toRecord(tenant, id, s) ?? []);
        const last = page[page.length - 1];
        return { items: page, nextCursor: records.length > size && last !== undefined ? encodeSchemaCursor(last.id) : null };
      }),

    delete: (tenant, id) =>
      settle(() => {
        const checkedTenant = checkSchemaTenant(tenant);
        const checkedId = checkSchemaId(id);
        const stored = tenants.get(checkedTenant)?.get(checkedId);
        if (stored?.current === undefined) return false;
        stored.current = undefined;
        return true;
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
