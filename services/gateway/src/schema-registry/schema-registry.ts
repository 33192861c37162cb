import { type JsonValue, NotFoundError } from '@cordum/core';
import type { SchemaRecord } from '@cordum/store';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { RegisterSchemaBody } from '../http/schemas-schema-registry.js';
import { appendAudit } from '../jobs/jobs.js';
import { type SchemaDraft, checkJsonSchema, schemaDraft } from './json-schema.js';

// The tenant's JSON Schema registry (workflow input/output schemas, pack resources). A schema is checked
// as a JSON Schema before it is stored (upstream stored anything); schemas of another tenant are not found.

export type SchemaSummary = { id: string; version: number; sha256: string; draft: SchemaDraft; created_at: number; updated_at: number };
export type SchemaDetail = SchemaSummary & { schema: JsonValue };

/** The draft of a stored schema; a schema stored before the checks existed reads as draft-07. */
function draftOf(schema: JsonValue): SchemaDraft {
  try {
    return schemaDraft(schema);
  } catch {
    return 'draft-07';
  }
}

function summary(r: SchemaRecord): SchemaSummary {
  return { id: r.id, version: r.version, sha256: r.sha256, draft: draftOf(r.schema), created_at: r.createdAt, updated_at: r.updatedAt };
}

export async function registerSchema(
  ctx: GatewayContext,
  principal: Principal,
  body: RegisterSchemaBody,
): Promise<{ created: boolean; schema: SchemaSummary }> {
  const draft = checkJsonSchema(body.schema);
  // Only for the status code (201 new, 200 replaced); the put's own compare-and-set is what guards writes.
  const before = await ctx.stores.schemas.get(principal.tenant, body.id);
  const record = await ctx.stores.schemas.put(principal.tenant, body.id, body.schema as JsonValue, {
    ...(body.expected_version === undefined ? {} : { expectedVersion: body.expected_version }),
  });
  await appendAudit(ctx, principal, 'schema.register', body.id, { version: record.version, sha256: record.sha256, draft });
  return { created: before === undefined, schema: { ...summary(record), draft } };
}

export async function getSchema(ctx: GatewayContext, principal: Principal, id: string): Promise<SchemaDetail> {
  const record = await ctx.stores.schemas.get(principal.tenant, id);
  if (record === undefined) throw new NotFoundError(`schema ${id} not found`, { details: { id } });
  return { ...summary(record), schema: record.schema };
}

export async function listSchemas(
  ctx: GatewayContext,
  principal: Principal,
  query: { limit?: number; cursor?: string },
): Promise<{ items: SchemaSummary[]; nextCursor: string | null }> {
  const page = await ctx.stores.schemas.list(principal.tenant, { limit: query.limit ?? 50, cursor: query.cursor ?? null });
  return { items: page.items.map(summary), nextCursor: page.nextCursor };
}

export async function deleteSchema(ctx: GatewayContext, principal: Principal, id: string): Promise<void> {
  const deleted = await ctx.stores.schemas.delete(principal.tenant, id);
  if (!deleted) throw new NotFoundError(`schema ${id} not found`, { details: { id } });
  await appendAudit(ctx, principal, 'schema.delete', id, {});
}
