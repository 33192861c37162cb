import { DeniedError, InvalidError, NotFoundError, isSafeId } from '@cordum/core';
import { pointerKey, resultPointer } from '@cordum/protocol';
import type { DeletePayloadOptions, PutPayload, PutResultOptions } from '../ports/pointer-store.js';
import { checkTenant, checkTtlMs } from './common.js';
import { checkFence } from './fence.js';

// PointerStore input checks and the pointer → key rule, shared by the memory and Redis adapters.

export const DEFAULT_PAYLOAD_CONTENT_TYPE = 'application/json';

/**
 * What follows redis:// in a pointer, or undefined when the pointer can never name a payload. Keys of the
 * tenant namespace (t:…) never hold payloads: pointers arrive in packets, and a crafted one must not reach
 * tenant data.
 */
export function payloadKey(pointer: string): string | undefined {
  const key = pointerKey(pointer);
  return key === undefined || key.startsWith('t:') ? undefined : key;
}

export function checkJobId(jobId: string): string {
  if (typeof jobId !== 'string' || !isSafeId(jobId)) {
    throw new InvalidError(
      `invalid job id ${JSON.stringify(jobId)}: use 1-200 characters without whitespace or slashes`,
      { details: { job_id: jobId } },
    );
  }
  return jobId;
}

const VARIANT = /^[a-z][a-z0-9_-]{0,31}$/;

/** The pointer putResult writes: the job's output, or a named derived output beside it. */
export function resultPointerFor(jobId: string, options: PutResultOptions | undefined): string {
  const pointer = resultPointer(checkJobId(jobId));
  const variant = options?.variant;
  if (variant === undefined) return pointer;
  if (typeof variant !== 'string' || !VARIANT.test(variant)) {
    throw new InvalidError(`invalid result variant ${JSON.stringify(variant)}: use 1-32 of a-z 0-9 _ -, starting with a letter`, {
      details: { variant: typeof variant === 'string' ? variant : null },
    });
  }
  return `${pointer}:${variant}`;
}

export type CheckedPayload = {
  /** A copy: the caller keeps its array, the store keeps (or sends) its own bytes. */
  bytes: Buffer;
  contentType: string;
  ttlMs: number;
  /** Write only while this fence is up (model/fence.ts). */
  fence: string | undefined;
};

export function checkPutPayload(payload: PutPayload, defaultTtlMs: number): CheckedPayload {
  checkTenant(payload.tenant);
  const { bytes } = payload;
  if (typeof bytes !== 'string' && !(bytes instanceof Uint8Array)) {
    throw new InvalidError('payload bytes must be a Uint8Array or a string');
  }
  const contentType = payload.contentType ?? DEFAULT_PAYLOAD_CONTENT_TYPE;
  if (typeof contentType !== 'string' || contentType === '') {
    throw new InvalidError('contentType must be a non-empty string', { details: { content_type: contentType } });
  }
  const ttlMs = checkTtlMs(payload.ttlMs ?? defaultTtlMs);
  return {
    bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes),
    contentType,
    ttlMs,
    fence: checkFence(payload.fence, 'fence'),
  };
}

export function checkUntilMs(untilMs: number): number {
  if (!Number.isSafeInteger(untilMs)) {
    throw new InvalidError(`untilMs must be an integer store-clock time in ms, got ${untilMs}`, {
      details: { until_ms: untilMs },
    });
  }
  return untilMs;
}

export function inputExpired(pointer: string): NotFoundError {
  return new NotFoundError(
    `the payload behind ${pointer} has expired or was never written; resubmit it with a fresh payload`,
    { code: 'input_expired', details: { pointer } },
  );
}

/** The tenant a delete is restricted to, checked; undefined when the delete is not restricted. */
export function checkDeleteTenant(options: DeletePayloadOptions | undefined): string | undefined {
  return options?.tenant === undefined ? undefined : checkTenant(options.tenant);
}

/**
 * A putResult over another tenant's output. The message (also built by pointer-put.lua) does not name the
 * owner: which tenant ran a job is not the caller's to learn.
 */
export function resultOfAnotherTenant(pointer: string): DeniedError {
  const message = `the output behind ${pointer} was written by another tenant; only that tenant may replace it`;
  return new DeniedError(message, { code: 'permission_denied', details: { pointer, message } });
}
