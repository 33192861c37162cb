import { createMemoryBroker } from '@cordum/bus/memory';
import { createSilentLogger, createManualClock } from '@cordum/core';
import { Subjects } from '@cordum/protocol';
import { createMemoryStores } from '@cordum/store/memory';
import { type CancelJobCommand, type DispatchJobCommand, compileWorkflow, createRun, reduce } from '@cordum/workflow';
import { describe, expect, it } from 'vitest';
import { createStoreClock } from '../clock/store-clock.js';
import { createWorkflowEngineMetrics } from '../metrics.js';
import { resolveWorkflowEngineOptions } from '../options.js';
import { createExecutor } from './executor.js';

async function setup() {
  const stores = createMemoryStores();
  const bus = createMemoryBroker().connect();
  const submits: string[] = [];
  await bus.subscribe(Subjects.jobSubmit, (m) => {
    submits.push(m.subject);
  });
  const clock = createManualClock(1_000_000);
  const executor = createExecutor({
    bus,
    jobs: stores.jobs,
    pointers: stores.pointers,
    clock: createStoreClock(() => Promise.resolve(clock.now()), clock),
    logger: createSilentLogger(),
    metrics: createWorkflowEngineMetrics(),
    options: resolveWorkflowEngineOptions({ instanceId: 'test' }),
  });
  const compiled = compileWorkflow({ id: 'wf', steps: { a: { topic: 'job.t.a' } } });
  const started = reduce(createRun({ id: 'r1', definition: compiled, now: clock.now(), tenant_id: 'acme' }), [{ type: 'run_started' }], clock.now(), { compiled });
  const dispatch = started.commands.find((c): c is DispatchJobCommand => c.type === 'dispatch_job');
  if (dispatch === undefined) throw new Error('no dispatch');
  const cancel: CancelJobCommand = { type: 'cancel_job', job_id: dispatch.job_id, run_id: 'r1', step_id: 'a', reason: 'run cancelled by ops' };
  return { stores, bus, submits, executor, compiled, run: started.run, dispatch, cancel };
}

describe('executor', () => {
  it('a cancel that comes before its job is created leaves the job cancelled, and the late dispatch announces nothing', async () => {
    const { stores, bus, submits, executor, compiled, run, dispatch, cancel } = await setup();
    // Another instance reduced a cancel while this one was between its run write and the job's create.
    expect(await executor.execute('acme', run, compiled, [cancel])).toBe(0);
    expect(await executor.execute('acme', run, compiled, [dispatch])).toBe(0);
    await bus.flush();
    const job = await stores.jobs.get(dispatch.job_id);
    expect(job).toMatchObject({ state: 'CANCELLED', tenant: 'acme', labels: { run_id: 'r1', step_id: 'a' } });
    expect(submits).toEqual([]);
  });

  it('a dispatch then a cancel: the job is stored, announced once, then cancelled in the store', async () => {
    const { stores, bus, submits, executor, compiled, run, dispatch, cancel } = await setup();
    expect(await executor.execute('acme', run, compiled, [dispatch])).toBe(0);
    expect((await stores.jobs.get(dispatch.job_id))?.state).toBe('PENDING');
    expect(await executor.execute('acme', run, compiled, [cancel])).toBe(0);
    await bus.flush();
    expect((await stores.jobs.get(dispatch.job_id))?.state).toBe('CANCELLED');
    expect(submits).toEqual([Subjects.jobSubmit]);
  });
});
