import {
  AlertSeverity,
  JobStatus,
  Subjects,
  decodePacket,
  encodePacket,
  encodeWorkflowCommand,
  jobFinalCommand,
  newPacket,
} from '@cordum/protocol';
import { jobFinalFence } from '@cordum/store';
import { type WorkflowRun, createRun, prepareRerun, reduce } from '@cordum/workflow';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, createHarness } from './testing/harness.js';

// The engine on the memory bus and stores; a JobDriver plays scheduler + worker (see testing/harness.ts).

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.stop();
});

async function harness(options: Parameters<typeof createHarness>[0] = {}): Promise<Harness> {
  const h = await createHarness(options);
  harnesses.push(h);
  return h;
}

const echo = { state: 'SUCCEEDED' as const };

const diamond = {
  id: 'diamond',
  steps: {
    a: { type: 'worker', topic: 'job.t.a', input: { n: '${input.n}' } },
    b: { type: 'worker', topic: 'job.t.b', depends_on: ['a'], input: { from_a: '${steps.a.output.n}' } },
    c: { type: 'worker', topic: 'job.t.c', depends_on: ['a'], input: { from_a: '${steps.a.output.n}' } },
    d: { type: 'worker', topic: 'job.t.d', depends_on: ['b', 'c'], input: { b: '${steps.b.output.from_a}', c: '${steps.c.output.from_a}' } },
  },
};

const terminal = (r: WorkflowRun): boolean => ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(r.status);

describe('running a DAG', () => {
  it('dispatches each step once, in dependency order, and records outputs, timeline and status events', async () => {
    const h = await harness();
    const driver = await h.jobs((_req, input) => ({ ...echo, output: input }));
    const id = await h.startRun(diamond, { input: { n: 7 }, traceId: 'trace-diamond' });
    const run = await h.waitFor(id, terminal);
    expect(run.status).toBe('succeeded');
    expect(run.steps['d']?.output).toEqual({ b: 7, c: 7 });
    expect(driver.received.map((r) => r.jobId).sort()).toEqual([`${id}:a@1`, `${id}:b@1`, `${id}:c@1`, `${id}:d@1`]);
    expect([...driver.counts.values()].every((n) => n === 1)).toBe(true);
    const order = driver.received.map((r) => r.jobId.split(':')[1]);
    expect(order[0]).toBe('a@1');
    expect(order[3]).toBe('d@1');

    // The job is governed like any: workflow identity on the request, input behind the context pointer.
    const b = driver.received.find((r) => r.jobId.endsWith(':b@1'));
    expect(b).toMatchObject({ workflowId: 'diamond', topic: 'job.t.b', tenantId: 'default', stepIndex: 1 });
    expect(b?.labels).toMatchObject({ run_id: id, step_id: 'b', workflow_id: 'diamond' });
    expect(b?.env).toMatchObject({ run_id: id, step_id: 'b', workflow_id: 'diamond', tenant_id: 'default' });
    const job = await h.stores.jobs.get(`${id}:b@1`);
    expect(job).toMatchObject({ state: 'SUCCEEDED', tenant: 'default', traceId: 'trace-diamond' });
    const ctx = await h.stores.pointers.get(b?.contextPtr ?? '');
    expect(JSON.parse(new TextDecoder().decode(ctx?.bytes))).toEqual({ from_a: 7 });

    // Append-only timeline, one entry per reducer entry, in seq order.
    const tl = await h.stores.runs.timeline('default', id, { limit: 1000 });
    const types = tl.items.map((e) => e.data['type']);
    expect(types[0]).toBe('run_status');
    expect(types).toContain('step_dispatched');
    expect(types.filter((t) => t === 'step_completed')).toHaveLength(4);
    expect(tl.items.map((e) => e.data['seq'])).toEqual(tl.items.map((_, i) => i + 1));
    const completed = tl.items.find((e) => e.data['type'] === 'step_completed' && e.data['step_id'] === 'a');
    expect(completed?.data['result_ptr']).toBe(`redis://res:${id}:a@1`);

    // Status changes on sys.workflow.event, snake_case details.
    await expect.poll(() => h.events.filter((p) => p.payload.case === 'alert' && p.payload.value.details['kind'] === 'run').length).toBe(2);
    const runEvents = h.events.flatMap((p) => (p.payload.case === 'alert' && p.payload.value.details['kind'] === 'run' ? [p.payload.value] : []));
    expect(runEvents.map((e) => e.details['status'])).toEqual(['running', 'succeeded']);
    expect(runEvents[1]?.details).toEqual({ kind: 'run', tenant: 'default', run_id: id, workflow_id: 'diamond', status: 'succeeded' });
    expect(runEvents[1]?.traceId).toBe('trace-diamond');
    const stepD = h.events.flatMap((p) =>
      p.payload.case === 'alert' && p.payload.value.details['kind'] === 'step' && p.payload.value.details['step_id'] === 'd' ? [p.payload.value.details['status']] : [],
    );
    expect(stepD).toEqual(['running', 'succeeded']);

    const record = await h.stores.runs.get('default', id);
    expect(record).toMatchObject({ status: 'succeeded', dueAt: null });
    expect(record?.version).toBe((record?.doc as unknown as WorkflowRun).version);
  });

  it('pins a run to the definition it started with, whatever later puts change', async () => {
    const h = await harness();
    const gate = { open: false };
    await h.jobs(async (req) => {
      while (!gate.open) await new Promise((r) => setTimeout(r, 5));
      return { state: 'SUCCEEDED', output: { topic: req.topic } };
    });
    const id = await h.startRun({ id: 'pinned', steps: { a: { topic: 'job.t.v1' }, b: { topic: 'job.t.v1b', depends_on: ['a'] } } });
    await h.waitFor(id, (r) => r.status === 'running');
    await h.stores.workflows.put('default', 'pinned', { id: 'pinned', steps: { a: { topic: 'job.t.v2' } } });
    gate.open = true;
    const run = await h.waitFor(id, terminal);
    expect(run.steps['b']?.output).toEqual({ topic: 'job.t.v1b' });
  });

  it('fans out with max_parallel and collects per-item outputs in order', async () => {
    const h = await harness();
    let running = 0;
    let peak = 0;
    await h.jobs(async (_req, input) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
      return { state: 'SUCCEEDED', output: { sq: ((input as { item: number }).item) ** 2 } };
    });
    const id = await h.startRun(
      { id: 'fan', steps: { each: { topic: 'job.t.sq', for_each: 'input.xs', max_parallel: 4 } } },
      { input: { xs: Array.from({ length: 40 }, (_, i) => i) } },
    );
    const run = await h.waitFor(id, terminal, 10_000);
    expect(run.status).toBe('succeeded');
    expect(run.steps['each']?.output).toEqual(Array.from({ length: 40 }, (_, i) => ({ sq: i * i })));
    expect(peak).toBeLessThanOrEqual(4);
    expect(peak).toBeGreaterThan(1);
  });

  it('dry-run marks every job and still shows what was dispatched', async () => {
    const h = await harness();
    const driver = await h.jobs((req) => ({ state: 'SUCCEEDED', output: { dry: req.env['dry_run'] ?? 'false' } }));
    const id = await h.startRun(diamond, { input: { n: 1 }, dryRun: true });
    const run = await h.waitFor(id, terminal);
    expect(run.status).toBe('succeeded');
    expect(driver.received).toHaveLength(4);
    for (const req of driver.received) {
      expect(req.env['dry_run']).toBe('true');
      expect(req.labels['dry_run']).toBe('true');
    }
    const tl = await h.stores.runs.timeline('default', id, { limit: 1000 });
    expect(tl.items.filter((e) => e.data['type'] === 'step_dispatched').every((e) => (e.data['data'] as { dry_run: boolean }).dry_run)).toBe(true);
  });
});

describe('events from the gateway', () => {
  const approvalFlow = {
    id: 'approve-me',
    steps: {
      prep: { topic: 'job.t.prep' },
      gate: { type: 'approval', depends_on: ['prep'] },
      ship: { topic: 'job.t.ship', depends_on: ['gate'] },
    },
  };

  it('an approved step lets dependents run; a rejected one fails the run', async () => {
    const h = await harness();
    const driver = await h.jobs(() => ({ state: 'SUCCEEDED', output: {} }));
    const yes = await h.startRun(approvalFlow);
    const no = await h.startRun(approvalFlow);
    await h.waitFor(yes, (r) => r.steps['gate']?.status === 'waiting');
    await h.waitFor(no, (r) => r.steps['gate']?.status === 'waiting');
    expect((await h.run(yes)).status).toBe('waiting');
    await h.sendEvent(yes, { type: 'step_approved', step_id: 'gate', by: 'alice', reason: 'ok' }, { key: 'approve:gate' });
    await h.sendEvent(no, { type: 'step_rejected', step_id: 'gate', by: 'bob', reason: 'not today' });
    const approved = await h.waitFor(yes, terminal);
    const rejected = await h.waitFor(no, terminal);
    expect(approved.status).toBe('succeeded');
    expect(approved.steps['gate']?.approval).toMatchObject({ decision: 'approved', by: 'alice', reason: 'ok' });
    expect(rejected.status).toBe('failed');
    expect(rejected.steps['gate']?.error?.code).toBe('approval_rejected');
    expect(rejected.steps['ship']?.status).toBe('skipped');
    expect(driver.received.map((r) => r.jobId).filter((j) => j.endsWith(':ship@1'))).toEqual([`${yes}:ship@1`]);
  });

  it('a cancel mid-run cancels the running job (in the store while no worker has it)', async () => {
    const h = await harness();
    await h.jobs(() => 'hang');
    const id = await h.startRun(diamond, { input: { n: 1 } });
    await h.waitFor(id, (r) => r.steps['a']?.status === 'running');
    // The driver took the job (RUNNING): the engine asks over sys.job.cancel.
    const cancels: string[] = [];
    await h.bus.subscribe(Subjects.jobCancel, (m) => {
      const p = decodePacket(m.data);
      if (p.payload.case === 'jobCancel') cancels.push(p.payload.value.jobId);
    });
    await expect.poll(async () => (await h.stores.jobs.get(`${id}:a@1`))?.state).toBe('RUNNING');
    await h.sendEvent(id, { type: 'cancel_requested', by: 'carol', reason: 'changed my mind' });
    const run = await h.waitFor(id, terminal);
    expect(run.status).toBe('cancelled');
    expect(Object.values(run.steps).map((s) => s.status)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
    await expect.poll(() => cancels).toEqual([`${id}:a@1`]);
  });

  it('cancels a job no worker has yet with a compare-and-set in the JobStore', async () => {
    const h = await harness();
    const id = await h.startRun(diamond, { input: { n: 1 } }); // no driver: the job stays PENDING
    await expect.poll(async () => (await h.stores.jobs.get(`${id}:a@1`))?.state).toBe('PENDING');
    await h.sendEvent(id, { type: 'cancel_requested', by: 'carol' });
    await h.waitFor(id, terminal);
    await expect.poll(async () => (await h.stores.jobs.get(`${id}:a@1`))?.state).toBe('CANCELLED');
  });

  it('a run cancelled before its first pass dispatches no job (dispatch and cancel in one reduction)', async () => {
    const h = await harness();
    const driver = await h.jobs(() => ({ state: 'SUCCEEDED', output: {} }));
    const id = await h.startRun(diamond, { input: { n: 1 }, silent: true });
    await h.sendEvent(id, { type: 'cancel_requested', by: 'carol' }, { key: 'cancel' });
    const run = await h.waitFor(id, terminal);
    expect(run.status).toBe('cancelled');
    await h.engine.process('default', id, { reconcile: true });
    expect(await h.stores.jobs.get(`${id}:a@1`)).toBeUndefined();
    expect(driver.received).toEqual([]);
  });

  it('reruns from a step as a new run (prepareRerun): upstream outputs reused, only the step and its dependents run', async () => {
    const h = await harness();
    let fail = true;
    const driver = await h.jobs((req, input) => {
      if (req.topic === 'job.t.c' && fail) return { state: 'FAILED', message: 'boom' };
      return { state: 'SUCCEEDED', output: input };
    });
    const id = await h.startRun(diamond, { input: { n: 3 } });
    const failed = await h.waitFor(id, terminal);
    expect(failed.status).toBe('failed');
    expect(failed.steps['d']?.status).toBe('skipped');
    fail = false;
    // What the gateway's rerun route does: a new pending run from the old one, stored, then `start`.
    const rerun = prepareRerun(failed, { id: `${id}-rerun`, from_step: 'c', now: await h.stores.runs.now(), triggered_by: 'dave' });
    await h.stores.runs.create({ tenant: 'default', id: rerun.id, workflowId: 'diamond', workflowVersion: 1, doc: rerun });
    await h.engine.process('default', rerun.id);
    const again = await h.waitFor(rerun.id, terminal);
    expect(again.status).toBe('succeeded');
    expect(again.rerun_of).toBe(id);
    expect(again.steps['a']?.result_ptr).toBe(`redis://res:${id}:a@1`);
    expect(again.steps['d']?.output).toEqual({ b: 3, c: 3 });
    const rerunJobs = driver.received.map((r) => r.jobId).filter((j) => j.startsWith(rerun.id));
    expect(rerunJobs.sort()).toEqual([`${rerun.id}:c@1`, `${rerun.id}:d@1`]);
  });
});

describe('crash repair and lost messages', () => {
  it('starts a pending run whose start command was lost', async () => {
    const h = await harness({ staleAfterMs: 100 });
    await h.jobs(() => ({ state: 'SUCCEEDED', output: {} }));
    const id = await h.startRun({ id: 'lost-start', steps: { a: { topic: 'job.t.a' } } }, { silent: true });
    const run = await h.waitFor(id, terminal, 5000);
    expect(run.status).toBe('succeeded');
  });

  it('notices a terminal job whose result message was lost', async () => {
    const h = await harness({ staleAfterMs: 200 });
    const driver = await h.jobs(() => ({ state: 'SUCCEEDED', output: { ok: true } }));
    driver.muteResults(true);
    const id = await h.startRun({ id: 'lost-result', steps: { a: { topic: 'job.t.a' }, b: { topic: 'job.t.b', depends_on: ['a'] } } });
    const run = await h.waitFor(id, terminal, 5000);
    expect(run.status).toBe('succeeded');
    expect(await counter(h, 'workflow_reconciler_actions_total', { kind: 'lost_result' })).toBeGreaterThanOrEqual(2);
  });

  it('executes the commands of a write whose process died before dispatching them', async () => {
    const h = await harness({ commandGraceMs: 100 });
    const driver = await h.jobs((_req, input) => ({ state: 'SUCCEEDED', output: input }));
    // Play a crashed engine: reduce and write, never execute.
    const def = { id: 'crashed', steps: { a: { topic: 'job.t.a', input: { x: 1 } }, b: { topic: 'job.t.b', depends_on: ['a'] } } };
    const wf = await h.stores.workflows.put('default', def.id, def);
    const now = await h.stores.runs.now();
    const pending = createRun({ id: 'r-crashed', definition: def, now, tenant_id: 'default', workflow_revision: wf.version });
    await h.stores.runs.create({ tenant: 'default', id: 'r-crashed', workflowId: def.id, workflowVersion: wf.version, doc: pending });
    const r = reduce(pending, [{ type: 'run_started' }], now);
    expect(r.commands.some((c) => c.type === 'dispatch_job')).toBe(true);
    const w = await h.stores.runs.update('default', 'r-crashed', { expectedVersion: 1, status: r.run.status, doc: r.run, dueAt: now + 100 });
    expect(w.outcome).toBe('updated');
    const run = await h.waitFor('r-crashed', terminal, 5000);
    expect(run.status).toBe('succeeded');
    expect(driver.counts.get('r-crashed:a@1')).toBe(1);
    expect(run.steps['a']?.output).toEqual({ x: 1 });
  });

  it('fails a run whose pinned definition is gone instead of retrying it forever', async () => {
    const h = await harness();
    await h.stores.workflows.put('default', 'gone', { id: 'gone', steps: { a: { topic: 'job.t.a' } } });
    await h.stores.runs.create({ tenant: 'default', id: 'r-gone', workflowId: 'gone', workflowVersion: 9, doc: { input: {} }, dueAt: 0 });
    await h.engine.tick();
    await expect.poll(async () => (await h.stores.runs.get('default', 'r-gone'))?.status).toBe('failed');
    const rec = await h.stores.runs.get('default', 'r-gone');
    expect(rec?.doc['error']).toMatchObject({ code: 'run_invalid' });
  });

  it('materialises a bare run request from the pinned definition version', async () => {
    const h = await harness();
    await h.jobs((_req, input) => ({ state: 'SUCCEEDED', output: input }));
    const v1 = await h.stores.workflows.put('default', 'bare', { id: 'bare', steps: { a: { topic: 'job.t.a', input: { v: 1, x: '${input.x}' } } } });
    await h.stores.workflows.put('default', 'bare', { id: 'bare', steps: { a: { topic: 'job.t.a', input: { v: 2 } } } });
    await h.stores.runs.create({ tenant: 'default', id: 'r-bare', workflowId: 'bare', workflowVersion: v1.version, doc: { input: { x: 'y' } } });
    await h.engine.process('default', 'r-bare');
    const run = await h.waitFor('r-bare', terminal);
    expect(run.steps['a']?.output).toEqual({ v: 1, x: 'y' });
  });
});

describe('steps without jobs', () => {
  it('a delay waits for its timer (held in the store as the run due time)', async () => {
    const h = await harness();
    await h.jobs(() => ({ state: 'SUCCEEDED', output: {} }));
    const id = await h.startRun({ id: 'delayed', steps: { wait: { type: 'delay', delay_sec: 0.3 }, after: { topic: 'job.t.a', depends_on: ['wait'] } } });
    await h.waitFor(id, (r) => r.steps['wait']?.status === 'running');
    const rec = await h.stores.runs.get('default', id);
    expect(rec?.dueAt).not.toBeNull();
    const started = Date.now();
    const run = await h.waitFor(id, terminal);
    expect(run.status).toBe('succeeded');
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('a notify step emits a SystemAlert on sys.workflow.event', async () => {
    const h = await harness();
    const id = await h.startRun(
      { id: 'notify', steps: { tell: { type: 'notify', input: { severity: 'warning', message: 'disk at ${input.pct}%', host: 'db1' } } } },
      { input: { pct: 91 }, traceId: 'trace-n' },
    );
    await h.waitFor(id, terminal);
    await expect.poll(() => h.events.some((p) => p.payload.case === 'alert' && p.payload.value.details['kind'] === 'alert')).toBe(true);
    const alert = h.events.flatMap((p) => (p.payload.case === 'alert' && p.payload.value.details['kind'] === 'alert' ? [p.payload.value] : []))[0];
    expect(alert).toMatchObject({ message: 'disk at 91%', severity: AlertSeverity.WARNING, sourceComponent: 'workflow-engine', traceId: 'trace-n' });
    expect(alert?.details).toMatchObject({ host: 'db1', run_id: id, step_id: 'tell', tenant: 'default', trace_id: 'trace-n', workflow_id: 'notify' });
  });
});

describe('result wake-ups racing the terminal write', () => {
  // The scheduler's part by hand: the worker's result on the bus, the terminal write, the job-final doorbell.
  async function result(h: Harness, jobId: string, status: JobStatus): Promise<void> {
    const packet = newPacket({ traceId: 't', senderId: 'test-worker', payload: { case: 'jobResult', value: { jobId, status, workerId: 'w' } } });
    await h.bus.publish(Subjects.jobResult, encodePacket(packet));
  }
  /** The scheduler's terminal write: the job's final fence raised with its outcome, then the doorbell. */
  async function terminalWrite(h: Harness, jobId: string, to: 'SUCCEEDED' | 'FAILED', ring = true): Promise<void> {
    const done = await h.stores.jobs.transition(jobId, {
      from: ['RUNNING'],
      to,
      actor: 'test-scheduler',
      patch: to === 'FAILED' ? { errorCode: 'job_failed', errorMessage: 'boom' } : {},
      fence: jobFinalFence(jobId),
    });
    const cmd = jobFinalCommand(done);
    if (ring && cmd !== undefined) await h.bus.publish(Subjects.workflowCommand, encodeWorkflowCommand(cmd));
  }
  const running = async (h: Harness, jobId: string): Promise<void> => {
    await expect.poll(async () => (await h.stores.jobs.get(jobId))?.state).toBe('RUNNING');
  };

  it('a result read before the terminal write waits for the doorbell, not for a poll', async () => {
    const h = await harness({ resultWaitMs: 10_000 });
    await h.jobs(() => 'hang');
    const id = await h.startRun({ id: 'race', steps: { a: { topic: 'job.t.a' }, b: { topic: 'job.t.b', depends_on: ['a'] } } });
    await running(h, `${id}:a@1`);
    await result(h, `${id}:a@1`, JobStatus.SUCCEEDED);
    // Fallback looks at +25, +75, +175 and +425 ms find the job running; the doorbell at ~300 ms ends the wait.
    await new Promise((r) => setTimeout(r, 300));
    expect((await h.run(id)).steps['a']?.status).toBe('running');
    await terminalWrite(h, `${id}:a@1`, 'SUCCEEDED');
    await h.waitFor(id, (r) => r.steps['a']?.status === 'succeeded' && r.steps['b']?.status === 'running', 2000);
    // Delivered on the doorbell's word (the outcome it carried), confirmed by the run write.
    expect(await counter(h, 'workflow_result_wakeups_total', { outcome: 'terminal_on_doorbell_word' })).toBe(1);
    expect(await counter(h, 'workflow_result_wakeups_total', { outcome: 'outcome_not_confirmed' })).toBe(0);
    expect(await counter(h, 'workflow_result_wakeups_total', { outcome: 'terminal_after_poll' })).toBe(0);
    expect(await counter(h, 'workflow_doorbells_total', { kind: 'job_final', outcome: 'accepted' })).toBe(1);
  });

  it('a doorbell whose outcome the store does not confirm: the run gets the stored outcome, read from the JobStore', async () => {
    const h = await harness({ resultWaitMs: 10_000 });
    await h.jobs(() => 'hang');
    const id = await h.startRun({ id: 'liar', steps: { a: { topic: 'job.t.a' }, b: { topic: 'job.t.b', depends_on: ['a'] } } });
    const jobId = `${id}:a@1`;
    await running(h, jobId);
    // Stored FAILED (fatal code, no retry), but a doorbell claims SUCCEEDED.
    await h.stores.jobs.transition(jobId, {
      from: ['RUNNING'],
      to: 'FAILED',
      actor: 'test-scheduler',
      patch: { errorCode: 'job_invalid_input', errorMessage: 'bad input' },
      fence: jobFinalFence(jobId),
    });
    const lie = { kind: 'event' as const, tenant: 'default', run_id: id, job_id: jobId, outcome: { state: 'SUCCEEDED' } };
    await h.bus.publish(Subjects.workflowCommand, encodeWorkflowCommand(lie));
    const run = await h.waitFor(id, terminal, 5000);
    expect(run.status).toBe('failed');
    expect(run.steps['a']).toMatchObject({ status: 'failed', attempts: 1, error: { message: expect.stringContaining('bad input') as unknown } });
    expect(run.steps['b']?.status).toBe('skipped');
    expect(await counter(h, 'workflow_result_wakeups_total', { outcome: 'outcome_not_confirmed' })).toBe(1);
  });

  it('without the doorbell, falls back to looking again', async () => {
    const h = await harness({ resultWaitMs: 10_000 });
    await h.jobs(() => 'hang');
    const id = await h.startRun({ id: 'race-nobell', steps: { a: { topic: 'job.t.a' } } });
    await running(h, `${id}:a@1`);
    await result(h, `${id}:a@1`, JobStatus.SUCCEEDED);
    await new Promise((r) => setTimeout(r, 50));
    await terminalWrite(h, `${id}:a@1`, 'SUCCEEDED', false);
    expect((await h.waitFor(id, terminal, 5000)).status).toBe('succeeded');
    expect(await counter(h, 'workflow_result_wakeups_total', { outcome: 'terminal_after_poll' })).toBe(1);
  });

  it('a doorbell before the result delivers the job; the late result changes nothing', async () => {
    const h = await harness();
    await h.jobs(() => 'hang');
    const id = await h.startRun({ id: 'bell-first', steps: { a: { topic: 'job.t.a' }, b: { topic: 'job.t.b' } } });
    await running(h, `${id}:a@1`);
    await terminalWrite(h, `${id}:a@1`, 'SUCCEEDED');
    await h.waitFor(id, (r) => r.steps['a']?.status === 'succeeded', 2000);
    const before = await h.stores.runs.get('default', id);
    // A doorbell's outcome is not remembered as delivered (the store might not have confirmed it): the late
    // result message is looked at, and the reducer ignores the second result of the job.
    await result(h, `${id}:a@1`, JobStatus.SUCCEEDED);
    await expect.poll(() => counter(h, 'workflow_events_ignored_total', { type: 'job_result' })).toBe(1);
    expect((await h.stores.runs.get('default', id))?.version).toBe(before?.version);
  });

  it('a FAILED job waits for its result message, which says whether the failure is fatal', async () => {
    const h = await harness();
    await h.jobs(() => 'hang');
    const def = { id: 'fatal', steps: { a: { topic: 'job.t.a', retry: { max_retries: 3, initial_backoff_sec: 0 } } } };
    const id = await h.startRun(def);
    await running(h, `${id}:a@1`);
    // Doorbell alone: not delivered (it cannot tell FAILED from FAILED_FATAL).
    await terminalWrite(h, `${id}:a@1`, 'FAILED');
    await new Promise((r) => setTimeout(r, 100));
    expect((await h.run(id)).steps['a']?.status).toBe('running');
    await result(h, `${id}:a@1`, JobStatus.FAILED_FATAL);
    const run = await h.waitFor(id, terminal, 2000);
    expect(run.status).toBe('failed');
    expect(run.steps['a']?.attempts).toBe(1);

    // Result first (fatal), then the write and its doorbell: still no retry.
    const id2 = await h.startRun(def, { runId: 'fatal-2' });
    await running(h, `${id2}:a@1`);
    await result(h, `${id2}:a@1`, JobStatus.FAILED_FATAL);
    await new Promise((r) => setTimeout(r, 10));
    await terminalWrite(h, `${id2}:a@1`, 'FAILED');
    const run2 = await h.waitFor(id2, terminal, 2000);
    expect(run2.status).toBe('failed');
    expect(run2.steps['a']?.attempts).toBe(1);
  });
});

describe('concurrency', () => {
  it('two engines on one store: every job dispatched once, every result reduced', async () => {
    const h = await harness();
    const other = (await import('./index.js')).createWorkflowEngine({ bus: h.bus, stores: h.stores, metrics: h.metrics, options: { instanceId: 'second', reconcileIntervalMs: 20 } });
    await other.start();
    try {
      const driver = await h.jobs(async (_req, input) => {
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        return { state: 'SUCCEEDED', output: input };
      });
      const ids = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          h.startRun({ id: 'fan2', steps: { each: { topic: 'job.t.x', for_each: 'input.xs', max_parallel: 8 }, sum: { topic: 'job.t.s', depends_on: ['each'] } } }, { input: { xs: Array.from({ length: 30 }, (_, j) => i * 100 + j) } }),
        ),
      );
      for (const [i, id] of ids.entries()) {
        const run = await h.waitFor(id, terminal, 15_000);
        expect(run.status).toBe('succeeded');
        expect((run.steps['each']?.output as { item: number }[]).map((o) => o.item)).toEqual(Array.from({ length: 30 }, (_, j) => i * 100 + j));
      }
      expect([...driver.counts.values()].filter((n) => n !== 1)).toEqual([]);
      expect(driver.counts.size).toBe(6 * 31);
    } finally {
      await other.stop();
    }
  });
});

async function counter(h: Harness, name: string, labels: Record<string, string>): Promise<number> {
  const metric = h.metrics.registry.getSingleMetric(`cordum_${name}`);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}
