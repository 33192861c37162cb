import { memoryFactory, runLockStoreContract } from '@cordum/testkit';
import { describe, expect, it } from 'vitest';
import { createMemoryLockStore } from './lock-store.js';

runLockStoreContract(
  'memory',
  memoryFactory((ctx) => createMemoryLockStore(ctx)),
);

describe('memory LockStore', () => {
  it('holds for exactly 30 s by default on the store clock', async () => {
    const fx = await memoryFactory((ctx) => createMemoryLockStore(ctx))();
    await fx.port.acquire({ tenant: 'acme', resource: 'r', owner: 'a', mode: 'exclusive' });
    await fx.elapse(29_999);
    const b = { tenant: 'acme', resource: 'r', owner: 'b', mode: 'exclusive' } as const;
    await expect(fx.port.acquire(b)).rejects.toMatchObject({ code: 'lock_held' });
    // At expiresAt itself the hold still counts, as Redis keeps the lock key (and lock-*.lua keep the owner)
    // until now > expiresAt (isExpired).
    await fx.elapse(1);
    await expect(fx.port.acquire(b)).rejects.toMatchObject({ code: 'lock_held' });
    await fx.elapse(1);
    expect(await fx.port.get('acme', 'r')).toBeUndefined();
    expect((await fx.port.acquire(b)).owners['b']).toBeDefined();
  });
});
