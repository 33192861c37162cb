import type { Page, PageQuery } from './common.js';

/** short = 24 h, standard = 7 d (default), audit = 30 d (configurable per adapter). */
export type RetentionClass = 'short' | 'standard' | 'audit';

export type ArtifactMeta = {
  readonly id: string;
  /** redis://art:<id> */
  readonly pointer: string;
  readonly tenant: string;
  readonly contentType: string;
  readonly sizeBytes: number;
  /** Lowercase hex SHA-256 of the content. */
  readonly sha256: string;
  readonly retention: RetentionClass;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: number;
  readonly expiresAt: number;
};

export type PutArtifact = {
  tenant: string;
  content: Uint8Array | string;
  contentType?: string;
  retention?: RetentionClass;
  labels?: Record<string, string>;
  /** A per-call limit below the store's; exceeding either throws InvalidError(payload_too_large). */
  maxBytes?: number;
};

/**
 * Evidence, logs and large payloads. Content above the chunk threshold is stored in chunks; reads reassemble
 * and verify the SHA-256. Artifacts of another tenant read as missing.
 */
export type ArtifactStore = {
  put(artifact: PutArtifact): Promise<ArtifactMeta>;
  /** Accepts the pointer or the bare id. */
  get(tenant: string, pointerOrId: string): Promise<{ meta: ArtifactMeta; content: Uint8Array } | undefined>;
  head(tenant: string, pointerOrId: string): Promise<ArtifactMeta | undefined>;
  list(tenant: string, query?: PageQuery): Promise<Page<ArtifactMeta>>;
  delete(tenant: string, pointerOrId: string): Promise<boolean>;
};
