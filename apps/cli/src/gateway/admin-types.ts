// Config documents, schemas, locks and artifacts as the gateway answers them (services/gateway/src/http/
// schemas-config.ts, -schema-registry.ts, -locks.ts, -artifacts.ts are the source of truth).

export type ConfigDoc = {
  scope: string;
  scope_id: string;
  revision: number;
  data: Record<string, unknown>;
  meta: Record<string, unknown>;
  updated_at: number;
  updated_by: string;
};

export type EffectiveConfig = { version: string; hash: string; data: Record<string, unknown> };

export type SchemaSummary = { id: string; version: number; sha256: string; draft: string; created_at: number; updated_at: number };
export type SchemaDetail = SchemaSummary & { schema: unknown };
export type SchemaList = { schemas: string[]; items: SchemaSummary[]; next_cursor: string | null };

export type LockView = {
  resource: string;
  mode: string;
  owners: Record<string, { count: number; expires_at: number }>;
  expires_at: number;
};
export type ReleaseLockResponse = { resource: string; owner: string; released: boolean; lock: LockView | null };

export type ArtifactMetadata = {
  id: string;
  content_type: string;
  size_bytes: number;
  sha256: string;
  retention: string;
  labels: Record<string, string>;
  created_at: number;
  expires_at: number;
};
export type PutArtifactResponse = { artifact_ptr: string; size_bytes: number; metadata: ArtifactMetadata };
export type GetArtifactResponse = { artifact_ptr: string; content_base64: string; metadata: ArtifactMetadata };
