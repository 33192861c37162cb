import { describe, expect, it } from 'vitest';
import type { RunDetail, StepRunView } from '../gateway/workflow-types.js';
import { createStyle } from '../output/style.js';
import { stepChangeLine, stepChanges, stepDetail, stepRows } from './view.js';

const plain = createStyle(false);

function run(steps: Record<string, StepRunView>, status = 'running'): RunDetail {
  return {
    id: 'r1',
    workflow_id: 'wf',
    workflow_revision: 1,
    workflow_version: null,
    status,
    version: 1,
    created_at: 0,
    updated_at: 0,
    started_at: null,
    completed_at: null,
    idempotency_key: null,
    labels: {},
    dry_run: false,
    triggered_by: null,
    rerun_of: null,
    rerun_step: null,
    error: null,
    definition_hash: '',
    definition: { steps: { build: { type: 'worker' }, approve: { type: 'approval' }, ship: {} } },
    input: {},
    context: {},
    steps,
    cancel_requested: null,
    pending_events: [],
  };
}

describe('run views', () => {
  it('lists steps in definition order with their types, pending when the engine has not touched them', () => {
    expect(stepRows(run({ ship: { status: 'pending' }, build: { status: 'running' } })).map((r) => [r.id, r.type, r.step.status])).toEqual([
      ['build', 'worker', 'running'],
      ['approve', 'approval', 'pending'],
      ['ship', 'job', 'pending'],
    ]);
  });

  it('reports the steps whose status changed between polls (on the first poll: every step that left pending)', () => {
    const first = run({ build: { status: 'running', job_id: 'r1:build@1' }, approve: { status: 'pending' } });
    expect(stepChanges(undefined, first).map((c) => [c.id, c.from, c.to])).toEqual([['build', null, 'running']]);
    const second = run({ build: { status: 'succeeded', job_id: 'r1:build@1' }, approve: { status: 'waiting' } }, 'waiting');
    expect(stepChanges(first, second).map((c) => [c.id, c.from, c.to])).toEqual([
      ['build', 'running', 'succeeded'],
      ['approve', 'pending', 'waiting'],
    ]);
    expect(stepChanges(second, second)).toEqual([]);
  });

  it('says what matters about a step in one line', () => {
    const [running] = stepChanges(undefined, run({ build: { status: 'running', job_id: 'r1:build@1', attempts: 1 } }));
    expect(running && stepChangeLine(running, plain)).toBe('step build: running (job r1:build@1)');
    expect(stepDetail({ status: 'failed', error: { code: 'approval_rejected', message: 'rejected by ada' }, approval: { decision: 'rejected', by: 'ada' } })).toBe(
      'approval_rejected: rejected by ada',
    );
    expect(stepDetail({ status: 'succeeded', approval: { decision: 'approved', by: 'ada', reason: 'ok' } })).toBe('approved by ada (ok)');
    expect(stepDetail({ status: 'skipped', skip_reason: 'condition_false' })).toBe('condition_false');
    expect(stepDetail({ status: 'running', items: [{ index: 0, status: 'succeeded' }, { index: 1, status: 'running' }] })).toBe('1/2 items succeeded');
  });
});
