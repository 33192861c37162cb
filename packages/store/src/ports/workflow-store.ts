import type { JsonValue } from '@cordum/core';
import type { Page, PageQuery } from './common.js';

/**
 * One immutable version of a workflow definition. The store keeps the definition as an opaque JSON object
 * (parsing and validating it is @cordum/workflow's job); runs pin the version they started with.
 */
export type WorkflowRecord = {
  readonly tenant: string;
  readonly id: string;
  /** 1 for the first put, +1 per put. Never reused, not even after a delete. */
  readonly version: number;
  /** The definition exactly as put (a JSON object). */
  readonly doc: Readonly<Record<string, JsonValue>>;
  /** Lowercase hex SHA-256 of the definition's canonical JSON: compare it to skip a put of unchanged content. */
  readonly sha256: string;
  /** Store-clock ms at which this version was written. */
  readonly createdAt: number;
};

/** Workflow definitions by (tenant, id), every put a new immutable version. */
export type WorkflowStore = {
  /**
   * Stores `doc` (a JSON object) as the next version and makes it the latest. expectedVersion: 0 = the
   * workflow must not exist (or be deleted); n = its latest version must be n; else
   * ConflictError(revision_conflict) with details {current_version, expected_version}. InvalidError for a
   * bad tenant, id (1-200 of A-Z a-z 0-9 . _ : @ # - [ ]) or doc.
   */
  put(tenant: string, id: string, doc: unknown, options?: { expectedVersion?: number }): Promise<WorkflowRecord>;

  /** The latest version, or undefined (never put, or deleted). */
  get(tenant: string, id: string): Promise<WorkflowRecord | undefined>;

  /**
   * One version, or undefined. Versions stay readable after delete (runs pinned to them can finish and
   * still show what they ran) until a delete with purgeVersions.
   */
  getVersion(tenant: string, id: string, version: number): Promise<WorkflowRecord | undefined>;

  /** The latest version of each workflow of the tenant, in id order (byte order); cursor-paginated. */
  list(tenant: string, query?: PageQuery): Promise<Page<WorkflowRecord>>;

  /**
   * Removes the workflow from get and list; true when it existed. Its versions stay readable by getVersion
   * unless purgeVersions is set (which also purges the versions of an already deleted workflow). A later
   * put continues the version numbering.
   */
  delete(tenant: string, id: string, options?: { purgeVersions?: boolean }): Promise<boolean>;
};
