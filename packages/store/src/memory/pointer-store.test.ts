import { contextPointer } from '@cordum/protocol';
import { memoryFactory, runPointerStoreContract } from '@cordum/testkit';
import { describe, expect, it } from 'vitest';
import { createMemoryPointerStore } from './pointer-store.js';

runPointerStoreContract(
  'memory',
  memoryFactory((ctx) => createMemoryPointerStore(ctx)),
);

describe('memory PointerStore', () => {
  it('uses payloadTtlMs when a put gives no ttl and expires exactly on the store clock', async () => {
    const fx = await memoryFactory((ctx) => createMemoryPointerStore(ctx), { payloadTtlMs: 1_000 })();
    const pointer = await fx.port.putContext('job-1', { tenant: 'acme', bytes: 'x' });
    const payload = await fx.port.require(pointer);
    expect(payload.expiresAt).toBe(payload.createdAt + 1_000);
    await fx.elapse(999);
    expect(await fx.port.get(pointer)).toBeDefined();
    // At expiresAt itself the payload is still there, as Redis keeps a key until now > expiresAt (isExpired).
    await fx.elapse(1);
    expect(await fx.port.get(pointer)).toBeDefined();
    await fx.elapse(1);
    expect(await fx.port.get(contextPointer('job-1'))).toBeUndefined();
  });

  it('never resolves pointers into the tenant namespace', async () => {
    const fx = await memoryFactory((ctx) => createMemoryPointerStore(ctx))();
    await expect(fx.port.require('redis://t:acme:idem:job:x')).rejects.toMatchObject({ code: 'input_expired' });
    expect(await fx.port.delete('redis://t:acme:lock:x')).toBe(false);
  });
});
