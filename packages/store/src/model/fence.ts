import { ConflictError } from '@cordum/core';
import type { FenceRequirement } from '../ports/run-store.js';
import { invalidField } from './common.js';

// Fences: a write may raise a fence when it happens, and other writes may be fenced on it: they happen only
// if the fence is up (with the expected value). A caller can then send a write and the writes that depend on
// it in one round trip — the backend runs them in order — and a dependent write whose premise did not
// happen writes nothing. A raised fence stays up FENCE_TTL_MS. Two uses:
//  - RunUpdate.fence raises a token when the compare-and-set happens; NewJob.fence and PutPayload.fence
//    (putContext) are written only while it is up (fence_down otherwise).
//  - TransitionRequest.fence raises jobFinalFence(id) with the job's outcome (outcomeFenceValue) when a
//    job's terminal transition happens; RunUpdate.requires makes a run write depend on it, so a workflow
//    engine can act on an outcome it was told about and have the store confirm it in the same write.

export const FENCE_TTL_MS = 60_000;

/** A fence token, or undefined when none is given. */
export function checkFence(token: unknown, field: string): string | undefined {
  if (token === undefined) return undefined;
  if (typeof token !== 'string' || token.length > 256 || !/^[\x21-\x7e]+$/.test(token)) {
    throw invalidField(`${field} must be 1-256 printable ASCII characters without spaces`, field);
  }
  return token;
}

/** The fence a job's terminal transition raises (TransitionRequest.fence). */
export function jobFinalFence(jobId: string): string {
  return `job-final:${jobId}`;
}

export type JobOutcome = {
  tenant: string;
  /** The job's run_id label ('' for none). */
  runId: string;
  state: string;
  resultPtr: string | null;
  errorCode: string | null;
  errorMessage: string | null;
};

/**
 * The value of a job's final fence: its tenant, run_id label, state, result pointer, error code and message,
 * each written as `<UTF-8 byte length>:<text>` (the Redis script builds the same string from the stored
 * record).
 */
export function outcomeFenceValue(o: JobOutcome): string {
  return [o.tenant, o.runId, o.state, o.resultPtr ?? '', o.errorCode ?? '', o.errorMessage ?? '']
    .map((t) => `${Buffer.byteLength(t, 'utf8')}:${t}`)
    .join('');
}

export function checkRequirements(requires: unknown): FenceRequirement[] {
  if (requires === undefined) return [];
  if (!Array.isArray(requires)) throw invalidField('requires must be a list of {fence, value}', 'requires');
  return requires.map((r: unknown, i) => {
    const fence = checkFence((r as { fence?: unknown } | null)?.fence, `requires[${i}].fence`);
    const value = (r as { value?: unknown }).value;
    if (fence === undefined || typeof value !== 'string') throw invalidField(`requires[${i}] must be {fence, value}`, `requires[${i}]`);
    return { fence, value };
  });
}

export function fenceDown(token: string, what: string): ConflictError {
  const message = `${what} is fenced on a write that has not happened (fence ${token})`;
  return new ConflictError(message, { code: 'fence_down', details: { fence: token, message } });
}
