import { ConflictError, isSafeId } from '@cordum/core';
import { invalidField } from './common.js';

// Fences: a write may raise a fence (RunUpdate.fence) when it happens, and other writes may be fenced on it
// (NewJob.fence, PutPayload.fence): they happen only if the fence is up. A caller can then send a
// compare-and-set and the writes that must follow it in one round trip — the backend runs them in order —
// and a write whose compare-and-set lost writes nothing (fence_down). A raised fence stays up FENCE_TTL_MS.

export const FENCE_TTL_MS = 60_000;

/** A fence token, or undefined when none is given. */
export function checkFence(token: unknown, field: string): string | undefined {
  if (token === undefined) return undefined;
  if (typeof token !== 'string' || token.length > 128 || !isSafeId(token)) {
    throw invalidField(`${field} must be 1-128 characters of A-Z a-z 0-9 . _ : @ # - [ ]`, field);
  }
  return token;
}

export function fenceDown(token: string, what: string): ConflictError {
  const message = `${what} is fenced on a write that has not happened (fence ${token})`;
  return new ConflictError(message, { code: 'fence_down', details: { fence: token, message } });
}
