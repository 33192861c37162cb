import { memoryFactory, runIdempotencyStoreContract } from '@cordum/testkit';
import { describe, expect, it } from 'vitest';
import { createMemoryIdempotencyStore } from './idempotency-store.js';

runIdempotencyStoreContract(
  'memory',
  memoryFactory((ctx) => createMemoryIdempotencyStore(ctx)),
);

describe('memory IdempotencyStore', () => {
  it('uses idempotencyTtlMs when a claim gives no ttl and expires exactly on the store clock', async () => {
    const fx = await memoryFactory((ctx) => createMemoryIdempotencyStore(ctx), { idempotencyTtlMs: 1_000 })();
    const key = { tenant: 'acme', scope: 'job', key: 'req-1' };
    expect((await fx.port.claim(key, 'v')).claimed).toBe(true);
    await fx.elapse(999);
    expect(await fx.port.claim(key, 'w')).toEqual({ claimed: false, value: 'v' });
    // At expiresAt itself the key is still held: Redis keeps a key until now > expiresAt, and isExpired
    // applies that rule to every memory adapter (it used to expire here, a millisecond before Redis did).
    await fx.elapse(1);
    expect(await fx.port.claim(key, 'w')).toEqual({ claimed: false, value: 'v' });
    await fx.elapse(1);
    expect(await fx.port.claim(key, 'w')).toEqual({ claimed: true, value: 'w' });
  });
});
