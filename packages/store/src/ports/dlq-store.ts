import type { JsonValue } from '@cordum/core';
import type { JobState } from '@cordum/protocol';
import type { Page, PageQuery } from './common.js';

export type DlqEntry = {
  readonly jobId: string;
  readonly tenant: string;
  readonly topic: string;
  /** The job's final state (FAILED, DENIED, TIMEOUT, …). */
  readonly status: JobState;
  /** Stable snake_case reason: no_pool_mapping, safety_denied, max_retries_exceeded, … */
  readonly reasonCode: string;
  /** Human-readable reason. */
  readonly reason: string;
  /** Wire ErrorCode number (0 when none). */
  readonly errorCode: number;
  readonly lastState: JobState | null;
  readonly attempts: number;
  readonly createdAt: number;
  /** What a retry needs to rebuild the job exactly (request, meta, labels, priority, budget). */
  readonly data: Readonly<Record<string, JsonValue>>;
};

export type NewDlqEntry = Omit<DlqEntry, 'createdAt'> & { createdAt?: number };

export type DlqStore = {
  /** Upserts by (tenant, jobId): the latest failure of a job replaces the earlier entry. */
  put(entry: NewDlqEntry): Promise<DlqEntry>;
  get(tenant: string, jobId: string): Promise<DlqEntry | undefined>;
  /** Newest first. */
  list(tenant: string, query?: PageQuery & { reasonCode?: string }): Promise<Page<DlqEntry>>;
  delete(tenant: string, jobId: string): Promise<boolean>;
  count(tenant: string): Promise<number>;
};
