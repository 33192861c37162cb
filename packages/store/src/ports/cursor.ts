import { InvalidError } from '@cordum/core';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, type PageQuery } from './common.js';

/** Opaque cursors: base64url of a JSON value. Adapters choose what goes inside. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** Decodes a cursor made by encodeCursor; throws InvalidError for anything else. */
export function decodeCursor<T>(cursor: string, check: (value: unknown) => value is T): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidError('malformed cursor: pass back the next_cursor of a previous page', {
      details: { cursor },
    });
  }
  if (!check(value)) {
    throw new InvalidError('malformed cursor: pass back the next_cursor of a previous page', {
      details: { cursor },
    });
  }
  return value;
}

/** The page size to use: default 50, 1..1000, InvalidError otherwise. */
export function pageLimit(query: PageQuery | undefined): number {
  const limit = query?.limit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new InvalidError(`limit must be an integer from 1 to ${MAX_PAGE_LIMIT}, got ${limit}`, {
      details: { limit },
    });
  }
  return limit;
}
