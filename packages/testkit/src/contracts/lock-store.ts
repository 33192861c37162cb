import { ConflictError, type CordumError, InvalidError, NotFoundError, isCordumError } from '@cordum/core';
import type { LockInfo, LockMode, LockStore } from '@cordum/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectRejection, rejection } from './assertions.js';
import type { PortFactory, PortFixture } from './fixture.js';

const ownersOf = (info: LockInfo | undefined | null): string[] => Object.keys(info?.owners ?? {}).sort();

/**
 * The LockStore contract: shared/exclusive locks with owners, re-entrant counts, per-owner expiry on the
 * store clock, upgrades, and mutual exclusion under real concurrency (across twin instances).
 */
export function runLockStoreContract(label: string, factory: PortFactory<LockStore>): void {
  describe(`LockStore contract (${label})`, () => {
    let fx: PortFixture<LockStore>;
    let store: LockStore;
    const req = (owner: string, mode: LockMode, ttlMs = 60_000, resource = 'res-1', tenant = 'acme') => ({
      tenant,
      resource,
      owner,
      mode,
      ttlMs,
    });
    const key = (owner: string, resource = 'res-1', tenant = 'acme') => ({ tenant, resource, owner });

    beforeEach(async () => {
      fx = await factory();
      store = fx.port;
    });
    afterEach(async () => {
      await fx.close();
    });

    it('acquires a free lock exclusively and reads it back', async () => {
      const info = await store.acquire(req('a', 'exclusive', 60_000));
      expect(info.tenant).toBe('acme');
      expect(info.resource).toBe('res-1');
      expect(info.mode).toBe('exclusive');
      expect(ownersOf(info)).toEqual(['a']);
      expect(info.owners['a']!.count).toBe(1);
      expect(Math.abs(info.owners['a']!.expiresAt - 60_000 - Date.now())).toBeLessThan(5_000);
      expect(info.expiresAt).toBe(info.owners['a']!.expiresAt);
      expect(await store.get('acme', 'res-1')).toEqual(info);
      expect(await store.get('acme', 'res-2')).toBeUndefined();
    });

    it('holds for 30 s by default', async () => {
      const info = await store.acquire({ tenant: 'acme', resource: 'res-1', owner: 'a', mode: 'shared' });
      expect(Math.abs(info.expiresAt - 30_000 - Date.now())).toBeLessThan(5_000);
      const renewed = await store.renew(key('a'));
      expect(Math.abs(renewed.expiresAt - 30_000 - Date.now())).toBeLessThan(5_000);
    });

    it('exclusive is re-entrant for its owner: counts up and down, then frees', async () => {
      await store.acquire(req('a', 'exclusive'));
      const twice = await store.acquire(req('a', 'exclusive'));
      expect(twice.owners['a']!.count).toBe(2);
      const once = await store.release(key('a'));
      expect(once?.owners['a']!.count).toBe(1);
      expect((await rejection(store.acquire(req('b', 'exclusive')))).code).toBe('lock_held');
      expect(await store.release(key('a'))).toBeNull();
      expect(await store.get('acme', 'res-1')).toBeUndefined();
      expect((await store.acquire(req('b', 'exclusive'))).owners['b']!.count).toBe(1);
    });

    it('an exclusive lock blocks every other owner with ConflictError(lock_held) {mode, owners, message}', async () => {
      const held = await store.acquire(req('a', 'exclusive'));
      for (const mode of ['exclusive', 'shared'] as const) {
        const err = await expectRejection(store.acquire(req('b', mode)), ConflictError, 'lock_held');
        expect(err.details['mode']).toBe('exclusive');
        expect(err.details['owners']).toEqual(['a']);
        expect(typeof err.details['message']).toBe('string');
        expect(err.message).toContain('res-1');
      }
      expect(await store.get('acme', 'res-1')).toEqual(held);
    });

    it('a shared lock admits many shared owners and blocks exclusive requests', async () => {
      await store.acquire(req('a', 'shared'));
      await store.acquire(req('b', 'shared'));
      const three = await store.acquire(req('c', 'shared', 90_000));
      expect(three.mode).toBe('shared');
      expect(ownersOf(three)).toEqual(['a', 'b', 'c']);
      expect(three.expiresAt).toBe(three.owners['c']!.expiresAt);
      const err = await rejection(store.acquire(req('d', 'exclusive')));
      expect(err.code).toBe('lock_held');
      expect(err.details['mode']).toBe('shared');
      expect(err.details['owners']).toEqual(['a', 'b', 'c']);
      // Re-entering as a shared owner counts up.
      expect((await store.acquire(req('b', 'shared'))).owners['b']!.count).toBe(2);
    });

    it('the sole shared owner may upgrade to exclusive', async () => {
      await store.acquire(req('a', 'shared'));
      const upgraded = await store.acquire(req('a', 'exclusive'));
      expect(upgraded.mode).toBe('exclusive');
      expect(upgraded.owners['a']!.count).toBe(2);
      const err = await rejection(store.acquire(req('b', 'shared')));
      expect(err.details['mode']).toBe('exclusive');
      // The hold stays exclusive until the owner releases it completely.
      expect((await store.release(key('a')))?.mode).toBe('exclusive');
      expect(await store.release(key('a'))).toBeNull();
    });

    it('a shared owner cannot upgrade while others share the lock', async () => {
      await store.acquire(req('a', 'shared'));
      await store.acquire(req('b', 'shared'));
      const err = await rejection(store.acquire(req('a', 'exclusive')));
      expect(err.code).toBe('lock_held');
      expect(err.details['owners']).toEqual(['a', 'b']);
      const info = await store.get('acme', 'res-1');
      expect(info?.mode).toBe('shared');
      expect(info?.owners['a']!.count).toBe(1);
    });

    it('an exclusive holder asking for shared gets a re-entrant hold on its exclusive lock', async () => {
      await store.acquire(req('a', 'exclusive'));
      const info = await store.acquire(req('a', 'shared'));
      expect(info.mode).toBe('exclusive');
      expect(info.owners['a']!.count).toBe(2);
    });

    it('release drops one owner and keeps the others; the lock expiry follows the latest owner', async () => {
      await store.acquire(req('a', 'shared', 60_000));
      const both = await store.acquire(req('b', 'shared', 120_000));
      expect(both.expiresAt).toBe(both.owners['b']!.expiresAt);
      const left = await store.release(key('b'));
      expect(ownersOf(left)).toEqual(['a']);
      expect(left?.expiresAt).toBe(both.owners['a']!.expiresAt);
      expect(ownersOf(await store.get('acme', 'res-1'))).toEqual(['a']);
    });

    it('release and renew by a non-holder throw NotFoundError(lock_not_held)', async () => {
      for (const call of [store.release(key('a')), store.renew(key('a'))]) {
        const err = await expectRejection(call, NotFoundError, 'lock_not_held');
        expect(err.message).toContain('res-1');
      }
      await store.acquire(req('a', 'exclusive'));
      for (const call of [store.release(key('b')), store.renew(key('b'))]) {
        const err = await rejection(call);
        expect(err.code).toBe('lock_not_held');
        expect(err.details['owner']).toBe('b');
      }
      expect(ownersOf(await store.get('acme', 'res-1'))).toEqual(['a']);
      await store.release(key('a'));
      expect((await rejection(store.release(key('a')))).code).toBe('lock_not_held');
    });

    it('an expired lock lets the next owner in; the old owner no longer holds it', async () => {
      await store.acquire(req('a', 'exclusive', 150));
      expect((await rejection(store.acquire(req('b', 'exclusive')))).code).toBe('lock_held');
      await fx.elapse(300);
      expect(await store.get('acme', 'res-1')).toBeUndefined();
      const next = await store.acquire(req('b', 'exclusive'));
      expect(ownersOf(next)).toEqual(['b']);
      expect(next.owners['b']!.count).toBe(1);
      expect((await rejection(store.release(key('a')))).code).toBe('lock_not_held');
      expect((await rejection(store.renew(key('a')))).code).toBe('lock_not_held');
    });

    it('each owner expires on its own', async () => {
      await store.acquire(req('a', 'shared', 150));
      const b = await store.acquire(req('b', 'shared', 60_000));
      await fx.elapse(300);
      const info = await store.get('acme', 'res-1');
      expect(ownersOf(info)).toEqual(['b']);
      expect(info?.expiresAt).toBe(b.owners['b']!.expiresAt);
      const err = await rejection(store.acquire(req('c', 'exclusive')));
      expect(err.details['owners']).toEqual(['b']);
      // With a gone, b is the sole shared owner and may upgrade.
      expect((await store.acquire(req('b', 'exclusive'))).mode).toBe('exclusive');
    });

    it('an expired re-entrant hold is gone entirely, whatever its count', async () => {
      await store.acquire(req('a', 'exclusive', 150));
      await store.acquire(req('a', 'exclusive', 150));
      await fx.elapse(300);
      expect((await store.acquire(req('a', 'exclusive'))).owners['a']!.count).toBe(1);
    });

    it('renew extends the owner to now + ttl so it outlives its first ttl', async () => {
      const first = await store.acquire(req('a', 'exclusive', 150));
      const renewed = await store.renew({ ...key('a'), ttlMs: 60_000 });
      expect(renewed.owners['a']!.expiresAt).toBeGreaterThanOrEqual(first.owners['a']!.expiresAt - 150 + 60_000);
      expect(renewed.owners['a']!.count).toBe(1);
      await fx.elapse(300);
      expect(ownersOf(await store.get('acme', 'res-1'))).toEqual(['a']);
      expect((await rejection(store.acquire(req('b', 'exclusive')))).code).toBe('lock_held');
    });

    it('re-acquiring never shortens an owner\'s expiry', async () => {
      const long = await store.acquire(req('a', 'exclusive', 60_000));
      const again = await store.acquire(req('a', 'exclusive', 150));
      expect(again.owners['a']!.expiresAt).toBe(long.owners['a']!.expiresAt);
      await fx.elapse(300);
      expect(ownersOf(await store.get('acme', 'res-1'))).toEqual(['a']);
    });

    it('tenants and resources are independent', async () => {
      await store.acquire(req('a', 'exclusive', 60_000, 'res-1', 'acme'));
      const other = await store.acquire(req('b', 'exclusive', 60_000, 'res-1', 'globex'));
      expect(other.tenant).toBe('globex');
      await store.acquire(req('c', 'exclusive', 60_000, 'res-2', 'acme'));
      expect(ownersOf(await store.get('acme', 'res-1'))).toEqual(['a']);
      expect(ownersOf(await store.get('globex', 'res-1'))).toEqual(['b']);
      expect(ownersOf(await store.get('acme', 'res-2'))).toEqual(['c']);
      expect((await rejection(store.release(key('a', 'res-1', 'globex')))).code).toBe('lock_not_held');
      // A resource name with colons stays one resource.
      await store.acquire(req('d', 'exclusive', 60_000, 'pack:install:x'));
      expect(await store.get('acme', 'pack:install')).toBeUndefined();
    });

    it('keeps owner names as data, whatever they are ("__proto__", "constructor")', async () => {
      const first = await store.acquire(req('__proto__', 'shared'));
      expect(Object.keys(first.owners)).toEqual(['__proto__']);
      expect(Object.getPrototypeOf(first.owners)).toBe(Object.prototype);
      expect(first.owners['__proto__']).toEqual({ count: 1, expiresAt: first.expiresAt });
      const both = await store.acquire(req('constructor', 'shared'));
      expect(ownersOf(both)).toEqual(['__proto__', 'constructor']);
      expect(both.owners['constructor']!.count).toBe(1);
      expect(ownersOf(await store.get('acme', 'res-1'))).toEqual(['__proto__', 'constructor']);
      const held = await rejection(store.acquire(req('b', 'exclusive')));
      expect(held.details['owners']).toEqual(['__proto__', 'constructor']);
      const left = await store.release(key('constructor'));
      expect(ownersOf(left)).toEqual(['__proto__']);
      expect(ownersOf(await store.renew(key('__proto__')))).toEqual(['__proto__']);
      expect(await store.release(key('__proto__'))).toBeNull();
      expect(await store.get('acme', 'res-1')).toBeUndefined();
    });

    it('rejects bad tenants, resources, owners, modes and ttls with InvalidError', async () => {
      const bad: (() => Promise<unknown>)[] = [
        () => store.acquire(req('a', 'exclusive', 60_000, 'res-1', 'a:b')),
        () => store.acquire(req('a', 'exclusive', 60_000, 'res-1', '')),
        () => store.acquire(req('a', 'exclusive', 60_000, '')),
        () => store.acquire(req('a', 'exclusive', 60_000, 'x'.repeat(513))),
        () => store.acquire(req('', 'exclusive')),
        () => store.acquire(req('a', 'both' as LockMode)),
        ...[0, -1, 1.5, Number.NaN].map((ttl) => () => store.acquire(req('a', 'shared', ttl))),
        () => store.release(key('a', 'res-1', 'a/b')),
        () => store.release(key('', 'res-1')),
        () => store.renew(key('a', '')),
        () => store.renew({ ...key('a'), ttlMs: 0 }),
        () => store.get('a b', 'res-1'),
        () => store.get('acme', ''),
      ];
      for (const call of bad) await expectRejection(call(), InvalidError, 'invalid_argument');
      expect(await store.get('acme', 'res-1')).toBeUndefined();
    });

    it('hands out snapshots that cannot change the lock', async () => {
      const info = await store.acquire(req('a', 'exclusive'));
      info.owners['a']!.count = 99;
      expect((await store.get('acme', 'res-1'))?.owners['a']!.count).toBe(1);
    });

    it('another instance over the same backend sees and honours the lock', async () => {
      await store.acquire(req('a', 'exclusive'));
      const other = fx.twin();
      expect(ownersOf(await other.get('acme', 'res-1'))).toEqual(['a']);
      expect((await rejection(other.acquire(req('b', 'exclusive')))).code).toBe('lock_held');
      expect(await other.release(key('a'))).toBeNull();
    });

    it('20 concurrent exclusive acquires from different owners: exactly one succeeds', async () => {
      const ports = [store, fx.twin(), fx.twin(), fx.twin(), fx.twin()];
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => ports[i % ports.length]!.acquire(req(`owner-${i}`, 'exclusive'))),
      );
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [`owner-${i}`] : []));
      expect(winners).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') {
          expect(r.reason).toBeInstanceOf(ConflictError);
          expect((r.reason as CordumError).code).toBe('lock_held');
        }
      }
      expect(ownersOf(await store.get('acme', 'res-1'))).toEqual(winners);
    });

    it('shared holders block concurrent exclusive requests', async () => {
      await store.acquire(req('s1', 'shared'));
      await store.acquire(req('s2', 'shared'));
      const ports = [store, fx.twin(), fx.twin()];
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => ports[i % ports.length]!.acquire(req(`x-${i}`, 'exclusive'))),
      );
      expect(results.every((r) => r.status === 'rejected')).toBe(true);
      expect(ownersOf(await store.get('acme', 'res-1'))).toEqual(['s1', 's2']);
    });

    it('mixed concurrent requests end as one exclusive holder or only shared holders', async () => {
      const ports = [store, fx.twin(), fx.twin(), fx.twin()];
      const modes: LockMode[] = Array.from({ length: 16 }, (_, i) => (i % 3 === 0 ? 'exclusive' : 'shared'));
      const results = await Promise.allSettled(
        modes.map((mode, i) => ports[i % ports.length]!.acquire(req(`m-${i}`, mode))),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      const info = await store.get('acme', 'res-1');
      if (won.some((i) => modes[i] === 'exclusive')) {
        expect(won).toHaveLength(1);
        expect(info?.mode).toBe('exclusive');
      } else {
        // The first request was shared, so every shared request got in and every exclusive one was refused.
        expect(won).toEqual(modes.flatMap((m, i) => (m === 'shared' ? [i] : [])));
        expect(info?.mode).toBe('shared');
      }
      expect(ownersOf(info)).toEqual(won.map((i) => `m-${i}`).sort());
    });

    it('never lets two owners hold the exclusive lock at once (workers contending in a loop)', async () => {
      const ports = [store, fx.twin(), fx.twin(), fx.twin()];
      let inside = 0;
      let overlaps = 0;
      let entries = 0;
      const worker = async (n: number): Promise<void> => {
        const port = ports[n % ports.length]!;
        for (let round = 0; round < 15; round++) {
          try {
            await port.acquire(req(`w-${n}`, 'exclusive'));
          } catch (err) {
            if (isCordumError(err) && err.code === 'lock_held') continue;
            throw err;
          }
          inside++;
          entries++;
          if (inside > 1) overlaps++;
          // Hold across a real round trip so other workers get a chance to (wrongly) get in.
          await port.get('acme', 'res-1');
          inside--;
          await port.release(key(`w-${n}`));
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, n) => worker(n)));
      expect(overlaps).toBe(0);
      expect(entries).toBeGreaterThan(0);
      expect(await store.get('acme', 'res-1')).toBeUndefined();
    });
  });
}
