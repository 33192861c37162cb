import { randomFillSync, randomUUID } from 'node:crypto';

// Random bytes for ids come from a pool refilled in one call, not one crypto call per id (a hot path: every
// submitted job gets one).
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let poolOffset = POOL_BYTES;

// Ids made by this process in the same millisecond are ordered too: the 12-bit rand_a field is a counter
// (RFC 9562 §6.2, method 1) that starts at a random value below 2048 for each new millisecond and counts up
// (at least 2,048 ordered ids per millisecond; past 4,095 it starts again from a random value).
let lastMs = -1;
let counter = 0;

/**
 * A UUIDv7 (RFC 9562): 48-bit millisecond timestamp, a 12-bit counter, then random bits, so ids sort by
 * creation time — within one process even inside one millisecond — useful as cursor tiebreakers ("newest
 * first" lists) and for index locality.
 */
export function newId(nowMs: number = Date.now()): string {
  if (poolOffset + 16 > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = Buffer.allocUnsafe(16);
  pool.copy(bytes, 0, poolOffset, poolOffset + 16);
  poolOffset += 16;
  // 48-bit timestamp, big-endian: the high 16 bits and the low 32 bits (exact in a double up to 2^53).
  const high = Math.floor(nowMs / 0x1_0000_0000);
  bytes.writeUInt16BE(high & 0xffff, 0);
  bytes.writeUInt32BE((nowMs - high * 0x1_0000_0000) >>> 0, 2);
  if (nowMs === lastMs && counter < 0xfff) {
    counter++;
  } else {
    // A new millisecond (or an exhausted counter, or a clock that went back): a fresh random start.
    counter = (((bytes[6] ?? 0) & 0x07) << 8) | (bytes[7] ?? 0);
    lastMs = nowMs;
  }
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A W3C trace-context trace id: 32 lowercase hex characters, never all zero. */
export function newTraceId(): string {
  const u = randomUUID();
  return u.slice(0, 8) + u.slice(9, 13) + u.slice(14, 18) + u.slice(19, 23) + u.slice(24);
}

/** Millisecond timestamp embedded in a newId() value, or undefined for other ids. */
export function idTimestamp(id: string): number | undefined {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-7/.exec(id);
  if (m === null) return undefined;
  return Number.parseInt(`${m[1] ?? ''}${m[2] ?? ''}`, 16);
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._:@#\-[\]]{0,199}$/;

/**
 * True for ids we accept from callers (job ids, run ids, tenant ids): 1-200 characters, no whitespace,
 * no slashes, no NATS wildcards, starting with a letter or digit.
 */
export function isSafeId(id: string): boolean {
  return SAFE_ID.test(id);
}

const TENANT_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

/** Tenant ids appear inside store keys and subjects: 1-64 of [A-Za-z0-9._-], no colon, no slash. */
export function isSafeTenantId(tenant: string): boolean {
  return TENANT_ID.test(tenant);
}
