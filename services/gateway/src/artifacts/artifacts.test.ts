import { createManualClock } from '@cordum/core';
import { resultPointer } from '@cordum/protocol';
import { createMemoryStores } from '@cordum/store/memory';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYS, type TestGateway, startTestGateway } from '../testing/fixture.js';

type Metadata = { id: string; content_type: string; size_bytes: number; sha256: string; retention: string; labels: Record<string, string>; created_at: number; expires_at: number };
type Put = { artifact_ptr: string; size_bytes: number; metadata: Metadata };
type Got = { artifact_ptr: string; content_base64: string; metadata: Metadata };
type PointerView = { pointer: string; key: string; kind: string; size_bytes: number; content_type: string; base64: string; text?: string; json?: unknown };
type ErrorBody = { error: { code: string; message: string; details: Record<string, unknown> } };

let t: TestGateway;
afterEach(async () => {
  await t.close();
});

describe('artifacts', () => {
  it('stores text and base64 content with a retention class and reads it back by pointer or id', async () => {
    const clock = createManualClock(1_700_000_000_000);
    t = await startTestGateway({ clock });
    const text = await t.call('POST', '/api/v1/artifacts', { key: KEYS.operatorA, body: { content: 'build log ✓' } });
    expect(text.statusCode).toBe(201);
    const put = text.json<Put>();
    expect(put.artifact_ptr).toMatch(/^redis:\/\/art:/);
    expect(put.size_bytes).toBe(Buffer.byteLength('build log ✓'));
    expect(put.metadata).toMatchObject({ content_type: 'text/plain; charset=utf-8', retention: 'standard', expires_at: 1_700_000_000_000 + 7 * 86_400_000 });

    const byPointer = await t.call('GET', `/api/v1/artifacts/${encodeURIComponent(put.artifact_ptr)}`, { key: KEYS.viewerA });
    expect(byPointer.statusCode).toBe(200);
    expect(Buffer.from(byPointer.json<Got>().content_base64, 'base64').toString('utf8')).toBe('build log ✓');
    expect((await t.call('GET', `/api/v1/artifacts/${put.metadata.id}`, { key: KEYS.viewerA })).json<Got>().artifact_ptr).toBe(put.artifact_ptr);

    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const binary = await t.call('POST', '/api/v1/artifacts', {
      key: KEYS.operatorA,
      body: { content_base64: bytes.toString('base64'), retention: 'audit', labels: { kind: 'evidence' } },
    });
    const b = binary.json<Put>();
    expect(b.metadata).toMatchObject({ content_type: 'application/octet-stream', retention: 'audit', labels: { kind: 'evidence' }, size_bytes: 5 });
    expect(b.metadata.expires_at - b.metadata.created_at).toBe(30 * 86_400_000);
    const back = (await t.call('GET', `/api/v1/artifacts/${encodeURIComponent(b.artifact_ptr)}`, { key: KEYS.viewerA })).json<Got>();
    expect(Buffer.from(back.content_base64, 'base64').equals(bytes)).toBe(true);

    expect((await t.call('GET', '/api/v1/artifacts/0195f0aa-0000-7000-8000-000000000000', { key: KEYS.viewerA })).statusCode).toBe(404);
    expect((await t.call('GET', `/api/v1/artifacts/${encodeURIComponent(put.artifact_ptr)}`, { key: KEYS.adminB })).statusCode).toBe(404);
  });

  it('size limits answer 413: max_bytes, X-Max-Artifact-Bytes, the store limit and the body limit', async () => {
    t = await startTestGateway({ stores: createMemoryStores({ artifactMaxBytes: 64 }), gateway: { bodyLimitBytes: 4096 } });
    const upload = (content: string, query = '', headers: Record<string, string> = {}) =>
      t.call('POST', `/api/v1/artifacts${query}`, { key: KEYS.operatorA, body: { content }, headers });
    expect((await upload('x'.repeat(10))).statusCode).toBe(201);
    for (const res of [
      await upload('x'.repeat(10), '?max_bytes=9'),
      await upload('x'.repeat(10), '', { 'x-max-artifact-bytes': '9' }),
      await upload('x'.repeat(10), '?max_bytes=100', { 'x-max-artifact-bytes': '5' }),
      await upload('x'.repeat(65)),
      await upload('x'.repeat(5000)),
    ]) {
      expect(res.statusCode).toBe(413);
      expect(res.json<ErrorBody>().error.code).toBe('payload_too_large');
    }
    expect((await upload('x'.repeat(10), '?max_bytes=10')).statusCode).toBe(201);
    expect((await upload('x', '', { 'x-max-artifact-bytes': 'lots' })).statusCode).toBe(400);
  });

  it('refuses bodies that are not exactly one content', async () => {
    t = await startTestGateway();
    for (const body of [undefined, {}, { content: 'a', content_base64: 'YQ==' }, { content_base64: 'YQ=' }, { content_base64: '!!!!' }, { content: 'a', retention: 'forever' }, { content: 5 }]) {
      const res = await t.call('POST', '/api/v1/artifacts', { key: KEYS.operatorA, ...(body === undefined ? {} : { body }) });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
    expect((await t.call('POST', '/api/v1/artifacts', { key: KEYS.viewerA, body: { content: 'a' } })).statusCode).toBe(403);
  });
});

describe('pointers', () => {
  it('reads job inputs, outputs and artifacts of the caller\'s tenant; anything else is 404', async () => {
    t = await startTestGateway();
    const job = (await t.call('POST', '/api/v1/jobs', { key: KEYS.operatorA, body: { prompt: 'hello', topic: 'job.demo' } })).json<{ job_id: string }>();
    const ctxPointer = `redis://ctx:${job.job_id}`;
    for (const url of [`/api/v1/pointers?ptr=${encodeURIComponent(ctxPointer)}`, `/api/v1/memory?key=${encodeURIComponent(`ctx:${job.job_id}`)}`]) {
      const res = await t.call('GET', url, { key: KEYS.viewerA });
      expect(res.statusCode, url).toBe(200);
      const view = res.json<PointerView>();
      expect(view).toMatchObject({ pointer: ctxPointer, key: `ctx:${job.job_id}`, kind: 'ctx', content_type: 'application/json' });
      expect(view.json).toMatchObject({ prompt: 'hello', topic: 'job.demo' });
      expect(Buffer.from(view.base64, 'base64').toString('utf8')).toBe(view.text);
    }

    const res = await t.stores.pointers.putResult(job.job_id, { tenant: 'tenant-a', bytes: new Uint8Array([0xff, 0xfe]), contentType: 'application/octet-stream' });
    expect(res).toBe(resultPointer(job.job_id));
    const result = (await t.call('GET', `/api/v1/pointers?ptr=${encodeURIComponent(res)}`, { key: KEYS.viewerA })).json<PointerView>();
    expect(result).toMatchObject({ kind: 'res', size_bytes: 2, base64: '//4=' });
    expect(result.text).toBeUndefined();

    const art = (await t.call('POST', '/api/v1/artifacts', { key: KEYS.operatorA, body: { content: '{"a":1}', content_type: 'application/json' } })).json<Put>();
    const artView = (await t.call('GET', `/api/v1/pointers?ptr=${encodeURIComponent(art.artifact_ptr)}`, { key: KEYS.viewerA })).json<PointerView>();
    expect(artView).toMatchObject({ kind: 'art', json: { a: 1 } });

    // Tenant B: every one of them is not found.
    for (const pointer of [ctxPointer, res, art.artifact_ptr]) {
      const other = await t.call('GET', `/api/v1/pointers?ptr=${encodeURIComponent(pointer)}`, { key: KEYS.adminB });
      expect(other.statusCode, pointer).toBe(404);
      expect(other.body).not.toContain('hello');
    }
    expect((await t.call('GET', `/api/v1/pointers?ptr=${encodeURIComponent('redis://ctx:nope')}`, { key: KEYS.viewerA })).statusCode).toBe(404);
    for (const query of ['', `ptr=${encodeURIComponent(ctxPointer)}&key=x`, 'ptr=https%3A%2F%2Fexample.com', `ptr=${encodeURIComponent('redis://job:meta:x')}`, 'ptr=redis%3A%2F%2F']) {
      expect((await t.call('GET', `/api/v1/pointers?${query}`, { key: KEYS.viewerA })).statusCode, query).toBe(400);
    }
  });
});
