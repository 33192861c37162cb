import type { ConfigScope, JsonValue } from '@cordum/core';
import type { Page, PageQuery } from './common.js';

/**
 * Address of a config document. The system scope is global; every other scope belongs to a tenant (the org
 * scope's id is normally the tenant itself).
 */
export type ConfigRef = { scope: 'system'; scopeId: string } | { scope: Exclude<ConfigScope, 'system'>; tenant: string; scopeId: string };

export type ConfigDoc = {
  readonly scope: ConfigScope;
  readonly scopeId: string;
  /** Owning tenant; SYSTEM_TENANT for the system scope. */
  readonly tenant: string;
  /** 1 for the first write, +1 for every write after it (monotonic, never reused). */
  readonly revision: number;
  readonly data: Readonly<Record<string, JsonValue>>;
  readonly meta: Readonly<Record<string, JsonValue>>;
  readonly updatedAt: number;
  readonly updatedBy: string;
};

export type PutConfig = {
  data: Record<string, JsonValue>;
  meta?: Record<string, JsonValue>;
  /**
   * CAS: 0 means "must not exist yet"; n means "current revision must be n". Omitted writes unconditionally.
   * A failed CAS throws ConflictError(revision_conflict) with details {current_revision}.
   */
  expectedRevision?: number;
  actor?: string;
};

/** Scoped config documents with monotonic revisions and a retained history of every revision. */
export type ConfigStore = {
  get(ref: ConfigRef): Promise<ConfigDoc | undefined>;
  put(ref: ConfigRef, doc: PutConfig): Promise<ConfigDoc>;
  /** A past revision, or undefined if it was never written or has been trimmed. */
  getRevision(ref: ConfigRef, revision: number): Promise<ConfigDoc | undefined>;
  /** Revisions newest first (the adapter keeps at least the last 100). */
  history(ref: ConfigRef, query?: PageQuery): Promise<Page<ConfigDoc>>;
  /** Writes revision current+1 whose data and meta are those of `revision`. NotFoundError if it is gone. */
  rollback(ref: ConfigRef, revision: number, options?: { expectedRevision?: number; actor?: string }): Promise<ConfigDoc>;
  /** Deletes the document (history is kept). CAS like put. Returns false if it did not exist. */
  delete(ref: ConfigRef, options?: { expectedRevision?: number }): Promise<boolean>;
  /** Scope ids that have a document, for one tenant (or the system scope). */
  list(scope: ConfigScope, tenant?: string): Promise<string[]>;
};
