import { create } from '@bufbuild/protobuf';
import { ActorType, type JobRequest, JobPriority, JobRequestSchema } from '@cordum/protocol';
import type { DispatchJobCommand } from '@cordum/workflow';

// A DispatchJob command as the JobRequest the scheduler governs: the same fields a gateway submit fills, plus
// the workflow identity (workflow_id, step_index, labels run_id/step_id, env) by which the scheduler knows a
// workflow job (no failure retries of its own: the step's `retry` decides) and policy can match it.

const PRIORITIES: Readonly<Record<string, JobPriority>> = {
  interactive: JobPriority.INTERACTIVE,
  batch: JobPriority.BATCH,
  critical: JobPriority.CRITICAL,
};

export type JobRequestContext = {
  /** The run's tenant (the record's, authoritative). */
  tenant: string;
  /** Position of the step in the definition's dependency order. */
  stepIndex: number;
  contextPtr: string;
  /** Used when the run input names no (known) priority. */
  defaultPriority: string;
};

export function jobRequestOf(cmd: DispatchJobCommand, ctx: JobRequestContext): JobRequest {
  const priority = PRIORITIES[(cmd.priority ?? '').toLowerCase()] ?? PRIORITIES[ctx.defaultPriority] ?? JobPriority.BATCH;
  const env = { ...cmd.env };
  env['tenant_id'] ??= ctx.tenant;
  if (cmd.attempt > 0) env['step_attempt'] = String(cmd.attempt);
  const m = cmd.meta;
  return create(JobRequestSchema, {
    jobId: cmd.job_id,
    topic: cmd.topic,
    priority,
    contextPtr: ctx.contextPtr,
    adapterId: cmd.adapter_id ?? '',
    env,
    workflowId: cmd.workflow_id,
    stepIndex: ctx.stepIndex,
    memoryId: cmd.memory_id,
    ...(cmd.deadline_ms === undefined ? {} : { budget: { deadlineMs: BigInt(cmd.deadline_ms) } }),
    tenantId: ctx.tenant,
    principalId: cmd.principal_id ?? '',
    labels: { ...cmd.labels },
    meta: {
      tenantId: ctx.tenant,
      actorId: m.actor_id ?? cmd.principal_id ?? '',
      actorType: m.actor_type === 'human' ? ActorType.HUMAN : m.actor_type === 'service' ? ActorType.SERVICE : ActorType.UNSPECIFIED,
      idempotencyKey: m.idempotency_key ?? '',
      capability: m.capability ?? '',
      riskTags: [...m.risk_tags],
      requires: [...m.requires],
      packId: m.pack_id ?? '',
      labels: { ...m.labels },
    },
  });
}
