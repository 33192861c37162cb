import { type JsonValue, TerminalError } from '@cordum/core';
import { type JobState, type WaitReason, isJobState } from '@cordum/protocol';
import { type CheckedNewJob, type CheckedPatch, type JobCursor } from '../model/job.js';
import type { JobEvent, JobRecord } from '../ports/job-store.js';

// How a job lives in Redis. The record is a hash of flat fields: the fixed ones by name, nullable ones
// present only when not null, each label as `l:<key>` and each data key as `d:<key>` holding that value's
// JSON text. Keeping data per key (rather than one JSON blob) lets the Lua CAS merge-patch with
// HSET/HDEL without decoding JSON in Lua, whose cjson would turn [] into {} and round numbers to 14 digits.

const LABEL = 'l:';
const DATA = 'd:';

/** Lex index members sort by this: 15 digits cover every millisecond timestamp until the year 33658. */
const PAD = 15;
const MAX_PADDED = 10 ** PAD - 1;

export function pad(ms: number): string {
  return String(Math.min(Math.max(ms, 0), MAX_PADDED)).padStart(PAD, '0');
}

/** Member of the per-tenant lex indexes (all, state, topic): newest-first order is ZRANGE BYLEX REV. */
export function lexMember(createdAt: number, id: string): string {
  return `${pad(createdAt)}|${id}`;
}

export function parseLexMember(member: string): JobCursor | undefined {
  const bar = member.indexOf('|');
  if (bar !== PAD) return undefined;
  const c = Number(member.slice(0, PAD));
  return Number.isSafeInteger(c) ? { c, i: member.slice(PAD + 1) } : undefined;
}

/** Member of the global state indexes; unique per incarnation of an id (an id is reusable once expired). */
export function globalStateMember(createdAt: number, tenant: string, id: string): string {
  return `${pad(createdAt)}|${tenant}|${id}`;
}

/** Member of the timer indexes: `<tenant>|<id>` (neither may contain "|"). */
export function parseTimerMember(member: string): { tenant: string; id: string } | undefined {
  const bar = member.indexOf('|');
  if (bar <= 0) return undefined;
  return { tenant: member.slice(0, bar), id: member.slice(bar + 1) };
}

export type RetiredEntry = { state: JobState; createdAt: number; tenant: string; id: string; topic: string };

/** Retention-index member `<STATE>|<createdAt>|<tenant>|<id>|<topic>` (the topic may contain "|"). */
export function parseRetiredMember(member: string): RetiredEntry | undefined {
  const parts = member.split('|');
  if (parts.length < 5) return undefined;
  const [state, created, tenant, id] = parts as [string, string, string, string];
  const createdAt = Number(created);
  if (!isJobState(state) || !Number.isSafeInteger(createdAt)) return undefined;
  return { state, createdAt, tenant, id, topic: parts.slice(4).join('|') };
}

/** Record fields of a new job beyond those the create script sets itself (id, state, version, times…). */
export function newJobFields(job: CheckedNewJob): string[] {
  const out: string[] = ['traceId', job.traceId];
  if (job.waitReason !== null) out.push('waitReason', job.waitReason);
  if (job.dueAt !== null) out.push('dueAt', String(job.dueAt));
  if (job.deadlineAt !== null) out.push('deadlineAt', String(job.deadlineAt));
  for (const [k, v] of job.labels) out.push(LABEL + k, v);
  for (const [k, v] of job.data) out.push(DATA + k, v);
  return out;
}

/** The patch as the transition script's ARGV tail: s, s field/value pairs, d, d fields to delete. */
export function patchArgs(patch: CheckedPatch): string[] {
  const set: string[] = [];
  const del: string[] = [];
  for (const [field, value] of patch.scalars) {
    if (value === null) del.push(field);
    else set.push(field, String(value));
  }
  for (const [k, v] of patch.labels) {
    if (v === null) del.push(LABEL + k);
    else set.push(LABEL + k, v);
  }
  for (const [k, v] of patch.data) {
    if (v === null) del.push(DATA + k);
    else set.push(DATA + k, v);
  }
  return [String(set.length / 2), ...set, String(del.length), ...del];
}

/** A script's HGETALL reply (flat array) as an object. */
export function pairsToHash(reply: unknown): Record<string, string> {
  if (!Array.isArray(reply)) throw new TerminalError('job script returned a malformed record');
  const entries: Array<[string, string]> = [];
  for (let i = 0; i + 1 < reply.length; i += 2) entries.push([String(reply[i]), String(reply[i + 1])]);
  return Object.fromEntries(entries);
}

function num(hash: Record<string, string>, field: string): number {
  return Number(hash[field] ?? 0);
}

function nullableNum(hash: Record<string, string>, field: string): number | null {
  const v = hash[field];
  return v === undefined ? null : Number(v);
}

function nullableStr(hash: Record<string, string>, field: string): string | null {
  return hash[field] ?? null;
}

export function decodeJob(hash: Record<string, string>): JobRecord {
  const state = hash['state'] ?? '';
  if (!isJobState(state)) throw new TerminalError(`job record ${hash['id'] ?? '?'} has an unknown state`);
  const labels: Array<[string, string]> = [];
  const data: Array<[string, JsonValue]> = [];
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith(LABEL)) labels.push([field.slice(LABEL.length), value]);
    else if (field.startsWith(DATA)) data.push([field.slice(DATA.length), JSON.parse(value) as JsonValue]);
  }
  return {
    id: hash['id'] ?? '',
    tenant: hash['tenant'] ?? '',
    topic: hash['topic'] ?? '',
    traceId: hash['traceId'] ?? '',
    state,
    version: num(hash, 'version'),
    attempts: num(hash, 'attempts'),
    createdAt: num(hash, 'createdAt'),
    updatedAt: num(hash, 'updatedAt'),
    waitReason: nullableStr(hash, 'waitReason') as WaitReason | null,
    dueAt: nullableNum(hash, 'dueAt'),
    leaseExpiresAt: nullableNum(hash, 'leaseExpiresAt'),
    deadlineAt: nullableNum(hash, 'deadlineAt'),
    workerId: nullableStr(hash, 'workerId'),
    resultPtr: nullableStr(hash, 'resultPtr'),
    errorCode: nullableStr(hash, 'errorCode'),
    errorMessage: nullableStr(hash, 'errorMessage'),
    // fromEntries defines own properties, so a key such as "__proto__" stays data, never a prototype.
    labels: Object.fromEntries(labels),
    data: Object.fromEntries(data),
  };
}

export function decodeEvent(text: string): JobEvent {
  const e = JSON.parse(text) as Record<string, unknown>;
  const from = e['from'];
  const to = e['to'];
  if ((from !== null && (typeof from !== 'string' || !isJobState(from))) || typeof to !== 'string' || !isJobState(to)) {
    throw new TerminalError('malformed job event in store');
  }
  return {
    at: Number(e['at']),
    from,
    to,
    actor: typeof e['actor'] === 'string' ? e['actor'] : '',
    reason: typeof e['reason'] === 'string' ? e['reason'] : '',
    attempt: Number(e['attempt']),
    version: Number(e['version']),
  };
}
