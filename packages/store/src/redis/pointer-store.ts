import { InvalidError, sha256Hex } from '@cordum/core';
import { contextPointer } from '@cordum/protocol';
import {
  DEFAULT_PAYLOAD_CONTENT_TYPE,
  checkDeleteTenant,
  checkJobId,
  checkPutPayload,
  checkUntilMs,
  inputExpired,
  payloadKey,
  resultPointerFor,
} from '../model/pointer.js';
import type { Payload, PointerStore, PutPayload } from '../ports/pointer-store.js';
import type { RedisStoreContext } from './context.js';
import { mapRedisError } from './errors.js';
import { loadScript } from './script.js';

// Layout: a pointer redis://<K> lives at the hash <prefix><K> (fields data, content_type, tenant, sha256,
// created_at, expires_at; PEXPIREAT expires_at). This is the one place where the tenant is not in the key:
// pointers are global names (redis://ctx:<job>), so the tenant is recorded in the record and returned in
// Payload.tenant for the gateway to check.
//
// Hazard: pointers arrive in packets, so a crafted redis://<K> can name any key under the prefix. Keys of the
// tenant namespace (t:…) never hold payloads and are refused outright; for any other key, only a hash with
// data and tenant fields counts as a payload (the scripts check the same before extend or delete).
// An output (res:<job>) belongs to the tenant that wrote it: pointer-put refuses another tenant's replace.

const putScript = loadScript('pointer-put');
const extendScript = loadScript('pointer-extend');
const deleteScript = loadScript('pointer-delete');

const FIELDS = ['data', 'content_type', 'tenant', 'created_at', 'expires_at'] as const;

export function createRedisPointerStore(ctx: RedisStoreContext): PointerStore {
  const { client } = ctx;

  /** The Redis key behind a pointer, or undefined when the pointer can never name a payload. */
  const keyOf = (pointer: string): string | undefined => {
    const key = payloadKey(pointer);
    return key === undefined ? undefined : ctx.keys.prefix + key;
  };

  const put = async (mode: 'once' | 'replace', pointer: string, payload: PutPayload): Promise<string> => {
    const { bytes, contentType, ttlMs, fence } = checkPutPayload(payload, ctx.options.payloadTtlMs);
    const key = keyOf(pointer);
    if (key === undefined) throw new InvalidError(`cannot store a payload behind ${pointer}`);
    const keys = mode === 'once' && fence !== undefined ? [key, ctx.keys.key('fence', fence)] : [key];
    // The bytes go out as a Buffer, verbatim: binary-safe.
    await putScript.run(client, keys, [mode, bytes, contentType, payload.tenant, sha256Hex(bytes), ttlMs, pointer]);
    return pointer;
  };

  const get = async (pointer: string): Promise<Payload | undefined> => {
    const key = keyOf(pointer);
    if (key === undefined) return undefined;
    let row: (Buffer | null)[];
    try {
      row = await client.hmgetBuffer(key, ...FIELDS);
    } catch (err) {
      // A key of another type is not a payload.
      if (err instanceof Error && err.message.startsWith('WRONGTYPE')) return undefined;
      throw mapRedisError(err, `get ${pointer}`);
    }
    const [data, contentType, tenant, createdAt, expiresAt] = row;
    if (data == null || tenant == null) return undefined;
    return {
      pointer,
      // Copy: the reply buffer may be a view of a larger socket buffer.
      bytes: new Uint8Array(data),
      contentType: contentType?.toString('utf8') ?? DEFAULT_PAYLOAD_CONTENT_TYPE,
      tenant: tenant.toString('utf8'),
      createdAt: toMs(createdAt) ?? 0,
      expiresAt: toMs(expiresAt),
    };
  };

  return {
    putContext: async (jobId, payload) => put('once', contextPointer(checkJobId(jobId)), payload),
    putResult: async (jobId, payload, options) => put('replace', resultPointerFor(jobId, options), payload),
    get,
    async require(pointer) {
      const payload = await get(pointer);
      if (payload === undefined) throw inputExpired(pointer);
      return payload;
    },
    async extend(pointer, untilMs) {
      checkUntilMs(untilMs);
      const key = keyOf(pointer);
      if (key === undefined) return false;
      return (await extendScript.run(client, [key], [untilMs])) === 1;
    },
    async delete(pointer, options) {
      const tenant = checkDeleteTenant(options);
      const key = keyOf(pointer);
      if (key === undefined) return false;
      return (await deleteScript.run(client, [key], [tenant ?? ''])) === 1;
    },
  };
}

function toMs(value: Buffer | null | undefined): number | null {
  if (value == null) return null;
  const n = Number(value.toString('utf8'));
  return Number.isFinite(n) ? n : null;
}
