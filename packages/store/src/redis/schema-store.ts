import { checkTenant, pageOf } from '../model/common.js';
import {
  checkSchemaId,
  checkSchemaWrite,
  decodeSchemaCursor,
  encodeSchemaCursor,
  schemaRecord,
} from '../model/schema.js';
import { pageLimit } from '../ports/cursor.js';
import type { SchemaRecord, SchemaStore } from '../ports/schema-store.js';
import type { RedisStoreContext } from './context.js';
import { redisCall } from './errors.js';
import { loadScript } from './script.js';

// Keys per tenant:
//   t:<tenant>:schema:<id>   hash {version, createdAt, updatedAt, sha256, schema}; only version after delete
//   t:<tenant>:schemas       zset (scores 0) of registered ids: ZRANGE BYLEX lists them in id order

const putScript = loadScript('schema-put');
const deleteScript = loadScript('schema-delete');

const FIELDS = ['schema', 'sha256', 'version', 'createdAt', 'updatedAt'] as const;

export function createRedisSchemaStore(ctx: RedisStoreContext): SchemaStore {
  const { client } = ctx;
  const schemaKey = (tenant: string, id: string): string => ctx.keys.tenant(tenant, 'schema', id);
  const indexKey = (tenant: string): string => ctx.keys.tenant(tenant, 'schemas');

  const read = async (tenant: string, ids: readonly string[]): Promise<(SchemaRecord | undefined)[]> => {
    const rows = await redisCall('schema get', () => Promise.all(ids.map((id) => client.hmget(schemaKey(tenant, id), ...FIELDS))));
    return rows.map((row, i) => {
      const [schemaJson, sha256, version, createdAt, updatedAt] = row;
      const id = ids[i];
      if (typeof schemaJson !== 'string' || typeof sha256 !== 'string' || id === undefined) return undefined;
      return schemaRecord({ tenant, id, schemaJson, sha256 }, Number(version), Number(createdAt), Number(updatedAt));
    });
  };

  return {
    async put(tenant, id, schema, options) {
      const w = checkSchemaWrite(tenant, id, schema, options);
      const result = (await putScript.run(
        client,
        [schemaKey(w.tenant, w.id), indexKey(w.tenant)],
        [w.id, w.expectedVersion ?? '', w.schemaJson, w.sha256, `${w.id} of tenant ${w.tenant}`],
      )) as [number, number, number];
      return schemaRecord(w, result[0], result[1], result[2]);
    },

    async get(tenant, id) {
      const [record] = await read(checkTenant(tenant), [checkSchemaId(id)]);
      return record;
    },

    async list(tenant, query) {
      checkTenant(tenant);
      const size = pageLimit(query);
      const after = decodeSchemaCursor(query?.cursor);
      const found: SchemaRecord[] = [];
      let from = after === undefined ? '-' : `(${after}`;
      // One extra item tells whether another page exists; an id deleted between the index read and the
      // record read is skipped and the loop reads on.
      for (;;) {
        const want = size + 1 - found.length;
        const ids = await redisCall('schema list', () => client.zrange(indexKey(tenant), from, '+', 'BYLEX', 'LIMIT', 0, want));
        for (const record of await read(tenant, ids)) if (record !== undefined) found.push(record);
        const last = ids[ids.length - 1];
        if (found.length > size || ids.length < want || last === undefined) break;
        from = `(${last}`;
      }
      return pageOf(found, size, (last) => encodeSchemaCursor(last.id));
    },

    async delete(tenant, id) {
      const checkedTenant = checkTenant(tenant);
      const checkedId = checkSchemaId(id);
      const deleted = await deleteScript.run(client, [schemaKey(checkedTenant, checkedId), indexKey(checkedTenant)], [checkedId]);
      return deleted === 1;
    },
  };
}
