import type { JsonValue } from '@cordum/core';
import type { Page, PageQuery } from './common.js';

export type AuditEntry = {
  /** Unique and increasing in append order within a tenant. */
  readonly id: string;
  readonly tenant: string;
  /** Store-clock milliseconds. */
  readonly at: number;
  /** What happened, dotted: policy.decision, approval.granted, config.write, … */
  readonly kind: string;
  /** Who did it (principal or service id). */
  readonly actor: string;
  /** What it happened to (job id, run id, bundle id, …). */
  readonly subject: string;
  readonly data: Readonly<Record<string, JsonValue>>;
};

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'>;

/** Append-only: there is no update and no delete. */
export type AuditLog = {
  append(entry: NewAuditEntry): Promise<AuditEntry>;
  /** Newest first; kind matches exactly or as a prefix ending in "." (e.g. "approval."). */
  list(tenant: string, query?: PageQuery & { kind?: string; subject?: string }): Promise<Page<AuditEntry>>;
};
