import { type JsonValue, isPlainObject } from '@cordum/core';
import { invalidField } from './common.js';

// A run document stored in parts, so that a compare-and-set writes what changed instead of the whole
// document (a 200-step run is 60-130 KB; one pass changes one or two steps). The parts are the document's
// `definition`, every object entry of `steps` and every object entry of `context.steps`; the rest — the
// base — is written on every update with a placeholder `0` where a part was cut out, so the base keeps the
// key order and says which parts exist. A store keeps each part in its own field (fieldOf below) next to the
// base; joinRunDoc puts them back.
//
// Which parts changed is decided by identity: a part that is the same object in the document being
// replaced (RunUpdate.previousDoc) and in the new one is not sent again. That holds for copy-on-write
// callers such as the workflow reducer, which never changes an object it did not copy.
//
// Invariant kept by every write: a part field exists exactly for the placeholders of the current base.
// A delta write sets the changed parts and drops the fields of parts that went away; a full write drops
// every part field first.

/** Hash field of the base document. */
export const BASE_FIELD = 'doc';
/** Hash field that marks a record stored in parts (value PARTS_LAYOUT). */
export const LAYOUT_FIELD = 'layout';
export const PARTS_LAYOUT = '2';

const DEFINITION_FIELD = 'def';
const STEP_PREFIX = 's:';
const CONTEXT_STEP_PREFIX = 'c:';

export type RunDocWrite = {
  /** The base document's JSON. */
  base: string;
  /** Part fields to set: field name, JSON. */
  set: Array<[string, string]>;
  /** Part fields to remove (delta writes). */
  drop: string[];
  /** A full write: every part is in `set`, and part fields not in it are removed by the store. */
  full: boolean;
};

const PLACEHOLDER = 0;

function text(value: unknown, field: string): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    throw invalidField(`${field} is not representable as JSON: ${(err as Error).message}`, field);
  }
}

/** Collects the parts of one map (`steps`, `context.steps`): placeholders into the base, changes into `w`. */
function cutMap(map: Record<string, unknown>, before: unknown, prefix: string, w: RunDocWrite): Record<string, unknown> {
  const prev = isPlainObject(before) ? before : undefined;
  // No prototype: a step may be called `__proto__`.
  const out = Object.create(null) as Record<string, unknown>;
  for (const k in map) {
    const v = map[k];
    if (isPlainObject(v)) {
      out[k] = PLACEHOLDER;
      if (prev?.[k] !== v) w.set.push([prefix + k, text(v, 'doc')]);
    } else out[k] = v;
  }
  if (prev !== undefined && prev !== map) {
    for (const k in prev) if (isPlainObject(prev[k]) && !isPlainObject(map[k])) w.drop.push(prefix + k);
  }
  return out;
}

/**
 * What to store for `doc`. With `previous` (the document at the version being replaced, exactly as stored)
 * only the parts that are not the same object as in `previous` are sent; without it, all of them.
 */
export function splitRunDoc(doc: unknown, previous?: unknown): RunDocWrite {
  if (!isPlainObject(doc)) throw invalidField('doc must be a JSON object', 'doc');
  const prev = isPlainObject(previous) ? previous : undefined;
  const w: RunDocWrite = { base: '', set: [], drop: [], full: prev === undefined };
  const base: Record<string, unknown> = { ...doc };
  const def = doc['definition'];
  if (isPlainObject(def)) {
    base['definition'] = PLACEHOLDER;
    if (prev?.['definition'] !== def) w.set.push([DEFINITION_FIELD, text(def, 'doc')]);
  } else if (prev !== undefined && isPlainObject(prev['definition'])) w.drop.push(DEFINITION_FIELD);
  const steps = doc['steps'];
  if (isPlainObject(steps)) base['steps'] = cutMap(steps, prev?.['steps'], STEP_PREFIX, w);
  else if (prev !== undefined) cutMap({}, prev['steps'], STEP_PREFIX, w);
  const context = doc['context'];
  const prevContext = prev?.['context'];
  const prevContextSteps = isPlainObject(prevContext) ? prevContext['steps'] : undefined;
  if (isPlainObject(context) && isPlainObject(context['steps'])) {
    base['context'] = { ...context, steps: cutMap(context['steps'], prevContextSteps, CONTEXT_STEP_PREFIX, w) };
  } else if (prev !== undefined) cutMap({}, prevContextSteps, CONTEXT_STEP_PREFIX, w);
  w.base = text(base, 'doc');
  return w;
}

/** The document of a record hash: the base with its parts put back (or the plain `doc` of older records). */
export function joinRunDoc(hash: Readonly<Record<string, string>>): Record<string, JsonValue> {
  const doc = JSON.parse(hash[BASE_FIELD] ?? '{}') as Record<string, JsonValue>;
  if (hash[LAYOUT_FIELD] !== PARTS_LAYOUT) return doc;
  const part = (field: string): JsonValue | undefined => {
    const t = hash[field];
    return t === undefined ? undefined : (JSON.parse(t) as JsonValue);
  };
  const fill = (map: Record<string, JsonValue>, prefix: string): void => {
    for (const [k, v] of Object.entries(map)) {
      if (v !== PLACEHOLDER) continue;
      const p = part(prefix + k);
      if (p !== undefined) Object.defineProperty(map, k, { value: p, writable: true, enumerable: true, configurable: true });
    }
  };
  if (doc['definition'] === PLACEHOLDER) {
    const def = part(DEFINITION_FIELD);
    if (def !== undefined) doc['definition'] = def;
  }
  if (isPlainObject(doc['steps'])) fill(doc['steps'], STEP_PREFIX);
  const context = doc['context'];
  if (isPlainObject(context) && isPlainObject(context['steps'])) fill(context['steps'], CONTEXT_STEP_PREFIX);
  return doc;
}
