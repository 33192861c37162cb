import { InvalidError, type JsonValue, isPlainObject } from '@cordum/core';
import { isValidSubjectPattern } from '@cordum/protocol';
import { type EventFrame, STREAM_KINDS, type StreamKind, isStreamKind } from './events.js';

// Which events one socket wants, within its tenant (tenancy is not a filter: the hub checks it first, always).
// Fields combine with AND, the values of one field with OR; an absent field matches everything, and an event
// without the field (an alert has no job) does not match a filter on it.

export const FILTER_FIELDS = ['job_id', 'run_id', 'topic', 'kind'] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];

/** Most values per field, and longest value. */
export const MAX_FILTER_VALUES = 100;
const MAX_VALUE_LENGTH = 255;

export type StreamFilter = {
  readonly jobIds: ReadonlySet<string> | null;
  readonly runIds: ReadonlySet<string> | null;
  /** NATS-style patterns: `*` is one token, a final `>` the rest (`job.demo.>`). */
  readonly topics: readonly string[] | null;
  readonly kinds: ReadonlySet<StreamKind> | null;
};

export const MATCH_ALL: StreamFilter = Object.freeze({ jobIds: null, runIds: null, topics: null, kinds: null });

/** What a client may send, per field: a string (comma-separated values) or a list of strings. */
export type FilterInput = Partial<Record<FilterField, unknown>>;

function valuesOf(field: FilterField, raw: unknown): string[] | null {
  if (raw === undefined || raw === null) return null;
  const items = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : undefined;
  if (items === undefined || !items.every((v): v is string => typeof v === 'string')) {
    throw new InvalidError(`filter ${field} must be a string or a list of strings`, { details: { field } });
  }
  const values = [...new Set(items.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== ''))];
  if (values.length === 0) return null;
  if (values.length > MAX_FILTER_VALUES) {
    throw new InvalidError(`filter ${field} has ${values.length} values; at most ${MAX_FILTER_VALUES}`, { details: { field } });
  }
  const long = values.find((v) => v.length > MAX_VALUE_LENGTH);
  if (long !== undefined) throw new InvalidError(`filter ${field} values are at most ${MAX_VALUE_LENGTH} characters`, { details: { field } });
  return values;
}

/** Parses a filter (query string or subscribe message). Throws InvalidError naming the field. */
export function parseFilter(input: FilterInput): StreamFilter {
  const unknown = Object.keys(input).filter((k) => !(FILTER_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new InvalidError(`unknown filter field ${JSON.stringify(unknown[0])}; filters are ${FILTER_FIELDS.join(', ')}`, {
      details: { field: unknown[0] },
    });
  }
  const topics = valuesOf('topic', input.topic);
  const badTopic = topics?.find((t) => !isValidSubjectPattern(t));
  if (badTopic !== undefined) {
    throw new InvalidError(`filter topic ${JSON.stringify(badTopic)} is not a subject pattern (tokens, * or a final >)`, { details: { field: 'topic' } });
  }
  const kinds = valuesOf('kind', input.kind);
  const badKind = kinds?.find((k) => !isStreamKind(k));
  if (badKind !== undefined) {
    throw new InvalidError(`filter kind ${JSON.stringify(badKind)} is not one of ${STREAM_KINDS.join(', ')}`, { details: { field: 'kind' } });
  }
  const jobIds = valuesOf('job_id', input.job_id);
  const runIds = valuesOf('run_id', input.run_id);
  return Object.freeze({
    jobIds: jobIds === null ? null : new Set(jobIds),
    runIds: runIds === null ? null : new Set(runIds),
    topics,
    kinds: kinds === null ? null : new Set(kinds as StreamKind[]),
  });
}

/** A subscribe message's `filter` (an object; absent = everything). */
export function parseFilterObject(raw: unknown): StreamFilter {
  if (raw === undefined || raw === null) return MATCH_ALL;
  if (!isPlainObject(raw)) throw new InvalidError('filter must be an object', { details: { field: 'filter' } });
  return parseFilter(raw);
}

export function topicMatches(pattern: string, topic: string): boolean {
  const p = pattern.split('.');
  const t = topic.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === '>') return t.length > i;
    if (i >= t.length || (token !== '*' && token !== t[i])) return false;
  }
  return p.length === t.length;
}

/** Does the event pass the filter? (The tenant has been checked before.) */
export function matchesFilter(filter: StreamFilter, frame: Pick<EventFrame, 'kind' | 'job_id' | 'run_id' | 'topic'>): boolean {
  if (filter.kinds !== null && !filter.kinds.has(frame.kind)) return false;
  if (filter.jobIds !== null && (frame.job_id === null || !filter.jobIds.has(frame.job_id))) return false;
  if (filter.runIds !== null && (frame.run_id === null || !filter.runIds.has(frame.run_id))) return false;
  const topic = frame.topic;
  if (filter.topics !== null && (topic === null || !filter.topics.some((p) => topicMatches(p, topic)))) return false;
  return true;
}

/**
 * Could the event pass once its record is read? Fields still unknown (null) count as a maybe. Lets the hub skip
 * the job-store read for events that no socket can want.
 */
export function mayMatch(filter: StreamFilter, frame: Pick<EventFrame, 'kind' | 'job_id' | 'run_id' | 'topic'>): boolean {
  if (filter.kinds !== null && !filter.kinds.has(frame.kind)) return false;
  if (filter.jobIds !== null && (frame.job_id === null || !filter.jobIds.has(frame.job_id))) return false;
  if (filter.runIds !== null && frame.run_id !== null && !filter.runIds.has(frame.run_id)) return false;
  const topic = frame.topic;
  if (filter.topics !== null && topic !== null && !filter.topics.some((p) => topicMatches(p, topic))) return false;
  return true;
}

/** The filter as the `subscribed` frame shows it (null = every value). */
export function filterJson(filter: StreamFilter): Record<FilterField, JsonValue> {
  const list = (s: ReadonlySet<string> | readonly string[] | null): JsonValue => (s === null ? null : [...s]);
  return { job_id: list(filter.jobIds), run_id: list(filter.runIds), topic: list(filter.topics), kind: list(filter.kinds) };
}
