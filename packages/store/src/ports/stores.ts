import type { ArtifactStore } from './artifact-store.js';
import type { AuditLog } from './audit-log.js';
import type { ConfigStore } from './config-store.js';
import type { DlqStore } from './dlq-store.js';
import type { IdempotencyStore } from './idempotency-store.js';
import type { JobStore } from './job-store.js';
import type { LockStore } from './lock-store.js';
import type { PointerStore } from './pointer-store.js';
import type { SchemaStore } from './schema-store.js';
import type { RunStore } from './run-store.js';
import type { WorkflowStore } from './workflow-store.js';

/**
 * Every store port, built over one backend. A RetryableError(unavailable) from a write means the outcome
 * is unknown (the write may have been applied, its reply lost): re-read before retrying (ports/common.ts).
 */
export type Stores = {
  readonly jobs: JobStore;
  readonly pointers: PointerStore;
  readonly config: ConfigStore;
  readonly locks: LockStore;
  readonly artifacts: ArtifactStore;
  readonly dlq: DlqStore;
  readonly idempotency: IdempotencyStore;
  readonly schemas: SchemaStore;
  readonly audit: AuditLog;
  readonly workflows: WorkflowStore;
  readonly runs: RunStore;
  /** Resolves when the backend answers; rejects with RetryableError(unavailable) otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
};

/** Tunables shared by the adapters (defaults follow upstream's REDIS_DATA_TTL, JOB_META_TTL, ARTIFACT_TTL_*). */
export type StoreOptions = {
  /** Payload TTL when a put does not give one. Default 24 h. */
  payloadTtlMs?: number;
  /** How long a job record is kept after reaching a terminal state. Default 7 d. */
  jobRetentionMs?: number;
  /** Idempotency key TTL when a claim does not give one. Default 7 d. */
  idempotencyTtlMs?: number;
  /** Artifact size limit. Default 64 MiB. */
  artifactMaxBytes?: number;
  /** Artifacts larger than this are stored in chunks of this size. Default 1 MiB. */
  artifactChunkBytes?: number;
  /** Retention class → TTL. Defaults short 24 h, standard 7 d, audit 30 d. */
  artifactRetentionMs?: { short?: number; standard?: number; audit?: number };
  /** Config revisions kept per document. Default 100. */
  configHistoryLimit?: number;
  /** Timeline entries kept per workflow run (the oldest are dropped beyond it). Default 10,000. */
  runTimelineLimit?: number;
};

export const STORE_DEFAULTS = {
  payloadTtlMs: 24 * 3_600_000,
  jobRetentionMs: 7 * 86_400_000,
  idempotencyTtlMs: 7 * 86_400_000,
  artifactMaxBytes: 64 * 1024 * 1024,
  artifactChunkBytes: 1024 * 1024,
  artifactRetentionMs: { short: 24 * 3_600_000, standard: 7 * 86_400_000, audit: 30 * 86_400_000 },
  configHistoryLimit: 100,
  runTimelineLimit: 10_000,
} as const;

export type ResolvedStoreOptions = {
  payloadTtlMs: number;
  jobRetentionMs: number;
  idempotencyTtlMs: number;
  artifactMaxBytes: number;
  artifactChunkBytes: number;
  artifactRetentionMs: { short: number; standard: number; audit: number };
  configHistoryLimit: number;
  runTimelineLimit: number;
};

export function resolveStoreOptions(options: StoreOptions = {}): ResolvedStoreOptions {
  return {
    payloadTtlMs: options.payloadTtlMs ?? STORE_DEFAULTS.payloadTtlMs,
    jobRetentionMs: options.jobRetentionMs ?? STORE_DEFAULTS.jobRetentionMs,
    idempotencyTtlMs: options.idempotencyTtlMs ?? STORE_DEFAULTS.idempotencyTtlMs,
    artifactMaxBytes: options.artifactMaxBytes ?? STORE_DEFAULTS.artifactMaxBytes,
    artifactChunkBytes: options.artifactChunkBytes ?? STORE_DEFAULTS.artifactChunkBytes,
    artifactRetentionMs: { ...STORE_DEFAULTS.artifactRetentionMs, ...options.artifactRetentionMs },
    configHistoryLimit: options.configHistoryLimit ?? STORE_DEFAULTS.configHistoryLimit,
    runTimelineLimit: options.runTimelineLimit ?? STORE_DEFAULTS.runTimelineLimit,
  };
}
