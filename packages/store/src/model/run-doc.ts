import { randomUUID } from 'node:crypto';
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

/** A key as JSON text (step ids need no escaping; anything else goes through JSON.stringify). */
const keyText = (k: string): string => (/^[\w.-]*$/.test(k) ? `"${k}"` : JSON.stringify(k));

/**
 * Collects the parts of one map (`steps`, `context.steps`) into `w` (those that changed) and answers the
 * map as the base holds it, as JSON text: a placeholder for each part, other entries inline.
 */
function cutMap(map: Record<string, unknown>, before: unknown, prefix: string, w: RunDocWrite): string {
  const prev = isPlainObject(before) ? before : undefined;
  let out = '';
  for (const k in map) {
    const v = map[k];
    if (isPlainObject(v)) {
      out += `${out === '' ? '' : ','}${keyText(k)}:${PLACEHOLDER}`;
      if (prev?.[k] !== v) w.set.push([prefix + k, text(v, 'doc')]);
    } else {
      // As JSON.stringify does for an object: entries with no JSON form (undefined, functions) are left out.
      const t = text(v, 'doc') as string | undefined;
      if (t !== undefined) out += `${out === '' ? '' : ','}${keyText(k)}:${t}`;
    }
  }
  if (prev !== undefined && prev !== map) {
    for (const k in prev) {
      const was = prev[k];
      if (was !== map[k] && isPlainObject(was) && !isPlainObject(map[k])) w.drop.push(prefix + k);
    }
  }
  return `{${out}}`;
}

// The two maps are cut out as text and spliced into the base's JSON where these stand (unguessable, so no
// string of the document can be mistaken for them).
const NONCE = randomUUID();
const STEPS_MARK = `\u0000${NONCE}:steps`;
const CONTEXT_STEPS_MARK = `\u0000${NONCE}:context.steps`;

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
  let stepsText: string | undefined;
  if (isPlainObject(steps)) {
    stepsText = cutMap(steps, prev?.['steps'], STEP_PREFIX, w);
    base['steps'] = STEPS_MARK;
  } else if (prev !== undefined) cutMap({}, prev['steps'], STEP_PREFIX, w);
  const context = doc['context'];
  const prevContext = prev?.['context'];
  const prevContextSteps = isPlainObject(prevContext) ? prevContext['steps'] : undefined;
  let contextText: string | undefined;
  if (isPlainObject(context) && isPlainObject(context['steps'])) {
    contextText = cutMap(context['steps'], prevContextSteps, CONTEXT_STEP_PREFIX, w);
    base['context'] = { ...context, steps: CONTEXT_STEPS_MARK };
  } else if (prev !== undefined) cutMap({}, prevContextSteps, CONTEXT_STEP_PREFIX, w);
  let json = text(base, 'doc');
  // The marks are top-level strings of the base, so each occurs once; a function replacement keeps `$` literal.
  if (stepsText !== undefined) json = json.replace(JSON.stringify(STEPS_MARK), () => stepsText);
  if (contextText !== undefined) json = json.replace(JSON.stringify(CONTEXT_STEPS_MARK), () => contextText);
  w.base = json;
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
