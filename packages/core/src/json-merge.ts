import { isPlainObject, type JsonValue } from './canonical-json.js';

/**
 * RFC 7386 JSON Merge Patch: objects merge recursively, `null` deletes a key, anything else (arrays
 * included) replaces. Returns a new value; neither input is modified.
 */
export function jsonMergePatch(target: unknown, patch: unknown): JsonValue {
  if (!isPlainObject(patch)) return structuredClone(patch) as JsonValue;
  const out: Record<string, JsonValue> = isPlainObject(target)
    ? (structuredClone(target) as Record<string, JsonValue>)
    : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete out[key];
    } else if (value !== undefined) {
      out[key] = jsonMergePatch(out[key], value);
    }
  }
  return out;
}
