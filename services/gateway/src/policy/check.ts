import { create, toJson } from '@bufbuild/protobuf';
import {
  type ConfigLayer,
  DeniedError,
  type EffectiveConfig,
  InvalidError,
  type JsonValue,
  isPlainObject,
  mergeEffectiveConfig,
  toError,
} from '@cordum/core';
import { fromWireDecision } from '@cordum/policy';
import {
  ActorType,
  type ExplainResponse,
  JobPriority,
  type PolicyCheckRequest,
  PolicyCheckRequestSchema,
  type PolicyCheckResponse,
  type PolicyConstraints,
  PolicyConstraintsSchema,
  RuleTraceStatus,
} from '@cordum/protocol';
import type { ConfigRef, ConfigStore } from '@cordum/store';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { PolicyCheckBody, PolicySimulateBody } from '../http/schemas-policy.js';
import { requirePolicy } from './port.js';

// POST /policy/evaluate, /explain, /simulate and GET /policy/snapshots: the caller's question as a
// PolicyCheckRequest for the kernel, always in the caller's tenant and with the effective config the
// scheduler would send, so that "why" here is the answer the real check gives. Nothing is recorded.

const PRIORITY: Readonly<Record<NonNullable<PolicyCheckBody['priority']>, JobPriority>> = {
  interactive: JobPriority.INTERACTIVE,
  batch: JobPriority.BATCH,
  critical: JobPriority.CRITICAL,
};

const ACTOR: Readonly<Record<'human' | 'service', ActorType>> = { human: ActorType.HUMAN, service: ActorType.SERVICE };

/** The tenant a request may ask about: the caller's, whichever alias names it. */
function tenantOf(principal: Principal, body: PolicyCheckBody): string {
  const named = [body.tenant, body.tenant_id, body.org_id, body.meta?.tenant_id].filter((t): t is string => t !== undefined);
  for (const t of named) {
    if (t !== principal.tenant) {
      throw new DeniedError(`your key belongs to tenant ${principal.tenant}; it cannot ask about tenant ${t}`, {
        code: 'permission_denied',
        details: { field: 'tenant' },
      });
    }
  }
  return principal.tenant;
}

/** The effective config of the job as the scheduler computes it: system → org (tenant) → team → workflow → step. */
async function effectiveConfig(config: ConfigStore, tenant: string, body: PolicyCheckBody): Promise<EffectiveConfig> {
  const refs: ConfigRef[] = [{ scope: 'system', scopeId: 'default' }, { scope: 'org', tenant, scopeId: tenant }];
  if (body.team_id !== undefined && body.team_id !== '') refs.push({ scope: 'team', tenant, scopeId: body.team_id });
  if (body.workflow_id !== undefined && body.workflow_id !== '') refs.push({ scope: 'workflow', tenant, scopeId: body.workflow_id });
  if (body.step_id !== undefined && body.step_id !== '') refs.push({ scope: 'step', tenant, scopeId: body.step_id });
  const docs = await Promise.all(refs.map((ref) => config.get(ref)));
  const layers: ConfigLayer[] = [];
  for (const doc of docs) {
    if (doc !== undefined) layers.push({ scope: doc.scope, scopeId: doc.scopeId, revision: doc.revision, data: { ...doc.data } });
  }
  return mergeEffectiveConfig(layers);
}

export type BuiltCheck = { request: PolicyCheckRequest; tenant: string; effective: { version: string; hash: string } | null };

export async function buildCheckRequest(ctx: GatewayContext, principal: Principal, body: PolicyCheckBody): Promise<BuiltCheck> {
  const tenant = tenantOf(principal, body);
  const meta = body.meta ?? {};
  let effectiveBytes: Uint8Array;
  let effective: BuiltCheck['effective'] = null;
  if (body.effective_config !== undefined) {
    try {
      effectiveBytes = new TextEncoder().encode(JSON.stringify(body.effective_config));
    } catch (err) {
      throw new InvalidError(`effective_config is not representable as JSON: ${toError(err).message}`, { details: { field: 'effective_config' } });
    }
  } else {
    const merged = await effectiveConfig(ctx.stores.config, tenant, body);
    effective = { version: merged.version, hash: merged.hash };
    effectiveBytes = new TextEncoder().encode(JSON.stringify(merged.data));
  }
  const actorType = body.actor_type ?? meta.actor_type;
  const request = create(PolicyCheckRequestSchema, {
    jobId: body.job_id ?? '',
    topic: body.topic.trim(),
    tenant,
    priority: body.priority === undefined ? JobPriority.UNSPECIFIED : PRIORITY[body.priority],
    estimatedCost: body.estimated_cost ?? 0,
    principalId: body.principal_id ?? principal.id,
    labels: { ...meta.labels, ...body.labels },
    memoryId: body.memory_id ?? '',
    effectiveConfig: effectiveBytes,
    meta: {
      tenantId: tenant,
      actorId: body.actor_id ?? meta.actor_id ?? '',
      actorType: actorType === undefined ? ActorType.UNSPECIFIED : ACTOR[actorType],
      idempotencyKey: body.idempotency_key ?? meta.idempotency_key ?? '',
      capability: body.capability ?? meta.capability ?? '',
      riskTags: [...(body.risk_tags ?? meta.risk_tags ?? [])],
      requires: [...(body.requires ?? meta.requires ?? [])],
      packId: body.pack_id ?? meta.pack_id ?? '',
      labels: { ...meta.labels, ...body.labels },
    },
    ...(body.budget === undefined
      ? {}
      : {
          budget: {
            maxInputTokens: BigInt(body.budget.max_input_tokens ?? 0),
            maxOutputTokens: BigInt(body.budget.max_output_tokens ?? 0),
            maxTotalTokens: BigInt(body.budget.max_total_tokens ?? 0),
            deadlineMs: BigInt(body.budget.deadline_ms ?? 0),
          },
        }),
  });
  return { request, tenant, effective };
}

// ─── Views ────────────────────────────────────────────────────────────────────────────────────────────

export type DecisionView = {
  decision: string;
  rule_id: string;
  reason: string;
  policy_snapshot: string;
  constraints: Record<string, JsonValue> | null;
  approval_required: boolean;
  approval_ref: string;
  remediations: {
    id: string;
    title: string;
    summary: string;
    replacement_topic: string;
    replacement_capability: string;
    add_labels: Record<string, string>;
    remove_labels: string[];
  }[];
  redacted_context_ptr: string;
  tenant: string;
  effective_config: { version: string; hash: string } | null;
};

export type TraceView = {
  rule_id: string;
  bundle_id: string;
  index: number;
  decision: string;
  status: string;
  matched: boolean;
  reasons: string[];
};

export type ExplainView = DecisionView & { trace: TraceView[]; notes: string[]; drafts: string[] };

/** Decision names as bundles, decision records and docs/policy.md spell them (REQUIRE_APPROVAL, not REQUIRE_HUMAN). */
function decisionName(wire: number): string {
  return fromWireDecision(wire) ?? 'UNSPECIFIED';
}

const TRACE_STATUS: Readonly<Record<RuleTraceStatus, string>> = {
  [RuleTraceStatus.UNSPECIFIED]: 'unspecified',
  [RuleTraceStatus.MATCHED]: 'matched',
  [RuleTraceStatus.NOT_MATCHED]: 'not_matched',
  [RuleTraceStatus.ERROR]: 'error',
  [RuleTraceStatus.NOT_REACHED]: 'not_reached',
};

/** Constraints as bundles write them (snake_case, numbers as numbers; protobuf JSON writes int64 as strings). */
function constraintsView(constraints: PolicyConstraints | undefined): Record<string, JsonValue> | null {
  if (constraints === undefined) return null;
  const json = toJson(PolicyConstraintsSchema, constraints, { useProtoFieldName: true });
  if (!isPlainObject(json) || Object.keys(json).length === 0) return null;
  const budgets = json['budgets'];
  if (isPlainObject(budgets)) {
    for (const [k, v] of Object.entries(budgets)) if (typeof v === 'string' && /^-?\d+$/.test(v)) budgets[k] = Number(v);
  }
  return json;
}

function decisionView(response: PolicyCheckResponse | undefined, built: BuiltCheck, tenant = built.tenant): DecisionView {
  const r = response;
  const constraints = constraintsView(r?.constraints);
  return {
    decision: r === undefined ? 'UNSPECIFIED' : decisionName(r.decision),
    rule_id: r?.ruleId ?? '',
    reason: r?.reason ?? '',
    policy_snapshot: r?.policySnapshot ?? '',
    constraints,
    approval_required: r?.approvalRequired ?? false,
    approval_ref: r?.approvalRef ?? '',
    remediations: (r?.remediations ?? []).map((m) => ({
      id: m.id,
      title: m.title,
      summary: m.summary,
      replacement_topic: m.replacementTopic,
      replacement_capability: m.replacementCapability,
      add_labels: { ...m.addLabels },
      remove_labels: [...m.removeLabels],
    })),
    redacted_context_ptr: r?.redactedContextPtr ?? '',
    tenant,
    effective_config: built.effective,
  };
}

export function explainView(response: ExplainResponse, built: BuiltCheck, drafts: readonly string[] = []): ExplainView {
  return {
    ...decisionView(response.decision, built, response.tenant === '' ? built.tenant : response.tenant),
    trace: response.trace.map((t) => ({
      rule_id: t.ruleId,
      bundle_id: t.bundleId,
      index: t.index,
      decision: decisionName(t.decision),
      status: TRACE_STATUS[t.status],
      matched: t.matched,
      reasons: [...t.reasons],
    })),
    notes: [...response.notes],
    drafts: [...drafts],
  };
}

// ─── Operations ───────────────────────────────────────────────────────────────────────────────────────

export async function evaluatePolicy(ctx: GatewayContext, principal: Principal, body: PolicyCheckBody): Promise<DecisionView> {
  const built = await buildCheckRequest(ctx, principal, body);
  return decisionView(await requirePolicy(ctx.policy).evaluate(built.request), built);
}

export async function explainPolicy(ctx: GatewayContext, principal: Principal, body: PolicyCheckBody): Promise<ExplainView> {
  const built = await buildCheckRequest(ctx, principal, body);
  return explainView(await requirePolicy(ctx.policy).explain(built.request), built);
}

export type DraftSource = { id: string; content: string; enabled?: boolean | undefined };

/**
 * A disabled draft is simulated as an empty bundle with the same id: a draft replaces the loaded bundle
 * of its id, so this is the policy with that bundle switched off.
 */
export function draftSources(drafts: readonly DraftSource[]): { id: string; content: string }[] {
  const seen = new Set<string>();
  return drafts.map((d) => {
    if (seen.has(d.id)) throw new InvalidError(`draft bundle ${d.id} is given twice`, { details: { field: 'bundles', bundle_id: d.id } });
    seen.add(d.id);
    return { id: d.id, content: d.enabled === false ? '{}' : d.content };
  });
}

export async function simulatePolicy(
  ctx: GatewayContext,
  principal: Principal,
  body: PolicySimulateBody | PolicyCheckBody,
  drafts: readonly DraftSource[],
  defaultDecision: string | undefined,
): Promise<ExplainView> {
  const built = await buildCheckRequest(ctx, principal, body);
  const bundles = draftSources(drafts);
  const response = await requirePolicy(ctx.policy).simulate({ request: built.request, bundles, defaultDecision: defaultDecision ?? '' });
  return explainView(response, built, bundles.map((b) => b.id));
}

/** POST /policy/simulate: the request fields, plus optional drafts and default decision. */
export function simulateFromBody(ctx: GatewayContext, principal: Principal, body: PolicySimulateBody): Promise<ExplainView> {
  const { bundles, default_decision: defaultDecision, ...request } = body;
  return simulatePolicy(ctx, principal, request, bundles ?? [], defaultDecision);
}

export async function listSnapshots(ctx: GatewayContext): Promise<{ current: string | null; snapshots: string[] }> {
  const snapshots = [...(await requirePolicy(ctx.policy).listSnapshots())];
  return { current: snapshots[0] ?? null, snapshots };
}
