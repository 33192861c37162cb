import { canonicalJson, deepFreeze, sha256Hex } from '@cordum/core';
import { compiledSpec, isParsedBundle } from './bundle.js';
import type { WhenProgram } from './cel.js';
import type { Decision, OutputDecision } from './decision.js';
import { PolicyError } from './errors.js';
import type { TopicMatcher } from './glob.js';
import { compileMatch, compileMcp, type Matcher, type McpMatcher } from './match.js';
import type { Bundle, Constraints, MatchSpec, McpLists, Remediation, Severity } from './model.js';

export type PolicyOptions = {
  /** Decision when no rule matches. Default: the first bundle's `default_decision`, else ALLOW (upstream). */
  defaultDecision?: Decision;
  /** Tenant assumed when a request names none. Default: the first bundle's `default_tenant`, else 'default'. */
  defaultTenant?: string;
};

export type ResolvedPolicyOptions = { readonly defaultDecision: Decision; readonly defaultTenant: string };

/** hash = SHA-256 over the canonical content of every bundle (with its id, in order) and the options. */
export type PolicySnapshot = { readonly id: string; readonly version: string; readonly hash: string };

/** Where a rule came from: its bundle and its index in that bundle's `rules` (or tenant list, for legacy rules). */
export type RuleSource = { readonly bundleId: string; readonly index: number };

export type RuleOrigin = 'rule' | 'legacy_deny' | 'legacy_allow';

export type CompiledRule = {
  readonly id: string;
  readonly source: RuleSource;
  readonly origin: RuleOrigin;
  readonly decision: Decision;
  readonly reason: string;
  readonly match: MatchSpec;
  readonly when: string | null;
  readonly constraints: Constraints | null;
  readonly remediations: readonly Remediation[];
};

export type CompiledOutputRule = {
  readonly id: string;
  readonly source: RuleSource;
  readonly enabled: boolean;
  readonly match: MatchSpec;
  readonly scanners: readonly string[] | null;
  readonly minSeverity: Severity | null;
  readonly decision: OutputDecision;
  readonly reason: string;
};

/** A tenant's legacy lists merged over all bundles (lists concatenated, the smallest max_concurrent_jobs). */
export type TenantPolicy = {
  readonly name: string;
  readonly allowTopics: readonly string[];
  readonly denyTopics: readonly string[];
  readonly maxConcurrentJobs: number;
  readonly mcp: McpLists;
};

export type Policy = {
  readonly snapshot: PolicySnapshot;
  /** Every rule in evaluation order: legacy deny lists, bundle rules, legacy allow lists. */
  readonly rules: readonly CompiledRule[];
  readonly outputRules: readonly CompiledOutputRule[];
  readonly options: ResolvedPolicyOptions;
  readonly bundles: readonly { readonly id: string; readonly version: string; readonly hash: string }[];
  readonly tenants: Readonly<Record<string, TenantPolicy>>;
};

export type RuleEntry = { rule: CompiledRule; matcher: Matcher; when: WhenProgram | null };

export type OutputEntry = { rule: CompiledOutputRule; matcher: Matcher; scanners: Set<string> | null; minRank: number };

export type PolicyInternal = {
  entries: readonly RuleEntry[];
  outputs: readonly OutputEntry[];
  /** Tenant MCP lists by lower-cased tenant, only for tenants that set any. */
  tenantMcp: ReadonlyMap<string, { name: string; mcp: McpMatcher }>;
  /** Compiled effective-config globs; effective configs repeat, so they are compiled once (bounded). */
  globCache: Map<string, TopicMatcher | null>;
  /**
   * Evaluation index: for a (tenant, topic, capability, pack id) key, the positions of the rules whose
   * selectors hold, in order. Most rules name topics, so a request only walks the few that can match.
   * Filled on first use of a key and bounded (see candidatesFor); a pure memo, invisible in results.
   */
  candidates: Map<string, Uint32Array>;
  candidateSlots: number;
};

const internals = new WeakMap<Policy, PolicyInternal>();

export function policyInternal(policy: Policy): PolicyInternal {
  const internal = internals.get(policy);
  if (internal === undefined) {
    throw new PolicyError('not a compiled policy (use compilePolicy; a copied Policy object cannot evaluate)', {
      bundle: '(policy)',
    });
  }
  return internal;
}

const SEVERITY_RANK: Readonly<Record<Severity, number>> = { low: 1, medium: 2, high: 3, critical: 4 };

export function severityRank(raw: string): number {
  const s = raw.trim().toLowerCase();
  if (s === 'info' || s === 'informational' || s === 'none') return 0;
  if (s === 'moderate') return 2;
  // An unknown severity counts as critical: a scanner we do not understand must not slip under a threshold.
  return Object.hasOwn(SEVERITY_RANK, s) ? SEVERITY_RANK[s as Severity] : 4;
}

/** Base bundle first, then the fragments sorted by id (their config-store key), as upstream merges them. */
export function orderBundles(base: Bundle | null | undefined, fragments: readonly Bundle[]): Bundle[] {
  const sorted = [...fragments].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return base === null || base === undefined ? sorted : [base, ...sorted];
}

type TenantAcc = {
  name: string;
  deny: { pattern: string; bundleId: string; index: number }[];
  allow: { pattern: string; bundleId: string; index: number }[];
  maxConcurrentJobs: number;
  mcp: McpLists;
};

function mergeMcp(a: McpLists, b: McpLists): McpLists {
  return {
    allowServers: [...a.allowServers, ...b.allowServers],
    denyServers: [...a.denyServers, ...b.denyServers],
    allowTools: [...a.allowTools, ...b.allowTools],
    denyTools: [...a.denyTools, ...b.denyTools],
    allowResources: [...a.allowResources, ...b.allowResources],
    denyResources: [...a.denyResources, ...b.denyResources],
    allowActions: [...a.allowActions, ...b.allowActions],
    denyActions: [...a.denyActions, ...b.denyActions],
  };
}

function legacyEntry(
  origin: 'legacy_deny' | 'legacy_allow',
  tenant: string,
  n: number,
  item: { pattern: string; bundleId: string; index: number },
): RuleEntry {
  const match: MatchSpec = { tenants: [tenant], topics: [item.pattern] };
  const deny = origin === 'legacy_deny';
  const rule: CompiledRule = deepFreeze({
    id: `legacy:${tenant}:${deny ? 'deny' : 'allow'}:${n}`,
    source: Object.freeze({ bundleId: item.bundleId, index: item.index }),
    origin,
    decision: deny ? 'DENY' : 'ALLOW',
    reason: deny
      ? `topic "${item.pattern}" denied by tenant policy`
      : `topic "${item.pattern}" allowed by tenant policy`,
    match,
    when: null,
    constraints: null,
    remediations: [],
  });
  return { rule, matcher: compileMatch(match), when: null };
}

/**
 * Merges bundles, in the order given, into one evaluable policy. Rule ids must be unique across all bundles.
 * Legacy `tenants.<t>.deny_topics` become rules before every bundle rule and `allow_topics` rules after them
 * (upstream only generates them when no bundle has rules; see docs/policy.md).
 */
export function compilePolicy(bundles: readonly Bundle[], options: PolicyOptions = {}): Policy {
  const seenBundles = new Set<string>();
  for (const b of bundles) {
    if (!isParsedBundle(b)) {
      throw new PolicyError('not produced by parseBundle (bundles must be parsed and validated first)', {
        bundle: b.id,
      });
    }
    if (seenBundles.has(b.id)) throw new PolicyError('the same bundle id is given twice', { bundle: b.id });
    seenBundles.add(b.id);
  }

  const resolved: ResolvedPolicyOptions = Object.freeze({
    defaultDecision: options.defaultDecision ?? bundles.find((b) => b.defaultDecision !== null)?.defaultDecision ?? 'ALLOW',
    defaultTenant:
      options.defaultTenant?.trim() || bundles.find((b) => b.defaultTenant !== '')?.defaultTenant || 'default',
  });

  // Rules, with ids unique across the merged policy (upstream silently lets the later one replace the first).
  const ruleOwner = new Map<string, { bundle: string; id: string }>();
  const bundleEntries: RuleEntry[] = [];
  const outputs: OutputEntry[] = [];
  const outputOwner = new Map<string, { bundle: string; id: string }>();
  const tenants = new Map<string, TenantAcc>();

  for (const b of bundles) {
    b.rules.forEach((spec, index) => {
      const key = spec.id.toLowerCase();
      const owner = ruleOwner.get(key);
      if (owner !== undefined) {
        throw new PolicyError(`duplicate rule id: bundle "${owner.bundle}" already has rule "${owner.id}"`, {
          bundle: b.id,
          rule_id: spec.id,
          field: 'id',
          ...(spec.line === null ? {} : { line: spec.line }),
        });
      }
      ruleOwner.set(key, { bundle: b.id, id: spec.id });
      const parts = compiledSpec(spec);
      if (parts === undefined) throw new PolicyError('rule was not produced by parseBundle', { bundle: b.id, rule_id: spec.id });
      const rule: CompiledRule = Object.freeze({
        id: spec.id,
        source: Object.freeze({ bundleId: b.id, index }),
        origin: 'rule',
        decision: spec.decision,
        reason: spec.reason,
        match: spec.match,
        when: spec.when,
        constraints: spec.constraints,
        remediations: spec.remediations,
      });
      bundleEntries.push({ rule, matcher: parts.matcher, when: parts.when });
    });

    b.outputRules.forEach((spec, index) => {
      const key = spec.id.toLowerCase();
      const owner = outputOwner.get(key);
      if (owner !== undefined) {
        throw new PolicyError(`duplicate output rule id: bundle "${owner.bundle}" already has "${owner.id}"`, {
          bundle: b.id,
          rule_id: spec.id,
          field: 'id',
          ...(spec.line === null ? {} : { line: spec.line }),
        });
      }
      outputOwner.set(key, { bundle: b.id, id: spec.id });
      const parts = compiledSpec(spec);
      if (parts === undefined) throw new PolicyError('output rule was not produced by parseBundle', { bundle: b.id, rule_id: spec.id });
      const rule: CompiledOutputRule = Object.freeze({
        id: spec.id,
        source: Object.freeze({ bundleId: b.id, index }),
        enabled: spec.enabled,
        match: spec.match,
        scanners: spec.scanners,
        minSeverity: spec.minSeverity,
        decision: spec.decision,
        reason: spec.reason,
      });
      outputs.push({
        rule,
        matcher: parts.matcher,
        scanners: spec.scanners === null ? null : new Set(spec.scanners.map((s) => s.toLowerCase())),
        minRank: spec.minSeverity === null ? 0 : SEVERITY_RANK[spec.minSeverity],
      });
    });

    for (const [name, t] of Object.entries(b.tenants)) {
      const key = name.toLowerCase();
      let acc = tenants.get(key);
      if (acc === undefined) {
        acc = { name, deny: [], allow: [], maxConcurrentJobs: 0, mcp: t.mcp };
        tenants.set(key, acc);
      } else {
        acc.mcp = mergeMcp(acc.mcp, t.mcp);
      }
      t.denyTopics.forEach((pattern, index) => acc.deny.push({ pattern, bundleId: b.id, index }));
      t.allowTopics.forEach((pattern, index) => acc.allow.push({ pattern, bundleId: b.id, index }));
      if (t.maxConcurrentJobs > 0 && (acc.maxConcurrentJobs === 0 || t.maxConcurrentJobs < acc.maxConcurrentJobs)) {
        acc.maxConcurrentJobs = t.maxConcurrentJobs;
      }
    }
  }

  // Tenants in name order, so that the rule list (and explain traces) do not depend on YAML key order.
  const tenantList = [...tenants.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const legacyDeny = tenantList.flatMap((t) => t.deny.map((item, i) => legacyEntry('legacy_deny', t.name, i + 1, item)));
  // Allow lists apply only while no bundle has rules, as upstream: a policy with rules (often ending in a
  // deny default) must never be opened up by a tenant's old allow list. Deny lists always apply.
  const legacyAllow =
    bundleEntries.length > 0
      ? []
      : tenantList.flatMap((t) => t.allow.map((item, i) => legacyEntry('legacy_allow', t.name, i + 1, item)));
  const entries = [...legacyDeny, ...bundleEntries, ...legacyAllow];

  const tenantMcp = new Map<string, { name: string; mcp: McpMatcher }>();
  for (const [key, t] of tenants) {
    const mcp = compileMcp(t.mcp);
    if (mcp !== null) tenantMcp.set(key, { name: t.name, mcp });
  }

  const hash = sha256Hex(
    canonicalJson({
      bundles: bundles.map((b) => ({ id: b.id, document: b.document })),
      options: { default_decision: resolved.defaultDecision, default_tenant: resolved.defaultTenant },
    }),
  );
  const version = bundles.find((b) => b.version !== '')?.version ?? '';
  const snapshot: PolicySnapshot = Object.freeze({
    id: version === '' ? hash.slice(0, 12) : `${version}:${hash.slice(0, 12)}`,
    version,
    hash,
  });

  const policy: Policy = Object.freeze({
    snapshot,
    rules: Object.freeze(entries.map((e) => e.rule)),
    outputRules: Object.freeze(outputs.map((o) => o.rule)),
    options: resolved,
    bundles: Object.freeze(bundles.map((b) => Object.freeze({ id: b.id, version: b.version, hash: b.hash }))),
    tenants: deepFreeze(
      Object.fromEntries(
        tenantList.map((t) => [
          t.name,
          {
            name: t.name,
            allowTopics: t.allow.map((a) => a.pattern),
            denyTopics: t.deny.map((d) => d.pattern),
            maxConcurrentJobs: t.maxConcurrentJobs,
            mcp: t.mcp,
          },
        ]),
      ),
    ),
  });
  internals.set(policy, { entries, outputs, tenantMcp, globCache: new Map(), candidates: new Map(), candidateSlots: 0 });
  return policy;
}
