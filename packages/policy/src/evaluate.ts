import { isPlainObject } from '@cordum/core';
import { celRequest, type CelRequest } from './cel.js';
import { compilePolicy, type Policy, type PolicyInternal, type PolicyOptions, policyInternal, type RuleEntry } from './compile.js';
import type { Decision } from './decision.js';
import { compileTopicMatcher, globProblem, type TopicMatcher } from './glob.js';
import type { PolicyInput } from './input.js';
import {
  compileMcp,
  type InputView,
  makeView,
  matchesRest,
  matchesSelectors,
  mcpProblem,
  mismatches,
} from './match.js';
import type { Bundle, Constraints, McpLists, Remediation } from './model.js';

export type PolicyDecision = {
  decision: Decision;
  reason: string;
  /** The deciding rule: a bundle rule id, `legacy:…`, or `builtin:topic`, `default`, `tenant:<t>:mcp`, `config:…`. */
  ruleId: string;
  /** The bundle the deciding rule came from ('' for the engine's own decisions). */
  bundleId: string;
  constraints: Constraints | null;
  remediations: Remediation[];
  /** Snapshot id of the policy that decided. */
  snapshot: string;
  approvalRequired: boolean;
  /** The job id when approval is required (what the approval refers to), else ''. */
  approvalRef: string;
};

export type RuleTraceStatus = 'matched' | 'not_matched' | 'error' | 'not_reached';

export type RuleTrace = {
  ruleId: string;
  bundleId: string;
  /** Position in policy.rules. */
  index: number;
  decision: Decision;
  status: RuleTraceStatus;
  matched: boolean;
  /** Why it did not match (one line per failing field), the CEL error, or why it was not reached. */
  reasons: string[];
};

export type PolicyExplanation = {
  decision: PolicyDecision;
  /** Every rule in evaluation order. */
  trace: RuleTrace[];
  /** The tenant the rules saw (after defaulting). */
  tenant: string;
  /** Steps after rule matching that changed the outcome (tenant MCP lists, constraints, effective config). */
  notes: string[];
};

const NO_REMEDIATIONS: Remediation[] = [];

function result(
  policy: Policy,
  input: PolicyInput,
  decision: Decision,
  reason: string,
  ruleId: string,
  bundleId: string,
  constraints: Constraints | null,
  remediations: readonly Remediation[],
): PolicyDecision {
  const approvalRequired = decision === 'REQUIRE_APPROVAL';
  return {
    decision,
    reason,
    ruleId,
    bundleId,
    constraints,
    remediations: remediations.length === 0 ? [] : [...remediations],
    snapshot: policy.snapshot.id,
    approvalRequired,
    approvalRef: approvalRequired ? input.jobId : '',
  };
}

type Trace = { rules: RuleTrace[]; notes: string[] };

function traceEntry(entry: RuleEntry, index: number, status: RuleTraceStatus, reasons: string[]): RuleTrace {
  return {
    ruleId: entry.rule.id,
    bundleId: entry.rule.source.bundleId,
    index,
    decision: entry.rule.decision,
    status,
    matched: status === 'matched',
    reasons,
  };
}

/** The hot path: walk only the indexed candidates, build no strings. */
function firstMatch(internal: PolicyInternal, view: InputView, input: PolicyInput, tenant: string): RuleEntry | null {
  const entries = internal.entries;
  const candidates = candidatesFor(internal, view);
  let cel: CelRequest | null = null;
  for (let c = 0; c < candidates.length; c++) {
    const e = entries[candidates[c]!]!;
    if (!matchesRest(e.matcher, view)) continue;
    if (e.when !== null) {
      cel ??= celRequest(input, tenant);
      const r = e.when.run(cel);
      if (!r.ok || !r.value) continue;
    }
    return e;
  }
  return null;
}

/** The explain path: every rule, in order, with why it did or did not match (same outcome as firstMatch). */
function traceRules(internal: PolicyInternal, view: InputView, input: PolicyInput, tenant: string, trace: Trace): RuleEntry | null {
  let hit: RuleEntry | null = null;
  let cel: CelRequest | null = null;
  internal.entries.forEach((e, i) => {
    if (hit !== null) {
      trace.rules.push(traceEntry(e, i, 'not_reached', [`not evaluated: ${hit.rule.id} matched first`]));
      return;
    }
    const reasons = mismatches(e.matcher, e.rule.match, view, input, tenant);
    if (reasons.length > 0) {
      trace.rules.push(traceEntry(e, i, 'not_matched', reasons));
      return;
    }
    if (e.when !== null) {
      cel ??= celRequest(input, tenant);
      const r = e.when.run(cel);
      if (!r.ok) {
        trace.rules.push(traceEntry(e, i, 'error', [`when: ${r.error} (the rule does not match)`]));
        return;
      }
      if (!r.value) {
        trace.rules.push(traceEntry(e, i, 'not_matched', [`when: ${e.when.source} is false`]));
        return;
      }
    }
    trace.rules.push(traceEntry(e, i, 'matched', []));
    hit = e;
  });
  return hit;
}

// One evaluation for evaluate (no trace) and explain (trace): the rules, then the overrides.
function run(policy: Policy, input: PolicyInput, trace: Trace | null): PolicyDecision {
  const internal = policyInternal(policy);
  const tenant = input.tenant.trim() || policy.options.defaultTenant;
  const topic = input.topic.trim();

  // Upstream refuses anything that is not a job topic before looking at rules.
  if (!topic.startsWith('job.')) {
    const reason = topic === '' ? 'topic is required' : `topic "${topic}" is not a job topic (must start with "job.")`;
    if (trace !== null) {
      internal.entries.forEach((e, i) => trace.rules.push(traceEntry(e, i, 'not_reached', ['not evaluated: builtin:topic denied first'])));
    }
    return result(policy, input, 'DENY', reason, 'builtin:topic', '', null, NO_REMEDIATIONS);
  }

  const view = makeView(input, tenant);
  const hit = trace === null ? firstMatch(internal, view, input, tenant) : traceRules(internal, view, input, tenant, trace);

  let out: PolicyDecision;
  if (hit === null) {
    const d = policy.options.defaultDecision;
    out = result(policy, input, d, `no rule matched; the default decision is ${d}`, 'default', '', null, NO_REMEDIATIONS);
  } else {
    const rule = hit.rule;
    out = result(
      policy,
      input,
      rule.decision,
      rule.reason.trim() === '' ? `matched rule "${rule.id}"` : rule.reason,
      rule.id,
      rule.source.bundleId,
      rule.constraints,
      rule.remediations,
    );
  }

  // Tenant MCP lists override anything but a DENY (upstream applies them after the rules, legacy or not).
  if (out.decision !== 'DENY' && view.mcpUsed) {
    const t = internal.tenantMcp.get(view.tenant);
    const problem = t === undefined ? null : mcpProblem(t.mcp, view);
    if (t !== undefined && problem !== null) {
      trace?.notes.push(`tenant ${t.name} MCP lists: ${problem} → DENY (was ${out.decision} by ${out.ruleId})`);
      out = result(policy, input, 'DENY', `${problem} by tenant ${t.name} policy`, `tenant:${t.name}:mcp`, '', null, NO_REMEDIATIONS);
    }
  }

  if (out.decision === 'ALLOW' && out.constraints !== null) {
    trace?.notes.push('ALLOW with constraints → ALLOW_WITH_CONSTRAINTS');
    out.decision = 'ALLOW_WITH_CONSTRAINTS';
  }

  if (out.decision !== 'DENY' && input.effectiveConfig !== null && input.effectiveConfig !== undefined) {
    const denied = configDenial(internal, input, view);
    if (denied !== null) {
      trace?.notes.push(`effective config ${denied.ruleId}: ${denied.reason} → DENY (was ${out.decision} by ${out.ruleId})`);
      out = result(policy, input, 'DENY', denied.reason, denied.ruleId, '', null, NO_REMEDIATIONS);
    }
  }
  return out;
}

// Bounds of the evaluation index: distinct selector keys and stored rule positions. When either is
// exceeded the index starts over, so a caller inventing topics costs time, never unbounded memory.
const CANDIDATE_KEYS_MAX = 4096;
const CANDIDATE_SLOTS_MAX = 1 << 20;

function candidatesFor(internal: PolicyInternal, view: InputView): Uint32Array {
  const key = `${view.tenant}\u0000${view.topic}\u0000${view.capability}\u0000${view.packId}`;
  let list = internal.candidates.get(key);
  if (list === undefined) {
    const found: number[] = [];
    const entries = internal.entries;
    for (let i = 0; i < entries.length; i++) if (matchesSelectors(entries[i]!.matcher, view)) found.push(i);
    list = Uint32Array.from(found);
    if (internal.candidates.size >= CANDIDATE_KEYS_MAX || internal.candidateSlots + list.length > CANDIDATE_SLOTS_MAX) {
      internal.candidates.clear();
      internal.candidateSlots = 0;
    }
    internal.candidates.set(key, list);
    internal.candidateSlots += list.length;
  }
  return list;
}

/** The effective config's `safety` block: `{safety}` or an EffectiveConfig envelope `{data: {safety}}`. */
function safetyBlock(config: unknown): Record<string, unknown> | null {
  if (!isPlainObject(config)) return null;
  let s = config['safety'];
  if (s === undefined && isPlainObject(config['data'])) s = config['data']['safety'];
  return isPlainObject(s) ? s : null;
}

function stringList(value: unknown): string[] {
  if (typeof value === 'string') return value.trim() === '' ? [] : [value];
  if (!Array.isArray(value)) return [];
  return value.filter((v): v is string => typeof v === 'string' && v.trim() !== '');
}

const GLOB_CACHE_MAX = 1024;

function cachedGlob(internal: PolicyInternal, pattern: string): TopicMatcher | null {
  let m = internal.globCache.get(pattern);
  if (m === undefined) {
    // A malformed config glob matches nothing: denied_topics then cannot deny with it, and allowed_topics
    // cannot allow with it (so a list of only bad globs denies everything).
    m = globProblem(pattern) === null ? compileTopicMatcher([pattern]) : null;
    if (internal.globCache.size >= GLOB_CACHE_MAX) internal.globCache.clear();
    internal.globCache.set(pattern, m);
  }
  return m;
}

function configDenial(internal: PolicyInternal, input: PolicyInput, view: InputView): { ruleId: string; reason: string } | null {
  const safety = safetyBlock(input.effectiveConfig);
  if (safety === null) return null;
  for (const pattern of stringList(safety['denied_topics'])) {
    if (cachedGlob(internal, pattern)?.test(view.topic) === true) {
      return { ruleId: 'config:denied_topics', reason: `topic "${input.topic}" is denied by effective config (denied_topics: ${pattern})` };
    }
  }
  const allowed = stringList(safety['allowed_topics']);
  if (allowed.length > 0 && !allowed.some((p) => cachedGlob(internal, p)?.test(view.topic) === true)) {
    return { ruleId: 'config:allowed_topics', reason: `topic "${input.topic}" is not in effective config allowed_topics` };
  }
  if (view.mcpUsed && isPlainObject(safety['mcp'])) {
    const m = safety['mcp'];
    const lists: McpLists = {
      allowServers: stringList(m['allow_servers']),
      denyServers: stringList(m['deny_servers']),
      allowTools: stringList(m['allow_tools']),
      denyTools: stringList(m['deny_tools']),
      allowResources: stringList(m['allow_resources']),
      denyResources: stringList(m['deny_resources']),
      allowActions: stringList(m['allow_actions']),
      denyActions: stringList(m['deny_actions']),
    };
    const matcher = compileMcp(lists);
    const problem = matcher === null ? null : mcpProblem(matcher, view);
    if (problem !== null) return { ruleId: 'config:mcp', reason: `${problem} by effective config` };
  }
  return null;
}

/** The decision for one request: first matching rule, then the overrides (see docs/policy.md). Pure. */
export function evaluate(policy: Policy, input: PolicyInput): PolicyDecision {
  return run(policy, input, null);
}

/** The same decision with the trace of every rule considered and why each did or did not match. */
export function explain(policy: Policy, input: PolicyInput): PolicyExplanation {
  const trace: Trace = { rules: [], notes: [] };
  const decision = run(policy, input, trace);
  return { decision, trace: trace.rules, tenant: input.tenant.trim() || policy.options.defaultTenant, notes: trace.notes };
}

/** Explains a request against draft bundles (compiled here, nothing stored). Throws PolicyError for a bad draft. */
export function simulate(draft: readonly Bundle[], input: PolicyInput, options?: PolicyOptions): PolicyExplanation {
  return explain(compilePolicy(draft, options), input);
}
