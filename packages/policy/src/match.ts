import { compileTopicMatcher, type TopicMatcher } from './glob.js';
import type { PolicyInput } from './input.js';
import type { MatchSpec, McpLists } from './model.js';

// Matching is done on a per-evaluation view of the input whose strings are trimmed and lower-cased once,
// against matchers whose lists were lower-cased into Sets at load time, so that rejecting a rule costs a few
// Set lookups and (at most) one RegExp test — no allocation per rule.

export type InputView = {
  tenant: string;
  topic: string;
  capability: string;
  packId: string;
  actorId: string;
  actorType: string;
  riskTags: string[];
  requires: string[];
  labels: Record<string, string>;
  /** Label values trimmed and lower-cased, built on first use (most rules never look at labels). */
  lowerLabels: Map<string, string> | null;
  secretsPresent: boolean;
  mcp: { server: string; tool: string; resource: string; action: string };
  mcpUsed: boolean;
};

const norm = (s: string): string => s.trim().toLowerCase();

export function makeView(input: PolicyInput, tenant: string): InputView {
  const mcp = {
    server: norm(input.mcp.server),
    tool: norm(input.mcp.tool),
    resource: norm(input.mcp.resource),
    action: norm(input.mcp.action),
  };
  return {
    tenant: norm(tenant),
    topic: norm(input.topic),
    capability: norm(input.capability),
    packId: norm(input.packId),
    actorId: norm(input.actorId),
    actorType: norm(input.actorType),
    riskTags: input.riskTags.map(norm),
    requires: input.requires.map(norm),
    labels: input.labels,
    lowerLabels: null,
    secretsPresent: input.secretsPresent,
    mcp,
    mcpUsed: mcp.server !== '' || mcp.tool !== '' || mcp.resource !== '' || mcp.action !== '',
  };
}

/**
 * A set of lower-cased strings. Lists of up to SMALL entries stay arrays: scanning a handful of strings with
 * === is several times faster in V8 than a hash lookup, and nearly every list in a rule is that short.
 */
export type StringSet = readonly string[] | ReadonlySet<string>;

const SMALL = 8;

function stringSet(values: readonly string[]): StringSet {
  const unique = [...new Set(values.map(norm))];
  return unique.length <= SMALL ? unique : new Set(unique);
}

export function setHas(set: StringSet, value: string): boolean {
  if (Array.isArray(set)) {
    for (let i = 0; i < set.length; i++) if (set[i] === value) return true;
    return false;
  }
  return (set as ReadonlySet<string>).has(value);
}

function setSize(set: StringSet): number {
  return Array.isArray(set) ? set.length : (set as ReadonlySet<string>).size;
}

type McpField = { name: 'server' | 'tool' | 'resource' | 'action'; allow: StringSet; deny: StringSet };

export type McpMatcher = readonly McpField[];

export type Matcher = {
  tenants: StringSet | null;
  topics: TopicMatcher | null;
  capabilities: StringSet | null;
  packIds: StringSet | null;
  actorIds: StringSet | null;
  actorTypes: StringSet | null;
  riskTags: StringSet | null;
  requires: string[] | null;
  /** Label keys and their lower-cased wanted values, side by side. */
  labels: { keys: string[]; values: string[] } | null;
  secretsPresent: boolean | null;
  mcp: McpMatcher | null;
};

function set(list: readonly string[] | undefined): StringSet | null {
  return list === undefined || list.length === 0 ? null : stringSet(list);
}

export function compileMcp(lists: McpLists | undefined): McpMatcher | null {
  if (lists === undefined) return null;
  const all: McpField[] = [
    { name: 'server', allow: stringSet(lists.allowServers), deny: stringSet(lists.denyServers) },
    { name: 'tool', allow: stringSet(lists.allowTools), deny: stringSet(lists.denyTools) },
    { name: 'resource', allow: stringSet(lists.allowResources), deny: stringSet(lists.denyResources) },
    { name: 'action', allow: stringSet(lists.allowActions), deny: stringSet(lists.denyActions) },
  ];
  const fields = all.filter((f) => setSize(f.allow) > 0 || setSize(f.deny) > 0);
  return fields.length === 0 ? null : fields;
}

/** Compiles a validated MatchSpec (globs already checked by the parser). */
export function compileMatch(spec: MatchSpec): Matcher {
  const entries = spec.labels === undefined ? [] : Object.entries(spec.labels);
  const labels = { keys: entries.map(([k]) => k), values: entries.map(([, v]) => norm(v)) };
  return {
    tenants: set(spec.tenants),
    topics: spec.topics === undefined || spec.topics.length === 0 ? null : compileTopicMatcher(spec.topics),
    capabilities: set(spec.capabilities),
    packIds: set(spec.packIds),
    actorIds: set(spec.actorIds),
    actorTypes: set(spec.actorTypes),
    riskTags: set(spec.riskTags),
    requires: spec.requires === undefined || spec.requires.length === 0 ? null : spec.requires.map(norm),
    labels: labels.keys.length === 0 ? null : labels,
    secretsPresent: spec.secretsPresent ?? null,
    mcp: compileMcp(spec.mcp),
  };
}

// An empty job value never matches a list (upstream containsString), and Sets never hold '' (the parser
// rejects empty entries), so `has('')` is false without a separate check.

function anyIn(wanted: StringSet, have: readonly string[]): boolean {
  for (let i = 0; i < have.length; i++) if (setHas(wanted, have[i]!)) return true;
  return false;
}

function allIn(required: readonly string[], have: readonly string[]): boolean {
  for (const r of required) if (!have.includes(r)) return false;
  return true;
}

function lowerLabels(v: InputView): Map<string, string> {
  if (v.lowerLabels === null) {
    v.lowerLabels = new Map();
    for (const [k, value] of Object.entries(v.labels)) v.lowerLabels.set(k, norm(value));
  }
  return v.lowerLabels;
}

// A label the job does not carry reads as empty, as in upstream (a Go map lookup): `labels: {hook.tool_name: ""}`
// holds for a job without that label. Upstream pack fragments rely on it.
function labelsMatch(want: { keys: string[]; values: string[] }, v: InputView): boolean {
  const labels = lowerLabels(v);
  for (let i = 0; i < want.keys.length; i++) {
    if ((labels.get(want.keys[i]!) ?? '') !== want.values[i]) return false;
  }
  return true;
}

/** The MCP verdict for a job that uses MCP: null when allowed, else why not (upstream MCPAllowed). */
export function mcpProblem(m: McpMatcher, view: InputView): string | null {
  if (!view.mcpUsed) return null;
  for (const f of m) {
    const value = view.mcp[f.name];
    if (value !== '' && setHas(f.deny, value)) return `mcp ${f.name} "${value}" denied`;
    if (setSize(f.allow) > 0 && !setHas(f.allow, value)) return `mcp ${f.name} "${value}" not allowed`;
  }
  return null;
}

/** True when every present field holds. The hot path: no strings built. */
export function matches(m: Matcher, v: InputView): boolean {
  return matchesSelectors(m, v) && matchesRest(m, v);
}

/**
 * The selector fields — tenants, topics, capabilities, pack_ids — which the evaluation index pre-filters on:
 * they are few per deployment and nearly fixed per topic, unlike actors, tags and labels.
 */
export function matchesSelectors(m: Matcher, v: InputView): boolean {
  if (m.tenants !== null && !setHas(m.tenants, v.tenant)) return false;
  if (m.topics !== null && !m.topics.test(v.topic)) return false;
  if (m.capabilities !== null && !setHas(m.capabilities, v.capability)) return false;
  if (m.packIds !== null && !setHas(m.packIds, v.packId)) return false;
  return true;
}

/** Every field except the selectors (for rules the index already selected). */
export function matchesRest(m: Matcher, v: InputView): boolean {
  if (m.actorIds !== null && !setHas(m.actorIds, v.actorId)) return false;
  if (m.actorTypes !== null && !setHas(m.actorTypes, v.actorType)) return false;
  if (m.riskTags !== null && !anyIn(m.riskTags, v.riskTags)) return false;
  if (m.requires !== null && !allIn(m.requires, v.requires)) return false;
  if (m.labels !== null && !labelsMatch(m.labels, v)) return false;
  if (m.secretsPresent !== null && m.secretsPresent !== v.secretsPresent) return false;
  if (m.mcp !== null && mcpProblem(m.mcp, v) !== null) return false;
  return true;
}

const show = (s: string): string => (s === '' ? '(empty)' : s);
const list = (l: readonly string[]): string => `[${l.join(', ')}]`;

/** Every field that does not hold, as "field: why" (used by explain; the job's own spelling is shown). */
export function mismatches(m: Matcher, spec: MatchSpec, v: InputView, input: PolicyInput, tenant: string): string[] {
  const out: string[] = [];
  if (m.tenants !== null && !setHas(m.tenants, v.tenant)) {
    out.push(`tenants: ${show(tenant)} is not in ${list(spec.tenants ?? [])}`);
  }
  if (m.topics !== null && !m.topics.test(v.topic)) {
    const pats = spec.topics ?? [];
    out.push(`topics: ${show(input.topic)} does not match ${pats.length === 1 ? pats[0]! : `any of ${list(pats)}`}`);
  }
  if (m.capabilities !== null && !setHas(m.capabilities, v.capability)) {
    out.push(`capabilities: ${show(input.capability)} is not in ${list(spec.capabilities ?? [])}`);
  }
  if (m.packIds !== null && !setHas(m.packIds, v.packId)) {
    out.push(`pack_ids: ${show(input.packId)} is not in ${list(spec.packIds ?? [])}`);
  }
  if (m.actorIds !== null && !setHas(m.actorIds, v.actorId)) {
    out.push(`actor_ids: ${show(input.actorId)} is not in ${list(spec.actorIds ?? [])}`);
  }
  if (m.actorTypes !== null && !setHas(m.actorTypes, v.actorType)) {
    out.push(`actor_types: ${show(input.actorType)} is not in ${list(spec.actorTypes ?? [])}`);
  }
  if (m.riskTags !== null && !anyIn(m.riskTags, v.riskTags)) {
    out.push(`risk_tags: job has ${list(input.riskTags)}, none of ${list(spec.riskTags ?? [])}`);
  }
  if (m.requires !== null && !allIn(m.requires, v.requires)) {
    const missing = (spec.requires ?? []).filter((r) => !v.requires.includes(norm(r)));
    out.push(`requires: job lacks ${list(missing)}`);
  }
  if (m.labels !== null && !labelsMatch(m.labels, v)) {
    const wrong = Object.entries(spec.labels ?? {})
      .filter(([k, want]) => norm(Object.hasOwn(v.labels, k) ? v.labels[k]! : '') !== norm(want))
      .map(([k, want]) => `${k}=${Object.hasOwn(v.labels, k) ? show(v.labels[k]!) : '(unset)'}, want ${show(want)}`);
    out.push(`labels: ${wrong.join('; ')}`);
  }
  if (m.secretsPresent !== null && m.secretsPresent !== v.secretsPresent) {
    out.push(`secrets_present: job has ${String(v.secretsPresent)}, want ${String(m.secretsPresent)}`);
  }
  if (m.mcp !== null) {
    const problem = mcpProblem(m.mcp, v);
    if (problem !== null) out.push(`mcp: ${problem}`);
  }
  return out;
}
