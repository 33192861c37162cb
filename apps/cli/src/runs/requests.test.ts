import { describe, expect, it } from 'vitest';
import type { ReadDocument } from '../input/read.js';
import { createWorkflowRequest, rerunRequest, startRunRequest, stepDecisionRequest } from './requests.js';

const yaml: ReadDocument = { value: { id: 'wf', steps: {} }, text: 'id: wf\nsteps: {}\n', format: 'yaml', source: '/w.yaml' };
const json: ReadDocument = { value: { id: 'wf', steps: {} }, text: '{"id":"wf","steps":{}}', format: 'json', source: '/w.json' };

describe('workflow and run requests', () => {
  it('workflow create sends YAML as it is (application/yaml) and JSON as JSON, with the compare-and-set revision', () => {
    expect(createWorkflowRequest(yaml, { expectedRevision: 0 })).toEqual({
      method: 'POST',
      path: '/api/v1/workflows',
      options: { query: { expected_revision: 0 }, raw: { contentType: 'application/yaml', text: 'id: wf\nsteps: {}\n' } },
    });
    expect(createWorkflowRequest(json, {})).toEqual({
      method: 'POST',
      path: '/api/v1/workflows',
      options: { query: { expected_revision: undefined }, body: { id: 'wf', steps: {} } },
    });
    expect(() => createWorkflowRequest({ ...yaml, value: ['a'] }, {})).toThrow(/workflow definition: \/w\.yaml: expected an object/);
  });

  it('run start: the input is the body, flags are the query, the idempotency key a header', () => {
    expect(startRunRequest('sre/deploy', json, { dryRun: true, idempotencyKey: 'k-1', team: 'payments', revision: 2 })).toEqual({
      method: 'POST',
      path: '/api/v1/workflows/sre%2Fdeploy/runs',
      options: {
        query: { dry_run: true, team_id: 'payments', org_id: undefined, revision: 2 },
        headers: { 'idempotency-key': 'k-1' },
        body: { id: 'wf', steps: {} },
      },
    });
    expect(startRunRequest('wf', undefined, {}).options).toEqual({
      query: { dry_run: undefined, team_id: undefined, org_id: undefined, revision: undefined },
      headers: {},
      body: {},
    });
    expect(() => startRunRequest('wf', undefined, { idempotencyKey: ' ' })).toThrow('--idempotency-key must not be empty');
    expect(() => startRunRequest('wf', { ...json, value: 3 }, {})).toThrow(/--input: \/w\.json: expected an object.*got a number/);
  });

  it('rerun sends from_step and dry_run only when given', () => {
    expect(rerunRequest('r1', {})).toEqual({ method: 'POST', path: '/api/v1/workflow-runs/r1/rerun', options: { headers: {}, body: {} } });
    expect(rerunRequest('r1', { fromStep: 'build', dryRun: false, idempotencyKey: 'again' }).options).toEqual({
      headers: { 'idempotency-key': 'again' },
      body: { from_step: 'build', dry_run: false },
    });
  });

  it("approval step uses upstream's route: approved true or false, with the reason and note", () => {
    expect(stepDecisionRequest('wf', 'r 1', 'approve', false, { reason: 'no' })).toEqual({
      method: 'POST',
      path: '/api/v1/workflows/wf/runs/r%201/steps/approve/approve',
      options: { body: { approved: false, reason: 'no' } },
    });
    expect(stepDecisionRequest('wf', 'r1', 's', true, { note: 'CHG-1' }).options.body).toEqual({ approved: true, note: 'CHG-1' });
  });
});
