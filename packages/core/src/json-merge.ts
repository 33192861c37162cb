import { isPlainObject, type JsonValue } from './canonical-json.js';

// Keys that would reach an object's prototype chain instead of becoming data. JSON.parse turns
// `{"__proto__": …}` into an own property; copying it with `obj[key] = …` would swap the prototype.
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * RFC 7386 JSON Merge Patch: objects merge recursively, `null` deletes a key, anything else (arrays
 * included) replaces. Returns a new value; neither input is modified. `__proto__`, `constructor` and
 * `prototype` keys are ignored (config writers reject them; see `hasUnsafeKeys`).
 */
export function jsonMergePatch(target: unknown, patch: unknown): JsonValue {
  if (!isPlainObject(patch)) return structuredClone(patch) as JsonValue;
  const out: Record<string, JsonValue> = {};
  if (isPlainObject(target)) {
    for (const [key, value] of Object.entries(target)) {
      if (!UNSAFE_KEYS.has(key)) out[key] = structuredClone(value) as JsonValue;
    }
  }
  for (const [key, value] of Object.entries(patch)) {
    if (UNSAFE_KEYS.has(key)) continue;
    if (value === null) {
      delete out[key];
    } else if (value !== undefined) {
      out[key] = jsonMergePatch(out[key], value);
    }
  }
  return out;
}

/** The path of the first `__proto__` / `constructor` / `prototype` key in a JSON value, or undefined. */
export function hasUnsafeKeys(value: unknown, path = '$'): string | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = hasUnsafeKeys(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (!isPlainObject(value)) return undefined;
  for (const [key, v] of Object.entries(value)) {
    if (UNSAFE_KEYS.has(key)) return `${path}.${key}`;
    const found = hasUnsafeKeys(v, `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}
