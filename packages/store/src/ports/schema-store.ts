import type { JsonValue } from '@cordum/core';
import type { Page, PageQuery } from './common.js';

export type SchemaRecord = {
  readonly tenant: string;
  /** e.g. "sre-investigator/IncidentContext" */
  readonly id: string;
  readonly schema: JsonValue;
  /** 1 on first registration, +1 per replacement. */
  readonly version: number;
  /** Lowercase hex SHA-256 of the schema's canonical JSON. */
  readonly sha256: string;
  readonly createdAt: number;
  readonly updatedAt: number;
};

/** JSON Schemas by id (validation of the schema itself is the caller's job). */
export type SchemaStore = {
  /** expectedVersion: 0 = must not exist; n = must be at version n; else ConflictError(revision_conflict). */
  put(tenant: string, id: string, schema: JsonValue, options?: { expectedVersion?: number }): Promise<SchemaRecord>;
  get(tenant: string, id: string): Promise<SchemaRecord | undefined>;
  /** Sorted by id. */
  list(tenant: string, query?: PageQuery): Promise<Page<SchemaRecord>>;
  delete(tenant: string, id: string): Promise<boolean>;
};
