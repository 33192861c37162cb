import { InvalidError } from '@cordum/core';
import type { IdempotencyKey, IdempotencyStore } from '@cordum/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectRejection } from './assertions.js';
import type { PortFactory, PortFixture } from './fixture.js';

/**
 * The IdempotencyStore contract: the first claim wins atomically (also across instances), later claims see
 * its value, keys are separated by tenant and scope, expire on the store clock, and release is
 * compare-and-delete.
 */
export function runIdempotencyStoreContract(label: string, factory: PortFactory<IdempotencyStore>): void {
  describe(`IdempotencyStore contract (${label})`, () => {
    let fx: PortFixture<IdempotencyStore>;
    let store: IdempotencyStore;
    const k = (key: string, scope = 'job', tenant = 'acme'): IdempotencyKey => ({ tenant, scope, key });
    const ttl = { ttlMs: 60_000 };

    beforeEach(async () => {
      fx = await factory();
      store = fx.port;
    });
    afterEach(async () => {
      await fx.close();
    });

    it('the first claim wins; later claims see its value', async () => {
      expect(await store.claim(k('req-1'), 'job-a', ttl)).toEqual({ claimed: true, value: 'job-a' });
      expect(await store.claim(k('req-1'), 'job-b', ttl)).toEqual({ claimed: false, value: 'job-a' });
      expect(await store.claim(k('req-1'), 'job-a', ttl)).toEqual({ claimed: false, value: 'job-a' });
      expect(await store.get(k('req-1'))).toBe('job-a');
      expect(await store.get(k('req-2'))).toBeUndefined();
    });

    it('claims without options use the store default ttl (long enough to outlive a short one)', async () => {
      expect((await store.claim(k('default'), 'v')).claimed).toBe(true);
      await store.claim(k('short'), 'v', { ttlMs: 150 });
      await fx.elapse(300);
      expect(await store.get(k('default'))).toBe('v');
      expect(await store.get(k('short'))).toBeUndefined();
    });

    it('scopes and tenants never collide', async () => {
      expect((await store.claim(k('same', 'job'), 'job-value', ttl)).claimed).toBe(true);
      expect((await store.claim(k('same', 'run'), 'run-value', ttl)).claimed).toBe(true);
      expect((await store.claim(k('same', 'job', 'globex'), 'globex-value', ttl)).claimed).toBe(true);
      expect(await store.get(k('same', 'job'))).toBe('job-value');
      expect(await store.get(k('same', 'run'))).toBe('run-value');
      expect(await store.get(k('same', 'job', 'globex'))).toBe('globex-value');
      expect(await store.release(k('same', 'job', 'globex'), 'job-value')).toBe(false);
    });

    it('keys may contain colons and any characters; they stay one key', async () => {
      expect((await store.claim(k('run:x'), 'a', ttl)).claimed).toBe(true);
      expect((await store.claim(k('run'), 'b', ttl)).claimed).toBe(true);
      expect((await store.claim(k('x', 'run'), 'c', ttl)).claimed).toBe(true);
      expect((await store.claim(k('héllo wörld/✓ *?'), 'd', ttl)).claimed).toBe(true);
      expect(await store.get(k('run:x'))).toBe('a');
      expect(await store.get(k('run'))).toBe('b');
      expect(await store.get(k('x', 'run'))).toBe('c');
      expect(await store.get(k('héllo wörld/✓ *?'))).toBe('d');
      expect((await store.claim(k('k'.repeat(512)), 'e', ttl)).claimed).toBe(true);
    });

    it('release deletes only when the key still maps to the value', async () => {
      await store.claim(k('req-1'), 'job-a', ttl);
      expect(await store.release(k('req-1'), 'job-b')).toBe(false);
      expect(await store.get(k('req-1'))).toBe('job-a');
      expect(await store.release(k('req-1'), 'job-a')).toBe(true);
      expect(await store.get(k('req-1'))).toBeUndefined();
      expect(await store.release(k('req-1'), 'job-a')).toBe(false);
      expect(await store.claim(k('req-1'), 'job-c', ttl)).toEqual({ claimed: true, value: 'job-c' });
    });

    it('a key expires after its ttl and can then be claimed again', async () => {
      await store.claim(k('short'), 'first', { ttlMs: 150 });
      await store.claim(k('long'), 'kept', ttl);
      expect(await store.get(k('short'))).toBe('first');
      await fx.elapse(300);
      expect(await store.get(k('short'))).toBeUndefined();
      expect(await store.release(k('short'), 'first')).toBe(false);
      expect(await store.claim(k('short'), 'second', ttl)).toEqual({ claimed: true, value: 'second' });
      expect(await store.get(k('long'))).toBe('kept');
    });

    it('rejects bad tenants, scopes, keys, values and ttls with InvalidError', async () => {
      const bad: (() => Promise<unknown>)[] = [
        () => store.claim(k('x', 'job', 'a:b'), 'v', ttl),
        () => store.claim(k('x', 'job', ''), 'v', ttl),
        () => store.claim(k('x', ''), 'v', ttl),
        () => store.claim(k('x', 'Job'), 'v', ttl),
        () => store.claim(k('x', 'job:run'), 'v', ttl),
        () => store.claim(k('x', 'a b'), 'v', ttl),
        () => store.claim(k(''), 'v', ttl),
        () => store.claim(k('k'.repeat(513)), 'v', ttl),
        () => store.claim(k('x'), '', ttl),
        ...[0, -1, 1.5, Number.NaN].map((ttlMs) => () => store.claim(k('x'), 'v', { ttlMs })),
        () => store.get(k('x', 'job', 'a/b')),
        () => store.get(k('', 'job')),
        () => store.release(k('x', 'JOB'), 'v'),
        () => store.release(k('x'), ''),
      ];
      for (const call of bad) await expectRejection(call(), InvalidError, 'invalid_argument');
      expect(await store.get(k('x'))).toBeUndefined();
    });

    it('another instance over the same backend sees the claim', async () => {
      await store.claim(k('req-1'), 'job-a', ttl);
      const other = fx.twin();
      expect(await other.claim(k('req-1'), 'job-b', ttl)).toEqual({ claimed: false, value: 'job-a' });
      expect(await other.release(k('req-1'), 'job-a')).toBe(true);
      expect(await store.get(k('req-1'))).toBeUndefined();
    });

    it('20 concurrent claims with different values: exactly one wins and all see its value', async () => {
      const ports = [store, fx.twin(), fx.twin(), fx.twin()];
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => ports[i % ports.length]!.claim(k('race'), `value-${i}`, ttl)),
      );
      const winners = results.filter((r) => r.claimed);
      expect(winners).toHaveLength(1);
      const value = winners[0]!.value;
      expect(results.every((r) => r.value === value)).toBe(true);
      expect(await store.get(k('race'))).toBe(value);
    });
  });
}
