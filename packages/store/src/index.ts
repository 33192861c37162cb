// @cordum/store: the store ports. Adapters live in @cordum/store/memory and @cordum/store/redis.
export { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, type Page, type PageQuery, SYSTEM_TENANT } from './ports/common.js';
export { decodeCursor, encodeCursor, pageLimit } from './ports/cursor.js';
export { type JobOutcome, jobFinalFence, outcomeFenceValue } from './model/fence.js';
export {
  type ResolvedStoreOptions,
  STORE_DEFAULTS,
  type StoreOptions,
  type Stores,
  resolveStoreOptions,
} from './ports/stores.js';
export type {
  DueJob,
  JobEvent,
  JobPatch,
  JobQuery,
  JobRecord,
  JobStore,
  JobTimer,
  NewJob,
  SlotRequest,
  SlotUsage,
  TransitionRequest,
} from './ports/job-store.js';
export type { DeletePayloadOptions, Payload, PointerStore, PutPayload, PutResultOptions } from './ports/pointer-store.js';
export type { ConfigDoc, ConfigRef, ConfigStore, PutConfig } from './ports/config-store.js';
export type { LockInfo, LockKey, LockMode, LockRequest, LockStore } from './ports/lock-store.js';
export type { ArtifactMeta, ArtifactStore, PutArtifact, RetentionClass } from './ports/artifact-store.js';
export type { DlqEntry, DlqStore, NewDlqEntry } from './ports/dlq-store.js';
export type { ClaimResult, IdempotencyKey, IdempotencyStore } from './ports/idempotency-store.js';
export type { SchemaRecord, SchemaStore } from './ports/schema-store.js';
export type { AuditEntry, AuditLog, NewAuditEntry } from './ports/audit-log.js';
export type { WorkflowRecord, WorkflowStore } from './ports/workflow-store.js';
export {
  type ActiveRun,
  type AppendTimelineResult,
  type AppendedEntry,
  type CreateRunResult,
  type DueRun,
  type FenceRequirement,
  type InboxEvent,
  type NewRun,
  type NewRunTimelineEntry,
  type PushEventResult,
  RUN_STATUSES,
  type RunQuery,
  type RunRecord,
  type RunStatus,
  type RunStore,
  type RunTimelineEntry,
  type RunUpdate,
  type RunWriteSummary,
  TERMINAL_RUN_STATUSES,
  type UpdateRunResult,
  type UpdateRunVersionResult,
  isRunStatus,
  isTerminalRunStatus,
} from './ports/run-store.js';
