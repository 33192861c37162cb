// The shapes a bundle parses into. These are the declarative facts of a bundle (what explain and the API
// show); compiled matchers live beside them, out of sight.
import type { JsonValue } from '@cordum/core';
import type { Decision, OutputDecision } from './decision.js';

/** Budgets, sandbox, toolchain, diff limits and redaction a rule imposes. Zero or empty values are omitted. */
export type Constraints = {
  budgets?: { maxRuntimeMs?: number; maxRetries?: number; maxArtifactBytes?: number; maxConcurrentJobs?: number };
  sandbox?: { isolated?: boolean; networkAllowlist?: string[]; fsReadOnly?: string[]; fsReadWrite?: string[] };
  toolchain?: { allowedTools?: string[]; allowedCommands?: string[] };
  diff?: { maxFiles?: number; maxLines?: number; denyPathGlobs?: string[] };
  redactionLevel?: string;
};

/** A safer alternative a caller can offer when a rule denies. */
export type Remediation = {
  id: string;
  title: string;
  summary: string;
  replacementTopic: string;
  replacementCapability: string;
  addLabels: Record<string, string>;
  removeLabels: string[];
};

/** MCP allow/deny lists (servers, tools, resources, actions). Empty lists do not restrict. */
export type McpLists = {
  allowServers: string[];
  denyServers: string[];
  allowTools: string[];
  denyTools: string[];
  allowResources: string[];
  denyResources: string[];
  allowActions: string[];
  denyActions: string[];
};

/** A rule's `match`. Absent (or empty-list) fields do not restrict; present ones must all hold. */
export type MatchSpec = {
  tenants?: string[];
  topics?: string[];
  capabilities?: string[];
  riskTags?: string[];
  requires?: string[];
  packIds?: string[];
  actorIds?: string[];
  actorTypes?: string[];
  labels?: Record<string, string>;
  secretsPresent?: boolean;
  mcp?: McpLists;
};

export type RuleSpec = {
  id: string;
  match: MatchSpec;
  /** CEL source of the `when` expression, or null. */
  when: string | null;
  decision: Decision;
  reason: string;
  constraints: Constraints | null;
  remediations: Remediation[];
  /** 1-based line of the rule in its bundle, when the bundle was YAML/JSON text. */
  line: number | null;
};

export type Severity = 'low' | 'medium' | 'high' | 'critical';

export type OutputRuleSpec = {
  id: string;
  enabled: boolean;
  description: string;
  match: MatchSpec;
  /** Scanner names the rule applies to; null means any scanner. */
  scanners: string[] | null;
  minSeverity: Severity | null;
  decision: OutputDecision;
  reason: string;
  line: number | null;
};

/** Legacy per-tenant lists (`tenants.<name>`). */
export type TenantSpec = {
  allowTopics: string[];
  denyTopics: string[];
  allowedRepoHosts: string[];
  deniedRepoHosts: string[];
  /** 0 = not set. Upstream merges but never enforces it; exposed for the scheduler. */
  maxConcurrentJobs: number;
  mcp: McpLists;
};

/** A parsed, validated policy bundle. Produce with parseBundle; pass to compilePolicy. */
export type Bundle = {
  readonly id: string;
  readonly version: string;
  readonly defaultTenant: string;
  readonly defaultDecision: Decision | null;
  readonly rules: readonly RuleSpec[];
  readonly outputRules: readonly OutputRuleSpec[];
  readonly tenants: Readonly<Record<string, TenantSpec>>;
  /** The parsed document as JSON (what the snapshot hash covers: key order, comments and layout do not count). */
  readonly document: JsonValue;
  /** SHA-256 of the document's canonical JSON. */
  readonly hash: string;
};

export type BundleSource = { id: string; content: string };
