import { InvalidError, isSafeId, newTraceId } from '@cordum/core';
import {
  JOB_STATES,
  type JobState,
  WAIT_REASONS,
  type WaitReason,
  canTransition,
  isJobState,
  isTerminalJobState,
} from '@cordum/protocol';
import { encodeCursor, pageLimit } from '../ports/cursor.js';
import type {
  JobPatch,
  JobQuery,
  JobRecord,
  JobTimer,
  NewJob,
  SlotRequest,
  TransitionRequest,
} from '../ports/job-store.js';
import { checkTenant, decodeQueryCursor } from './common.js';
import { checkFence } from './fence.js';

// Input checks and normalisation shared by the JobStore adapters, so that the memory and Redis backends
// reject exactly the same requests with exactly the same errors. Nothing here touches a backend.

/** Events kept per job (the oldest are dropped beyond it); also the largest `events()` limit. */
export const MAX_JOB_EVENTS = 1000;

/**
 * The most index entries one `list()` call examines when it has to filter (state and topic together, or
 * entries of expired records). Past it the page comes back short, with a cursor to continue from.
 */
export const LIST_SCAN_BUDGET = 5000;

/** Nullable scalar fields a patch may set or clear (hash field names in the Redis adapter). */
export const PATCH_SCALAR_FIELDS = [
  'waitReason',
  'dueAt',
  'leaseExpiresAt',
  'deadlineAt',
  'workerId',
  'resultPtr',
  'errorCode',
  'errorMessage',
] as const;

export type PatchScalarField = (typeof PATCH_SCALAR_FIELDS)[number];

export type JobScalars = { [K in PatchScalarField]: JobRecord[K] };

const TIMER_FIELDS = new Set<PatchScalarField>(['dueAt', 'leaseExpiresAt', 'deadlineAt']);
const STRING_FIELDS = new Set<PatchScalarField>(['workerId', 'resultPtr', 'errorCode', 'errorMessage']);

/** A patch after validation. Data values are JSON text, exactly what a backend stores. */
export type CheckedPatch = {
  /** Only the fields the caller named; null clears. */
  scalars: Array<[PatchScalarField, string | number | null]>;
  labels: Array<[string, string | null]>;
  data: Array<[string, string | null]>;
  incrementAttempts: boolean;
};

export type CheckedNewJob = {
  id: string;
  tenant: string;
  topic: string;
  traceId: string;
  state: JobState;
  terminal: boolean;
  waitReason: WaitReason | null;
  dueAt: number | null;
  deadlineAt: number | null;
  labels: Array<[string, string]>;
  /** Key → JSON text. */
  data: Array<[string, string]>;
  actor: string;
  reason: string;
  /** Create only while this fence is up (model/fence.ts). */
  fence: string | undefined;
};

export type CheckedTransition = {
  /** Distinct `from` states, each with whether the state machine allows it → `to`. */
  from: Array<{ state: JobState; allowed: boolean }>;
  to: JobState;
  terminal: boolean;
  expectedVersion: number | null;
  patch: CheckedPatch;
  actor: string;
  reason: string;
  /** A reason was given: a same-state write then records an event too. */
  hasReason: boolean;
  /** The intermediate state (see TransitionRequest.via), with its event's reason. */
  via: { state: JobState; reason: string } | null;
  /** `to` is a state in which a job keeps its concurrency slot; any other target releases it. */
  keepsSlot: boolean;
  /** The slot to take (see TransitionRequest.slot), or null. */
  slot: CheckedSlot | null;
  /** Raised with the job's outcome when a terminal write happens (TransitionRequest.fence). */
  fence: string | undefined;
};

/** A slot request after validation: "" for no actor, 0 for no limit. */
export type CheckedSlot = { actor: string; tenantLimit: number; actorLimit: number };

/** States in which a job holds its concurrency slot (quotas): allowed to run and not finished. */
export const SLOT_STATES: readonly JobState[] = ['SCHEDULED', 'DISPATCHED', 'RUNNING'];

/** Longest actor id a slot request may name. */
export const MAX_SLOT_ACTOR_LENGTH = 256;

/** Position in a listing: the last item's createdAt and id (newest-first order). */
export type JobCursor = { c: number; i: string };

export type CheckedQuery = {
  tenant: string;
  state: JobState | undefined;
  topic: string | undefined;
  createdAfter: number | undefined;
  createdBefore: number | undefined;
  limit: number;
  cursor: JobCursor | undefined;
};

function invalid(message: string, details: Record<string, unknown>): InvalidError {
  return new InvalidError(message, { details });
}

function checkJobId(id: unknown): string {
  if (typeof id !== 'string' || !isSafeId(id)) {
    throw invalid(
      `invalid job id ${JSON.stringify(id)}: use 1-200 of A-Z a-z 0-9 . _ : @ # - [ ], starting with a letter or digit`,
      { id },
    );
  }
  return id;
}

/** Ids that can never name a stored job (reads answer "not found" for them instead of throwing). */
export function isPossibleJobId(id: unknown): id is string {
  return typeof id === 'string' && isSafeId(id);
}

function checkState(value: unknown, field: string): JobState {
  if (typeof value !== 'string' || !isJobState(value)) {
    throw invalid(`${field} must be one of ${JOB_STATES.join(', ')}, got ${JSON.stringify(value)}`, {
      [field]: value,
    });
  }
  return value;
}

function checkMillis(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${field} must be a non-negative integer of milliseconds, got ${String(value)}`, {
      [field]: value,
    });
  }
  return value;
}

function checkWaitReason(value: unknown): WaitReason | null {
  if (value === null) return null;
  if (typeof value !== 'string' || !(WAIT_REASONS as readonly string[]).includes(value)) {
    throw invalid(`waitReason must be null or one of ${WAIT_REASONS.join(', ')}, got ${JSON.stringify(value)}`, {
      waitReason: value,
    });
  }
  return value as WaitReason;
}

function jsonText(value: unknown, field: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) throw invalid(`${field} is not representable as JSON`, { field });
  return text;
}

function plainEntries(value: unknown, field: string): Array<[string, unknown]> {
  if (value === undefined) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${field} must be an object`, { field });
  }
  return Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
}

function optionalString(value: unknown, field: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw invalid(`${field} must be a string`, { field });
  return value;
}

export function checkNewJob(job: NewJob): CheckedNewJob {
  if (typeof job !== 'object' || job === null) throw invalid('job must be an object', {});
  const id = checkJobId(job.id);
  const tenant = checkTenant(job.tenant);
  if (typeof job.topic !== 'string' || job.topic.trim() === '') {
    throw invalid('topic must be a non-empty string', { topic: job.topic });
  }
  const state = job.state === undefined ? 'PENDING' : checkState(job.state, 'state');
  const terminal = isTerminalJobState(state);
  if (state !== 'PENDING' && !terminal) {
    throw invalid(`a job starts PENDING or in a terminal state (a rejected intake), not ${state}`, { state });
  }
  const traceId = optionalString(job.traceId, 'traceId', '');
  const labels = plainEntries(job.labels, 'labels').map(([k, v]): [string, string] => {
    if (typeof v !== 'string') throw invalid(`label ${JSON.stringify(k)} must be a string`, { label: k });
    return [k, v];
  });
  const data = plainEntries(job.data, 'data').map(([k, v]): [string, string] => [k, jsonText(v, `data.${k}`)]);
  return {
    id,
    tenant,
    topic: job.topic,
    traceId: traceId === '' ? newTraceId() : traceId,
    state,
    terminal,
    waitReason: job.waitReason === undefined ? null : checkWaitReason(job.waitReason),
    dueAt: job.dueAt === undefined || job.dueAt === null ? null : checkMillis(job.dueAt, 'dueAt'),
    deadlineAt: job.deadlineAt === undefined || job.deadlineAt === null ? null : checkMillis(job.deadlineAt, 'deadlineAt'),
    labels,
    data,
    actor: optionalString(job.actor, 'actor', ''),
    reason: optionalString(job.reason, 'reason', ''),
    fence: checkFence(job.fence, 'fence'),
  };
}

export function checkPatch(patch: JobPatch | undefined): CheckedPatch {
  const out: CheckedPatch = { scalars: [], labels: [], data: [], incrementAttempts: false };
  if (patch === undefined) return out;
  if (typeof patch !== 'object' || patch === null) throw invalid('patch must be an object', {});
  for (const field of PATCH_SCALAR_FIELDS) {
    const value: unknown = patch[field];
    if (value === undefined) continue;
    if (value === null) out.scalars.push([field, null]);
    else if (field === 'waitReason') out.scalars.push([field, checkWaitReason(value)]);
    else if (TIMER_FIELDS.has(field)) out.scalars.push([field, checkMillis(value, field)]);
    else if (STRING_FIELDS.has(field) && typeof value === 'string') out.scalars.push([field, value]);
    else throw invalid(`${field} must be a string or null`, { field });
  }
  out.labels = plainEntries(patch.labels, 'labels').map(([k, v]): [string, string | null] => {
    if (v !== null && typeof v !== 'string') {
      throw invalid(`label ${JSON.stringify(k)} must be a string or null`, { label: k });
    }
    return [k, v];
  });
  out.data = plainEntries(patch.data, 'data').map(([k, v]): [string, string | null] => [
    k,
    v === null ? null : jsonText(v, `data.${k}`),
  ]);
  if (patch.incrementAttempts !== undefined && typeof patch.incrementAttempts !== 'boolean') {
    throw invalid('incrementAttempts must be a boolean', {});
  }
  out.incrementAttempts = patch.incrementAttempts === true;
  return out;
}

export function checkTransition(request: TransitionRequest): CheckedTransition {
  if (typeof request !== 'object' || request === null) throw invalid('transition request must be an object', {});
  const to = checkState(request.to, 'to');
  const rawFrom: readonly unknown[] = Array.isArray(request.from) ? request.from : [request.from];
  if (rawFrom.length === 0) throw invalid('from must name at least one state', { from: [] });
  const seen = new Set<JobState>();
  for (const s of rawFrom) seen.add(checkState(s, 'from'));
  const expected = request.expectedVersion;
  if (expected !== undefined && (!Number.isSafeInteger(expected) || expected < 1)) {
    throw invalid(`expectedVersion must be a positive integer, got ${String(expected)}`, {
      expectedVersion: expected,
    });
  }
  if (typeof request.actor !== 'string') throw invalid('actor must be a string', {});
  const reason = optionalString(request.reason, 'reason', '');
  let via: CheckedTransition['via'] = null;
  if (request.via !== undefined) {
    if (typeof request.via !== 'object' || request.via === null) throw invalid('via must be an object', {});
    via = { state: checkState(request.via.state, 'via.state'), reason: optionalString(request.via.reason, 'via.reason', '') };
  }
  // With a via state, a current state is allowed when both steps are (or it already is the via state).
  const allowedFrom = (state: JobState): boolean =>
    via === null
      ? canTransition(state, to)
      : canTransition(via.state, to) && (state === via.state || canTransition(state, via.state));
  return {
    from: [...seen].map((state) => ({ state, allowed: allowedFrom(state) })),
    to,
    terminal: isTerminalJobState(to),
    expectedVersion: expected ?? null,
    patch: checkPatch(request.patch),
    actor: request.actor,
    reason,
    hasReason: request.reason !== undefined,
    via,
    keepsSlot: SLOT_STATES.includes(to),
    slot: checkSlot(request.slot, to),
    fence: isTerminalJobState(to) ? checkFence(request.fence, 'fence') : undefined,
  };
}

function checkLimit(value: unknown, field: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`slot.${field} must be a non-negative integer (0 = no limit), got ${JSON.stringify(value) ?? typeof value}`, {
      [field]: value,
    });
  }
  return value;
}

export function checkSlot(slot: SlotRequest | undefined, to: JobState): CheckedSlot | null {
  if (slot === undefined) return null;
  if (typeof slot !== 'object' || slot === null) throw invalid('slot must be an object', {});
  if (!SLOT_STATES.includes(to)) {
    throw invalid(`a slot is taken by a move into ${SLOT_STATES.join(', ')}, not ${to}`, { to });
  }
  const actor = slot.actor ?? '';
  if (typeof actor !== 'string' || actor.length > MAX_SLOT_ACTOR_LENGTH) {
    throw invalid(`slot.actor must be a string of at most ${MAX_SLOT_ACTOR_LENGTH} characters or null`, {});
  }
  return { actor, tenantLimit: checkLimit(slot.tenantLimit, 'tenantLimit'), actorLimit: checkLimit(slot.actorLimit, 'actorLimit') };
}

/** The cursor that continues a listing after `position` (checkQuery decodes it). */
export function encodeJobCursor(position: JobCursor): string {
  return encodeCursor(position);
}

export function isJobCursor(value: unknown): value is JobCursor {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v['c'] === 'number' && Number.isSafeInteger(v['c']) && v['c'] >= 0 && isPossibleJobId(v['i']);
}

export function checkQuery(query: JobQuery): CheckedQuery {
  if (typeof query !== 'object' || query === null) throw invalid('query must be an object', {});
  const tenant = checkTenant(query.tenant);
  const state = query.state === undefined ? undefined : checkState(query.state, 'state');
  if (query.topic !== undefined && (typeof query.topic !== 'string' || query.topic === '')) {
    throw invalid('topic must be a non-empty string', { topic: query.topic });
  }
  const createdAfter = query.createdAfter === undefined ? undefined : checkMillis(query.createdAfter, 'createdAfter');
  const createdBefore =
    query.createdBefore === undefined ? undefined : checkMillis(query.createdBefore, 'createdBefore');
  const limit = pageLimit(query);
  const cursor = decodeQueryCursor(query.cursor, isJobCursor);
  return { tenant, state, topic: query.topic, createdAfter, createdBefore, limit, cursor };
}

export function checkTimer(timer: JobTimer): JobTimer {
  if (timer !== 'due' && timer !== 'lease' && timer !== 'deadline') {
    throw invalid(`timer must be due, lease or deadline, got ${JSON.stringify(timer)}`, { timer: timer });
  }
  return timer;
}

/** The record field a timer index follows. */
export function timerField(timer: JobTimer): 'dueAt' | 'leaseExpiresAt' | 'deadlineAt' {
  switch (timer) {
    case 'due':
      return 'dueAt';
    case 'lease':
      return 'leaseExpiresAt';
    case 'deadline':
      return 'deadlineAt';
  }
}

export function checkTimerOptions(options: { before?: number; limit?: number } | undefined): {
  before: number | undefined;
  limit: number;
} {
  const before = options?.before === undefined ? undefined : checkMillis(options.before, 'before');
  return { before, limit: pageLimit(options?.limit === undefined ? {} : { limit: options.limit }) };
}

export function checkEventLimit(options: { limit?: number } | undefined): number {
  const limit = options?.limit ?? MAX_JOB_EVENTS;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_JOB_EVENTS) {
    throw invalid(`events limit must be an integer from 1 to ${MAX_JOB_EVENTS}, got ${String(limit)}`, { limit });
  }
  return limit;
}

export function zeroStateCounts(): Record<JobState, number> {
  return Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
}

/** Scalar values of a new record (everything a patch can touch), for building a record. */
export function initialScalars(job: CheckedNewJob): JobScalars {
  return {
    waitReason: job.waitReason,
    dueAt: job.dueAt,
    leaseExpiresAt: null,
    deadlineAt: job.deadlineAt,
    workerId: null,
    resultPtr: null,
    errorCode: null,
    errorMessage: null,
  };
}

// Messages of the domain failures, shared so both adapters word them identically.

export function stateConflictMessage(id: string, current: JobState, version: number, request: CheckedTransition): string {
  const states = request.from.map((f) => f.state);
  if (!states.includes(current)) return `job ${id} is ${current}, expected ${states.join(' or ')}`;
  return `job ${id} is at version ${version}, expected ${String(request.expectedVersion)}`;
}

export function invalidTransitionMessage(id: string, current: JobState, to: JobState): string {
  return `job ${id} cannot move from ${current} to ${to}`;
}

export function notFoundMessage(id: string): string {
  return `job ${id} not found`;
}

/** Why a slot was refused: the actor's or the tenant's limit is reached. */
export function quotaMessage(scope: 'tenant' | 'actor', tenant: string, actor: string, active: number, limit: number): string {
  return scope === 'actor'
    ? `actor ${actor} holds ${active} of its ${limit} concurrent job slots in tenant ${tenant}`
    : `tenant ${tenant} holds ${active} of its ${limit} concurrent job slots`;
}

export function alreadyExistsMessage(id: string): string {
  return `job ${id} already exists`;
}
