import { ConflictError, InvalidError, type JsonValue, hashJson, isPlainObject } from '@cordum/core';
import { encodeCursor } from '../ports/cursor.js';
import type { SchemaRecord } from '../ports/schema-store.js';
import { checkTenant, decodeQueryCursor, isPrintableText, show } from './common.js';

// SchemaStore input checks, record building and cursor format, shared by the memory and Redis adapters.
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

export function checkSchemaId(id: unknown): string {
  if (!isPrintableText(id, 1, MAX_SCHEMA_ID_LENGTH)) {
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
  const checkedTenant = checkTenant(tenant);
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

const isSchemaCursor = (v: unknown): v is { after: string } =>
  isPlainObject(v) && typeof v['after'] === 'string' && v['after'].length > 0;

export function decodeSchemaCursor(cursor: string | null | undefined): string | undefined {
  return decodeQueryCursor(cursor, isSchemaCursor)?.after;
}
