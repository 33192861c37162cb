import { type NatsServer, type RedisServer, startNats, startRedis } from '@cordum/testkit';
import { prepareRerun } from '@cordum/workflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Platform, isTerminal, startPlatform } from './workflow-platform.js';

// The workflow engine with a real scheduler, SDK workers, NATS and Redis: every job a step dispatches is
// stored, governed and routed by the scheduler like any other job, and the engine acts on its terminal state.

let nats: NatsServer;
let redis: RedisServer;
let p: Platform;

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
  p = await startPlatform({ natsUrl: nats.url, redisUrl: redis.url });
});
afterAll(async () => {
  await p?.stop();
  await Promise.all([nats?.stop(), redis?.stop()]);
});

const overlap = (a: { start: number; end: number }, b: { start: number; end: number }): boolean => a.start < b.end && b.start < a.end;

describe('workflow engine on NATS + Redis with the scheduler', () => {
  it('runs a DAG with parallel branches', async () => {
    const id = await p.startRun(
      {
        id: 'dag',
        steps: {
          root: { topic: 'job.wfe.echo', input: { v: '${input.v}' } },
          left: { topic: 'job.wfe.echo', depends_on: ['root'], input: { side: 'left', v: '${steps.root.output.echo.v}', sleep_ms: 300 } },
          right: { topic: 'job.wfe.echo', depends_on: ['root'], input: { side: 'right', v: '${steps.root.output.echo.v}', sleep_ms: 300 } },
          join: { topic: 'job.wfe.echo', depends_on: ['left', 'right'], input: { l: '${steps.left.output.echo.side}', r: '${steps.right.output.echo.side}' } },
        },
      },
      { input: { v: 42 } },
    );
    const run = await p.waitFor(id, isTerminal);
    expect(run.status).toBe('succeeded');
    expect(run.steps['join']?.output).toEqual({ echo: { l: 'left', r: 'right' }, dry_run: false });
    const left = p.log.find((e) => e.jobId === `${id}:left@1`);
    const right = p.log.find((e) => e.jobId === `${id}:right@1`);
    expect(left !== undefined && right !== undefined && overlap(left, right)).toBe(true);
    const job = await p.stores.jobs.get(`${id}:join@1`);
    expect(job).toMatchObject({ state: 'SUCCEEDED', attempts: 1 });
    expect(left?.labels).toMatchObject({ run_id: id, step_id: 'left', workflow_id: 'dag' });
  });

  it('fans out 200 items with max_parallel 10', async () => {
    const items = Array.from({ length: 200 }, (_, i) => i);
    const id = await p.startRun({ id: 'fan200', steps: { each: { topic: 'job.wfe.echo', for_each: 'input.items', max_parallel: 10, input: { i: '${item}', sleep_ms: 5 } } } }, { input: { items } });
    const run = await p.waitFor(id, isTerminal, 60_000);
    expect(run.status).toBe('succeeded');
    expect((run.steps['each']?.output as { echo: { i: number } }[]).map((o) => o.echo.i)).toEqual(items);
    const mine = p.log.filter((e) => e.jobId.startsWith(`${id}:each[`));
    expect(mine).toHaveLength(200);
    let peak = 0;
    for (const e of mine) peak = Math.max(peak, mine.filter((o) => o.start <= e.start && e.start < o.end).length);
    expect(peak).toBeLessThanOrEqual(10);
    expect(peak).toBeGreaterThan(1);
  }, 90_000);

  it('waits at an approval gate: one run approved, one rejected', async () => {
    const def = { id: 'gated', steps: { prep: { topic: 'job.wfe.echo' }, gate: { type: 'approval', depends_on: ['prep'] }, ship: { topic: 'job.wfe.echo', depends_on: ['gate'] } } };
    const [yes, no] = await Promise.all([p.startRun(def), p.startRun(def)]);
    await p.waitFor(yes, (r) => r.status === 'waiting');
    await p.waitFor(no, (r) => r.status === 'waiting');
    await p.sendEvent(yes, { type: 'step_approved', step_id: 'gate', by: 'alice', reason: 'fine' });
    await p.sendEvent(no, { type: 'step_rejected', step_id: 'gate', by: 'bob', reason: 'no' });
    const approved = await p.waitFor(yes, isTerminal);
    const rejected = await p.waitFor(no, isTerminal);
    expect(approved.status).toBe('succeeded');
    expect(approved.steps['gate']?.approval).toMatchObject({ decision: 'approved', by: 'alice' });
    expect(rejected.status).toBe('failed');
    expect(rejected.steps['gate']?.error?.code).toBe('approval_rejected');
    expect(p.executions.has(`${no}:ship@1`)).toBe(false);
    const tl = await p.stores.runs.timeline('default', yes, { limit: 1000 });
    expect(tl.items.some((e) => e.data['type'] === 'step_approved')).toBe(true);
  });

  it('delays a step with a durable timer', async () => {
    const id = await p.startRun({ id: 'delay', steps: { wait: { type: 'delay', delay_sec: 1 }, after: { topic: 'job.wfe.echo', depends_on: ['wait'] } } });
    await p.waitFor(id, (r) => r.steps['wait']?.status === 'running');
    const rec = await p.stores.runs.get('default', id);
    expect(rec?.dueAt).toBeGreaterThan(await p.stores.runs.now());
    const run = await p.waitFor(id, isTerminal);
    expect(run.status).toBe('succeeded');
    const after = p.log.find((e) => e.jobId === `${id}:after@1`);
    const started = Date.parse(run.steps['wait']?.started_at ?? '');
    expect((after?.start ?? 0) - started).toBeGreaterThanOrEqual(900);
  });

  it('retries a failing step with backoff; the scheduler does not retry workflow jobs itself', async () => {
    const id = await p.startRun({ id: 'flaky', steps: { f: { topic: 'job.wfe.flaky', retry: { max_retries: 2, initial_backoff_sec: 0.2 }, input: { x: 1 } } } });
    const run = await p.waitFor(id, isTerminal);
    expect(run.status).toBe('succeeded');
    expect(run.steps['f']).toMatchObject({ status: 'succeeded', attempts: 2, output: { echo: { x: 1 }, dry_run: false } });
    expect(await p.stores.jobs.get(`${id}:f@1`)).toMatchObject({ state: 'FAILED', attempts: 1 });
    expect(await p.stores.jobs.get(`${id}:f@2`)).toMatchObject({ state: 'SUCCEEDED', attempts: 1 });
    expect(p.executions.get(`${id}:f@1`)).toBe(1);
    const tl = await p.stores.runs.timeline('default', id, { limit: 1000 });
    expect(tl.items.some((e) => e.data['type'] === 'step_retry_scheduled')).toBe(true);
  });

  it('times a step out', async () => {
    const id = await p.startRun({ id: 'timeout', steps: { s: { topic: 'job.wfe.slow', timeout_sec: 1, input: { ms: 30_000 } } } });
    const run = await p.waitFor(id, isTerminal);
    expect(run.status).toBe('timed_out');
    expect(run.steps['s']?.status).toBe('timed_out');
    await expect.poll(async () => (await p.stores.jobs.get(`${id}:s@1`))?.state, { timeout: 10_000 }).toMatch(/TIMEOUT|CANCELLED/);
  });

  it('cancels a run mid-flight and its running job', async () => {
    const id = await p.startRun({ id: 'cancel', steps: { s: { topic: 'job.wfe.slow', input: { ms: 30_000 } }, next: { topic: 'job.wfe.echo', depends_on: ['s'] } } });
    await expect.poll(() => p.executions.get(`${id}:s@1`), { timeout: 10_000 }).toBe(1);
    await p.sendEvent(id, { type: 'cancel_requested', by: 'carol', reason: 'stop' });
    const run = await p.waitFor(id, isTerminal);
    expect(run.status).toBe('cancelled');
    expect(run.steps['next']?.status).toBe('cancelled');
    await expect.poll(async () => (await p.stores.jobs.get(`${id}:s@1`))?.state, { timeout: 10_000 }).toBe('CANCELLED');
    await expect.poll(() => p.log.some((e) => e.jobId === `${id}:s@1`), { timeout: 10_000 }).toBe(true);
    expect(p.executions.has(`${id}:next@1`)).toBe(false);
  });

  it('reruns from a step, reusing the recorded outputs of the steps it depends on', async () => {
    const def = {
      id: 'rerun',
      steps: {
        a: { topic: 'job.wfe.echo', input: { a: 1 } },
        b: { topic: 'job.wfe.echo', depends_on: ['a'], input: { b: '${steps.a.output.echo.a}' } },
        c: { topic: 'job.wfe.echo', depends_on: ['b'], input: { c: '${steps.b.output.echo.b}' } },
      },
    };
    const id = await p.startRun(def);
    const first = await p.waitFor(id, isTerminal);
    expect(first.status).toBe('succeeded');
    const again = prepareRerun(first, { id: `${id}-r`, from_step: 'b', now: await p.stores.runs.now(), triggered_by: 'dave' });
    await p.startExisting(again);
    const rerun = await p.waitFor(again.id, isTerminal);
    expect(rerun.status).toBe('succeeded');
    expect(rerun.steps['a']?.result_ptr).toBe(first.steps['a']?.result_ptr);
    expect(rerun.steps['c']?.output).toEqual(first.steps['c']?.output);
    expect(p.executions.has(`${again.id}:a@1`)).toBe(false);
    expect(p.executions.get(`${again.id}:b@1`)).toBe(1);
    expect(p.executions.get(`${again.id}:c@1`)).toBe(1);
  });

  it('dry-runs: every job is marked and workers see dry_run', async () => {
    const id = await p.startRun({ id: 'dry', steps: { a: { topic: 'job.wfe.echo' }, b: { topic: 'job.wfe.echo', depends_on: ['a'] } } }, { dryRun: true });
    const run = await p.waitFor(id, isTerminal);
    expect(run.status).toBe('succeeded');
    expect(run.steps['b']?.output).toMatchObject({ dry_run: true });
    const mine = p.log.filter((e) => e.jobId.startsWith(`${id}:`));
    expect(mine).toHaveLength(2);
    for (const e of mine) {
      expect(e.env['dry_run']).toBe('true');
      expect(e.labels['dry_run']).toBe('true');
    }
  });

  it('fails runs and steps whose data breaks their schemas', async () => {
    const inputSchema = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } };
    const badInput = await p.startRun({ id: 'schema-run', input_schema: inputSchema, steps: { a: { topic: 'job.wfe.echo' } } }, { input: { name: 7 } });
    const badOutput = await p.startRun({
      id: 'schema-out',
      steps: { a: { topic: 'job.wfe.bad', output_schema: { type: 'object', required: ['answer'] } }, b: { topic: 'job.wfe.echo', depends_on: ['a'] } },
    });
    const badStepInput = await p.startRun(
      { id: 'schema-in', steps: { a: { topic: 'job.wfe.echo', input: { n: '${input.n}' }, input_schema: { type: 'object', properties: { n: { type: 'integer' } } } } } },
      { input: { n: 'seven' } },
    );
    await p.stores.schemas.put('default', 'test/Answer', { type: 'object', required: ['answer'] });
    const badRegistry = await p.startRun({ id: 'schema-reg', steps: { a: { topic: 'job.wfe.bad', output_schema_id: 'test/Answer' } } });

    const r1 = await p.waitFor(badInput, isTerminal);
    expect(r1).toMatchObject({ status: 'failed', error: { code: 'run_input_invalid' } });
    expect(p.executions.has(`${badInput}:a@1`)).toBe(false);
    const r2 = await p.waitFor(badOutput, isTerminal);
    expect(r2.status).toBe('failed');
    expect(r2.steps['a']?.error?.code).toBe('step_output_invalid');
    expect(r2.steps['b']?.status).toBe('skipped');
    const r3 = await p.waitFor(badStepInput, isTerminal);
    expect(r3.steps['a']?.error?.code).toBe('step_input_invalid');
    expect(p.executions.has(`${badStepInput}:a@1`)).toBe(false);
    const r4 = await p.waitFor(badRegistry, isTerminal);
    expect(r4.steps['a']?.error?.code).toBe('step_output_invalid');
    expect(r4.schemas?.['test/Answer']).toEqual({ type: 'object', required: ['answer'] });
  });
});
