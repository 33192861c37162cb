import { canonicalJson, deepFreeze, type JsonValue, isPlainObject, sha256Hex } from '@cordum/core';
import { type Document, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { compileWhen, type WhenProgram } from './cel.js';
import { parseDecision, parseOutputDecision } from './decision.js';
import { PolicyError, type PolicyErrorDetails } from './errors.js';
import { globProblem } from './glob.js';
import { compileMatch, type Matcher } from './match.js';
import type {
  Bundle,
  BundleSource,
  Constraints,
  MatchSpec,
  McpLists,
  OutputRuleSpec,
  Remediation,
  RuleSpec,
  Severity,
  TenantSpec,
} from './model.js';

// Upstream SafetyPolicy YAML (or JSON, which the YAML parser reads too). Top-level keys we do not use are
// allowed (upstream ignores them as well); rules, their match and everything below are strict, because a
// misspelt field that silently does nothing is how a deny rule stops denying.

/** What the parser compiled for a rule: kept beside the public spec, never part of it. */
export type CompiledSpec = { matcher: Matcher; when: WhenProgram | null };

const compiled = new WeakMap<RuleSpec | OutputRuleSpec, CompiledSpec>();

/** The compiled matcher and CEL program of a spec produced by parseBundle (undefined for foreign objects). */
export function compiledSpec(spec: RuleSpec | OutputRuleSpec): CompiledSpec | undefined {
  return compiled.get(spec);
}

function registerCompiled(spec: RuleSpec | OutputRuleSpec, parts: CompiledSpec): void {
  compiled.set(spec, parts);
}

const parsedBundles = new WeakSet<Bundle>();

export function isParsedBundle(bundle: Bundle): boolean {
  return parsedBundles.has(bundle);
}

const RULE_KEYS = ['id', 'match', 'when', 'decision', 'reason', 'constraints', 'remediations'] as const;
const MATCH_KEYS = [
  'tenants',
  'topics',
  'capabilities',
  'risk_tags',
  'requires',
  'pack_ids',
  'actor_ids',
  'actor_types',
  'labels',
  'secrets_present',
  'mcp',
] as const;
const MCP_KEYS = [
  'allow_servers',
  'deny_servers',
  'allow_tools',
  'deny_tools',
  'allow_resources',
  'deny_resources',
  'allow_actions',
  'deny_actions',
] as const;
const CONSTRAINT_KEYS = ['budgets', 'sandbox', 'toolchain', 'diff', 'redaction_level'] as const;
const BUDGET_KEYS = ['max_runtime_ms', 'max_retries', 'max_artifact_bytes', 'max_concurrent_jobs'] as const;
const SANDBOX_KEYS = ['isolated', 'network_allowlist', 'fs_read_only', 'fs_read_write'] as const;
const TOOLCHAIN_KEYS = ['allowed_tools', 'allowed_commands'] as const;
const DIFF_KEYS = ['max_files', 'max_lines', 'deny_path_globs'] as const;
const REMEDIATION_KEYS = [
  'id',
  'title',
  'summary',
  'replacement_topic',
  'replacement_capability',
  'add_labels',
  'remove_labels',
] as const;
const TENANT_KEYS = [
  'allow_topics',
  'deny_topics',
  'allowed_repo_hosts',
  'denied_repo_hosts',
  'max_concurrent_jobs',
  'mcp',
] as const;
const OUTPUT_RULE_KEYS = ['id', 'description', 'enabled', 'match', 'scanners', 'min_severity', 'decision', 'reason'] as const;
const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];

/** Rule ids the engine itself reports; a bundle may not use them. */
const RESERVED_ID = /^(?:default|builtin:.*|legacy:.*|config:.*|tenant:.*)$/i;

const INT32_MAX = 2 ** 31 - 1;

type Path = (string | number)[];

/** Validation context: knows the bundle, the rule being read and how to find a line for a path. */
class Reader {
  ruleId: string | undefined;
  rulePath: Path = [];

  constructor(
    readonly bundle: string,
    private readonly doc: Document | null,
    private readonly lines: LineCounter | null,
  ) {}

  fail(problem: string, path: Path): never {
    const where: PolicyErrorDetails = { bundle: this.bundle };
    if (this.ruleId !== undefined) where.rule_id = this.ruleId;
    const field = fieldName(path.slice(this.ruleId === undefined ? 0 : this.rulePath.length));
    if (field !== '') where.field = field;
    const line = this.lineOf(path);
    if (line !== undefined) where.line = line;
    throw new PolicyError(problem, where);
  }

  /** 1-based line of the deepest node on the path that exists (the key's line for a map entry). */
  lineOf(path: Path): number | undefined {
    if (this.doc === null || this.lines === null) return undefined;
    let node: unknown = this.doc.contents;
    let at: unknown = node;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (pair === undefined) break;
        at = pair.key;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
        at = node;
      } else {
        break;
      }
    }
    if (!isNode(at) || at.range == null) return undefined;
    return this.lines.linePos(at.range[0]).line;
  }
}

function fieldName(path: Path): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

// ---- primitive readers ----------------------------------------------------------------------------------

function getObject(r: Reader, value: unknown, path: Path): Record<string, unknown> | null {
  if (value === undefined || value === null) return null;
  if (!isPlainObject(value)) r.fail(`must be a map, not ${kind(value)}`, path);
  return value;
}

function checkKeys(r: Reader, obj: Record<string, unknown>, allowed: readonly string[], path: Path): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      r.fail(`unknown field "${key}" (allowed: ${allowed.join(', ')})`, [...path, key]);
    }
  }
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (isPlainObject(value)) return 'a map';
  return `a ${typeof value}`;
}

// Go's yaml decoder turns scalar numbers and booleans into strings for string fields; so do we.
function getString(r: Reader, value: unknown, path: Path): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return r.fail(`must be a string, not ${kind(value)}`, path);
}

function getStringList(r: Reader, value: unknown, path: Path, opts: { nonEmpty?: boolean } = {}): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) return r.fail(`must be a list of strings, not ${kind(value)}`, path);
  return value.map((item: unknown, i) => {
    if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') {
      r.fail(`must be a string, not ${kind(item)}`, [...path, i]);
    }
    const s = String(item).trim();
    if (opts.nonEmpty === true && s === '') r.fail('must not be empty (an empty entry never matches)', [...path, i]);
    return s;
  });
}

function getStringMap(r: Reader, value: unknown, path: Path): Record<string, string> | undefined {
  const obj = getObject(r, value, path);
  if (obj === null) return undefined;
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, getString(r, v, [...path, k])]));
}

function getBool(r: Reader, value: unknown, path: Path): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') return r.fail(`must be true or false, not ${kind(value)}`, path);
  return value;
}

function getInt(r: Reader, value: unknown, path: Path, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    return r.fail(`must be a whole number from 0 to ${max}`, path);
  }
  return value;
}

// ---- structures -----------------------------------------------------------------------------------------

function readMcp(r: Reader, value: unknown, path: Path): McpLists | undefined {
  const obj = getObject(r, value, path);
  if (obj === null) return undefined;
  checkKeys(r, obj, MCP_KEYS, path);
  const l = (key: (typeof MCP_KEYS)[number]): string[] =>
    getStringList(r, obj[key], [...path, key], { nonEmpty: true }) ?? [];
  return {
    allowServers: l('allow_servers'),
    denyServers: l('deny_servers'),
    allowTools: l('allow_tools'),
    denyTools: l('deny_tools'),
    allowResources: l('allow_resources'),
    denyResources: l('deny_resources'),
    allowActions: l('allow_actions'),
    denyActions: l('deny_actions'),
  };
}

function readTopics(r: Reader, value: unknown, path: Path): string[] | undefined {
  const topics = getStringList(r, value, path, { nonEmpty: true });
  topics?.forEach((t, i) => {
    const problem = globProblem(t);
    if (problem !== null) r.fail(`bad glob: ${problem}`, [...path, i]);
  });
  return topics;
}

function readMatch(r: Reader, value: unknown, path: Path, extraKeys: readonly string[] = []): MatchSpec {
  const obj = getObject(r, value, path);
  if (obj === null) return {};
  checkKeys(r, obj, [...MATCH_KEYS, ...extraKeys], path);
  const spec: MatchSpec = {};
  const list = (key: string): string[] | undefined => getStringList(r, obj[key], [...path, key], { nonEmpty: true });
  const tenants = list('tenants');
  if (tenants !== undefined) spec.tenants = tenants;
  const topics = readTopics(r, obj['topics'], [...path, 'topics']);
  if (topics !== undefined) spec.topics = topics;
  const capabilities = list('capabilities');
  if (capabilities !== undefined) spec.capabilities = capabilities;
  const riskTags = list('risk_tags');
  if (riskTags !== undefined) spec.riskTags = riskTags;
  const requires = list('requires');
  if (requires !== undefined) spec.requires = requires;
  const packIds = list('pack_ids');
  if (packIds !== undefined) spec.packIds = packIds;
  const actorIds = list('actor_ids');
  if (actorIds !== undefined) spec.actorIds = actorIds;
  const actorTypes = list('actor_types');
  if (actorTypes !== undefined) {
    actorTypes.forEach((t, i) => {
      if (!['human', 'service'].includes(t.toLowerCase())) {
        r.fail(`"${t}" is not an actor type (human or service)`, [...path, 'actor_types', i]);
      }
    });
    spec.actorTypes = actorTypes;
  }
  const labels = getStringMap(r, obj['labels'], [...path, 'labels']);
  if (labels !== undefined) spec.labels = labels;
  const secrets = getBool(r, obj['secrets_present'], [...path, 'secrets_present']);
  if (secrets !== undefined) spec.secretsPresent = secrets;
  const mcp = readMcp(r, obj['mcp'], [...path, 'mcp']);
  if (mcp !== undefined) spec.mcp = mcp;
  return spec;
}

function readConstraints(r: Reader, value: unknown, path: Path): Constraints | null {
  const obj = getObject(r, value, path);
  if (obj === null) return null;
  checkKeys(r, obj, CONSTRAINT_KEYS, path);
  const out: Constraints = {};

  const budgetsObj = getObject(r, obj['budgets'], [...path, 'budgets']);
  if (budgetsObj !== null) {
    const p = [...path, 'budgets'];
    checkKeys(r, budgetsObj, BUDGET_KEYS, p);
    const b: NonNullable<Constraints['budgets']> = {};
    const maxRuntimeMs = getInt(r, budgetsObj['max_runtime_ms'], [...p, 'max_runtime_ms'], Number.MAX_SAFE_INTEGER);
    if (maxRuntimeMs) b.maxRuntimeMs = maxRuntimeMs;
    const maxRetries = getInt(r, budgetsObj['max_retries'], [...p, 'max_retries'], INT32_MAX);
    if (maxRetries) b.maxRetries = maxRetries;
    const maxArtifactBytes = getInt(r, budgetsObj['max_artifact_bytes'], [...p, 'max_artifact_bytes'], Number.MAX_SAFE_INTEGER);
    if (maxArtifactBytes) b.maxArtifactBytes = maxArtifactBytes;
    const maxConcurrentJobs = getInt(r, budgetsObj['max_concurrent_jobs'], [...p, 'max_concurrent_jobs'], INT32_MAX);
    if (maxConcurrentJobs) b.maxConcurrentJobs = maxConcurrentJobs;
    if (Object.keys(b).length > 0) out.budgets = b;
  }

  const sandboxObj = getObject(r, obj['sandbox'], [...path, 'sandbox']);
  if (sandboxObj !== null) {
    const p = [...path, 'sandbox'];
    checkKeys(r, sandboxObj, SANDBOX_KEYS, p);
    const s: NonNullable<Constraints['sandbox']> = {};
    if (getBool(r, sandboxObj['isolated'], [...p, 'isolated']) === true) s.isolated = true;
    const net = getStringList(r, sandboxObj['network_allowlist'], [...p, 'network_allowlist'], { nonEmpty: true });
    if (net !== undefined && net.length > 0) s.networkAllowlist = net;
    const ro = getStringList(r, sandboxObj['fs_read_only'], [...p, 'fs_read_only'], { nonEmpty: true });
    if (ro !== undefined && ro.length > 0) s.fsReadOnly = ro;
    const rw = getStringList(r, sandboxObj['fs_read_write'], [...p, 'fs_read_write'], { nonEmpty: true });
    if (rw !== undefined && rw.length > 0) s.fsReadWrite = rw;
    if (Object.keys(s).length > 0) out.sandbox = s;
  }

  const toolchainObj = getObject(r, obj['toolchain'], [...path, 'toolchain']);
  if (toolchainObj !== null) {
    const p = [...path, 'toolchain'];
    checkKeys(r, toolchainObj, TOOLCHAIN_KEYS, p);
    const t: NonNullable<Constraints['toolchain']> = {};
    const tools = getStringList(r, toolchainObj['allowed_tools'], [...p, 'allowed_tools'], { nonEmpty: true });
    if (tools !== undefined && tools.length > 0) t.allowedTools = tools;
    const cmds = getStringList(r, toolchainObj['allowed_commands'], [...p, 'allowed_commands'], { nonEmpty: true });
    if (cmds !== undefined && cmds.length > 0) t.allowedCommands = cmds;
    if (Object.keys(t).length > 0) out.toolchain = t;
  }

  const diffObj = getObject(r, obj['diff'], [...path, 'diff']);
  if (diffObj !== null) {
    const p = [...path, 'diff'];
    checkKeys(r, diffObj, DIFF_KEYS, p);
    const d: NonNullable<Constraints['diff']> = {};
    const maxFiles = getInt(r, diffObj['max_files'], [...p, 'max_files'], INT32_MAX);
    if (maxFiles) d.maxFiles = maxFiles;
    const maxLines = getInt(r, diffObj['max_lines'], [...p, 'max_lines'], INT32_MAX);
    if (maxLines) d.maxLines = maxLines;
    const globs = getStringList(r, diffObj['deny_path_globs'], [...p, 'deny_path_globs'], { nonEmpty: true });
    if (globs !== undefined && globs.length > 0) d.denyPathGlobs = globs;
    if (Object.keys(d).length > 0) out.diff = d;
  }

  const redaction = getString(r, obj['redaction_level'], [...path, 'redaction_level']).trim();
  if (redaction !== '') out.redactionLevel = redaction;
  // Upstream: "ALLOW with non-empty constraints" becomes ALLOW_WITH_CONSTRAINTS, so all-zero constraints are none.
  return Object.keys(out).length === 0 ? null : out;
}

function readRemediations(r: Reader, value: unknown, path: Path): Remediation[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return r.fail(`must be a list, not ${kind(value)}`, path);
  return value.map((item: unknown, i) => {
    const p = [...path, i];
    const obj = getObject(r, item, p) ?? {};
    checkKeys(r, obj, REMEDIATION_KEYS, p);
    return {
      id: getString(r, obj['id'], [...p, 'id']),
      title: getString(r, obj['title'], [...p, 'title']),
      summary: getString(r, obj['summary'], [...p, 'summary']),
      replacementTopic: getString(r, obj['replacement_topic'], [...p, 'replacement_topic']),
      replacementCapability: getString(r, obj['replacement_capability'], [...p, 'replacement_capability']),
      addLabels: getStringMap(r, obj['add_labels'], [...p, 'add_labels']) ?? {},
      removeLabels: getStringList(r, obj['remove_labels'], [...p, 'remove_labels']) ?? [],
    };
  });
}

function readRuleId(r: Reader, obj: Record<string, unknown>, path: Path): string {
  const id = getString(r, obj['id'], [...path, 'id']).trim();
  if (id === '') r.fail('rule has no id (every rule needs a unique id)', [...path, 'id']);
  r.ruleId = id;
  if (RESERVED_ID.test(id)) r.fail(`id "${id}" is reserved for the engine's own decisions`, [...path, 'id']);
  return id;
}

function readRule(r: Reader, value: unknown, path: Path): RuleSpec {
  r.ruleId = undefined;
  r.rulePath = path;
  const obj = getObject(r, value, path);
  if (obj === null) return r.fail('rule must be a map', path);
  const id = readRuleId(r, obj, path);
  checkKeys(r, obj, RULE_KEYS, path);
  const rawDecision = getString(r, obj['decision'], [...path, 'decision']);
  if (rawDecision.trim() === '') r.fail('decision is required', [...path, 'decision']);
  const decision = parseDecision(rawDecision);
  if (decision === null) {
    r.fail(
      `"${rawDecision}" is not a decision (allow, deny, require_approval, allow_with_constraints, throttle)`,
      [...path, 'decision'],
    );
  }
  const match = readMatch(r, obj['match'], [...path, 'match']);
  const whenSource = getString(r, obj['when'], [...path, 'when']).trim();
  let when: WhenProgram | null = null;
  if (whenSource !== '') {
    try {
      when = compileWhen(whenSource);
    } catch (err) {
      r.fail(err instanceof Error ? err.message : String(err), [...path, 'when']);
    }
  }
  const spec: RuleSpec = {
    id,
    match,
    when: when === null ? null : whenSource,
    decision,
    reason: getString(r, obj['reason'], [...path, 'reason']),
    constraints: readConstraints(r, obj['constraints'], [...path, 'constraints']),
    remediations: readRemediations(r, obj['remediations'], [...path, 'remediations']),
    line: r.lineOf(path) ?? null,
  };
  registerCompiled(spec, { matcher: compileMatch(match), when });
  return spec;
}

function readOutputRule(r: Reader, value: unknown, path: Path): OutputRuleSpec {
  r.ruleId = undefined;
  r.rulePath = path;
  const obj = getObject(r, value, path);
  if (obj === null) return r.fail('output rule must be a map', path);
  const id = readRuleId(r, obj, path);
  checkKeys(r, obj, OUTPUT_RULE_KEYS, path);
  const rawDecision = getString(r, obj['decision'], [...path, 'decision']);
  const decision = parseOutputDecision(rawDecision);
  if (decision === null) {
    r.fail(`"${rawDecision}" is not an output decision (allow, redact, quarantine)`, [...path, 'decision']);
  }
  // `scanners: any` (or absent) applies to every scanner; a list names them. Newer upstream bundles put the
  // list under match.scanners; both places are read.
  const match = readMatch(r, obj['match'], [...path, 'match'], ['scanners']);
  const matchObj = getObject(r, obj['match'], [...path, 'match']);
  const scannersAt: Path = matchObj !== null && matchObj['scanners'] !== undefined ? [...path, 'match', 'scanners'] : [...path, 'scanners'];
  const rawScanners = matchObj !== null && matchObj['scanners'] !== undefined ? matchObj['scanners'] : obj['scanners'];
  let scanners: string[] | null = null;
  if (typeof rawScanners === 'string') {
    if (rawScanners.trim().toLowerCase() !== 'any') r.fail('must be a list of scanner names or "any"', scannersAt);
  } else {
    const list = getStringList(r, rawScanners, scannersAt, { nonEmpty: true });
    if (list !== undefined && list.length > 0 && !list.some((s) => s === '*' || s.toLowerCase() === 'any')) scanners = list;
  }
  const rawSeverity = getString(r, obj['min_severity'], [...path, 'min_severity']).trim().toLowerCase();
  let minSeverity: Severity | null = null;
  if (rawSeverity !== '') {
    const sev = SEVERITIES.find((s) => s === rawSeverity);
    if (sev === undefined) r.fail(`"${rawSeverity}" is not a severity (${SEVERITIES.join(', ')})`, [...path, 'min_severity']);
    minSeverity = sev;
  }
  const spec: OutputRuleSpec = {
    id,
    enabled: getBool(r, obj['enabled'], [...path, 'enabled']) ?? true,
    description: getString(r, obj['description'], [...path, 'description']),
    match,
    scanners,
    minSeverity,
    decision,
    reason: getString(r, obj['reason'], [...path, 'reason']),
    line: r.lineOf(path) ?? null,
  };
  registerCompiled(spec, { matcher: compileMatch(match), when: null });
  return spec;
}

function readTenants(r: Reader, value: unknown): Record<string, TenantSpec> {
  const obj = getObject(r, value, ['tenants']);
  if (obj === null) return {};
  const out: [string, TenantSpec][] = [];
  for (const [name, raw] of Object.entries(obj)) {
    const path = ['tenants', name];
    if (name.trim() === '') r.fail('tenant name must not be empty', path);
    const t = getObject(r, raw, path) ?? {};
    checkKeys(r, t, TENANT_KEYS, path);
    const allowTopics = readTopics(r, t['allow_topics'], [...path, 'allow_topics']) ?? [];
    const denyTopics = readTopics(r, t['deny_topics'], [...path, 'deny_topics']) ?? [];
    out.push([
      name.trim(),
      {
        allowTopics,
        denyTopics,
        allowedRepoHosts: getStringList(r, t['allowed_repo_hosts'], [...path, 'allowed_repo_hosts']) ?? [],
        deniedRepoHosts: getStringList(r, t['denied_repo_hosts'], [...path, 'denied_repo_hosts']) ?? [],
        maxConcurrentJobs: getInt(r, t['max_concurrent_jobs'], [...path, 'max_concurrent_jobs'], INT32_MAX) ?? 0,
        mcp: readMcp(r, t['mcp'], [...path, 'mcp']) ?? emptyMcp(),
      },
    ]);
  }
  return Object.fromEntries(out);
}

function emptyMcp(): McpLists {
  return {
    allowServers: [],
    denyServers: [],
    allowTools: [],
    denyTools: [],
    allowResources: [],
    denyResources: [],
    allowActions: [],
    denyActions: [],
  };
}

function readList(r: Reader, value: unknown, key: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return r.fail(`must be a list, not ${kind(value)}`, [key]);
  return value;
}

/**
 * Parses and validates one bundle (YAML or JSON text): globs and CEL are compiled here, so a bundle that
 * parses will evaluate. Throws PolicyError naming the bundle, rule id, field and line.
 */
export function parseBundle(source: BundleSource): Bundle {
  const id = source.id;
  const lines = new LineCounter();
  // `merge`: YAML 1.1 merge keys (`<<: *defaults`), which upstream's Go decoder (yaml.v3) resolves.
  const doc = parseDocument(source.content, { lineCounter: lines, prettyErrors: true, uniqueKeys: true, merge: true });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const line = syntax.linePos?.[0].line;
    const where: PolicyErrorDetails = line === undefined ? { bundle: id } : { bundle: id, line };
    const text = (syntax.message.split('\n')[0] ?? syntax.code).replace(/:\s*$/, '');
    throw new PolicyError(`YAML syntax error: ${text}`, where, { cause: syntax });
  }
  const r: Reader = new Reader(id, doc, lines);
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new PolicyError(`cannot read document: ${err instanceof Error ? err.message : String(err)}`, { bundle: id }, { cause: err });
  }
  if (js === undefined || js === null) js = {};
  if (!isPlainObject(js)) r.fail(`the document must be a map (version, rules, tenants, …), not ${kind(js)}`, []);
  let canonical: string;
  try {
    canonical = canonicalJson(js);
  } catch (err) {
    throw new PolicyError(`the document holds a value JSON cannot represent: ${err instanceof Error ? err.message : String(err)}`, { bundle: id }, { cause: err });
  }
  const top = js;

  const rules: RuleSpec[] = [];
  const ruleIds = new Map<string, number>();
  readList(r, top['rules'], 'rules').forEach((raw, i) => {
    const rule = readRule(r, raw, ['rules', i]);
    const first = ruleIds.get(rule.id.toLowerCase());
    if (first !== undefined) r.fail(`duplicate rule id (also rules[${first}] in this bundle)`, ['rules', i, 'id']);
    ruleIds.set(rule.id.toLowerCase(), i);
    rules.push(rule);
  });

  const outputRules: OutputRuleSpec[] = [];
  const outputIds = new Map<string, number>();
  readList(r, top['output_rules'], 'output_rules').forEach((raw, i) => {
    const rule = readOutputRule(r, raw, ['output_rules', i]);
    const first = outputIds.get(rule.id.toLowerCase());
    if (first !== undefined) {
      r.fail(`duplicate output rule id (also output_rules[${first}] in this bundle)`, ['output_rules', i, 'id']);
    }
    outputIds.set(rule.id.toLowerCase(), i);
    outputRules.push(rule);
  });
  r.ruleId = undefined;
  r.rulePath = [];

  const rawDefault = getString(r, top['default_decision'], ['default_decision']);
  const defaultDecision = rawDefault.trim() === '' ? null : parseDecision(rawDefault);
  if (rawDefault.trim() !== '' && defaultDecision === null) {
    r.fail(`"${rawDefault}" is not a decision`, ['default_decision']);
  }

  const bundle: Bundle = {
    id,
    version: getString(r, top['version'], ['version']).trim(),
    defaultTenant: getString(r, top['default_tenant'], ['default_tenant']).trim(),
    defaultDecision,
    rules: Object.freeze(rules),
    outputRules: Object.freeze(outputRules),
    tenants: Object.freeze(readTenants(r, top['tenants'])),
    document: deepFreeze(JSON.parse(canonical) as JsonValue),
    hash: sha256Hex(canonical),
  };
  // Specs are shared with every policy compiled from the bundle and with the decisions it returns
  // (constraints, remediations): frozen so that no caller can change a loaded policy by accident.
  deepFreeze(bundle);
  parsedBundles.add(bundle);
  return bundle;
}
