import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  InvalidError,
  RetryableError,
  backoffDelay,
  canonicalJson,
  createManualClock,
  createLogger,
  createMemoryLogger,
  createMetrics,
  hashJson,
  idTimestamp,
  isRetryable,
  isSafeId,
  jsonMergePatch,
  mergeEffectiveConfig,
  newId,
  newTraceId,
  withContext,
} from './index.js';

describe('errors', () => {
  it('carry a stable code, kind, HTTP status and details', () => {
    const err = new ConflictError('job moved', { code: 'state_conflict', details: { job_id: 'j' } });
    expect(err).toBeInstanceOf(Error);
    expect(err.kind).toBe('conflict');
    expect(err.code).toBe('state_conflict');
    expect(err.httpStatus).toBe(409);
    expect(err.toJSON()).toEqual({ code: 'state_conflict', message: 'job moved', details: { job_id: 'j' } });
    const retry = new RetryableError('kernel down', { code: 'safety_unavailable', retryAfterMs: 500 });
    expect(isRetryable(retry)).toBe(true);
    expect(retry.retryAfterMs).toBe(500);
    expect(isRetryable(new InvalidError('bad'))).toBe(false);
    expect(new InvalidError('bad').httpStatus).toBe(400);
  });
});

describe('backoffDelay', () => {
  const opts = { initialMs: 100, maxMs: 1000, multiplier: 2 };
  it('grows exponentially and is capped', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, { ...opts, jitter: 'none' }))).toEqual([
      100, 200, 400, 800, 1000,
    ]);
    expect(backoffDelay(500, { ...opts, jitter: 'none' })).toBe(1000);
  });
  it('applies full and equal jitter within bounds', () => {
    expect(backoffDelay(3, { ...opts, jitter: 'full' }, () => 0)).toBe(0);
    expect(backoffDelay(3, { ...opts, jitter: 'full' }, () => 0.5)).toBe(200);
    expect(backoffDelay(3, { ...opts, jitter: 'equal' }, () => 0)).toBe(200);
    expect(backoffDelay(3, { ...opts, jitter: 'equal' }, () => 0.999999)).toBe(400);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(2, opts);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(200);
    }
  });
  it('rejects nonsense', () => {
    expect(() => backoffDelay(0, opts)).toThrow(RangeError);
    expect(() => backoffDelay(1, { initialMs: 10, maxMs: 5 })).toThrow(RangeError);
  });
});

describe('canonical JSON and hashing', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' }, u: undefined })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });
  it('hashes equal data equally whatever the key order', () => {
    expect(hashJson({ a: 1, b: [1, 2] })).toBe(hashJson({ b: [1, 2], a: 1 }));
    expect(hashJson({ a: 1 })).not.toBe(hashJson({ a: 2 }));
    expect(hashJson({ a: 1 })).toMatch(/^[0-9a-f]{64}$/);
  });
  it('refuses values JSON cannot represent', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ a: 1n })).toThrow(TypeError);
    expect(() => canonicalJson(new Map())).toThrow(TypeError);
  });
});

describe('jsonMergePatch (RFC 7386)', () => {
  it('merges objects deeply, replaces arrays, deletes on null, leaves inputs alone', () => {
    const target = { a: { b: 1, c: [1, 2] }, d: 'keep', e: 'drop' };
    const patch = { a: { c: [3], x: true }, e: null };
    expect(jsonMergePatch(target, patch)).toEqual({ a: { b: 1, c: [3], x: true }, d: 'keep' });
    expect(target).toEqual({ a: { b: 1, c: [1, 2] }, d: 'keep', e: 'drop' });
    expect(jsonMergePatch({ a: 1 }, 'scalar')).toBe('scalar');
  });
});

describe('mergeEffectiveConfig', () => {
  it('applies system → org → team → workflow → step with version and hash', () => {
    const eff = mergeEffectiveConfig([
      { scope: 'team', scopeId: 't1', revision: 3, data: { timeouts: { topics: { 'job.a': { timeout_seconds: 5 } } } } },
      {
        scope: 'system',
        scopeId: 'default',
        revision: 7,
        data: { timeouts: { topics: { 'job.a': { timeout_seconds: 60, max_retries: 2 } } }, limits: { x: 1 } },
      },
      { scope: 'step', scopeId: 's', revision: 1, data: { limits: null } },
    ]);
    expect(eff.data).toEqual({ timeouts: { topics: { 'job.a': { timeout_seconds: 5, max_retries: 2 } } } });
    expect(eff.version).toBe('system:7|org:-|team:3|workflow:-|step:1');
    expect(eff.hash).toBe(hashJson(eff.data));
  });
  it('rejects two layers of one scope', () => {
    expect(() =>
      mergeEffectiveConfig([
        { scope: 'org', scopeId: 'a', revision: 1, data: {} },
        { scope: 'org', scopeId: 'b', revision: 1, data: {} },
      ]),
    ).toThrow(InvalidError);
  });
});

describe('ids', () => {
  it('newId is a time-ordered UUIDv7', () => {
    const a = newId(1_700_000_000_000);
    const b = newId(1_700_000_000_001);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a < b).toBe(true);
    expect(idTimestamp(a)).toBe(1_700_000_000_000);
    expect(new Set(Array.from({ length: 1000 }, () => newId())).size).toBe(1000);
    // Within one millisecond, ids of one process still sort in creation order.
    const same = Array.from({ length: 2048 }, () => newId(1_700_000_000_500));
    expect([...same].sort()).toEqual(same);
    expect(new Set(same).size).toBe(same.length);
    expect(newTraceId()).toMatch(/^[0-9a-f]{32}$/);
  });
  it('isSafeId rejects ids that could escape keys or subjects', () => {
    expect(isSafeId('run-1:step@2')).toBe(true);
    expect(isSafeId('run:step[3]@1')).toBe(true);
    for (const bad of ['', 'a b', 'a/b', '*', 'a\nb', '.hidden', 'x'.repeat(201)]) expect(isSafeId(bad)).toBe(false);
  });
});

describe('manual clock', () => {
  it('wakes sleepers only when time passes their deadline', async () => {
    const clock = createManualClock(1000);
    let woke = false;
    const sleeping = clock.sleep(500).then(() => {
      woke = true;
    });
    clock.advance(499);
    await Promise.resolve();
    expect(woke).toBe(false);
    clock.advance(1);
    await sleeping;
    expect(woke).toBe(true);
    expect(clock.now()).toBe(1500);
  });
  it('rejects a sleep when its signal aborts', async () => {
    const clock = createManualClock();
    const ac = new AbortController();
    const p = clock.sleep(1000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });
});

describe('logger', () => {
  it('carries correlation ids as snake_case fields and redacts secrets', () => {
    const { logger, records } = createMemoryLogger('svc');
    withContext(logger, { traceId: 't1', jobId: 'j1', runId: 'r1', stepId: 's1', tenant: 'acme' }).info(
      { api_key: 'sk-123', nested: { token: 'abc' } },
      'dispatched',
    );
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      level: 'info',
      msg: 'dispatched',
      name: 'svc',
      trace_id: 't1',
      job_id: 'j1',
      run_id: 'r1',
      step_id: 's1',
      tenant: 'acme',
      api_key: '[redacted]',
      nested: { token: '[redacted]' },
    });
  });

  it('redacts secret keys at any depth and any case without touching the caller’s objects', () => {
    const { logger, records } = createMemoryLogger('svc');
    const fields = {
      req: { headers: { Authorization: 'Bearer x', accept: 'json' } },
      packet: { payload: { value: { authToken: 't' } } },
      list: [{ password: 'p' }, 'plain'],
      ok: 1,
    };
    logger.child({ client_secret: 's', who: 'me' }).warn(fields, 'm');
    expect(records[0]).toMatchObject({
      client_secret: '[redacted]',
      who: 'me',
      req: { headers: { Authorization: '[redacted]', accept: 'json' } },
      packet: { payload: { value: { authToken: '[redacted]' } } },
      list: [{ password: '[redacted]' }, 'plain'],
      ok: 1,
    });
    expect(fields.req.headers.Authorization).toBe('Bearer x');
    expect(fields.list[0]).toEqual({ password: 'p' });
  });

  it('makes a context child only when the logger is used', () => {
    let children = 0;
    const { logger, records } = createMemoryLogger('svc');
    const counting = { ...logger, child: (b: Record<string, unknown>) => (children++, logger.child(b)) };
    const ctx = withContext(counting, { jobId: 'j1' });
    expect(children).toBe(0);
    ctx.info('one');
    ctx.debug({ n: 2 }, 'two');
    expect(children).toBe(1);
    expect(records.map((r) => [r.msg, r['job_id']])).toEqual([['one', 'j1'], ['two', 'j1']]);
    // A level that is off never makes the child.
    const quiet = createLogger({ name: 'q', level: 'info', destination: { write: () => undefined } });
    let made = 0;
    const ctx2 = withContext({ ...quiet, child: (b: Record<string, unknown>) => (made++, quiet.child(b)) }, { jobId: 'j2' });
    ctx2.debug('dropped');
    expect(made).toBe(0);
  });
});

describe('metrics', () => {
  it('creates metrics once and exposes them in Prometheus text format', async () => {
    const metrics = createMetrics();
    const c = metrics.counter('jobs_total', 'Jobs by state', ['state']);
    c.inc({ state: 'SUCCEEDED' });
    expect(metrics.counter('jobs_total', 'Jobs by state', ['state'])).toBe(c);
    metrics.histogram('dispatch_seconds', 'Dispatch latency').observe(0.02);
    const text = await metrics.text();
    expect(text).toContain('cordum_jobs_total{state="SUCCEEDED"} 1');
    expect(text).toContain('cordum_dispatch_seconds_bucket');
    expect(() => metrics.gauge('jobs_total', 'clash')).toThrow(TypeError);
  });
});
