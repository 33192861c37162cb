import { ConflictError, type CordumError, DeniedError, InvalidError, NotFoundError } from '@cordum/core';
import { contextPointer, resultPointer } from '@cordum/protocol';
import type { PointerStore, PutPayload } from '@cordum/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectRejection, rejection } from './assertions.js';
import type { PortFactory, PortFixture } from './fixture.js';

/** Every byte value, plus sequences that are not valid UTF-8: a lossy string round trip would show. */
const BINARY = Uint8Array.from([...Array.from({ length: 256 }, (_, i) => i), 0xc3, 0x28, 0xff, 0xfe, 0x00]);

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

/**
 * The PointerStore contract: job inputs (write-once) and outputs behind redis:// pointers, expiry on the
 * store clock, binary-safe bytes, copies in and out. Every adapter must pass it.
 */
export function runPointerStoreContract(label: string, factory: PortFactory<PointerStore>): void {
  describe(`PointerStore contract (${label})`, () => {
    let fx: PortFixture<PointerStore>;
    let store: PointerStore;
    const ctx = (tenant: string, bytes: PutPayload['bytes'], extra: Partial<PutPayload> = {}): PutPayload => ({
      tenant,
      bytes,
      ttlMs: 60_000,
      ...extra,
    });

    beforeEach(async () => {
      fx = await factory();
      store = fx.port;
    });
    afterEach(async () => {
      await fx.close();
    });

    it('putContext stores the input behind redis://ctx:<job> with its tenant, type and expiry', async () => {
      const pointer = await store.putContext('job-1', ctx('acme', '{"a":1}'));
      expect(pointer).toBe(contextPointer('job-1'));
      expect(pointer).toBe('redis://ctx:job-1');
      const payload = await store.get(pointer);
      expect(payload).toBeDefined();
      expect(payload!.pointer).toBe(pointer);
      expect(text(payload!.bytes)).toBe('{"a":1}');
      expect(payload!.contentType).toBe('application/json');
      expect(payload!.tenant).toBe('acme');
      expect(Math.abs(payload!.createdAt - Date.now())).toBeLessThan(5_000);
      expect(payload!.expiresAt).toBe(payload!.createdAt + 60_000);
    });

    it('putResult stores the output behind redis://res:<job>', async () => {
      const pointer = await store.putResult('job-1', ctx('acme', 'done', { contentType: 'text/plain' }));
      expect(pointer).toBe(resultPointer('job-1'));
      const payload = await store.require(pointer);
      expect(text(payload.bytes)).toBe('done');
      expect(payload.contentType).toBe('text/plain');
      // Context and result of the same job are different payloads.
      expect(await store.get(contextPointer('job-1'))).toBeUndefined();
    });

    it('stores bytes binary-safe, as a plain Uint8Array', async () => {
      const c = await store.putContext('job-bin', ctx('acme', BINARY, { contentType: 'application/octet-stream' }));
      const r = await store.putResult('job-bin', ctx('acme', BINARY));
      for (const pointer of [c, r]) {
        const payload = await store.require(pointer);
        expect(payload.bytes).toBeInstanceOf(Uint8Array);
        expect(Buffer.isBuffer(payload.bytes)).toBe(false);
        expect(Buffer.from(payload.bytes).equals(Buffer.from(BINARY))).toBe(true);
      }
      expect((await store.require(c)).contentType).toBe('application/octet-stream');
    });

    it('stores strings as UTF-8 and empty payloads as empty', async () => {
      await store.putContext('job-utf8', ctx('acme', 'héllo ✓ 世界'));
      const payload = await store.require(contextPointer('job-utf8'));
      expect(Buffer.from(payload.bytes).equals(Buffer.from('héllo ✓ 世界', 'utf8'))).toBe(true);
      await store.putResult('job-empty', ctx('acme', new Uint8Array(0)));
      expect((await store.require(resultPointer('job-empty'))).bytes.length).toBe(0);
    });

    it('putContext is write-once: other bytes throw ConflictError(already_exists), the original stays', async () => {
      const pointer = await store.putContext('job-1', ctx('acme', 'first'));
      const err = await expectRejection(store.putContext('job-1', ctx('acme', 'second')), ConflictError, 'already_exists');
      expect(err.message).toContain(pointer);
      expect(err.details['pointer']).toBe(pointer);
      expect(typeof err.details['message']).toBe('string');
      expect(text((await store.require(pointer)).bytes)).toBe('first');
    });

    it('putContext conflicts on the same bytes with another content type or tenant', async () => {
      await store.putContext('job-1', ctx('acme', 'same'));
      const byType = await rejection(store.putContext('job-1', ctx('acme', 'same', { contentType: 'text/plain' })));
      expect(byType.code).toBe('already_exists');
      const byTenant = await rejection(store.putContext('job-1', ctx('globex', 'same')));
      expect(byTenant.code).toBe('already_exists');
      expect((await store.require(contextPointer('job-1'))).tenant).toBe('acme');
    });

    it('putContext with identical bytes is idempotent and never shortens the life', async () => {
      const pointer = await store.putContext('job-1', ctx('acme', BINARY));
      const first = await store.require(pointer);
      expect(await store.putContext('job-1', ctx('acme', Uint8Array.from(BINARY), { ttlMs: 120_000 }))).toBe(pointer);
      const longer = await store.require(pointer);
      expect(longer.createdAt).toBe(first.createdAt);
      expect(longer.expiresAt).toBeGreaterThanOrEqual(first.createdAt + 120_000);
      expect(await store.putContext('job-1', ctx('acme', BINARY, { ttlMs: 1_000 }))).toBe(pointer);
      expect((await store.require(pointer)).expiresAt).toBe(longer.expiresAt);
    });

    it('putResult replaces the previous output', async () => {
      await store.putResult('job-1', ctx('acme', 'v1', { ttlMs: 60_000 }));
      const pointer = await store.putResult('job-1', ctx('acme', 'v2', { contentType: 'text/plain', ttlMs: 90_000 }));
      const payload = await store.require(pointer);
      expect(text(payload.bytes)).toBe('v2');
      expect(payload.contentType).toBe('text/plain');
      expect(payload.expiresAt).toBe(payload.createdAt + 90_000);
    });

    it('putResult with a variant stores a derived output beside the original (redis://res:<job>:<variant>)', async () => {
      const original = await store.putResult('job-v', ctx('acme', 'card 4111 1111 1111 1111'));
      const redacted = await store.putResult('job-v', ctx('acme', 'card [REDACTED]', { contentType: 'text/plain' }), {
        variant: 'redacted',
      });
      expect(redacted).toBe(`${resultPointer('job-v')}:redacted`);
      expect(redacted).toBe('redis://res:job-v:redacted');
      expect(text((await store.require(original)).bytes)).toBe('card 4111 1111 1111 1111');
      const payload = await store.require(redacted);
      expect(text(payload.bytes)).toBe('card [REDACTED]');
      expect(payload).toMatchObject({ pointer: redacted, tenant: 'acme', contentType: 'text/plain' });
      // Replaced like an output, by its owner only; deleting one leaves the other.
      await store.putResult('job-v', ctx('acme', 'v2'), { variant: 'redacted' });
      expect(text((await store.require(redacted)).bytes)).toBe('v2');
      await expectRejection(store.putResult('job-v', ctx('globex', 'forged'), { variant: 'redacted' }), DeniedError, 'permission_denied');
      expect(await store.delete(redacted)).toBe(true);
      expect(await store.get(redacted)).toBeUndefined();
      expect(await store.get(original)).toBeDefined();
      // An undefined variant is the plain output.
      expect(await store.putResult('job-v', ctx('acme', 'plain'), {})).toBe(original);
    });

    it('putResult refuses malformed variants with InvalidError, writing nothing', async () => {
      for (const variant of ['', 'Redacted', '1st', 'a:b', 'a/b', 'x'.repeat(33), 'with space']) {
        await expectRejection(store.putResult('job-v', ctx('acme', 'x'), { variant }), InvalidError, 'invalid_argument');
      }
      expect(await store.get(resultPointer('job-v'))).toBeUndefined();
    });

    it('putResult refuses to replace another tenant\'s output with DeniedError(permission_denied)', async () => {
      const pointer = await store.putResult('job-b', ctx('globex', 'real result', { ttlMs: 150 }));
      const err = await expectRejection(
        store.putResult('job-b', ctx('acme', 'forged', { contentType: 'text/plain' })),
        DeniedError,
        'permission_denied',
      );
      expect(err.message).toContain(pointer);
      expect(err.details['pointer']).toBe(pointer);
      // The refusal must not tell the caller whose output it is.
      expect(JSON.stringify(err.details)).not.toContain('globex');
      expect(err.message).not.toContain('globex');
      const kept = await store.require(pointer);
      expect(text(kept.bytes)).toBe('real result');
      expect(kept.tenant).toBe('globex');
      expect(kept.contentType).toBe('application/json');
      // The owner still replaces its own output; once that output is gone, the job id is free again.
      await store.putResult('job-b', ctx('globex', 'v2', { ttlMs: 150 }));
      expect(text((await store.require(pointer)).bytes)).toBe('v2');
      await fx.elapse(300);
      await store.putResult('job-b', ctx('acme', 'after expiry'));
      expect((await store.require(pointer)).tenant).toBe('acme');
      expect(await store.delete(pointer)).toBe(true);
      await store.putResult('job-b', ctx('globex', 'after delete'));
      expect((await store.require(pointer)).tenant).toBe('globex');
    });

    it('another instance cannot replace a tenant\'s output either', async () => {
      const pointer = await store.putResult('job-b', ctx('globex', 'real result'));
      const other = fx.twin();
      await expectRejection(other.putResult('job-b', ctx('acme', 'forged')), DeniedError, 'permission_denied');
      expect(text((await store.require(pointer)).bytes)).toBe('real result');
    });

    it('delete with a tenant deletes only that tenant\'s payload', async () => {
      const result = await store.putResult('job-1', ctx('globex', 'out'));
      const input = await store.putContext('job-1', ctx('globex', 'in'));
      for (const pointer of [result, input]) {
        expect(await store.delete(pointer, { tenant: 'acme' })).toBe(false);
        expect((await store.require(pointer)).tenant).toBe('globex');
        expect(await store.delete(pointer, { tenant: 'globex' })).toBe(true);
        expect(await store.get(pointer)).toBeUndefined();
        expect(await store.delete(pointer, { tenant: 'globex' })).toBe(false);
      }
      // Without a tenant, delete removes whoever wrote it (the system's own cleanup).
      const other = await store.putResult('job-2', ctx('globex', 'out'));
      expect(await store.delete(other, {})).toBe(true);
      await expectRejection(store.delete(other, { tenant: 'a:b' }), InvalidError, 'invalid_argument');
    });

    it('a missing payload: get returns undefined, require throws NotFoundError(input_expired)', async () => {
      const pointer = contextPointer('never-written');
      expect(await store.get(pointer)).toBeUndefined();
      const err = await expectRejection(store.require(pointer), NotFoundError, 'input_expired');
      expect(err.message).toContain(pointer);
      expect(err.details['pointer']).toBe(pointer);
    });

    it('treats pointers of other schemes (and an empty redis:// key) as missing', async () => {
      for (const pointer of ['s3://bucket/key', 'ctx:job-1', '', 'redis://']) {
        expect(await store.get(pointer)).toBeUndefined();
        await expectRejection(store.require(pointer), NotFoundError, 'input_expired');
        expect(await store.extend(pointer, Date.now() + 60_000)).toBe(false);
        expect(await store.delete(pointer)).toBe(false);
      }
    });

    it('a payload expires after its ttl; others live on', async () => {
      const short = await store.putContext('job-short', ctx('acme', 'x', { ttlMs: 150 }));
      const long = await store.putResult('job-long', ctx('acme', 'y', { ttlMs: 60_000 }));
      expect(await store.get(short)).toBeDefined();
      await fx.elapse(300);
      expect(await store.get(short)).toBeUndefined();
      expect((await rejection(store.require(short))).code).toBe('input_expired');
      expect(await store.extend(short, Date.now() + 60_000)).toBe(false);
      expect(await store.delete(short)).toBe(false);
      expect(text((await store.require(long)).bytes)).toBe('y');
      // Write-once only binds while the input exists.
      expect(await store.putContext('job-short', ctx('acme', 'new'))).toBe(short);
      expect(text((await store.require(short)).bytes)).toBe('new');
    });

    it('extend keeps a payload alive past its ttl', async () => {
      const pointer = await store.putContext('job-1', ctx('acme', 'x', { ttlMs: 150 }));
      const before = await store.require(pointer);
      expect(await store.extend(pointer, before.createdAt + 60_000)).toBe(true);
      expect((await store.require(pointer)).expiresAt).toBe(before.createdAt + 60_000);
      await fx.elapse(300);
      expect(text((await store.require(pointer)).bytes)).toBe('x');
    });

    it('extend never shortens a payload\'s life', async () => {
      const pointer = await store.putResult('job-1', ctx('acme', 'x', { ttlMs: 60_000 }));
      const before = await store.require(pointer);
      expect(await store.extend(pointer, before.createdAt + 1)).toBe(true);
      expect(await store.extend(pointer, before.createdAt - 86_400_000)).toBe(true);
      expect((await store.require(pointer)).expiresAt).toBe(before.expiresAt);
    });

    it('extend and delete report false for a pointer that was never written', async () => {
      expect(await store.extend(contextPointer('nope'), Date.now() + 60_000)).toBe(false);
      expect(await store.delete(resultPointer('nope'))).toBe(false);
    });

    it('delete removes a payload once', async () => {
      const pointer = await store.putContext('job-1', ctx('acme', 'x'));
      expect(await store.delete(pointer)).toBe(true);
      expect(await store.get(pointer)).toBeUndefined();
      expect(await store.delete(pointer)).toBe(false);
      expect(await store.putContext('job-1', ctx('acme', 'other'))).toBe(pointer);
    });

    it('rejects bad tenants, job ids, content types and ttls with InvalidError, writing nothing', async () => {
      const bad: (() => Promise<unknown>)[] = [
        () => store.putContext('job-1', ctx('', 'x')),
        () => store.putContext('job-1', ctx('a:b', 'x')),
        () => store.putContext('job-1', ctx('a/b', 'x')),
        () => store.putResult('job-1', ctx('a b', 'x')),
        () => store.putContext('', ctx('acme', 'x')),
        () => store.putContext('job 1', ctx('acme', 'x')),
        () => store.putResult('a/b', ctx('acme', 'x')),
        () => store.putContext('job-1', ctx('acme', 'x', { contentType: '' })),
        ...[0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY].flatMap((ttlMs) => [
          () => store.putContext('job-1', ctx('acme', 'x', { ttlMs })),
          () => store.putResult('job-1', ctx('acme', 'x', { ttlMs })),
        ]),
      ];
      for (const call of bad) await expectRejection(call(), InvalidError, 'invalid_argument');
      expect(await store.get(contextPointer('job-1'))).toBeUndefined();
      expect(await store.get(resultPointer('job-1'))).toBeUndefined();
      await store.putContext('job-1', ctx('acme', 'x'));
      const err = await rejection(store.extend(contextPointer('job-1'), Number.NaN));
      expect(err).toBeInstanceOf(InvalidError);
    });

    it('hands out copies: neither the caller\'s input nor a returned payload can change what is stored', async () => {
      const input = Uint8Array.from([1, 2, 3]);
      const pointer = await store.putContext('job-1', ctx('acme', input));
      input[0] = 99;
      const first = await store.require(pointer);
      expect([...first.bytes]).toEqual([1, 2, 3]);
      first.bytes[1] = 99;
      expect([...(await store.require(pointer)).bytes]).toEqual([1, 2, 3]);
      // The mutated input is now different bytes, so the write-once check must see it as such.
      expect((await rejection(store.putContext('job-1', ctx('acme', input)))).code).toBe('already_exists');
    });

    it('another instance over the same backend sees the payloads', async () => {
      const pointer = await store.putContext('job-1', ctx('acme', BINARY));
      const other = fx.twin();
      expect(Buffer.from((await other.require(pointer)).bytes).equals(Buffer.from(BINARY))).toBe(true);
      expect(await other.delete(pointer)).toBe(true);
      expect(await store.get(pointer)).toBeUndefined();
    });

    it('concurrent putContext with different bytes: exactly one wins, the rest conflict', async () => {
      const ports = [store, fx.twin(), fx.twin(), fx.twin()];
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          ports[i % ports.length]!.putContext('job-race', ctx('acme', `writer-${i}`)),
        ),
      );
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') {
          expect(r.reason).toBeInstanceOf(ConflictError);
          expect((r.reason as CordumError).code).toBe('already_exists');
        }
      }
      expect(text((await store.require(contextPointer('job-race'))).bytes)).toBe(`writer-${winners[0]}`);
    });

    it('concurrent identical putContext calls all succeed', async () => {
      const ports = [store, fx.twin()];
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => ports[i % 2]!.putContext('job-same', ctx('acme', BINARY))),
      );
      expect(new Set(results)).toEqual(new Set([contextPointer('job-same')]));
    });
  });
}
