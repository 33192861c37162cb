import { describe, expect, it } from 'vitest';
import { decodeWorkflowCommand, encodeWorkflowCommand, jobFinalCommand, workflowRunOfJob } from './workflow-command.js';

describe('workflow command doorbell', () => {
  it('round-trips start and event commands', () => {
    expect(decodeWorkflowCommand(encodeWorkflowCommand({ kind: 'start', tenant: 'acme', run_id: 'run-1', by: 'ada' }))).toEqual({
      v: 1,
      kind: 'start',
      tenant: 'acme',
      run_id: 'run-1',
      by: 'ada',
    });
    expect(decodeWorkflowCommand(encodeWorkflowCommand({ kind: 'event', tenant: 'acme', run_id: 'run-1' }))).toEqual({ v: 1, kind: 'event', tenant: 'acme', run_id: 'run-1' });
  });

  it('carries the job id of a job-final doorbell on event commands only', () => {
    const cmd = { kind: 'event' as const, tenant: 'acme', run_id: 'run-1', job_id: 'run-1:a@1' };
    expect(decodeWorkflowCommand(encodeWorkflowCommand(cmd))).toEqual({ v: 1, ...cmd });
    expect(decodeWorkflowCommand(encodeWorkflowCommand({ ...cmd, kind: 'start' }))).toEqual({ v: 1, kind: 'start', tenant: 'acme', run_id: 'run-1' });
    expect(decodeWorkflowCommand(new TextEncoder().encode(JSON.stringify({ v: 1, kind: 'event', tenant: 't', run_id: 'r', job_id: 7 })))).toEqual({ v: 1, kind: 'event', tenant: 't', run_id: 'r' });
  });

  it('derives the run of a workflow job and the doorbell for its terminal write', () => {
    expect(workflowRunOfJob('run-1:a@1', { run_id: 'run-1' })).toBe('run-1');
    expect(workflowRunOfJob('run:x:b[3]@2', { run_id: 'run:x' })).toBe('run:x');
    expect(workflowRunOfJob('run-1:a@1', {})).toBeUndefined();
    expect(workflowRunOfJob('run-1:a@1', { run_id: 'run-2' })).toBeUndefined();
    expect(workflowRunOfJob('run-1:a', { run_id: 'run-1' })).toBeUndefined();
    expect(workflowRunOfJob('job-7', { run_id: 'job-7' })).toBeUndefined();
    expect(jobFinalCommand({ id: 'run-1:a@1', tenant: 'acme', labels: { run_id: 'run-1', step_id: 'a' } })).toEqual({
      kind: 'event',
      tenant: 'acme',
      run_id: 'run-1',
      job_id: 'run-1:a@1',
    });
    expect(jobFinalCommand({ id: 'plain-job', tenant: 'acme', labels: {} })).toBeUndefined();
  });

  it('carries the terminal outcome the scheduler wrote, and decodes it back (bad outcomes are left out)', () => {
    const job = { id: 'run-1:a@1', tenant: 'acme', labels: { run_id: 'run-1' }, state: 'FAILED', resultPtr: null, errorCode: 'boom', errorMessage: 'it broke' };
    const command = jobFinalCommand(job);
    expect(command).toEqual({ kind: 'event', tenant: 'acme', run_id: 'run-1', job_id: 'run-1:a@1', outcome: { state: 'FAILED', error_code: 'boom', error_message: 'it broke' } });
    expect(decodeWorkflowCommand(encodeWorkflowCommand(command as NonNullable<typeof command>))?.outcome).toEqual({ state: 'FAILED', error_code: 'boom', error_message: 'it broke' });
    const raw = (outcome: unknown) => new TextEncoder().encode(JSON.stringify({ v: 1, kind: 'event', tenant: 't', run_id: 'r', job_id: 'r:a@1', outcome }));
    expect(decodeWorkflowCommand(raw({ state: 'SUCCEEDED', result_ptr: 7 }))?.outcome).toBeUndefined();
    expect(decodeWorkflowCommand(raw({ result_ptr: 'x' }))?.outcome).toBeUndefined();
    expect(decodeWorkflowCommand(raw({ state: 'SUCCEEDED', result_ptr: 'redis://res:r:a@1' }))?.outcome).toEqual({ state: 'SUCCEEDED', result_ptr: 'redis://res:r:a@1' });
  });

  it('rejects what is not a version-1 command', () => {
    const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
    for (const bad of ['not json', 'null', [1], { v: 2, kind: 'start', tenant: 't', run_id: 'r' }, { v: 1, kind: 'stop', tenant: 't', run_id: 'r' }, { v: 1, kind: 'start', tenant: '', run_id: 'r' }, { v: 1, kind: 'event', tenant: 't' }]) {
      expect(decodeWorkflowCommand(enc(bad))).toBeUndefined();
    }
  });
});
