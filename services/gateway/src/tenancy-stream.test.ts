import { Subjects } from '@cordum/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { publishAlert, publishCancel, publishDlq, publishProgress, publishResult, publishSubmit } from './testing/bus-events.js';
import { KEYS, type TestGateway, failToDlq, startTestGateway } from './testing/fixture.js';
import { type Frame, type StreamClient, openStream } from './testing/ws-client.js';

// Tenant isolation of GET /api/v1/stream (the WebSocket sibling of tenancy.test.ts): a socket only ever sees
// its own tenant's events, whatever it filters on, and events whose tenant cannot be established go to nobody.

let t: TestGateway;
let url: string;
const clients: StreamClient[] = [];

beforeEach(async () => {
  t = await startTestGateway();
  ({ url } = await t.gateway.listen());
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  await t.close();
});

async function open(key: string, query: Record<string, string> = {}): Promise<StreamClient> {
  const c = await openStream(url, { key, query });
  clients.push(c);
  return c;
}

async function submit(key: string, labels: Record<string, string> = {}): Promise<string> {
  const res = await t.call('POST', '/api/v1/jobs', { key, body: { prompt: 'p', topic: 'job.demo.echo', labels } });
  expect(res.statusCode).toBe(201);
  return res.json<{ job_id: string }>().job_id;
}

const sentinel = (f: Frame) => f.type === 'event' && f['event'] === 'sentinel';

describe('stream tenant isolation', () => {
  it("tenant A's sockets never receive tenant B's events; B's receive all of theirs", async () => {
    const a = await open(KEYS.viewerA);
    const aSpying = await open(KEYS.adminA, { kind: 'job,progress,dlq,run,alert' });
    const b = await open(KEYS.adminB);
    const jobB = await submit(KEYS.operatorB, { run_id: 'run-b' });
    // A socket of tenant A asking for B's job and run by id gets nothing either.
    const aByJob = await open(KEYS.adminA, { job_id: jobB });
    const aByRun = await open(KEYS.adminA, { run_id: 'run-b' });

    await publishProgress(t.bus, jobB, 50);
    await publishCancel(t.bus, jobB);
    await publishResult(t.bus, jobB);
    await failToDlq(t.stores, jobB);
    await publishDlq(t.bus, jobB);
    await publishAlert(t.bus, { tenant_id: 'tenant-b', run_id: 'run-b', event: 'run_started' });
    await publishAlert(t.bus, { tenant_id: 'tenant-b', message: 'b only' }, { subject: Subjects.alert });
    // An alert that names only B's job belongs to B.
    await publishAlert(t.bus, { job_id: jobB, event: 'job_note' }, { subject: Subjects.alert });
    // A raw submit claiming tenant A for B's job id: the job record decides, so it is B's event.
    await publishSubmit(t.bus, jobB, 'tenant-a');
    // No tenant anywhere (no details, unknown job, malformed tenant): sent to nobody.
    await publishAlert(t.bus, { run_id: 'run-x', event: 'orphan' });
    await publishAlert(t.bus, { tenant_id: '../tenant-a', event: 'bad_tenant' });
    await publishResult(t.bus, 'no-such-job');
    await publishProgress(t.bus, 'no-such-job', 1);

    // The sentinels, last on the bus: once they are in, everything before them has been delivered or dropped.
    await publishAlert(t.bus, { tenant_id: 'tenant-a', event: 'sentinel', job_id: jobB, run_id: 'run-b' });
    await publishAlert(t.bus, { tenant_id: 'tenant-b', event: 'sentinel' });
    for (const c of [a, aSpying, aByJob, aByRun, b]) await c.next(sentinel);

    for (const [name, c] of [['a', a], ['aSpying', aSpying], ['aByJob', aByJob], ['aByRun', aByRun]] as const) {
      const events = c.events();
      expect(events.map((e) => e.event), name).toEqual(['sentinel']);
      expect(JSON.stringify(c.frames), name).not.toContain('tenant-b');
    }
    const bEvents = b.events();
    for (const e of bEvents) expect(e.tenant_id).toBe('tenant-b');
    expect(bEvents.map((e) => [e.kind, e.event])).toEqual([
      ['job', 'submitted'],
      ['progress', 'progress'],
      ['job', 'cancel_requested'],
      ['job', 'result'],
      ['dlq', 'dlq'],
      ['run', 'run_started'],
      ['alert', 'alert'],
      ['alert', 'job_note'],
      ['job', 'submitted'],
      ['alert', 'sentinel'],
    ]);
    // Job events carry the run of the job's labels, so a run filter also gets the run's jobs.
    expect(bEvents[1]).toMatchObject({ job_id: jobB, run_id: 'run-b', topic: 'job.demo.echo' });
    expect(Number((await t.call('GET', '/metrics')).body.match(/cordum_gateway_stream_dropped_total\{reason="no_tenant"\} (\d+)/)?.[1])).toBe(4);
  });

  it('the tenant comes from the key, never from the request: a filter or header naming another tenant changes nothing', async () => {
    const jobA = await submit(KEYS.operatorA);
    const c = await openStream(url, { key: KEYS.adminB, query: { job_id: jobA }, headers: { 'x-tenant-id': 'tenant-a' } });
    clients.push(c);
    expect(c.frames[0]).toMatchObject({ tenant_id: 'tenant-b' });
    await publishResult(t.bus, jobA);
    await publishAlert(t.bus, { tenant_id: 'tenant-b', event: 'sentinel', job_id: jobA });
    await c.next(sentinel);
    expect(c.events().map((e) => e.event)).toEqual(['sentinel']);
  });
});
