import { describe, expect, it } from 'vitest';
import { decodeWorkflowCommand, encodeWorkflowCommand } from './workflow-command.js';

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

  it('rejects what is not a version-1 command', () => {
    const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
    for (const bad of ['not json', 'null', [1], { v: 2, kind: 'start', tenant: 't', run_id: 'r' }, { v: 1, kind: 'stop', tenant: 't', run_id: 'r' }, { v: 1, kind: 'start', tenant: '', run_id: 'r' }, { v: 1, kind: 'event', tenant: 't' }]) {
      expect(decodeWorkflowCommand(enc(bad))).toBeUndefined();
    }
  });
});
