import { InvalidError } from '@cordum/core';
import { describe, expect, it } from 'vitest';
import { compileWorkflow } from './definition.js';
import { Driver, T0 } from './harness.test-util.js';
import { reduce } from './reducer.js';
import { checkRerun, createRun, isRunTerminal, nextDueMs, prepareRerun, reconcileCommands, stepsInOrder, validateRunInput } from './run.js';

const def = {
  id: 'wf',
  version: '7',
  input_schema: { type: 'object', required: ['xs'] },
  steps: {
    a: { topic: 'job.t.a', output_path: 'res.a' },
    b: { topic: 'job.t.b', depends_on: ['a'], for_each: 'input.xs', max_parallel: 1, timeout_sec: 5, input: { x: '${item}', a: '${steps.a.output}' } },
    side: { topic: 'job.t.side' },
    c: { topic: 'job.t.c', depends_on: ['b'] },
  },
};

describe('createRun', () => {
  it('builds a pending, versioned, self-contained record pinned to the definition', () => {
    const compiled = compileWorkflow(def);
    const run = createRun({
      id: 'r-1',
      definition: def,
      input: { xs: [1] },
      now: T0,
      tenant_id: 'acme',
      labels: { env: 'prod' },
      dry_run: true,
      workflow_revision: 4,
      idempotency_key: 'k1',
    });
    expect(run).toEqual({
      format: 1,
      id: 'r-1',
      workflow_id: 'wf',
      workflow_version: '7',
      workflow_revision: 4,
      definition_hash: compiled.hash,
      definition: compiled.definition,
      input: { xs: [1] },
      context: { steps: {} },
      status: 'pending',
      steps: {
        a: { step_id: 'a', status: 'pending', attempts: 0 },
        b: { step_id: 'b', status: 'pending', attempts: 0 },
        c: { step_id: 'c', status: 'pending', attempts: 0 },
        side: { step_id: 'side', status: 'pending', attempts: 0 },
      },
      timers: {},
      version: 1,
      timeline_seq: 0,
      created_at: new Date(T0).toISOString(),
      updated_at: new Date(T0).toISOString(),
      dry_run: true,
      tenant_id: 'acme',
      labels: { env: 'prod' },
      idempotency_key: 'k1',
    });
    expect(JSON.parse(JSON.stringify(run))).toEqual(run);
    expect(() => createRun({ id: 'bad id', definition: def, now: T0 })).toThrow(InvalidError);
  });

  it('a later edit of the workflow does not change a started run', () => {
    const edited = structuredClone(def);
    const run = createRun({ id: 'r', definition: edited, input: { xs: [] }, now: T0 });
    edited.steps.a.topic = 'job.t.changed';
    const res = reduce(run, [{ type: 'run_started' }], T0);
    expect(res.commands.find((c) => c.type === 'dispatch_job' && c.step_id === 'a')).toMatchObject({ topic: 'job.t.a' });
  });
});

describe('validateRunInput', () => {
  it('checks the input schema for the gateway', () => {
    expect(validateRunInput(compileWorkflow(def), { xs: [] })).toEqual({ ok: true });
    expect(validateRunInput(compileWorkflow(def), {})).toEqual({ ok: false, error: "(root) must have required property 'xs'" });
    expect(validateRunInput(compileWorkflow(def).definition, [1])).toEqual({ ok: false, error: 'run input must be a JSON object' });
    expect(validateRunInput(compileWorkflow({ id: 'n', steps: { s: {} } }), { anything: 1 })).toEqual({ ok: true });
  });
});

describe('reconcileCommands', () => {
  it('re-derives the dispatches of running attempts and every armed timer, identical to the originals', () => {
    const d = new Driver(def, { input: { xs: [10, 20] } });
    const first = d.dispatched();
    expect(first.map((c) => c.job_id)).toEqual(['run1:a@1', 'run1:side@1']);
    expect(reconcileCommands(d.run)).toEqual(first);
    d.ok('run1:a@1', 'A');
    const fanOut = d.dispatched();
    expect(fanOut.map((c) => c.job_id)).toEqual(['run1:b[0]@1']);
    const again = reconcileCommands(d.run);
    expect(again.filter((c) => c.type === 'dispatch_job')).toEqual([fanOut[0], first.find((c) => c.step_id === 'side')]);
    expect(again.filter((c) => c.type === 'start_timer')).toEqual([
      { type: 'start_timer', timer_id: 'run1:b[0]@1:timeout', run_id: 'run1', kind: 'step_timeout', due_ms: T0 + 5000, step_id: 'b' },
    ]);
    expect(nextDueMs(d.run)).toBe(T0 + 5000);
  });

  it('has nothing to do for a finished run', () => {
    const d = new Driver({ id: 'x', steps: { s: { topic: 'job.t.s' } } });
    d.ok('run1:s@1');
    expect(isRunTerminal(d.run)).toBe(true);
    expect(reconcileCommands(d.run)).toEqual([]);
    expect(nextDueMs(d.run)).toBeUndefined();
  });
});

describe('prepareRerun', () => {
  it('copies the results of steps outside the rerun and reruns the step and its dependents', () => {
    const d = new Driver(def, { input: { xs: [1] }, tenant_id: 'acme' });
    d.ok('run1:a@1', 'A');
    d.ok('run1:side@1', 'S');
    d.ok('run1:b[0]@1', 'B0');
    d.result('run1:c@1', 'failed');
    expect(d.run.status).toBe('failed');

    expect(checkRerun(d.run, 'c')).toBeUndefined();
    expect(checkRerun(d.run, 'nope')).toBe('unknown step "nope"');
    const next = prepareRerun(d.run, { id: 'run2', from_step: 'b', now: T0 + 1, triggered_by: 'ops' });
    expect(next).toMatchObject({ id: 'run2', status: 'pending', rerun_of: 'run1', rerun_step: 'b', tenant_id: 'acme', triggered_by: 'ops', input: { xs: [1] } });
    expect(next.steps.a).toEqual(d.run.steps.a);
    expect(next.steps.side).toEqual(d.run.steps.side);
    expect(next.steps.b).toEqual({ step_id: 'b', status: 'pending', attempts: 0 });
    expect(next.context).toEqual({
      steps: { a: { result_ptr: 'redis://res:run1:a@1', output: 'A' }, side: { result_ptr: 'redis://res:run1:side@1', output: 'S' } },
      res: { a: 'A' },
    });
    const started = reduce(next, [{ type: 'run_started' }], T0 + 2);
    expect(started.commands.filter((c) => c.type === 'dispatch_job').map((c) => (c.type === 'dispatch_job' ? [c.job_id, c.input] : []))).toEqual([
      ['run2:b[0]@1', { x: 1, a: 'A' }],
    ]);
    expect(stepsInOrder(next).map((s) => s.step_id)).toEqual(['a', 'b', 'c', 'side']);
  });

  it('refuses when a dependency of the step did not succeed', () => {
    const d = new Driver(def, { input: { xs: [1] } });
    d.result('run1:a@1', 'failed');
    expect(() => prepareRerun(d.run, { id: 'run2', from_step: 'c', now: T0 })).toThrow(/step a, which c depends on, is failed/);
    expect(prepareRerun(d.run, { id: 'run2', from_step: 'a', now: T0 }).steps.a?.status).toBe('pending');
  });
});
