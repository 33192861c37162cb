import { checkTenant, compareBytes, settle } from '../model/common.js';
import {
  checkSchemaId,
  checkSchemaWrite,
  decodeSchemaCursor,
  encodeSchemaCursor,
  schemaRecord,
  schemaVersionConflict,
} from '../model/schema.js';
import type { Page } from '../ports/common.js';
import { pageLimit } from '../ports/cursor.js';
import type { SchemaRecord, SchemaStore } from '../ports/schema-store.js';
import type { MemoryStoreContext } from './context.js';

// The embedded SchemaStore. Stored versions outlive a delete (see model/schema.ts), so a record without a
// current schema still holds the last version.

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
        const checkedTenant = checkTenant(tenant);
        const checkedId = checkSchemaId(id);
        const stored = tenants.get(checkedTenant)?.get(checkedId);
        return stored === undefined ? undefined : toRecord(checkedTenant, checkedId, stored);
      }),

    list: (tenant, query) =>
      settle((): Page<SchemaRecord> => {
        checkTenant(tenant);
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
        const checkedTenant = checkTenant(tenant);
        const checkedId = checkSchemaId(id);
        const stored = tenants.get(checkedTenant)?.get(checkedId);
        if (stored?.current === undefined) return false;
        stored.current = undefined;
        return true;
      }),
  };
}
