import { JobStatus, Subjects } from '@cordum/protocol';
import { eventually } from '@cordum/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { STREAM_DEFAULTS, type StreamOptions } from './hub.js';
import { isAllowedOrigin } from '../http/origin.js';
import { publishAlert, publishCancel, publishDlq, publishProgress, publishResult } from '../testing/bus-events.js';
import { KEYS, type TestGateway, failToDlq, startTestGateway } from '../testing/fixture.js';
import { type Frame, type StreamClient, keyProtocols, openStream, refusedStream } from '../testing/ws-client.js';

// GET /api/v1/stream over a real socket: a listening gateway on the memory bus and stores, a `ws` client.

let t: TestGateway | undefined;
let url: string;
const clients: StreamClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  await t?.close();
  t = undefined;
});

async function start(stream: Partial<StreamOptions> = {}, gateway: Record<string, unknown> = {}): Promise<TestGateway> {
  t = await startTestGateway({ gateway: { stream: { ...STREAM_DEFAULTS, ...stream }, ...gateway } });
  ({ url } = await t.gateway.listen());
  return t;
}

async function open(options: Parameters<typeof openStream>[1]): Promise<StreamClient> {
  const c = await openStream(url, options);
  clients.push(c);
  return c;
}

async function submit(key: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await t!.call('POST', '/api/v1/jobs', { key, body: { prompt: 'hello', topic: 'job.demo.echo', ...body } });
  expect(res.statusCode).toBe(201);
  return res.json<{ job_id: string }>().job_id;
}

const isEvent = (event: string, jobId?: string) => (f: Frame) => f.type === 'event' && f['event'] === event && (jobId === undefined || f['job_id'] === jobId);

async function metricValue(name: string, label: string): Promise<number> {
  const text = (await t!.call('GET', '/metrics')).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('stream events', () => {
  it('sends a job\'s lifecycle as snake_case event frames: submitted, progress, cancel, result, dlq', async () => {
    await start();
    const c = await open({ key: KEYS.viewerA });
    expect(c.frames[0]).toEqual({
      type: 'subscribed',
      tenant_id: 'tenant-a',
      principal_id: 'vera',
      filter: { job_id: null, run_id: null, topic: null, kind: null },
    });
    const jobId = await submit(KEYS.operatorA, { labels: { team: 'blue' } });
    const submitted = await c.next(isEvent('submitted', jobId));
    expect(submitted).toMatchObject({
      type: 'event',
      kind: 'job',
      subject: Subjects.jobSubmit,
      tenant_id: 'tenant-a',
      job_id: jobId,
      topic: 'job.demo.echo',
      state: 'PENDING',
      run_id: null,
      data: { principal_id: 'otto', priority: 'unspecified', labels: { team: 'blue' } },
    });
    expect(typeof submitted['trace_id']).toBe('string');
    expect(new Date(submitted['time'] as string).getTime()).toBeGreaterThan(0);

    await publishProgress(t!.bus, jobId, 40, 'reading');
    await publishCancel(t!.bus, jobId, 'changed my mind');
    await publishResult(t!.bus, jobId, JobStatus.SUCCEEDED);
    await failToDlq(t!.stores, jobId);
    await publishDlq(t!.bus, jobId);
    await c.next(isEvent('dlq', jobId));
    const mine = c.events().filter((e) => e.job_id === jobId);
    expect(mine.map((e) => [e.kind, e.event, e.state])).toEqual([
      ['job', 'submitted', 'PENDING'],
      ['progress', 'progress', 'RUNNING'],
      ['job', 'cancel_requested', null],
      ['job', 'result', 'SUCCEEDED'],
      ['dlq', 'dlq', 'FAILED'],
    ]);
    // Events without a tenant in the packet get it (and the topic) from the job record.
    for (const e of mine) expect(e).toMatchObject({ tenant_id: 'tenant-a', topic: 'job.demo.echo' });
    expect(mine[1]!.data).toMatchObject({ percent: 40, message: 'reading' });
    expect(mine[2]!.data).toMatchObject({ reason: 'changed my mind', requested_by: 'ada', attempt: null });
    expect(mine[3]!.data).toMatchObject({ result_ptr: `redis://res:${jobId}`, worker_id: 'worker-1', execution_ms: 42 });
    expect(mine[4]!.data).toMatchObject({ reason_code: 'max_retries_exceeded', error_message: 'it kept failing' });
  });

  it('forwards workflow run events and alerts of the tenant named in their details', async () => {
    await start();
    const c = await open({ key: KEYS.viewerA });
    await publishAlert(t!.bus, { tenant_id: 'tenant-a', run_id: 'run-1', workflow_id: 'wf-1', step_id: 'build', event: 'step_succeeded', status: 'succeeded', extra: 'x' });
    await publishAlert(t!.bus, { tenant_id: 'tenant-a', run_id: 'run-1', kind: 'alert', event: 'notify' }, { message: 'deploy finished' });
    await publishAlert(t!.bus, { tenant_id: 'tenant-a', component: 'scheduler' }, { subject: Subjects.alert, message: 'pool saturated' });
    await c.next((f) => f['data'] !== undefined && (f['data'] as { message?: string }).message === 'pool saturated');
    expect(c.events().map((e) => [e.kind, e.event, e.run_id, e.subject])).toEqual([
      ['run', 'step_succeeded', 'run-1', Subjects.workflowEvent],
      ['alert', 'notify', 'run-1', Subjects.workflowEvent],
      ['alert', 'alert', null, Subjects.alert],
    ]);
    expect(c.events()[0]).toMatchObject({
      workflow_id: 'wf-1',
      step_id: 'build',
      state: 'succeeded',
      data: { severity: 'info', message: 'run event', source_component: 'workflow-engine', details: { extra: 'x' } },
    });
  });
});

describe('stream filters', () => {
  it('query filters: kind, job_id and topic patterns (AND across fields, OR within one)', async () => {
    await start();
    const wanted = await submit(KEYS.operatorA, { topic: 'job.demo.echo' });
    const other = await submit(KEYS.operatorA, { topic: 'job.other.x' });
    const byJob = await open({ key: KEYS.viewerA, query: { job_id: wanted, kind: 'progress,job' } });
    const byTopic = await open({ key: KEYS.viewerA, query: { topic: 'job.demo.*' } });
    const byKind = await open({ key: KEYS.viewerA, query: { kind: 'dlq' } });
    expect(byJob.frames[0]!['filter']).toEqual({ job_id: [wanted], run_id: null, topic: null, kind: ['progress', 'job'] });

    await publishProgress(t!.bus, other, 10);
    await publishProgress(t!.bus, wanted, 20);
    await publishResult(t!.bus, other);
    await publishResult(t!.bus, wanted);
    await publishDlq(t!.bus, other);
    // Frames arrive in bus order, so once the last wanted one is there nothing else can still be coming.
    await byJob.next(isEvent('result', wanted));
    await byTopic.next(isEvent('result', wanted));
    await byKind.next(isEvent('dlq', other));
    expect(byJob.events().map((e) => [e.event, e.job_id])).toEqual([['progress', wanted], ['result', wanted]]);
    expect(byTopic.events().map((e) => [e.event, e.job_id])).toEqual([['progress', wanted], ['result', wanted]]);
    expect(byKind.events().map((e) => [e.event, e.job_id])).toEqual([['dlq', other]]);
  });

  it('a subscribe message replaces the filter; bad messages get an error frame and the socket stays open', async () => {
    await start();
    const jobA = await submit(KEYS.operatorA);
    const jobB = await submit(KEYS.operatorA);
    const c = await open({ key: KEYS.viewerA, query: { job_id: jobA } });
    await publishProgress(t!.bus, jobA, 1);
    await c.next(isEvent('progress', jobA));

    c.send({ type: 'subscribe', filter: { job_id: [jobB], kind: 'progress' } });
    const ack = await c.next((f) => f.type === 'subscribed', { from: 1 });
    expect(ack['filter']).toEqual({ job_id: [jobB], run_id: null, topic: null, kind: ['progress'] });
    await publishProgress(t!.bus, jobA, 2);
    await publishProgress(t!.bus, jobB, 3);
    await c.next(isEvent('progress', jobB));
    expect(c.events().map((e) => [e.job_id, e.data['percent']])).toEqual([[jobA, 1], [jobB, 3]]);

    const before = c.frames.length;
    c.send('not json');
    c.send({ type: 'subscribe', filter: { kind: 'everything' } });
    c.send({ type: 'subscribe', filter: { colour: 'red' } });
    c.send({ type: 'subscribe', job_id: 'x' });
    c.send({ type: 'dance' });
    c.socket.send(Buffer.from([1, 2, 3]));
    c.send({ type: 'ping' });
    await c.next((f) => f.type === 'pong', { from: before });
    const errors = c.frames.slice(before).filter((f) => f.type === 'error').map((f) => (f['error'] as { code: string; message: string }));
    expect(errors).toHaveLength(6);
    for (const e of errors) expect(e.code).toBe('invalid_argument');
    expect(errors[1]!.message).toMatch(/kind "everything" is not one of job, progress, dlq, run, alert/);
    expect(errors[2]!.message).toMatch(/unknown filter field "colour"/);
    expect(errors[3]!.message).toMatch(/inside "filter"/);
    // The failed subscribes left the filter as it was.
    await publishProgress(t!.bus, jobB, 4);
    await c.next((f) => f.type === 'event' && (f['data'] as { percent: number }).percent === 4);
  });

  it('a bad filter in the query is a 400 before the upgrade', async () => {
    await start();
    const bad = await refusedStream(url, { key: KEYS.viewerA, query: { kind: 'nope' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_argument');
    expect(bad.body.error.message).toMatch(/kind "nope"/);
    const unknown = await refusedStream(url, { key: KEYS.viewerA, query: { colour: 'red' } });
    expect(unknown.status).toBe(400);
    expect((await refusedStream(url, { key: KEYS.viewerA, query: { topic: 'job..x' } })).status).toBe(400);
  });
});

describe('stream auth', () => {
  it('401 without a key or with a bad one, before the upgrade', async () => {
    await start();
    const none = await refusedStream(url, {});
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('unauthenticated');
    const bad = await refusedStream(url, { key: 'not-a-key-0123456789' });
    expect(bad).toMatchObject({ status: 401, body: { error: { code: 'unauthenticated', message: 'invalid API key' } } });
    expect((await refusedStream(url, { protocols: keyProtocols('not-a-key-0123456789') })).status).toBe(401);
    expect(await metricValue('cordum_gateway_auth_failures_total', 'reason="unauthenticated"')).toBeGreaterThanOrEqual(3);
  });

  it('browsers: the key as subprotocols "cordum-api-key, <base64url>"; the server answers cordum-api-key, never the key', async () => {
    await start();
    const c = await open({ protocols: keyProtocols(KEYS.viewerA), headers: { origin: 'http://localhost:5173' } });
    expect(c.socket.protocol).toBe('cordum-api-key');
    expect(c.frames[0]).toMatchObject({ type: 'subscribed', tenant_id: 'tenant-a', principal_id: 'vera' });
    const bearer = await open({ headers: { authorization: `Bearer ${KEYS.adminB}` } });
    expect(bearer.frames[0]).toMatchObject({ tenant_id: 'tenant-b', principal_id: 'bob' });
  });

  it('refuses a key in the URL (400), a foreign origin (403), and plain HTTP (426)', async () => {
    await start();
    const inUrl = await refusedStream(url, { query: { api_key: KEYS.viewerA } });
    expect(inUrl.status).toBe(400);
    expect(inUrl.body.error.message).toMatch(/do not put API keys in URLs/);
    const foreign = await refusedStream(url, { key: KEYS.viewerA, headers: { origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error).toMatchObject({ code: 'permission_denied', details: { origin: 'https://evil.example' } });
    const plain = await fetch(`${url}/api/v1/stream`, { headers: { 'x-api-key': KEYS.viewerA } });
    expect(plain.status).toBe(426);
    expect(((await plain.json()) as { error: { message: string } }).error.message).toMatch(/WebSocket endpoint/);
    expect((await fetch(`${url}/api/v1/stream`)).status).toBe(401);
  });

  it('an allowlisted origin may connect; any origin with "*"', async () => {
    await start({}, { allowedOrigins: ['https://console.example'] });
    await open({ key: KEYS.viewerA, headers: { origin: 'https://console.example' } });
    expect((await refusedStream(url, { key: KEYS.viewerA, headers: { origin: 'http://localhost:3000' } })).status).toBe(403);
    // The rule the upgrade shares with CORS.
    expect(isAllowedOrigin('https://anything.example', ['*'])).toBe(true);
    expect(isAllowedOrigin('http://127.0.0.1:5173', [])).toBe(true);
    expect(isAllowedOrigin('https://evil.example', [])).toBe(false);
  });
});

describe('stream limits', () => {
  it('503 beyond maxConnections; room again once a socket closes', async () => {
    await start({ maxConnections: 1 });
    const first = await open({ key: KEYS.viewerA });
    const full = await refusedStream(url, { key: KEYS.viewerA });
    expect(full.status).toBe(503);
    expect(full.body.error.code).toBe('unavailable');
    await first.close();
    await eventually(async () => {
      await open({ key: KEYS.viewerA });
    });
  });

  it('pings every interval; a socket that stops answering is cut, one that answers stays', async () => {
    await start({ pingIntervalMs: 100 });
    const answering = await open({ key: KEYS.viewerA });
    const silent = await open({ key: KEYS.viewerA, autoPong: false });
    let pings = 0;
    answering.socket.on('ping', () => pings++);
    expect(await silent.closed()).toBe(1006);
    await eventually(() => expect(pings).toBeGreaterThanOrEqual(3));
    expect(answering.socket.readyState).toBe(answering.socket.OPEN);
    expect(await metricValue('cordum_gateway_stream_disconnects_total', 'reason="ping_timeout"')).toBe(1);
  });

  it('a socket that does not read loses events beyond its queue and is told how many (lagged), in order', async () => {
    await start({ bufferFrames: 4 });
    const c = await open({ key: KEYS.viewerA });
    c.socket.pause();
    // Big frames fill the kernel's socket buffers quickly; then the queue fills and events are dropped.
    const big = 'x'.repeat(64 * 1024);
    let sent = 0;
    while ((await metricValue('cordum_gateway_stream_dropped_total', 'reason="slow_consumer"')) < 10 && sent < 3000) {
      for (let i = 0; i < 20; i++) await publishAlert(t!.bus, { tenant_id: 'tenant-a', seq: String(sent++) }, { subject: Subjects.alert, message: big });
      await new Promise((r) => setTimeout(r, 5));
    }
    const dropped = await metricValue('cordum_gateway_stream_dropped_total', 'reason="slow_consumer"');
    expect(dropped).toBeGreaterThanOrEqual(10);
    c.socket.resume();
    await c.next((f) => f.type === 'lagged', { timeoutMs: 20_000 });
    // Reading again: new events flow.
    await publishAlert(t!.bus, { tenant_id: 'tenant-a', seq: 'last' }, { subject: Subjects.alert, message: 'last' });
    await c.next((f) => f.type === 'event' && (f['data'] as { details: { seq: string } }).details.seq === 'last', { timeoutMs: 20_000 });
    const lagged = c.frames.filter((f) => f.type === 'lagged');
    expect(lagged.length).toBeGreaterThanOrEqual(1);
    const lost = lagged.reduce((n, f) => n + (f['dropped'] as number), 0);
    const seqs = c.events().map((e) => (e.data['details'] as { seq: string }).seq);
    // Every event either arrived (in order) or was counted in a lagged frame.
    expect(seqs.length + lost).toBe(sent + 1);
    const numbers = seqs.filter((s) => s !== 'last').map(Number);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(lost).toBe(await metricValue('cordum_gateway_stream_dropped_total', 'reason="slow_consumer"'));
  }, 60_000);

  it('close() ends every socket with 1001 (going away)', async () => {
    await start();
    const c = await open({ key: KEYS.viewerA });
    const code = c.closed();
    await t!.close();
    t = undefined;
    expect(await code).toBe(1001);
  });
});
