import { type Static, Type } from '@sinclair/typebox';
import { PageQuery } from './schemas.js';

// The JSON Schema registry: upstream's {id, schema} plus version, hash and the draft the schema was checked
// against.

/** Schema ids as packs name them (`<pack>/<Name>`): 1-256 of A-Z a-z 0-9 . _ : @ / -, starting with a letter or digit. */
export const SCHEMA_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@/\\-]{0,255}$';

export const SchemaIdParams = Type.Object({
  id: Type.String({ pattern: SCHEMA_ID_PATTERN, description: 'Schema id; encode a slash as %2F' }),
});

export const RegisterSchemaBody = Type.Object(
  {
    id: Type.String({ pattern: SCHEMA_ID_PATTERN, description: 'e.g. my-pack/IncidentContext' }),
    schema: Type.Unknown({
      description: 'A JSON Schema (object or boolean): draft-07 unless $schema names 2020-12',
    }),
    expected_version: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'Compare-and-set: 0 = must not exist yet, n = must be at version n; 409 revision_conflict otherwise',
      }),
    ),
  },
  { additionalProperties: false },
);
export type RegisterSchemaBody = Static<typeof RegisterSchemaBody>;

const SchemaSummaryFields = {
  id: Type.String(),
  version: Type.Integer({ description: '1 on first registration, +1 per replacement' }),
  sha256: Type.String({ description: 'SHA-256 of the schema\'s canonical JSON' }),
  draft: Type.String({ description: 'draft-07 or 2020-12' }),
  created_at: Type.Number(),
  updated_at: Type.Number(),
};

export const SchemaSummary = Type.Object(SchemaSummaryFields);
export const SchemaDetail = Type.Object({ ...SchemaSummaryFields, schema: Type.Unknown() });

export const SchemaListQuery = Type.Object({ ...PageQuery }, { additionalProperties: false });
export const SchemaList = Type.Object({
  schemas: Type.Array(Type.String(), { description: 'The ids of this page (upstream\'s shape)' }),
  items: Type.Array(SchemaSummary),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});
