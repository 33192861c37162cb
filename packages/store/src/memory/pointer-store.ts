import { ConflictError, InvalidError, NotFoundError, isSafeId, isSafeTenantId, toError } from '@cordum/core';
import { contextPointer, pointerKey, resultPointer } from '@cordum/protocol';
import type { Payload, PointerStore, PutPayload } from '../ports/pointer-store.js';
import type { MemoryStoreContext } from './context.js';

// Mirrors the Redis adapter: records keyed by the pointer's key (what follows redis://), expiry by the
// store clock (ctx.clock), keys of the tenant namespace (t:…) never resolve. Bytes are copied in and out,
// so no caller can change a stored payload through a buffer it holds.

const DEFAULT_CONTENT_TYPE = 'application/json';
const MAX_TTL_MS = 100 * 365 * 86_400_000;
/** Expired records are dropped when read, and all of them every this many writes. */
const SWEEP_EVERY = 256;

type StoredPayload = {
  bytes: Buffer;
  contentType: string;
  tenant: string;
  createdAt: number;
  expiresAt: number;
};

export function createMemoryPointerStore(ctx: MemoryStoreContext): PointerStore {
  const records = new Map<string, StoredPayload>();
  let writes = 0;

  const keyOf = (pointer: string): string | undefined => {
    const key = pointerKey(pointer);
    return key === undefined || key.startsWith('t:') ? undefined : key;
  };

  /** The live record behind a key; drops it when expired. Alive while now < expiresAt. */
  const live = (key: string): StoredPayload | undefined => {
    const record = records.get(key);
    if (record === undefined) return undefined;
    if (record.expiresAt <= ctx.clock.now()) {
      records.delete(key);
      return undefined;
    }
    return record;
  };

  const sweep = (): void => {
    if (++writes % SWEEP_EVERY !== 0) return;
    const now = ctx.clock.now();
    for (const [key, record] of records) if (record.expiresAt <= now) records.delete(key);
  };

  const put = (mode: 'once' | 'replace', pointer: string, payload: PutPayload): string => {
    const { bytes, contentType, ttlMs } = checkPut(payload, ctx.options.payloadTtlMs);
    const key = keyOf(pointer);
    if (key === undefined) throw new InvalidError(`cannot store a payload behind ${pointer}`);
    const now = ctx.clock.now();
    const expiresAt = now + ttlMs;
    const current = live(key);
    if (mode === 'once' && current !== undefined) {
      if (!current.bytes.equals(bytes) || current.contentType !== contentType || current.tenant !== payload.tenant) {
        throw new ConflictError(
          `the input behind ${pointer} is write-once and already holds a different payload`,
          {
            code: 'already_exists',
            details: {
              pointer,
              message: `the input behind ${pointer} is write-once and already holds a different payload`,
            },
          },
        );
      }
      // A retried submit with the same payload: never shorten its life.
      current.expiresAt = Math.max(current.expiresAt, expiresAt);
      return pointer;
    }
    records.set(key, { bytes, contentType, tenant: payload.tenant, createdAt: now, expiresAt });
    sweep();
    return pointer;
  };

  const get = (pointer: string): Payload | undefined => {
    const key = keyOf(pointer);
    const record = key === undefined ? undefined : live(key);
    if (record === undefined) return undefined;
    return {
      pointer,
      bytes: new Uint8Array(record.bytes),
      contentType: record.contentType,
      tenant: record.tenant,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
    };
  };

  return {
    putContext: (jobId, payload) => attempt(() => put('once', contextPointer(checkJobId(jobId)), payload)),
    putResult: (jobId, payload) => attempt(() => put('replace', resultPointer(checkJobId(jobId)), payload)),
    get: (pointer) => attempt(() => get(pointer)),
    require: (pointer) =>
      attempt(() => {
        const payload = get(pointer);
        if (payload === undefined) throw inputExpired(pointer);
        return payload;
      }),
    extend: (pointer, untilMs) =>
      attempt(() => {
        if (!Number.isSafeInteger(untilMs)) {
          throw new InvalidError(`untilMs must be an integer store-clock time in ms, got ${untilMs}`, {
            details: { until_ms: untilMs },
          });
        }
        const key = keyOf(pointer);
        const record = key === undefined ? undefined : live(key);
        if (record === undefined) return false;
        record.expiresAt = Math.max(record.expiresAt, untilMs);
        return true;
      }),
    delete: (pointer) =>
      attempt(() => {
        const key = keyOf(pointer);
        if (key === undefined || live(key) === undefined) return false;
        return records.delete(key);
      }),
  };
}

/** Runs a synchronous store operation as a promise (so a validation error rejects instead of throwing). */
function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(toError(err));
  }
}

function checkJobId(jobId: string): string {
  if (typeof jobId !== 'string' || !isSafeId(jobId)) {
    throw new InvalidError(
      `invalid job id ${JSON.stringify(jobId)}: use 1-200 characters without whitespace or slashes`,
      { details: { job_id: jobId } },
    );
  }
  return jobId;
}

function checkPut(
  payload: PutPayload,
  defaultTtlMs: number,
): { bytes: Buffer; contentType: string; ttlMs: number } {
  if (!isSafeTenantId(payload.tenant)) {
    throw new InvalidError(`invalid tenant id ${JSON.stringify(payload.tenant)}: use 1-64 of A-Z a-z 0-9 . _ -`, {
      details: { tenant: payload.tenant },
    });
  }
  const { bytes } = payload;
  if (typeof bytes !== 'string' && !(bytes instanceof Uint8Array)) {
    throw new InvalidError('payload bytes must be a Uint8Array or a string');
  }
  const contentType = payload.contentType ?? DEFAULT_CONTENT_TYPE;
  if (typeof contentType !== 'string' || contentType === '') {
    throw new InvalidError('contentType must be a non-empty string', { details: { content_type: contentType } });
  }
  const ttlMs = payload.ttlMs ?? defaultTtlMs;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_TTL_MS) {
    throw new InvalidError(`ttlMs must be an integer from 1 ms to 100 years, got ${ttlMs}`, {
      details: { ttl_ms: ttlMs },
    });
  }
  // Buffer.from copies: the caller keeps its array, the store keeps its own bytes.
  return { bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes), contentType, ttlMs };
}

function inputExpired(pointer: string): NotFoundError {
  return new NotFoundError(
    `the payload behind ${pointer} has expired or was never written; resubmit it with a fresh payload`,
    { code: 'input_expired', details: { pointer } },
  );
}
