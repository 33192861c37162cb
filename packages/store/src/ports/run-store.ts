import type { JsonValue } from '@cordum/core';
import type { Page, PageQuery } from './common.js';

/**
 * Run statuses (upstream's set plus nothing): the store needs them to keep the per-status indexes and to
 * know when a run stops holding its tenant's concurrency slot. @cordum/workflow owns what they mean.
 */
export const RUN_STATUSES = ['pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;

export type RunStatus = (typeof RUN_STATUSES)[number];

/** Final statuses: a run in one never changes status again and holds no concurrency slot. */
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];

export function isRunStatus(value: unknown): value is RunStatus {
  return typeof value === 'string' && (RUN_STATUSES as readonly string[]).includes(value);
}

export function isTerminalRunStatus(status: RunStatus): boolean {
  return TERMINAL_RUN_STATUSES.includes(status);
}

/**
 * A workflow run as the store keeps it: the columns the store indexes, and the engine's run document as an
 * opaque JSON object. Every write is a compare-and-set on `version`.
 */
export type RunRecord = {
  readonly tenant: string;
  readonly id: string;
  readonly workflowId: string;
  /** The definition version the run is pinned to (WorkflowStore.getVersion). */
  readonly workflowVersion: number;
  readonly status: RunStatus;
  /** 1 at creation, +1 per successful update. */
  readonly version: number;
  /** Store-clock ms. */
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The tenant-scoped idempotency key the run was created with, or null. */
  readonly idempotencyKey: string | null;
  readonly labels: Readonly<Record<string, string>>;
  /** When the engine must look at the run again (timer, backoff, timeout, pending commands), or null. */
  readonly dueAt: number | null;
  /** The engine's run document. */
  readonly doc: Readonly<Record<string, JsonValue>>;
};

/** An entry to append to a run's timeline. */
export type NewRunTimelineEntry = {
  /**
   * Optional idempotency key, unique per run: appending an entry whose key the timeline already holds is a
   * no-op that answers the original seq (e.g. `dispatch:<job id>`), so re-appending after a crash is safe.
   */
  key?: string;
  /** The entry (a JSON object: type, step id, job id, status, pointers…). */
  data: unknown;
};

export type RunTimelineEntry = {
  /** 1, 2, 3… per run, in append order. */
  readonly seq: number;
  /** Store-clock ms of the append. */
  readonly at: number;
  readonly key: string | null;
  readonly data: Readonly<Record<string, JsonValue>>;
};

/** What became of each appended entry, in request order. */
export type AppendedEntry = { seq: number; duplicate: boolean };

/** An event queued for a run (job result wake-up, approval, cancel…), waiting for the engine to reduce it. */
export type InboxEvent = {
  /** 1, 2, 3… per run, in push order. */
  readonly seq: number;
  /** Store-clock ms of the push. */
  readonly at: number;
  readonly key: string | null;
  readonly event: Readonly<Record<string, JsonValue>>;
};

export type NewRun = {
  tenant: string;
  /** Chosen by the caller (1-200 of A-Z a-z 0-9 . _ : @ # - [ ]); unique within the tenant. */
  id: string;
  workflowId: string;
  workflowVersion: number;
  /** The engine's initial run document (a JSON object). */
  doc: unknown;
  labels?: Record<string, string>;
  /** Tenant-scoped: a second create with the same key answers `existing` with the first run. */
  idempotencyKey?: string;
  /**
   * The tenant's limit on non-terminal runs (a run holds a slot from creation until it reaches a terminal
   * status or is deleted). Omitted: no limit. A create with a known idempotency key is never limited.
   */
  maxActive?: number;
  /** E.g. now + a grace period, so the reconciler starts the run if its start command is lost. */
  dueAt?: number | null;
  /** Appended to the timeline in the same write. */
  timeline?: NewRunTimelineEntry[];
};

export type CreateRunResult =
  | { outcome: 'created'; run: RunRecord }
  /** The idempotency key is taken: `run` is the run created with it (whatever its status now). */
  | { outcome: 'existing'; run: RunRecord }
  /** Nothing written: the tenant already has `active` non-terminal runs, at or over `limit`. */
  | { outcome: 'limit_reached'; active: number; limit: number };

/** A compare-and-set write. Omitted fields stay as they are. */
/** A fence that must be up with this value for a write to happen (model/fence.ts). */
export type FenceRequirement = { fence: string; value: string };

export type RunUpdate = {
  /** The version the caller read; the write happens only if the run is still at it. */
  expectedVersion: number;
  /** A terminal status is final: changing it again fails with InvalidError(invalid_transition). */
  status?: RunStatus;
  /** Replaces the run document. */
  doc?: unknown;
  /**
   * The document `doc` replaces, exactly as the caller read or wrote it at expectedVersion. A store may then
   * write only what changed: the parts (model/run-doc.ts: the definition, each step, each context step)
   * that are the same object in both are not sent again. Only for callers that never change a document in
   * place (copy-on-write, as the workflow reducer); without it the whole document is written.
   */
  previousDoc?: unknown;
  /**
   * Raised when the write happens (model/fence.ts): job creates and input writes fenced on it then succeed,
   * and fail with fence_down if it did not happen, so they can be sent together with it.
   */
  fence?: string;
  /**
   * The write happens only if each fence is up with that value (a job's final fence: the outcome the caller
   * acted on is the stored one); otherwise nothing is written and the outcome is `fenced`.
   */
  requires?: readonly FenceRequirement[];
  /** Replaces the labels. */
  labels?: Record<string, string>;
  /** Sets (ms) or clears (null) the due time. A write that leaves the run terminal clears it: terminal runs are never due. */
  dueAt?: number | null;
  /** Appended to the timeline in the same write, only if the write happens. */
  timeline?: NewRunTimelineEntry[];
  /** Removes the inbox events with seq <= this in the same write: the events this write has reduced. */
  ackInbox?: number;
  /**
   * What the write answers with. `record` (the default): the whole record, document included, as `get` reads
   * it. `version`: only its version, status and updatedAt (RunWriteSummary), so a large document is not sent
   * back and parsed again by a caller that already has it (the workflow engine).
   */
  reply?: 'record' | 'version';
};

/** What a `reply: 'version'` write answers: the record's write state without its document. */
export type RunWriteSummary = {
  readonly version: number;
  readonly status: RunStatus;
  /** Store-clock ms. */
  readonly updatedAt: number;
};

export type UpdateRunResult =
  | { outcome: 'updated'; run: RunRecord }
  /** Nothing written: the run is no longer at expectedVersion. `current` is what it is now. */
  | { outcome: 'conflict'; current: RunRecord }
  /** Nothing written: a fence of `requires` is down or holds another value. */
  | { outcome: 'fenced' }
  | { outcome: 'not_found' };

/** UpdateRunResult of a `reply: 'version'` write. */
export type UpdateRunVersionResult =
  | { outcome: 'updated'; run: RunWriteSummary }
  /** Nothing written: the run is no longer at expectedVersion. */
  | { outcome: 'conflict'; current: RunWriteSummary }
  | { outcome: 'fenced' }
  | { outcome: 'not_found' };

export type PushEventResult =
  | { outcome: 'queued'; seq: number }
  /** An event with this key was pushed before (for the run's lifetime): nothing queued. */
  | { outcome: 'duplicate'; seq: number }
  /** The run is terminal: nothing queued. */
  | { outcome: 'terminal'; status: RunStatus }
  | { outcome: 'not_found' };

export type AppendTimelineResult = { outcome: 'appended'; entries: AppendedEntry[] } | { outcome: 'not_found' };

export type RunQuery = PageQuery & {
  tenant: string;
  workflowId?: string;
  status?: RunStatus;
};

/** A run on the global due index: its due time, or the push time of its oldest unreduced inbox event. */
export type DueRun = { tenant: string; id: string; at: number };

/** A non-terminal run on the global activity index. */
export type ActiveRun = { tenant: string; id: string; updatedAt: number };

export type RunStore = {
  /**
   * Creates a `pending` run together with its idempotency key and its concurrency slot, atomically (see
   * CreateRunResult). Throws ConflictError(already_exists) when the tenant already has a run with this id,
   * InvalidError for bad input.
   */
  create(run: NewRun): Promise<CreateRunResult>;

  get(tenant: string, id: string): Promise<RunRecord | undefined>;

  /**
   * Compare-and-set on `version`, atomically with its indexes, timeline entries, inbox ack and slot release
   * (when the run reaches a terminal status). Exactly one of several writers holding the same version wins.
   * A lost race is a result, not an error; InvalidError for bad input or a change of a terminal status.
   * With `reply: 'version'` the answer carries only the version, status and updatedAt.
   */
  update(tenant: string, id: string, update: RunUpdate & { reply: 'version' }): Promise<UpdateRunVersionResult>;
  update(tenant: string, id: string, update: RunUpdate): Promise<UpdateRunResult>;

  /** Removes the run, its timeline, inbox and idempotency key, and frees its slot. True when it existed. */
  delete(tenant: string, id: string): Promise<boolean>;

  /** Runs of a tenant, newest created first, optionally by workflow and/or status; cursor-paginated. */
  list(query: RunQuery): Promise<Page<RunRecord>>;

  /** Appends entries to the run's timeline (idempotent per entry key). */
  appendTimeline(tenant: string, id: string, entries: NewRunTimelineEntry[]): Promise<AppendTimelineResult>;

  /** Timeline entries, oldest first; cursor-paginated. Empty for an unknown run. */
  timeline(tenant: string, id: string, query?: PageQuery): Promise<Page<RunTimelineEntry>>;

  /**
   * Queues an event for the engine and puts the run on the due index (at the push time, unless it is due
   * earlier). The run's version does not change, so pushing never makes an engine's CAS fail.
   */
  pushEvent(tenant: string, id: string, event: unknown, options?: { key?: string }): Promise<PushEventResult>;

  /** Unreduced inbox events, oldest first (at most `limit`, default and maximum 1000). */
  inbox(tenant: string, id: string, options?: { limit?: number }): Promise<InboxEvent[]>;

  /**
   * Runs of every tenant that are due at or before `before` (default: the store clock now), earliest first:
   * their dueAt has passed or they have inbox events. Terminal runs are never due.
   */
  listDue(options?: { before?: number; limit?: number }): Promise<DueRun[]>;

  /**
   * Non-terminal runs of every tenant, least recently updated first, optionally only those last updated at
   * or before `updatedBefore`; cursor-paginated. A run updated during a scan moves behind the cursor, so every
   * run the scan does not touch is seen exactly once.
   */
  listActive(options?: PageQuery & { updatedBefore?: number }): Promise<Page<ActiveRun>>;

  /** Non-terminal runs of the tenant: the slots in use. */
  countActive(tenant: string): Promise<number>;

  /** The store's clock in milliseconds (Redis TIME for the Redis adapter): compare due times with this. */
  now(): Promise<number>;
};
