import type { JsonValue } from '@cordum/core';
import type { JobState, WaitReason } from '@cordum/protocol';
import type { Page, PageQuery } from './common.js';

/**
 * A job as the control plane tracks it. The store is the source of truth: a job exists here (PENDING)
 * before its submit is published, and every state change is a compare-and-set on this record.
 */
export type JobRecord = {
  readonly id: string;
  readonly tenant: string;
  readonly topic: string;
  readonly traceId: string;
  readonly state: JobState;
  /** Increments on every successful write; expectedVersion CAS uses it. Starts at 1. */
  readonly version: number;
  /** Dispatch attempts started (incremented by a write with incrementAttempts). */
  readonly attempts: number;
  /** Store-clock milliseconds. */
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Why a non-terminal job is not moving, or null. */
  readonly waitReason: WaitReason | null;
  /** When the scheduler should look at the job again (backoff, throttle, kernel outage). Indexed. */
  readonly dueAt: number | null;
  /** When the current attempt's lease runs out. Indexed. */
  readonly leaseExpiresAt: number | null;
  /** Budget deadline: past it the job times out without retry. Indexed. */
  readonly deadlineAt: number | null;
  readonly workerId: string | null;
  readonly resultPtr: string | null;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly labels: Readonly<Record<string, string>>;
  /** Service-owned attributes (request, policy decision, approval, …); top-level keys are merge-patched. */
  readonly data: Readonly<Record<string, JsonValue>>;
};

export type NewJob = {
  id: string;
  tenant: string;
  topic: string;
  traceId?: string;
  /** PENDING (default), or a terminal state to record a job rejected at intake. */
  state?: JobState;
  labels?: Record<string, string>;
  data?: Record<string, JsonValue>;
  dueAt?: number | null;
  deadlineAt?: number | null;
  waitReason?: WaitReason | null;
  /** Recorded on the creation event. */
  actor?: string;
  reason?: string;
  /** Create only if this fence is up (RunUpdate.fence); ConflictError(fence_down) otherwise, nothing written. */
  fence?: string;
};

/** Fields a write may change. Omitted fields stay; null clears a nullable field. */
export type JobPatch = {
  waitReason?: WaitReason | null;
  dueAt?: number | null;
  leaseExpiresAt?: number | null;
  deadlineAt?: number | null;
  workerId?: string | null;
  resultPtr?: string | null;
  errorCode?: string | null;
  errorMessage?: string | null;
  /** Merged into the labels; a null value removes that label. */
  labels?: Record<string, string | null>;
  /** Merged into data by top-level key; null removes the key. */
  data?: Record<string, JsonValue | null>;
  /** attempts += 1 as part of this write. */
  incrementAttempts?: boolean;
};

export type TransitionRequest = {
  /** The state(s) the caller believes the job is in; the write happens only if it still is. */
  from: JobState | readonly JobState[];
  /** Target state; may equal the current state (a patch without a state change). */
  to: JobState;
  /** Also require this version (stricter CAS, e.g. an approval bound to what the approver saw). */
  expectedVersion?: number;
  patch?: JobPatch;
  /** Who made the change (service or principal id), recorded on the event. */
  actor: string;
  reason?: string;
  /**
   * Pass through this state on the way, in the same write: two events (current → via with `via.reason`,
   * via → to with `reason`), and both steps must be allowed by the state machine. When the job is already in
   * `via`, only the second step happens. Saves a round trip where a caller would otherwise write twice.
   */
  via?: { state: JobState; reason: string };
  /**
   * Takes a concurrency slot (quotas) in the same write, for a move into SCHEDULED, DISPATCHED or RUNNING. A
   * job that already holds a slot keeps it and nothing is checked. Otherwise the write fails with
   * ConflictError(quota_exceeded) and writes nothing when the actor (checked first) or the tenant already
   * holds its limit. See SlotRequest.
   */
  slot?: SlotRequest;
  /**
   * With a terminal `to`: raises this fence (jobFinalFence(id)) with the job's outcome as stored
   * (outcomeFenceValue) in the same write, for RunUpdate.requires (model/fence.ts).
   */
  fence?: string;
};

/**
 * A concurrency slot asked for with a transition. Slots are counted per tenant and per actor within the
 * tenant; a job holds at most one, from the write that took it until a write moves the job to a state
 * other than SCHEDULED, DISPATCHED or RUNNING (a terminal state above all) — that same write releases it,
 * whoever makes it, so a slot lives exactly as long as the job is in flight.
 */
export type SlotRequest = {
  /** Who the job counts against within its tenant; null or "" counts it against the tenant only. */
  actor?: string | null;
  /** Slots the tenant may hold at most, this one included; 0 (default) = no tenant limit. */
  tenantLimit?: number;
  /** Slots the actor may hold at most within the tenant, this one included; 0 (default) = no actor limit. */
  actorLimit?: number;
};

/** Concurrency slots held in one tenant: in total and per actor (actors holding none are left out). */
export type SlotUsage = { tenant: number; actors: Record<string, number> };

export type JobEvent = {
  /** Store-clock milliseconds. */
  at: number;
  /** null for the creation event. */
  from: JobState | null;
  to: JobState;
  actor: string;
  reason: string;
  attempt: number;
  version: number;
};

export type JobQuery = PageQuery & {
  tenant: string;
  state?: JobState;
  topic?: string;
  /** createdAt bounds, milliseconds, inclusive. */
  createdAfter?: number;
  createdBefore?: number;
};

/** The global time indexes the scheduler polls. */
export type JobTimer = 'due' | 'lease' | 'deadline';

export type DueJob = { id: string; tenant: string; at: number };

export type JobStore = {
  /**
   * Creates the job and its creation event. Throws ConflictError(already_exists) if the id exists, in any
   * tenant. Throws InvalidError for a bad id/tenant/topic or an initial state other than PENDING or terminal.
   */
  create(job: NewJob): Promise<JobRecord>;

  /** The job, or undefined. Tenant checks are the caller's: compare record.tenant. */
  get(id: string): Promise<JobRecord | undefined>;

  /**
   * Compare-and-set: applies `to` and the patch only if the current state is one of `from` (and the version
   * is expectedVersion when given), atomically with every index it touches and one appended event when the
   * state changes. Exactly one of any number of concurrent conflicting writers wins.
   * Throws NotFoundError; ConflictError(state_conflict) with details {current_state, current_version} when
   * the CAS fails; InvalidError(invalid_transition) when the state machine forbids from → to.
   */
  transition(id: string, request: TransitionRequest): Promise<JobRecord>;

  /** State-change events, oldest first (at most the newest `limit`, default 1000). */
  events(id: string, options?: { limit?: number }): Promise<JobEvent[]>;

  /** Jobs of one tenant, newest created first, optionally filtered; cursor-paginated. */
  list(query: JobQuery): Promise<Page<JobRecord>>;

  /**
   * Jobs of every tenant whose timer is at or before `before` (default: the store clock now), earliest
   * first. A job leaves an index when its timer is cleared (null) or it reaches a terminal state.
   */
  listTimers(timer: JobTimer, options?: { before?: number; limit?: number }): Promise<DueJob[]>;

  /** Non-terminal jobs of a tenant (quotas count slots instead: see slots()). */
  countActive(tenant: string): Promise<number>;

  /** Number of jobs per state, for one tenant or (without tenant) all. */
  countByState(tenant?: string): Promise<Record<JobState, number>>;

  /** Concurrency slots held in a tenant (see TransitionRequest.slot). */
  slots(tenant: string): Promise<SlotUsage>;

  /**
   * Leak repair: releases slots held by jobs that no longer exist or are no longer in flight (a record lost
   * outside the store's own writes), for one tenant or every tenant holding slots. Returns how many were
   * released. Safe to run at any time from any number of processes.
   */
  repairSlots(options?: { tenant?: string }): Promise<number>;

  /** The store's clock in milliseconds (Redis TIME for the Redis adapter): compare due times with this. */
  now(): Promise<number>;
};
