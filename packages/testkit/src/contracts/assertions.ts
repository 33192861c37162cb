import {
  type ConflictError,
  type CordumError,
  type DeniedError,
  type InvalidError,
  type NotFoundError,
  isCordumError,
} from '@cordum/core';
import type { Page } from '@cordum/store';
import { expect } from 'vitest';

// Assertions the contract suites share: how a suite waits for a call to fail, and how it walks a listing.

export type ErrorClass = typeof ConflictError | typeof DeniedError | typeof InvalidError | typeof NotFoundError;

/** The CordumError a call rejects with; fails the test if it succeeds or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<CordumError> {
  try {
    await promise;
  } catch (err) {
    if (isCordumError(err)) return err;
    throw err;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Expects the call to reject with an error of class `cls` and code `code`; returns it for further checks. */
export async function expectRejection(promise: Promise<unknown>, cls: ErrorClass, code: string): Promise<CordumError> {
  const err = await rejection(promise);
  expect(err).toBeInstanceOf(cls);
  expect(err.code).toBe(code);
  return err;
}

/** Expects the call to reject as invalid input (kind invalid, code invalid_argument). */
export function expectInvalid(promise: Promise<unknown>): Promise<void> {
  return expect(promise).rejects.toMatchObject({ kind: 'invalid', code: 'invalid_argument' });
}

export type AllPagesOptions = {
  /** When given, every page must hold at most this many items. */
  limit?: number;
  /** The cursor of the first request (default null: from the start). */
  from?: string | null;
  /** Pages read before the listing counts as never ending (default 1000). */
  maxPages?: number;
};

/** Every item of a listing, following nextCursor until it is null, and how many pages that took. */
export async function allPages<T>(
  list: (cursor: string | null) => Promise<Page<T>>,
  options: AllPagesOptions = {},
): Promise<{ items: T[]; pages: number }> {
  const { limit, from = null, maxPages = 1000 } = options;
  const items: T[] = [];
  let cursor = from;
  for (let pages = 1; pages <= maxPages; pages++) {
    const page = await list(cursor);
    if (limit !== undefined) expect(page.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === null) return { items, pages };
  }
  throw new Error(`listing did not end within ${maxPages} pages`);
}
