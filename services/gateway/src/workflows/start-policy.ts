import { DeniedError, type JsonValue, RetryableError } from '@cordum/core';
import { fromWireDecision } from '@cordum/policy';
import type { CompiledWorkflow } from '@cordum/workflow';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { PolicyCheckBody } from '../http/schemas-policy.js';
import { buildCheckRequest } from '../policy/check.js';

// Starting a run is itself policy-checked, like a job: the safety kernel is asked (evaluate: no decision
// record, the run does not exist yet) about a job on `job.workflow.<workflow id>` — the topic upstream gives
// workflow steps by default — carrying the risk tags, requirements and pack of the workflow's job steps and
// the label `cordum.kind=workflow_run`, so one rule can stop a workflow outright.
//
// Decisions: DENY (and anything unknown) → 403 `denied`; THROTTLE → 429 with Retry-After; ALLOW,
// ALLOW_WITH_CONSTRAINTS and REQUIRE_APPROVAL start the run — constraints and approvals apply to each step's
// job, which the scheduler checks again when the engine dispatches it (a run cannot itself be held). An
// unreachable kernel is 503 `safety_unavailable` (fail closed). Without a kernel configured the gateway
// skips this check; every job is still checked by the scheduler.

/** The topic a run start is checked as. */
export function runStartTopic(workflowId: string): string {
  return `job.workflow.${workflowId}`;
}

export const THROTTLE_RETRY_MS = 5_000;

export type StartDecision = { decision: string; rule_id: string; reason: string; policy_snapshot: string };

export type StartCheckInput = {
  runId: string;
  workflowId: string;
  compiled: CompiledWorkflow;
  teamId: string | undefined;
  effective: Readonly<Record<string, JsonValue>>;
  idempotencyKey: string | undefined;
  dryRun: boolean;
};

/** What the workflow's job steps declare: the union of risk tags and requirements, the pack if they share one. */
function stepMeta(compiled: CompiledWorkflow): { risk_tags: string[]; requires: string[]; pack_id?: string } {
  const risk = new Set<string>();
  const requires = new Set<string>();
  const packs = new Set<string>();
  for (const step of compiled.steps.values()) {
    if (step.kind !== 'job') continue;
    for (const t of step.def.meta?.risk_tags ?? []) risk.add(t);
    for (const r of step.def.meta?.requires ?? []) requires.add(r);
    packs.add(step.def.meta?.pack_id ?? '');
  }
  const [pack] = packs;
  return {
    risk_tags: [...risk].sort().slice(0, 50),
    requires: [...requires].sort().slice(0, 50),
    ...(packs.size === 1 && pack !== undefined && pack !== '' ? { pack_id: pack } : {}),
  };
}

/** Asks the kernel; throws for DENY / THROTTLE / outage; undefined when this gateway has no kernel. */
export async function checkRunStart(ctx: GatewayContext, principal: Principal, input: StartCheckInput): Promise<StartDecision | undefined> {
  if (ctx.policy === undefined) return undefined;
  const body: PolicyCheckBody = {
    topic: runStartTopic(input.workflowId),
    job_id: input.runId,
    workflow_id: input.workflowId,
    labels: {
      'cordum.kind': 'workflow_run',
      workflow_id: input.workflowId,
      ...(input.dryRun ? { dry_run: 'true' } : {}),
    },
    effective_config: { ...input.effective },
    ...stepMeta(input.compiled),
    ...(input.teamId === undefined ? {} : { team_id: input.teamId }),
    ...(input.idempotencyKey === undefined ? {} : { idempotency_key: input.idempotencyKey }),
  };
  const built = await buildCheckRequest(ctx, principal, body);
  const response = await ctx.policy.evaluate(built.request);
  const decision = fromWireDecision(response.decision);
  const out: StartDecision = {
    decision: decision ?? 'UNSPECIFIED',
    rule_id: response.ruleId,
    reason: response.reason,
    policy_snapshot: response.policySnapshot,
  };
  const details = { workflow_id: input.workflowId, ...out };
  const because = `${response.reason === '' ? '' : `: ${response.reason}`}${response.ruleId === '' ? '' : ` (rule ${response.ruleId})`}`;
  switch (decision) {
    case 'ALLOW':
    case 'ALLOW_WITH_CONSTRAINTS':
    case 'REQUIRE_APPROVAL':
      return out;
    case 'THROTTLE':
      throw new RetryableError(`policy throttles runs of workflow ${input.workflowId}${because}; retry later`, {
        code: 'rate_limited',
        retryAfterMs: THROTTLE_RETRY_MS,
        details,
      });
    case 'DENY':
    case null:
      throw new DeniedError(`policy does not allow starting workflow ${input.workflowId}${because}`, { code: 'denied', details });
  }
}
