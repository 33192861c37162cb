import { ActorType, JobPriority } from '@cordum/protocol';
import type { DispatchJobCommand } from '@cordum/workflow';
import { describe, expect, it } from 'vitest';
import { jobRequestOf } from './job-request.js';

const cmd: DispatchJobCommand = {
  type: 'dispatch_job',
  job_id: 'r1:fetch@2',
  run_id: 'r1',
  workflow_id: 'wf',
  step_id: 'fetch',
  attempt: 2,
  topic: 'job.t.fetch',
  input: { url: 'x' },
  env: { workflow_id: 'wf', run_id: 'r1', step_id: 'fetch', dry_run: 'true', retry_of_job: 'r1:fetch@1' },
  labels: { run_id: 'r1', step_id: 'fetch', workflow_id: 'wf', dry_run: 'true', preferred_pool: 'gpu' },
  meta: { actor_type: 'service', capability: 'http.get', risk_tags: ['network'], requires: ['egress'], labels: { team: 'sre' }, idempotency_key: 'k' },
  deadline_ms: 30_000,
  priority: 'INTERACTIVE',
  memory_id: 'run:r1',
  principal_id: 'alice',
  dry_run: true,
};

describe('jobRequestOf', () => {
  it('maps a dispatch to the JobRequest the scheduler governs', () => {
    const req = jobRequestOf(cmd, { tenant: 'acme', stepIndex: 3, contextPtr: 'redis://ctx:r1:fetch@2', defaultPriority: 'batch' });
    expect(req).toMatchObject({
      jobId: 'r1:fetch@2',
      topic: 'job.t.fetch',
      priority: JobPriority.INTERACTIVE,
      contextPtr: 'redis://ctx:r1:fetch@2',
      workflowId: 'wf',
      stepIndex: 3,
      memoryId: 'run:r1',
      tenantId: 'acme',
      principalId: 'alice',
    });
    expect(req.budget?.deadlineMs).toBe(30_000n);
    expect(req.env).toMatchObject({ dry_run: 'true', tenant_id: 'acme', step_attempt: '2', retry_of_job: 'r1:fetch@1' });
    expect(req.labels).toEqual(cmd.labels);
    expect(req.meta).toMatchObject({
      tenantId: 'acme',
      actorId: 'alice',
      actorType: ActorType.SERVICE,
      capability: 'http.get',
      riskTags: ['network'],
      requires: ['egress'],
      idempotencyKey: 'k',
      labels: { team: 'sre' },
    });
  });

  it('falls back to the default priority', () => {
    const { priority: _p, ...rest } = cmd;
    expect(jobRequestOf(rest, { tenant: 't', stepIndex: 0, contextPtr: '', defaultPriority: 'critical' }).priority).toBe(JobPriority.CRITICAL);
  });
});
