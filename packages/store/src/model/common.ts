import { InvalidError, type JsonValue, canonicalJson, isPlainObject, isSafeTenantId, toError } from '@cordum/core';
import type { Page } from '../ports/common.js';
import { decodeCursor } from '../ports/cursor.js';

// What every port's model shares. model/ holds each port's input checks, normalisation and stored record
// formats, used by both its memory and its Redis adapter, so the two backends reject the same requests
// with the same errors and store the same bytes. Nothing in model/ touches a backend.

/** A caller's bad value quoted for a message: never throws (BigInt, cycles) and stays short. */
export function show(value: unknown): string {
  const text =
    typeof value === 'string'
      ? JSON.stringify(value)
      : typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined
        ? String(value)
        : typeof value;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * The tenant check of every port. Tenants end up inside store keys (`t:<tenant>:…`), so one rule, one
 * error: the Redis keyspace applies it too, for every tenant-owned key it builds.
 */
export function checkTenant(tenant: unknown): string {
  if (typeof tenant !== 'string' || !isSafeTenantId(tenant)) {
    throw new InvalidError(`invalid tenant id ${show(tenant)}: use 1-64 of A-Z a-z 0-9 . _ -`, {
      details: { tenant: typeof tenant === 'string' ? tenant : null },
    });
  }
  return tenant;
}

/** An InvalidError naming the offending field in its details. */
export function invalidField(message: string, field: string): InvalidError {
  return new InvalidError(message, { details: { field } });
}

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** A string of min..max characters, none of them a control character (names that end up in keys and logs). */
export function isPrintableText(value: unknown, min: number, max: number): value is string {
  return typeof value === 'string' && value.length >= min && value.length <= max && !CONTROL_CHARS.test(value);
}

export function checkText(value: unknown, field: string, min: number, max: number): string {
  if (!isPrintableText(value, min, max)) {
    throw invalidField(`${field} must be ${min}-${max} printable characters; got ${show(value)}`, field);
  }
  return value;
}

/** A plain object that survives a JSON round trip unchanged; InvalidError otherwise. */
export function checkJsonObject(value: unknown, field: string): Record<string, JsonValue> {
  if (!isPlainObject(value)) throw invalidField(`${field} must be a JSON object`, field);
  try {
    canonicalJson(value);
  } catch (err) {
    throw invalidField(`${field} is not representable as JSON: ${(err as Error).message}`, field);
  }
  return value as Record<string, JsonValue>;
}

/** Longest TTL of a payload or an idempotency key. */
const MAX_TTL_MS = 100 * 365 * 86_400_000;

export function checkTtlMs(ttlMs: number): number {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_TTL_MS) {
    throw new InvalidError(`ttlMs must be an integer from 1 ms to 100 years, got ${ttlMs}`, {
      details: { ttl_ms: ttlMs },
    });
  }
  return ttlMs;
}

/**
 * Whether a record with this expiry (store-clock ms) is gone at `now`. Redis's rule, which every adapter
 * follows so the two backends agree to the millisecond: a key with PEXPIREAT t is still there at t and gone
 * from t + 1 on. The scripts compare the same way against Redis TIME.
 */
export function isExpired(expiresAt: number, now: number): boolean {
  return expiresAt < now;
}

/** Byte order of UTF-8 strings: the order Redis uses for BYLEX ranges and for sorting members. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The position a listing continues from; undefined for the first page (no cursor, or null). */
export function decodeQueryCursor<T>(
  cursor: string | null | undefined,
  check: (value: unknown) => value is T,
): T | undefined {
  return cursor === undefined || cursor === null ? undefined : decodeCursor(cursor, check);
}

/**
 * The first `limit` of `found` as a page. `found` holds more than `limit` items exactly when another page
 * exists (adapters fetch limit + 1, or everything), and then the cursor points after the last item kept.
 */
export function pageOf<T>(found: readonly T[], limit: number, cursorOf: (last: T) => string): Page<T>;
export function pageOf<T, U>(
  found: readonly T[],
  limit: number,
  cursorOf: (last: T) => string,
  map: (item: T) => U,
): Page<U>;
export function pageOf<T, U>(
  found: readonly T[],
  limit: number,
  cursorOf: (last: T) => string,
  map?: (item: T) => U,
): Page<T | U> {
  const kept = found.slice(0, limit);
  const last = kept[kept.length - 1];
  return {
    items: map === undefined ? kept : kept.map((item) => map(item)),
    nextCursor: found.length > limit && last !== undefined ? cursorOf(last) : null,
  };
}

/**
 * Runs a synchronous store operation as a promise, so a validation error rejects instead of throwing.
 * The memory adapters decide synchronously, which is what makes their compare-and-set atomic.
 */
export function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(toError(err));
  }
}
