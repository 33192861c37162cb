import { Type } from '@sinclair/typebox';
import type { GatewayContext } from '../context.js';
import { requiredBody } from '../http/body.js';
import { ERROR_RESPONSES } from '../http/schemas.js';
import { RegisterSchemaBody, SchemaDetail, SchemaIdParams, SchemaList, SchemaListQuery, SchemaSummary } from '../http/schemas-schema-registry.js';
import { type GatewayApp, principalOf } from '../http/types.js';
import { deleteSchema, getSchema, listSchemas, registerSchema } from '../schema-registry/schema-registry.js';

// Thin HTTP adapters for the JSON Schema registry (upstream's /api/v1/schemas).

export function registerSchemaRoutes(app: GatewayApp, ctx: GatewayContext): void {
  app.post(
    '/api/v1/schemas',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['schemas'],
        summary: 'Register (or replace) a JSON Schema',
        description:
          'The schema is checked against its draft\'s meta-schema and compiled (draft-07 unless $schema names 2020-12): 400 naming the path when it is not a JSON Schema. 201 when new, 200 when it replaced a version.',
        body: RegisterSchemaBody,
        response: { 200: SchemaSummary, 201: SchemaSummary, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const out = await registerSchema(ctx, principalOf(request), requiredBody(request.body, 'id'));
      return reply.code(out.created ? 201 : 200).send(out.schema);
    },
  );

  app.get(
    '/api/v1/schemas',
    {
      config: { role: 'viewer' },
      schema: { tags: ['schemas'], summary: 'Schemas of your tenant, by id', querystring: SchemaListQuery, response: { 200: SchemaList, ...ERROR_RESPONSES } },
    },
    async (request) => {
      const page = await listSchemas(ctx, principalOf(request), request.query);
      return { schemas: page.items.map((s) => s.id), items: page.items, next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/api/v1/schemas/:id',
    {
      config: { role: 'viewer' },
      schema: { tags: ['schemas'], summary: 'A schema', params: SchemaIdParams, response: { 200: SchemaDetail, ...ERROR_RESPONSES } },
    },
    (request) => getSchema(ctx, principalOf(request), request.params.id),
  );

  app.delete(
    '/api/v1/schemas/:id',
    {
      config: { role: 'admin' },
      schema: { tags: ['schemas'], summary: 'Delete a schema', params: SchemaIdParams, response: { 204: Type.Null(), ...ERROR_RESPONSES } },
    },
    async (request, reply) => {
      await deleteSchema(ctx, principalOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
}
