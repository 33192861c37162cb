import { type Static, Type } from '@sinclair/typebox';

// Artifacts (upstream's {content | content_base64, content_type, retention, labels} → {artifact_ptr, …}) and
// reads of job payload pointers.

const Retention = Type.Union([Type.Literal('short'), Type.Literal('standard'), Type.Literal('audit')], {
  description: 'short 24 h, standard 7 d (default), audit 30 d',
});

export const PutArtifactBody = Type.Object(
  {
    content: Type.Optional(Type.String({ description: 'Text content (stored as UTF-8); or content_base64' })),
    content_base64: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$', description: 'Binary content, base64' })),
    content_type: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\u0000-\\u001f\\u007f]+$' })),
    retention: Type.Optional(Retention),
    labels: Type.Optional(
      Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.String({ maxLength: 1024 }), { maxProperties: 50 }),
    ),
  },
  { additionalProperties: false },
);
export type PutArtifactBody = Static<typeof PutArtifactBody>;

export const PutArtifactQuery = Type.Object(
  { max_bytes: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'A limit for this upload (413 above); also X-Max-Artifact-Bytes' })) },
  { additionalProperties: false },
);

export const ArtifactParams = Type.Object({
  ptr: Type.String({ minLength: 1, maxLength: 300, description: 'The artifact pointer (URL-encoded redis://art:<id>) or its id' }),
});

export const ArtifactMetadata = Type.Object({
  id: Type.String(),
  content_type: Type.String(),
  size_bytes: Type.Integer(),
  sha256: Type.String(),
  retention: Type.String(),
  labels: Type.Record(Type.String(), Type.String()),
  created_at: Type.Number(),
  expires_at: Type.Number(),
});

export const PutArtifactResponse = Type.Object({ artifact_ptr: Type.String(), size_bytes: Type.Integer(), metadata: ArtifactMetadata });
export const GetArtifactResponse = Type.Object({ artifact_ptr: Type.String(), content_base64: Type.String(), metadata: ArtifactMetadata });

export const PointerQuery = Type.Object(
  {
    ptr: Type.Optional(Type.String({ minLength: 1, maxLength: 600, description: 'A pointer: redis://ctx:<job>, redis://res:<job>, redis://art:<id>' })),
    key: Type.Optional(Type.String({ minLength: 1, maxLength: 590, description: 'The key a pointer names (ctx:<job>, …), instead of ptr' })),
  },
  { additionalProperties: false },
);
export type PointerQuery = Static<typeof PointerQuery>;

export const PointerView = Type.Object({
  pointer: Type.String(),
  key: Type.String(),
  kind: Type.String({ description: 'ctx, res or art' }),
  size_bytes: Type.Integer(),
  content_type: Type.String(),
  created_at: Type.Number(),
  expires_at: Type.Union([Type.Number(), Type.Null()]),
  base64: Type.String(),
  text: Type.Optional(Type.String({ description: 'When the bytes are UTF-8' })),
  json: Type.Optional(Type.Unknown({ description: 'When the bytes are JSON' })),
});
