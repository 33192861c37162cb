import { describe, expect, it } from 'vitest';
import { Driver, T0 } from './harness.test-util.js';
import type { RunEvent } from './model.js';
import { reduce } from './reducer.js';

const chain = `
id: chain
version: "1.2"
steps:
  a: { type: worker, topic: job.test.a }
  b: { type: worker, topic: job.test.b, depends_on: [a], input: { got: "\${steps.a.output.value}" } }
`;

describe('worker steps', () => {
  it('dispatches a job with the templated input, meta, route labels and run identity', () => {
    const d = new Driver(
      `
id: wf
steps:
  fetch:
    type: worker
    topic: job.test.fetch
    worker_id: w-7
    timeout_sec: 30
    input: { url: "\${input.url}", count: "\${input.count}", note: "n=\${input.count}", fixed: [1, "\${input.flag}"] }
    meta:
      actor_id: bot
      actor_type: service
      idempotency_key: "fetch-\${input.url}"
      pack_id: p1
      capability: http.get
      risk_tags: [network]
      requires: ["network:egress"]
      labels: { team: "\${input.team}" }
    route_labels: { preferred_pool: gpu }
`,
      {
        input: { url: 'https://x', count: 3, flag: true, team: 'sre', priority: 'INTERACTIVE', memory_id: 'mem-1' },
        tenant_id: 'acme',
        principal_id: 'alice',
        trace_id: 'trace-1',
        team_id: 'ops',
      },
    );
    expect(d.run.status).toBe('running');
    const [cmd, ...rest] = d.dispatched();
    expect(rest).toEqual([]);
    expect(cmd).toEqual({
      type: 'dispatch_job',
      job_id: 'run1:fetch@1',
      run_id: 'run1',
      workflow_id: 'wf',
      step_id: 'fetch',
      attempt: 1,
      topic: 'job.test.fetch',
      input: { url: 'https://x', count: 3, note: 'n=3', fixed: [1, true] },
      env: { workflow_id: 'wf', run_id: 'run1', step_id: 'fetch', tenant_id: 'acme', team_id: 'ops' },
      labels: { preferred_pool: 'gpu', workflow_id: 'wf', run_id: 'run1', step_id: 'fetch', worker_id: 'w-7' },
      meta: {
        tenant_id: 'acme',
        actor_id: 'bot',
        actor_type: 'service',
        idempotency_key: 'fetch-https://x',
        capability: 'http.get',
        pack_id: 'p1',
        risk_tags: ['network'],
        requires: ['network:egress'],
        labels: { team: 'sre' },
      },
      adapter_id: 'w-7',
      deadline_ms: 30_000,
      priority: 'INTERACTIVE',
      memory_id: 'mem-1',
      tenant_id: 'acme',
      principal_id: 'alice',
      trace_id: 'trace-1',
      dry_run: false,
    });
    expect(d.step('fetch')).toMatchObject({ status: 'running', attempts: 1, job_id: 'run1:fetch@1' });
    expect(d.lastOf('start_timer')).toEqual([
      { type: 'start_timer', timer_id: 'run1:fetch@1:timeout', run_id: 'run1', kind: 'step_timeout', due_ms: T0 + 30_000, step_id: 'fetch' },
    ]);
    expect(d.timeline.find((t) => t.type === 'step_dispatched')).toMatchObject({ step_id: 'fetch', job_id: 'run1:fetch@1', data: { attempt: 1, topic: 'job.test.fetch' } });
  });

  it('passes the run input through when the step has no input, on the default topic', () => {
    const d = new Driver({ id: 'wf2', steps: { s: { type: 'llm' } } }, { input: { prompt: 'hi' } });
    expect(d.dispatched()[0]).toMatchObject({ topic: 'job.workflow.wf2', input: { prompt: 'hi' }, memory_id: 'run:run1' });
  });

  it('runs a chain: output feeds the next input, outputs land in context, the run succeeds', () => {
    const d = new Driver(chain);
    d.ok('run1:a@1', { value: 42 });
    expect(d.step('a')).toMatchObject({ status: 'succeeded', output: { value: 42 }, result_ptr: 'redis://res:run1:a@1' });
    expect(d.dispatched()[0]).toMatchObject({ job_id: 'run1:b@1', input: { got: 42 } });
    expect(d.run.status).toBe('running');
    d.ok('run1:b@1', 'done');
    expect(d.run.status).toBe('succeeded');
    expect(d.run.completed_at).toBe(new Date(T0).toISOString());
    expect(d.context()).toEqual({
      steps: { a: { result_ptr: 'redis://res:run1:a@1', output: { value: 42 } }, b: { result_ptr: 'redis://res:run1:b@1', output: 'done' } },
    });
    expect(d.timelineTypes()).toEqual([
      'run_status=running',
      'step_status:a=running',
      'step_dispatched:a',
      'step_completed:a=succeeded',
      'step_status:a=succeeded',
      'step_status:b=running',
      'step_dispatched:b',
      'step_completed:b=succeeded',
      'step_status:b=succeeded',
      'run_status=succeeded',
    ]);
    expect(d.timeline.find((t) => t.type === 'step_completed')?.result_ptr).toBe('redis://res:run1:a@1');
  });

  it('dispatches independent branches together and joins after both', () => {
    const d = new Driver(`
id: fan
steps:
  a: { topic: job.t.a }
  b: { topic: job.t.b }
  join: { topic: job.t.j, depends_on: [a, b] }
`);
    expect(d.dispatched().map((c) => c.job_id)).toEqual(['run1:a@1', 'run1:b@1']);
    d.ok('run1:b@1');
    expect(d.dispatched()).toEqual([]);
    d.ok('run1:a@1');
    expect(d.dispatched().map((c) => c.job_id)).toEqual(['run1:join@1']);
  });

  it('writes the output at output_path', () => {
    const d = new Driver({ id: 'op', steps: { s: { topic: 'job.t.s', output_path: 'results.summary' }, t: { topic: 'job.t.t', depends_on: ['s'], input: { v: '${ctx.results.summary.n}' } } } });
    d.ok('run1:s@1', { n: 5 });
    expect(d.context().results).toEqual({ summary: { n: 5 } });
    expect(d.dispatched()[0]?.input).toEqual({ v: 5 });
  });

  it('marks everything for workers in a dry run', () => {
    const d = new Driver(chain, { dry_run: true });
    const [cmd] = d.dispatched();
    expect(cmd).toMatchObject({ dry_run: true, env: { dry_run: 'true' }, labels: { dry_run: 'true' } });
  });

  it('ignores duplicate, stale and unknown results', () => {
    const d = new Driver(chain);
    d.ok('run1:a@1', { value: 1 });
    const version = d.run.version;
    const dup = d.ok('run1:a@1', { value: 2 });
    expect(dup.changed).toBe(false);
    expect(dup.ignored[0]?.reason).toMatch(/not the current attempt|already completed/);
    expect(d.run.version).toBe(version);
    expect(d.step('a').output).toEqual({ value: 1 });
    expect(d.ok('run1:zzz@1').ignored).toHaveLength(1);
    expect(d.ok('run1:b@7').ignored).toHaveLength(1);
    expect(d.send({ type: 'timer_fired', timer_id: 'nope' }).ignored[0]?.reason).toMatch(/not armed/);
  });

  it('fails the run when a job fails without retries and skips its dependents', () => {
    const d = new Driver(chain);
    d.result('run1:a@1', 'failed', undefined, { error: { code: 'BOOM', message: 'exploded' } });
    expect(d.step('a')).toMatchObject({ status: 'failed', error: { code: 'job_failed', message: 'BOOM: exploded' } });
    expect(d.step('b')).toMatchObject({ status: 'skipped', skip_reason: 'dependency_not_succeeded' });
    expect(d.run.status).toBe('failed');
    expect(d.run.error).toEqual({ code: 'job_failed', message: 'step a: BOOM: exploded', step_id: 'a' });
  });

  it('maps denied and cancelled jobs', () => {
    const denied = new Driver({ id: 'x', steps: { s: { topic: 'job.t.s', retry: { max_retries: 3 } } } });
    denied.result('run1:s@1', 'denied', undefined, { error: { message: 'rule r1' } });
    expect(denied.step('s')).toMatchObject({ status: 'failed', error: { code: 'job_denied' } });
    const cancelled = new Driver({ id: 'x', steps: { s: { topic: 'job.t.s', retry: { max_retries: 3 } } } });
    cancelled.result('run1:s@1', 'cancelled');
    expect(cancelled.step('s')).toMatchObject({ status: 'cancelled', error: { code: 'job_cancelled' } });
    expect(cancelled.run.status).toBe('failed');
  });
});

describe('retries and timeouts', () => {
  const retrying = `
id: r
steps:
  s:
    topic: job.t.s
    retry: { max_retries: 2, initial_backoff_sec: 1, multiplier: 3, max_backoff_sec: 2 }
`;

  it('retries with exponential backoff capped at max_backoff_sec, then succeeds', () => {
    const d = new Driver(retrying);
    d.result('run1:s@1', 'failed', undefined, { error: { message: 'flaky' } });
    expect(d.step('s')).toMatchObject({ status: 'pending', attempts: 1, next_attempt_at: new Date(T0 + 1000).toISOString() });
    expect(d.lastOf('start_timer')).toEqual([
      { type: 'start_timer', timer_id: 'run1:s@1:retry', run_id: 'run1', kind: 'retry_backoff', due_ms: T0 + 1000, step_id: 's' },
    ]);
    expect(d.run.status).toBe('running');
    d.now += 1000;
    d.send({ type: 'timer_fired', timer_id: 'run1:s@1:retry' });
    const [second] = d.dispatched();
    expect(second).toMatchObject({ job_id: 'run1:s@2', attempt: 2, env: { retry_of_job: 'run1:s@1' } });
    d.result('run1:s@2', 'timed_out');
    expect(d.lastOf('start_timer')[0]?.due_ms).toBe(d.now + 2000); // 1 s * 3 = 3 s, capped at 2 s
    d.tick(2000); // due timers fire without an event
    expect(d.dispatched()[0]?.job_id).toBe('run1:s@3');
    expect(d.lastOf('cancel_timer')).toEqual([{ type: 'cancel_timer', timer_id: 'run1:s@2:retry', run_id: 'run1' }]);
    d.ok('run1:s@3', 7);
    expect(d.run.status).toBe('succeeded');
    expect(d.step('s')).toMatchObject({ status: 'succeeded', attempts: 3, output: 7 });
    expect(d.step('s').error).toBeUndefined();
  });

  it('gives up after max_retries and reports the last outcome', () => {
    const d = new Driver(retrying);
    for (let i = 1; i <= 3; i++) {
      d.result(`run1:s@${i}`, 'timed_out');
      d.tick(5000);
    }
    expect(d.step('s')).toMatchObject({ status: 'timed_out', attempts: 3, error: { code: 'job_timed_out' } });
    expect(d.run.status).toBe('timed_out');
    expect(d.dispatchedIds).toEqual(new Set(['run1:s@1', 'run1:s@2', 'run1:s@3']));
  });

  it('does not retry a fatal failure', () => {
    const d = new Driver(retrying);
    d.result('run1:s@1', 'failed', undefined, { retryable: false });
    expect(d.step('s').status).toBe('failed');
  });

  it('times out a step: cancels the job, retries, and ignores the late result', () => {
    const d = new Driver({ id: 't', steps: { s: { topic: 'job.t.s', timeout_sec: 10, retry: { max_retries: 1, initial_backoff_sec: 0 } } } });
    d.tick(10_000);
    expect(d.lastOf('cancel_job')).toEqual([{ type: 'cancel_job', job_id: 'run1:s@1', run_id: 'run1', step_id: 's', reason: 'step timeout' }]);
    expect(d.dispatched()[0]?.job_id).toBe('run1:s@2'); // zero backoff: due at once
    expect(d.ok('run1:s@1').ignored).toHaveLength(1);
    d.tick(10_000);
    expect(d.step('s')).toMatchObject({ status: 'timed_out', error: { code: 'step_timeout' } });
    expect(d.run.status).toBe('timed_out');
    expect(d.timelineTypes()).toContain('step_timeout:s');
  });

  it('cancels the step timer when the result arrives first', () => {
    const d = new Driver({ id: 't', steps: { s: { topic: 'job.t.s', timeout_sec: 10 } } });
    d.ok('run1:s@1');
    expect(d.lastOf('cancel_timer')).toEqual([{ type: 'cancel_timer', timer_id: 'run1:s@1:timeout', run_id: 'run1' }]);
    expect(d.run.timers).toEqual({});
    expect(d.send({ type: 'timer_fired', timer_id: 'run1:s@1:timeout' }).ignored).toHaveLength(1);
  });

  it('times out the whole run', () => {
    const d = new Driver({ id: 't', timeout_sec: 60, steps: { a: { topic: 'job.t.a' }, b: { topic: 'job.t.b', depends_on: ['a'] } } });
    expect(d.run.timers['run1:timeout']).toMatchObject({ kind: 'run_timeout', due_ms: T0 + 60_000 });
    d.tick(60_000);
    expect(d.run.status).toBe('timed_out');
    expect(d.run.error?.code).toBe('run_timed_out');
    expect(d.lastOf('cancel_job').map((c) => c.job_id)).toEqual(['run1:a@1']);
    expect(d.status()).toEqual({ a: 'cancelled', b: 'cancelled' });
  });
});

describe('cancel', () => {
  it('cancels running jobs, unfinished steps and timers', () => {
    const d = new Driver(`
id: c
steps:
  a: { topic: job.t.a, timeout_sec: 100 }
  w: { type: approval }
  z: { topic: job.t.z, depends_on: [a] }
`);
    expect(d.run.status).toBe('waiting');
    d.send({ type: 'cancel_requested', by: 'alice', reason: 'wrong input' });
    expect(d.run.status).toBe('cancelled');
    expect(d.run.cancel_requested).toEqual({ at: new Date(T0).toISOString(), by: 'alice', reason: 'wrong input' });
    expect(d.status()).toEqual({ a: 'cancelled', w: 'cancelled', z: 'cancelled' });
    expect(d.lastOf('cancel_job').map((c) => c.job_id)).toEqual(['run1:a@1']);
    expect(d.lastOf('cancel_timer').map((c) => c.timer_id)).toEqual(['run1:a@1:timeout']);
    expect(d.run.timers).toEqual({});
    expect(d.ok('run1:a@1').ignored).toHaveLength(1);
    expect(d.send({ type: 'cancel_requested' }).ignored[0]?.reason).toMatch(/already cancelled/);
  });

  it('cancels the running items of a fan-out and its pending retries', () => {
    const d = new Driver(
      { id: 'cf', steps: { e: { topic: 'job.t.e', for_each: 'input.xs', retry: { max_retries: 1, initial_backoff_sec: 60 } } } },
      { input: { xs: [1, 2, 3] } },
    );
    d.result('run1:e[1]@1', 'failed');
    expect(d.run.timers['run1:e[1]@1:retry']).toBeDefined();
    d.send({ type: 'cancel_requested' });
    expect(d.lastOf('cancel_job').map((c) => c.job_id)).toEqual(['run1:e[0]@1', 'run1:e[2]@1']);
    expect(d.lastOf('cancel_timer').map((c) => c.timer_id)).toEqual(['run1:e[1]@1:retry']);
    expect(d.step('e').items?.map((i) => i.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(d.run.status).toBe('cancelled');
  });

  it('cancels a run that never started', () => {
    const d = new Driver(chain, { start: false });
    d.send({ type: 'cancel_requested' });
    expect(d.run.status).toBe('cancelled');
    expect(d.send({ type: 'run_started' }).ignored).toHaveLength(1);
    expect(d.commands.filter((c) => c.type === 'dispatch_job')).toEqual([]);
  });
});

describe('approval steps', () => {
  const gated = `
id: ap
steps:
  ok: { type: approval, timeout_sec: 3600 }
  go: { topic: job.t.go, depends_on: [ok], input: { approver: "\${steps.ok.output.by}" } }
`;

  it('waits, then an approval lets dependents run', () => {
    const d = new Driver(gated);
    expect(d.step('ok').status).toBe('waiting');
    expect(d.run.status).toBe('waiting');
    expect(d.send({ type: 'step_approved', step_id: 'go', by: 'bob' }).ignored[0]?.reason).toMatch(/not an approval step/);
    d.send({ type: 'step_approved', step_id: 'ok', by: 'bob', reason: 'looks fine' });
    expect(d.step('ok')).toMatchObject({
      status: 'succeeded',
      approval: { decision: 'approved', by: 'bob', reason: 'looks fine' },
      output: { approved: true, by: 'bob', reason: 'looks fine' },
    });
    expect(d.dispatched()[0]?.input).toEqual({ approver: 'bob' });
    expect(d.run.status).toBe('running');
    expect(d.timeline.find((t) => t.type === 'step_approved')).toMatchObject({ step_id: 'ok', data: { by: 'bob', reason: 'looks fine' } });
    expect(d.send({ type: 'step_rejected', step_id: 'ok', by: 'eve' }).ignored[0]?.reason).toMatch(/not waiting/);
  });

  it('a rejection fails the step and the run', () => {
    const d = new Driver(gated);
    d.send({ type: 'step_rejected', step_id: 'ok', by: 'carol', reason: 'too risky' });
    expect(d.step('ok')).toMatchObject({ status: 'failed', error: { code: 'approval_rejected', message: 'rejected by carol: too risky' } });
    expect(d.step('go').status).toBe('skipped');
    expect(d.run.status).toBe('failed');
  });

  it('times out without a decision', () => {
    const d = new Driver(gated);
    d.tick(3600_000);
    expect(d.step('ok')).toMatchObject({ status: 'timed_out', error: { code: 'approval_timed_out' } });
    expect(d.run.status).toBe('timed_out');
  });
});

describe('delay steps', () => {
  it('delay_sec arms a timer and completes when it fires', () => {
    const d = new Driver({ id: 'd', steps: { wait: { type: 'delay', delay_sec: 90 }, after: { topic: 'job.t.a', depends_on: ['wait'] } } });
    expect(d.step('wait').status).toBe('running');
    expect(d.lastOf('start_timer')).toEqual([{ type: 'start_timer', timer_id: 'run1:wait@1:delay', run_id: 'run1', kind: 'delay', due_ms: T0 + 90_000, step_id: 'wait' }]);
    d.now += 90_000;
    d.send({ type: 'timer_fired', timer_id: 'run1:wait@1:delay' });
    expect(d.step('wait').status).toBe('succeeded');
    expect(d.dispatched()[0]?.job_id).toBe('run1:after@1');
    expect(d.timelineTypes()).toEqual(expect.arrayContaining(['step_delay_started:wait', 'step_delay_completed:wait']));
  });

  it('delay_until in the past completes at once; a template is evaluated', () => {
    const d = new Driver(
      { id: 'd', steps: { past: { type: 'delay', delay_until: '2020-01-01T00:00:00Z' }, later: { type: 'delay', delay_until: '${input.at}' } } },
      { input: { at: new Date(T0 + 5000).toISOString() } },
    );
    expect(d.step('past').status).toBe('succeeded');
    expect(d.run.timers['run1:later@1:delay']?.due_ms).toBe(T0 + 5000);
    d.tick(5000);
    expect(d.run.status).toBe('succeeded');
  });

  it('a bad delay_until value fails the step', () => {
    const d = new Driver({ id: 'd', steps: { w: { type: 'delay', delay_until: '${input.at}' } } }, { input: { at: 'soon' } });
    expect(d.step('w')).toMatchObject({ status: 'failed', error: { code: 'delay_invalid' } });
  });
});

describe('conditions', () => {
  const branching = `
id: br
steps:
  check: { type: condition, condition: "length(input.items) > 2" }
  big: { topic: job.t.big, depends_on: [check], condition: "steps.check.output == true" }
  small: { topic: job.t.small, depends_on: [check], condition: "!steps.check.output" }
  after_big: { topic: job.t.ab, depends_on: [big] }
  join: { topic: job.t.join, depends_on: [big, small], trigger_rule: none_failed }
`;

  it('a condition step outputs a boolean; a false gate skips the step and its dependents', () => {
    const d = new Driver(branching, { input: { items: [1, 2, 3] } });
    expect(d.step('check')).toMatchObject({ status: 'succeeded', output: true });
    expect(d.step('small')).toMatchObject({ status: 'skipped', skip_reason: 'condition_false' });
    expect(d.dispatched().map((c) => c.step_id)).toEqual(['big']);
    d.ok('run1:big@1');
    expect(d.dispatched().map((c) => c.step_id).sort()).toEqual(['after_big', 'join']);
    d.ok('run1:after_big@1');
    d.ok('run1:join@1');
    expect(d.run.status).toBe('succeeded');
    expect(d.timeline.filter((t) => t.type === 'step_condition_evaluated').map((t) => t.data)).toEqual([
      { value: true },
      { value: true, passed: true },
      { value: false, passed: false },
    ]);
  });

  it('the other branch: dependents of the skipped step are skipped, the none_failed join runs', () => {
    const d = new Driver(branching, { input: { items: [1] } });
    expect(d.status()).toMatchObject({ check: 'succeeded', big: 'skipped', after_big: 'skipped', small: 'running', join: 'pending' });
    expect(d.step('after_big').skip_reason).toBe('dependency_not_succeeded');
    d.ok('run1:small@1');
    expect(d.dispatched().map((c) => c.step_id)).toEqual(['join']);
    d.ok('run1:join@1');
    expect(d.run.status).toBe('succeeded');
  });

  it('all_done runs after a failure and can read the status', () => {
    const d = new Driver(`
id: cleanup
steps:
  work: { topic: job.t.w }
  on_fail: { topic: job.t.f, depends_on: [work], trigger_rule: all_done, condition: 'steps.work.status == "failed"' }
  tidy: { topic: job.t.t, depends_on: [work], trigger_rule: all_done }
`);
    d.result('run1:work@1', 'failed');
    expect(d.dispatched().map((c) => c.step_id)).toEqual(['on_fail', 'tidy']);
    d.ok('run1:on_fail@1');
    d.ok('run1:tidy@1');
    expect(d.run.status).toBe('failed'); // the failure still decides the run
    expect(d.run.error?.step_id).toBe('work');
  });

  it('upstream expressions over hyphenated step ids', () => {
    const d = new Driver(`
id: hy
steps:
  fetch-data: { topic: job.t.f }
  use-it: { topic: job.t.u, depends_on: [fetch-data], condition: "length(steps.fetch-data.output.rows) > 1", input: { first: "\${first(steps.fetch-data.output.rows)}" } }
  cel-form: { topic: job.t.c, depends_on: [fetch-data], condition: 'steps.fetch-data.output.rows.size() > 5 || steps["fetch-data"].status == "succeeded"' }
`);
    d.ok('run1:fetch-data@1', { rows: ['a', 'b'] });
    expect(d.dispatched().map((c) => [c.step_id, c.input])).toEqual([
      ['cel-form', {}],
      ['use-it', { first: 'a' }],
    ]);
  });

  it('a condition that cannot be evaluated fails the step', () => {
    const d = new Driver({ id: 'e', steps: { s: { topic: 'job.t.s', condition: 'input.n + 1 > 2' } } }, { input: { n: 1 } });
    expect(d.step('s')).toMatchObject({ status: 'failed', error: { code: 'expression_failed' } });
    expect(d.timelineTypes()).toContain('step_condition_failed:s');
  });
});

describe('notify steps', () => {
  it('emits a SystemAlert with severity, component, code, details and trace id', () => {
    const d = new Driver(
      `
id: n
steps:
  tell:
    type: notify
    input: { level: warn, message: "deploy of \${input.svc} done", code: DEPLOYED, component: deployer, svc: "\${input.svc}", n: 3 }
`,
      { input: { svc: 'api' }, trace_id: 'tr-9' },
    );
    expect(d.lastOf('emit_alert')).toEqual([
      {
        type: 'emit_alert',
        alert_id: 'run1:tell@1',
        run_id: 'run1',
        workflow_id: 'n',
        step_id: 'tell',
        severity: 'WARNING',
        message: 'deploy of api done',
        source_component: 'deployer',
        code: 'DEPLOYED',
        details: { svc: 'api', n: '3' },
        trace_id: 'tr-9',
        dry_run: false,
      },
    ]);
    expect(d.step('tell').status).toBe('succeeded');
    expect(d.run.status).toBe('succeeded');
    expect(d.timelineTypes()).toContain('step_event_emitted:tell');
  });

  it('defaults: INFO from the workflow engine with a generated message', () => {
    const d = new Driver({ id: 'n', steps: { tell: { type: 'notify', input: { level: 'nonsense' } } } });
    expect(d.lastOf('emit_alert')[0]).toMatchObject({ severity: 'INFO', source_component: 'workflow-engine', message: 'workflow n step tell' });
  });
});

describe('for_each fan-out', () => {
  const fan = (maxParallel: number, retries = 0) => `
id: fo
steps:
  each:
    topic: job.t.each
    for_each: input.items
    max_parallel: ${maxParallel}
    retry: { max_retries: ${retries}, initial_backoff_sec: 1 }
    input: { name: "\${item.name}" }
  after: { topic: job.t.after, depends_on: [each], input: { all: "\${steps.each.output}" } }
`;
  const items = ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name }));

  it('keeps max_parallel jobs in flight and collects outputs in item order', () => {
    const d = new Driver(fan(2), { input: { items } });
    expect(d.dispatched().map((c) => c.job_id)).toEqual(['run1:each[0]@1', 'run1:each[1]@1']);
    expect(d.dispatched()[1]).toMatchObject({ item_index: 1, input: { name: 'b' }, env: { foreach_index: '1', foreach_item: '{"name":"b"}' } });
    d.ok('run1:each[1]@1', 'B');
    expect(d.dispatched().map((c) => c.job_id)).toEqual(['run1:each[2]@1']);
    d.ok('run1:each[2]@1', 'C');
    expect(d.dispatched().map((c) => c.job_id)).toEqual(['run1:each[3]@1']);
    d.ok('run1:each[0]@1', 'A');
    expect(d.dispatched().map((c) => c.job_id)).toEqual(['run1:each[4]@1']);
    expect(d.step('each').items?.filter((i) => i.status === 'running')).toHaveLength(2);
    d.ok('run1:each[4]@1', 'E');
    d.ok('run1:each[3]@1', 'D');
    expect(d.step('each')).toMatchObject({ status: 'succeeded', output: ['A', 'B', 'C', 'D', 'E'] });
    expect(d.dispatched()[0]?.input).toEqual({ all: ['A', 'B', 'C', 'D', 'E'] });
  });

  it('retries an item on its own', () => {
    const d = new Driver(fan(0, 1), { input: { items: items.slice(0, 2) } });
    d.result('run1:each[0]@1', 'failed');
    expect(d.step('each').items?.[0]).toMatchObject({ status: 'pending', attempts: 1 });
    d.tick(1000);
    expect(d.dispatched()).toEqual([expect.objectContaining({ job_id: 'run1:each[0]@2', input: { name: 'a' } })]);
    d.ok('run1:each[0]@2', 1);
    d.ok('run1:each[1]@1', 2);
    expect(d.step('each')).toMatchObject({ status: 'succeeded', output: [1, 2], attempts: 2 });
  });

  it('an item failing for good fails the step and cancels the others', () => {
    const d = new Driver(fan(3), { input: { items } });
    d.result('run1:each[1]@1', 'failed', undefined, { error: { message: 'bad item' } });
    expect(d.step('each')).toMatchObject({ status: 'failed', error: { code: 'job_failed', message: 'item 1: bad item' } });
    expect(d.lastOf('cancel_job').map((c) => c.job_id)).toEqual(['run1:each[0]@1', 'run1:each[2]@1']);
    expect(d.step('each').items?.map((i) => i.status)).toEqual(['cancelled', 'failed', 'cancelled', 'cancelled', 'cancelled']);
    expect(d.run.status).toBe('failed');
  });

  it('an empty or missing list succeeds with no items; a non-list fails', () => {
    expect(new Driver(fan(1), { input: { items: [] } }).step('each')).toMatchObject({ status: 'succeeded', output: [] });
    expect(new Driver(fan(1), { input: {} }).step('each')).toMatchObject({ status: 'succeeded', output: [] });
    expect(new Driver(fan(1), { input: { items: 'x' } }).step('each')).toMatchObject({ status: 'failed', error: { code: 'for_each_not_list' } });
  });

  it('without an input, each item gets the run input plus `item`', () => {
    const d = new Driver({ id: 'fo2', steps: { each: { topic: 'job.t.e', for_each: 'input.ids' } } }, { input: { ids: [7, 8], k: 1 } });
    expect(d.dispatched().map((c) => c.input)).toEqual([
      { ids: [7, 8], k: 1, item: 7 },
      { ids: [7, 8], k: 1, item: 8 },
    ]);
  });
});

describe('schemas', () => {
  const schema = { type: 'object', required: ['n'], properties: { n: { type: 'number' } } };

  it('rejects run input that does not match input_schema', () => {
    const d = new Driver({ id: 's', input_schema: schema, steps: { a: { topic: 'job.t.a' } } }, { input: { n: 'x' } });
    expect(d.run.status).toBe('failed');
    expect(d.run.error).toEqual({ code: 'run_input_invalid', message: 'run input: /n must be number' });
    expect(d.commands.filter((c) => c.type === 'dispatch_job')).toEqual([]);
  });

  it('validates step input before dispatch and output on success', () => {
    const d = new Driver({
      id: 's',
      steps: {
        a: { topic: 'job.t.a', input: { n: '${input.v}' }, input_schema: schema, output_schema: { type: 'object', required: ['ok'] } },
      },
    }, { input: { v: 'nope' } });
    expect(d.step('a')).toMatchObject({ status: 'failed', error: { code: 'step_input_invalid', message: 'input: /n must be number' } });
    expect(d.dispatched()).toEqual([]);

    const e = new Driver({ id: 's', steps: { a: { topic: 'job.t.a', output_schema: { type: 'object', required: ['ok'] } } } });
    e.ok('run1:a@1', { nope: 1 });
    expect(e.step('a')).toMatchObject({ status: 'failed', error: { code: 'step_output_invalid' } });
    expect(e.timelineTypes()).toContain('step_output_invalid:a');
  });

  it('resolves schema ids from the run, then from the host; unknown ids fail the step', () => {
    const def = { id: 's', steps: { a: { topic: 'job.t.a', input_schema_id: 'pack/In' } } };
    const fromRun = new Driver(def, { input: { n: 1 }, schemas: { 'pack/In': schema } });
    expect(fromRun.dispatched()).toHaveLength(1);
    const fromHost = new Driver(def, { input: { n: 'x' }, env: { resolveSchema: (id) => (id === 'pack/In' ? schema : undefined) } });
    expect(fromHost.step('a').error?.code).toBe('step_input_invalid');
    const missing = new Driver(def, { input: { n: 1 } });
    expect(missing.step('a').error).toEqual({ code: 'schema_not_found', message: 'input: schema "pack/In" is not registered' });
  });
});

describe('rerun in place', () => {
  const three = `
id: re
steps:
  a: { topic: job.t.a, output_path: out.a }
  b: { topic: job.t.b, depends_on: [a], input: { from_a: "\${steps.a.output}" }, output_path: out.b }
  c: { topic: job.t.c, depends_on: [b] }
`;

  it('reruns the step and its dependents with fresh job ids, reusing upstream outputs', () => {
    const d = new Driver(three);
    d.ok('run1:a@1', 'A');
    d.ok('run1:b@1', 'B');
    d.ok('run1:c@1', 'C');
    expect(d.run.status).toBe('succeeded');
    d.send({ type: 'rerun_from', step_id: 'b', by: 'ops' });
    expect(d.run.status).toBe('running');
    expect(d.run.rerun_step).toBe('b');
    expect(d.run.completed_at).toBeUndefined();
    expect(d.step('a')).toMatchObject({ status: 'succeeded', output: 'A', attempts: 1 });
    expect(d.step('c')).toEqual({ step_id: 'c', status: 'pending', attempts: 1, attempt_base: 1 });
    expect(d.context()).toEqual({ steps: { a: { result_ptr: 'redis://res:run1:a@1', output: 'A' } }, out: { a: 'A' } });
    expect(d.dispatched()).toEqual([expect.objectContaining({ job_id: 'run1:b@2', input: { from_a: 'A' } })]);
    expect(d.dispatched()[0]?.env.retry_of_job).toBeUndefined();
    d.ok('run1:b@2', 'B2');
    d.ok('run1:c@2', 'C2');
    expect(d.run.status).toBe('succeeded');
    expect(d.timelineTypes()).toEqual(expect.arrayContaining(['rerun_requested:b']));
  });

  it('is refused while running or when a dependency did not succeed', () => {
    const d = new Driver(three);
    const busy = d.send({ type: 'rerun_from', step_id: 'b' });
    expect(busy.ignored[0]?.reason).toMatch(/only a finished run/);
    d.result('run1:a@1', 'failed');
    expect(d.run.status).toBe('failed');
    const r = d.send({ type: 'rerun_from', step_id: 'c' });
    expect(r.ignored[0]?.reason).toBe('step a, which c depends on, is failed; rerun from a instead');
    expect(d.timelineTypes()).toContain('rerun_rejected:c');
    d.send({ type: 'rerun_from', step_id: 'a' });
    expect(d.dispatched().map((c) => c.job_id)).toEqual(['run1:a@2']);
  });

  it('reruns a fan-out with job ids above every earlier attempt', () => {
    const d = new Driver({ id: 'fr', steps: { e: { topic: 'job.t.e', for_each: 'input.xs' } } }, { input: { xs: [1, 2] } });
    d.ok('run1:e[0]@1');
    d.ok('run1:e[1]@1');
    d.send({ type: 'rerun_from', step_id: 'e' });
    expect(d.dispatched().map((c) => c.job_id)).toEqual(['run1:e[0]@2', 'run1:e[1]@2']);
  });
});

describe('reduce', () => {
  it('reducing a batch equals reducing its events one by one', () => {
    const events: RunEvent[] = [
      { type: 'job_result', job_id: 'run1:a@1', state: 'succeeded', output: { value: 1 } },
      { type: 'job_result', job_id: 'run1:a@1', state: 'succeeded', output: { value: 9 } },
      { type: 'job_result', job_id: 'run1:b@1', state: 'succeeded', output: 2 },
    ];
    const batch = new Driver(chain);
    const one = new Driver(chain);
    batch.send(...events);
    for (const e of events) one.send(e);
    expect({ ...batch.run, version: 0 }).toEqual({ ...one.run, version: 0 });
    expect(batch.commands).toEqual(one.commands);
    expect(batch.timeline).toEqual(one.timeline);
    expect(batch.run.version).toBe(3);
  });

  it('does nothing for a pending run until it is started', () => {
    const d = new Driver(chain, { start: false });
    const r = d.tick(10_000);
    expect(r.changed).toBe(false);
    expect(r.commands).toEqual([]);
    d.send({ type: 'run_started' });
    expect(d.run.started_at).toBe(new Date(T0 + 10_000).toISOString());
    expect(d.dispatched().map((c) => c.job_id)).toEqual(['run1:a@1']);
  });

  it('copies only what it changes: untouched steps, the definition and the input are shared with the input run', () => {
    const d = new Driver(`
id: cow
steps:
  a: { topic: job.t.a }
  b: { topic: job.t.b, depends_on: [a] }
  c: { topic: job.t.c, depends_on: [b] }
  fan: { topic: job.t.f, for_each: input.xs }
`, { input: { xs: [1, 2] } });
    const before = d.run;
    const r = reduce(before, [{ type: 'job_result', job_id: 'run1:a@1', state: 'succeeded', output: { v: 1 } }], d.now, { compiled: d.compiled });
    expect(r.changed).toBe(true);
    expect(r.run.steps['a']).not.toBe(before.steps['a']);
    expect(r.run.steps['b']).not.toBe(before.steps['b']);
    expect(r.run.steps['c']).toBe(before.steps['c']);
    expect(r.run.steps['fan']).toBe(before.steps['fan']);
    expect(r.run.definition).toBe(before.definition);
    expect(r.run.input).toBe(before.input);
    expect(r.run.context).not.toBe(before.context);
    expect(before.steps['a']?.status).toBe('running');
    expect(before.context['steps']).toEqual({});
    // An item result copies its fan-out step (items included), nothing else.
    const r2 = reduce(r.run, [{ type: 'job_result', job_id: 'run1:fan[0]@1', state: 'succeeded', output: 0 }], d.now, { compiled: d.compiled });
    expect(r2.run.steps['fan']).not.toBe(r.run.steps['fan']);
    expect(r2.run.steps['fan']?.items?.[1]).not.toBe(r.run.steps['fan']?.items?.[1]);
    expect(r.run.steps['fan']?.items?.[0]?.status).toBe('running');
    expect(r2.run.steps['a']).toBe(r.run.steps['a']);
    expect(r2.run.context).toBe(r.run.context);
  });
});
