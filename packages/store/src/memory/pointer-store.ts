import { ConflictError, InvalidError } from '@cordum/core';
import { contextPointer } from '@cordum/protocol';
import { isExpired, settle } from '../model/common.js';
import {
  checkDeleteTenant,
  checkJobId,
  checkPutPayload,
  checkUntilMs,
  inputExpired,
  payloadKey,
  resultPointerFor,
  resultOfAnotherTenant,
} from '../model/pointer.js';
import type { Payload, PointerStore, PutPayload } from '../ports/pointer-store.js';
import { type MemoryStoreContext, fenceUp } from './context.js';
import { fenceDown } from '../model/fence.js';

// Mirrors the Redis adapter: records keyed by the pointer's key (what follows redis://), expiry by the
// store clock (ctx.clock), keys of the tenant namespace (t:…) never resolve. Bytes are copied in and out,
// so no caller can change a stored payload through a buffer it holds.

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

  /** The live record behind a key; drops it when expired (isExpired: alive through expiresAt itself). */
  const live = (key: string): StoredPayload | undefined => {
    const record = records.get(key);
    if (record === undefined) return undefined;
    if (isExpired(record.expiresAt, ctx.clock.now())) {
      records.delete(key);
      return undefined;
    }
    return record;
  };

  const sweep = (): void => {
    if (++writes % SWEEP_EVERY !== 0) return;
    const now = ctx.clock.now();
    for (const [key, record] of records) if (isExpired(record.expiresAt, now)) records.delete(key);
  };

  const put = (mode: 'once' | 'replace', pointer: string, payload: PutPayload): string => {
    const { bytes, contentType, ttlMs, fence } = checkPutPayload(payload, ctx.options.payloadTtlMs);
    const key = payloadKey(pointer);
    if (key === undefined) throw new InvalidError(`cannot store a payload behind ${pointer}`);
    if (mode === 'once' && fence !== undefined && !fenceUp(ctx, fence)) throw fenceDown(fence, `the input behind ${pointer}`);
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
    if (mode === 'replace' && current !== undefined && current.tenant !== payload.tenant) {
      throw resultOfAnotherTenant(pointer);
    }
    records.set(key, { bytes, contentType, tenant: payload.tenant, createdAt: now, expiresAt });
    sweep();
    return pointer;
  };

  const get = (pointer: string): Payload | undefined => {
    const key = payloadKey(pointer);
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
    putContext: (jobId, payload) => settle(() => put('once', contextPointer(checkJobId(jobId)), payload)),
    putResult: (jobId, payload, options) => settle(() => put('replace', resultPointerFor(jobId, options), payload)),
    get: (pointer) => settle(() => get(pointer)),
    require: (pointer) =>
      settle(() => {
        const payload = get(pointer);
        if (payload === undefined) throw inputExpired(pointer);
        return payload;
      }),
    extend: (pointer, untilMs) =>
      settle(() => {
        checkUntilMs(untilMs);
        const key = payloadKey(pointer);
        const record = key === undefined ? undefined : live(key);
        if (record === undefined) return false;
        record.expiresAt = Math.max(record.expiresAt, untilMs);
        return true;
      }),
    delete: (pointer, options) =>
      settle(() => {
        const tenant = checkDeleteTenant(options);
        const key = payloadKey(pointer);
        const record = key === undefined ? undefined : live(key);
        if (key === undefined || record === undefined) return false;
        if (tenant !== undefined && record.tenant !== tenant) return false;
        return records.delete(key);
      }),
  };
}
