import { hashJson, isPlainObject, isSafeId, type JsonValue } from '@cordum/core';
import { parse as parseYaml } from 'yaml';
import { type WorkflowProblem, WorkflowError } from './errors.js';
import { type CompiledExpression, compileExpression } from './expression.js';
import { ancestorsOf, compareIds, findCycle, topologicalOrder } from './graph.js';
import {
  BUILTIN_STEP_TYPES,
  type BuiltinStepType,
  type JsonObject,
  type RetryPolicy,
  type StepDefinition,
  type StepMeta,
  TRIGGER_RULES,
  type TriggerRule,
  type WorkflowDefinition,
} from './model.js';
import { schemaProblem } from './schema.js';
import { type CompiledTemplate, compileTemplate } from './template.js';

/** What the reducer needs of one step, resolved once per definition. */
export type CompiledStep = {
  readonly id: string;
  readonly def: StepDefinition;
  /** `job` for every dispatching type. */
  readonly kind: 'job' | BuiltinStepType;
  readonly deps: readonly string[];
  readonly triggerRule: TriggerRule;
  readonly topic: string;
  readonly condition?: CompiledExpression;
  readonly forEach?: CompiledExpression;
  /** 0 = no cap. */
  readonly maxParallel: number;
  readonly input?: CompiledTemplate;
  readonly delayUntil?: CompiledTemplate;
  readonly idempotencyKey?: CompiledTemplate;
  readonly metaLabels?: CompiledTemplate;
  readonly routeLabels?: CompiledTemplate;
  readonly retry: { readonly maxRetries: number; readonly initialMs: number; readonly maxMs: number; readonly multiplier: number };
  readonly timeoutMs?: number;
  readonly delayMs?: number;
};

export type CompiledWorkflow = {
  readonly definition: WorkflowDefinition;
  /** sha256 of the canonical JSON of `definition`. */
  readonly hash: string;
  readonly steps: ReadonlyMap<string, CompiledStep>;
  /** Step ids in dependency order, ties by id. */
  readonly order: readonly string[];
  readonly deps: ReadonlyMap<string, readonly string[]>;
  /** Fields that were accepted but mean nothing here (unknown or unused upstream fields). */
  readonly warnings: readonly WorkflowProblem[];
};

export type ParseWorkflowOptions = {
  /** Id to use when the document has none (upstream's create route generates one). */
  id?: string;
};

const STEP_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;
const RESERVED_STEP_IDS: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));
const OUTPUT_PATH = /^[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*$/;
const DEFAULT_MAX_BACKOFF_SEC = 300;

const WORKFLOW_FIELDS = new Set([
  'id',
  'org_id',
  'team_id',
  'name',
  'description',
  'version',
  'timeout_sec',
  'input_schema',
  'parameters',
  'config',
  'created_by',
  'created_at',
  'updated_at',
  'steps',
]);
const STEP_FIELDS = new Set([
  'id',
  'name',
  'type',
  'topic',
  'worker_id',
  'depends_on',
  'condition',
  'for_each',
  'max_parallel',
  'input',
  'input_schema',
  'input_schema_id',
  'output_schema',
  'output_schema_id',
  'output_path',
  'meta',
  'retry',
  'timeout_sec',
  'delay_sec',
  'delay_until',
  'route_labels',
  'trigger_rule',
]);
const META_FIELDS = new Set(['actor_id', 'actor_type', 'idempotency_key', 'pack_id', 'capability', 'risk_tags', 'requires', 'labels']);
const RETRY_FIELDS = new Set(['max_retries', 'initial_backoff_sec', 'max_backoff_sec', 'multiplier']);

/**
 * Reads a definition from YAML or JSON text, or from an already decoded object, and validates it. Returns
 * the normalised definition (step ids forced to their keys, `type` defaulted to `worker`, a numeric
 * `version` kept as a string, unknown fields preserved). Throws WorkflowError listing every problem.
 */
export function parseWorkflow(source: unknown, options: ParseWorkflowOptions = {}): WorkflowDefinition {
  return validate(decode(source), options).definition;
}

/** Like parseWorkflow, and also the warnings (unknown or unused fields), for `cordumctl` and the API. */
export function validateWorkflow(
  source: unknown,
  options: ParseWorkflowOptions = {},
): { definition: WorkflowDefinition; warnings: WorkflowProblem[] } {
  const { definition, warnings } = validate(decode(source), options);
  return { definition, warnings };
}

const MAX_COMPILED = 256;
const compiledCache = new Map<string, CompiledWorkflow>();

/**
 * Validates and compiles a definition (text, object or an already parsed WorkflowDefinition): every CEL
 * expression and template is parsed and type-checked here, so a bad one is a create-time 400 and never a
 * run-time surprise. Memoised by the definition's hash (compiled workflows are immutable).
 */
export function compileWorkflow(source: unknown, options: ParseWorkflowOptions = {}): CompiledWorkflow {
  const raw = decode(source);
  const key = isPlainObject(raw) ? safeHash(raw) : undefined;
  if (key !== undefined) {
    const hit = compiledCache.get(key);
    if (hit !== undefined) return hit;
  }
  const { compiled } = validate(raw, options);
  if (key !== undefined) {
    if (compiledCache.size >= MAX_COMPILED) compiledCache.delete(compiledCache.keys().next().value as string);
    compiledCache.set(key, compiled);
    if (compiled.hash !== key) compiledCache.set(compiled.hash, compiled);
  }
  return compiled;
}

/** sha256 of the canonical JSON of a (normalised) definition: what runs record as `definition_hash`. */
export function definitionHash(definition: WorkflowDefinition): string {
  return hashJson(definition);
}

function safeHash(value: unknown): string | undefined {
  try {
    return hashJson(value);
  } catch {
    return undefined;
  }
}

function decode(source: unknown): unknown {
  if (typeof source !== 'string') return source;
  try {
    return parseYaml(source, { maxAliasCount: 100 }) as unknown;
  } catch (err) {
    throw new WorkflowError(undefined, [{ path: '', message: `not valid YAML or JSON: ${(err as Error).message.split('\n')[0] ?? ''}` }]);
  }
}

// ---------------------------------------------------------------------------------------------------------

class Problems {
  readonly errors: WorkflowProblem[] = [];
  readonly warnings: WorkflowProblem[] = [];
  error(path: string, message: string): void {
    this.errors.push({ path, message });
  }
  warn(path: string, message: string): void {
    this.warnings.push({ path, message });
  }
}

function validate(raw: unknown, options: ParseWorkflowOptions): { definition: WorkflowDefinition; compiled: CompiledWorkflow; warnings: WorkflowProblem[] } {
  const p = new Problems();
  if (!isPlainObject(raw)) throw new WorkflowError(options.id, [{ path: '', message: 'a workflow definition must be an object' }]);
  const doc = raw;
  const def: Record<string, unknown> = { ...doc };

  const id = doc.id ?? options.id;
  if (typeof id !== 'string' || !isSafeId(id)) {
    p.error('id', 'must be 1-200 characters of A-Z a-z 0-9 . _ : @ # - [ ], starting with a letter or digit');
  }
  const workflowId = typeof id === 'string' ? id : (options.id ?? '');
  def.id = workflowId;
  for (const f of ['org_id', 'team_id', 'name', 'description', 'created_by', 'created_at', 'updated_at']) optString(doc, f, f, p);
  if (doc.version !== undefined && doc.version !== null) {
    if (typeof doc.version === 'number') def.version = String(doc.version);
    else if (typeof doc.version !== 'string') p.error('version', 'must be a string');
  }
  nonNegative(doc, 'timeout_sec', 'timeout_sec', p);
  if (doc.input_schema !== undefined && doc.input_schema !== null) checkSchema(doc.input_schema, 'input_schema', p);
  if (doc.parameters !== undefined && doc.parameters !== null && !Array.isArray(doc.parameters)) p.error('parameters', 'must be a list');
  if (doc.config !== undefined && doc.config !== null && !isPlainObject(doc.config)) p.error('config', 'must be an object');
  for (const k of Object.keys(doc)) if (!WORKFLOW_FIELDS.has(k)) p.warn(k, 'unknown field (kept, ignored)');
  for (const k of Object.keys(def)) if (def[k] === null) delete def[k];

  const stepsRaw = doc.steps;
  const steps: Record<string, StepDefinition> = {};
  if (!isPlainObject(stepsRaw)) {
    p.error('steps', 'must be a map of step id to step');
  } else if (Object.keys(stepsRaw).length === 0) {
    p.error('steps', 'a workflow needs at least one step');
  } else {
    for (const [key, value] of Object.entries(stepsRaw)) {
      const step = normaliseStep(key, value, workflowId, p);
      if (step !== undefined) steps[key] = step;
    }
  }
  def.steps = steps;

  // Dependencies: unknown ids, then cycles (only when every id is known, so the path is meaningful).
  const deps = new Map<string, string[]>();
  for (const [sid, s] of Object.entries(steps)) deps.set(sid, s.depends_on ?? []);
  let graphOk = true;
  for (const [sid, ds] of deps) {
    for (const d of ds) {
      if (!deps.has(d)) {
        p.error(`steps.${sid}.depends_on`, `unknown step "${d}"`);
        graphOk = false;
      }
    }
  }
  if (graphOk) {
    const cycle = findCycle(deps);
    if (cycle !== undefined) {
      p.error(`steps.${cycle[cycle.length - 2] ?? cycle[0] ?? ''}.depends_on`, `cycle ${cycle.join(' → ')}`);
      graphOk = false;
    }
  }

  const definition = def as WorkflowDefinition;
  const compiledSteps = new Map<string, CompiledStep>();
  const stepIds = new Set(Object.keys(steps));
  for (const [sid, s] of Object.entries(steps)) {
    const c = compileStep(s, workflowId, stepIds, p);
    if (c !== undefined) compiledSteps.set(sid, c);
  }
  if (graphOk) {
    // A step may read only steps it (transitively) depends on: anything else would race.
    for (const [sid, c] of compiledSteps) {
      const ancestors = ancestorsOf(sid, deps);
      const sites: [string, readonly string[]][] = [
        ['condition', c.condition?.stepRefs ?? []],
        ['for_each', c.forEach?.stepRefs ?? []],
        ['input', c.input?.stepRefs ?? []],
        ['delay_until', c.delayUntil?.stepRefs ?? []],
        ['meta', [...(c.idempotencyKey?.stepRefs ?? []), ...(c.metaLabels?.stepRefs ?? [])]],
        ['route_labels', c.routeLabels?.stepRefs ?? []],
      ];
      for (const [field, refs] of sites) {
        for (const ref of new Set(refs)) {
          if (!stepIds.has(ref)) p.error(`steps.${sid}.${field}`, `reads steps.${ref}, which is not a step of this workflow`);
          else if (!ancestors.has(ref)) {
            p.error(`steps.${sid}.${field}`, `reads steps.${ref}, which is not among its dependencies (add it to depends_on)`);
          }
        }
      }
    }
  }

  if (p.errors.length > 0) throw new WorkflowError(workflowId === '' ? undefined : workflowId, p.errors);
  const compiled: CompiledWorkflow = Object.freeze({
    definition,
    hash: definitionHash(definition),
    steps: compiledSteps,
    order: topologicalOrder(deps),
    deps,
    warnings: Object.freeze([...p.warnings]),
  });
  return { definition, compiled, warnings: p.warnings };
}

function normaliseStep(key: string, value: unknown, workflowId: string, p: Problems): StepDefinition | undefined {
  const at = `steps.${key}`;
  if (!STEP_ID.test(key)) p.error(at, 'step ids are 1-100 characters of A-Z a-z 0-9 _ . -, starting with a letter, digit or _');
  // Runs keep steps in plain objects keyed by id: a name of Object.prototype would not be an ordinary key.
  else if (RESERVED_STEP_IDS.has(key)) p.error(at, `"${key}" is reserved and cannot be a step id`);
  if (!isPlainObject(value)) {
    p.error(at, 'must be an object');
    return undefined;
  }
  const s: Record<string, unknown> = { ...value };
  if (value.id !== undefined && value.id !== null && value.id !== key) p.warn(`${at}.id`, `${JSON.stringify(value.id)} is replaced by the map key "${key}"`);
  s.id = key;
  const type = value.type ?? 'worker';
  if (typeof type !== 'string' || type.trim() === '') p.error(`${at}.type`, 'must be a non-empty string');
  s.type = typeof type === 'string' && type.trim() !== '' ? type.trim() : 'worker';
  const kind = kindOf(s.type as string);

  for (const f of ['name', 'worker_id', 'input_schema_id', 'output_schema_id'] as const) optString(value, f, `${at}.${f}`, p);
  if (value.topic !== undefined && value.topic !== null) {
    if (typeof value.topic !== 'string' || !/^job\.[A-Za-z0-9_.-]+$/.test(value.topic)) {
      p.error(`${at}.topic`, 'must be a topic such as job.team.action (starts with "job.", no spaces or wildcards)');
    }
  }
  if (value.depends_on !== undefined && value.depends_on !== null) {
    const d = value.depends_on;
    if (typeof d === 'string') s.depends_on = [d];
    else if (Array.isArray(d) && d.every((x) => typeof x === 'string')) s.depends_on = [...new Set(d)];
    else p.error(`${at}.depends_on`, 'must be a list of step ids');
  }
  for (const f of ['condition', 'for_each'] as const) {
    const v = value[f];
    if (v === undefined || v === null) continue;
    if (typeof v === 'boolean') s[f] = String(v);
    else if (typeof v !== 'string' || v.trim() === '') p.error(`${at}.${f}`, 'must be an expression string');
  }
  if (value.max_parallel !== undefined && value.max_parallel !== null) {
    if (!Number.isInteger(value.max_parallel) || (value.max_parallel as number) < 0) p.error(`${at}.max_parallel`, 'must be an integer >= 0');
  }
  if (value.input !== undefined && value.input !== null && !isPlainObject(value.input)) p.error(`${at}.input`, 'must be an object');
  for (const f of ['input_schema', 'output_schema'] as const) {
    if (value[f] !== undefined && value[f] !== null) checkSchema(value[f], `${at}.${f}`, p);
  }
  if (value.output_path !== undefined && value.output_path !== null) {
    const op = value.output_path;
    if (typeof op !== 'string' || !OUTPUT_PATH.test(op)) p.error(`${at}.output_path`, 'must be a dotted path such as results.summary');
    else if (op === 'steps' || op.startsWith('steps.')) p.error(`${at}.output_path`, '"steps" is reserved for step outputs');
  }
  if (value.meta !== undefined && value.meta !== null) s.meta = normaliseMeta(value.meta, `${at}.meta`, p);
  if (value.retry !== undefined && value.retry !== null) {
    if (!isPlainObject(value.retry)) p.error(`${at}.retry`, 'must be an object');
    else {
      for (const f of RETRY_FIELDS) nonNegative(value.retry, f, `${at}.retry.${f}`, p);
      if (Number.isInteger(value.retry.max_retries) === false && typeof value.retry.max_retries === 'number') {
        p.error(`${at}.retry.max_retries`, 'must be an integer');
      }
      if (typeof value.retry.multiplier === 'number' && value.retry.multiplier < 1) p.error(`${at}.retry.multiplier`, 'must be >= 1');
      for (const k of Object.keys(value.retry)) if (!RETRY_FIELDS.has(k)) p.warn(`${at}.retry.${k}`, 'unknown field (kept, ignored)');
    }
  }
  for (const f of ['timeout_sec', 'delay_sec'] as const) nonNegative(value, f, `${at}.${f}`, p);
  if (value.delay_until !== undefined && value.delay_until !== null) {
    const du = value.delay_until;
    if (typeof du !== 'string') p.error(`${at}.delay_until`, 'must be an RFC 3339 time or a ${…} template');
    else if (!du.includes('${') && Number.isNaN(Date.parse(du))) p.error(`${at}.delay_until`, `"${du}" is not an RFC 3339 time`);
  }
  if (value.route_labels !== undefined && value.route_labels !== null) {
    s.route_labels = stringMap(value.route_labels, `${at}.route_labels`, p);
  }
  if (value.trigger_rule !== undefined && value.trigger_rule !== null) {
    if (!TRIGGER_RULES.includes(value.trigger_rule as TriggerRule)) p.error(`${at}.trigger_rule`, `must be one of ${TRIGGER_RULES.join(', ')}`);
  }
  if (value.on_error !== undefined) p.warn(`${at}.on_error`, 'accepted for upstream compatibility; it has no effect (use trigger_rule)');
  for (const k of Object.keys(value)) {
    if (!STEP_FIELDS.has(k) && k !== 'on_error') p.warn(`${at}.${k}`, 'unknown field (kept, ignored)');
  }

  if (kind !== 'job') {
    if (value.for_each !== undefined && value.for_each !== null) p.error(`${at}.for_each`, `is only supported on job steps, not on ${kind} steps`);
  }
  if (kind === 'condition' && (value.condition === undefined || value.condition === null)) {
    p.error(`${at}.condition`, 'a condition step needs a condition expression');
  }
  if (kind === 'job' && s.topic === undefined) s.topic = `job.workflow.${workflowId}`;
  for (const k of Object.keys(s)) if (s[k] === null) delete s[k];
  return s as StepDefinition;
}

function normaliseMeta(raw: unknown, at: string, p: Problems): StepMeta | undefined {
  if (!isPlainObject(raw)) {
    p.error(at, 'must be an object');
    return undefined;
  }
  const m: Record<string, unknown> = { ...raw };
  for (const f of ['actor_id', 'actor_type', 'idempotency_key', 'pack_id', 'capability'] as const) optString(raw, f, `${at}.${f}`, p);
  if (typeof raw.actor_type === 'string' && !['human', 'service', ''].includes(raw.actor_type.toLowerCase())) {
    p.error(`${at}.actor_type`, 'must be human or service');
  }
  for (const f of ['risk_tags', 'requires'] as const) {
    const v = raw[f];
    if (v === undefined || v === null) continue;
    if (typeof v === 'string') m[f] = [v];
    else if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) p.error(`${at}.${f}`, 'must be a list of strings');
  }
  if (raw.labels !== undefined && raw.labels !== null) m.labels = stringMap(raw.labels, `${at}.labels`, p);
  for (const k of Object.keys(raw)) if (!META_FIELDS.has(k)) p.warn(`${at}.${k}`, 'unknown field (kept, ignored)');
  for (const k of Object.keys(m)) if (m[k] === null) delete m[k];
  return m;
}

function compileStep(s: StepDefinition, workflowId: string, stepIds: ReadonlySet<string>, p: Problems): CompiledStep | undefined {
  const at = `steps.${s.id}`;
  const opts = { stepIds };
  const expr = (field: 'condition' | 'for_each'): CompiledExpression | undefined => {
    const src = s[field];
    if (src === undefined) return undefined;
    const whole = /^\s*\$\{([\s\S]*)\}\s*$/.exec(src);
    try {
      return compileExpression(whole !== null && !whole[1]?.includes('${') ? (whole[1] ?? '') : src, opts);
    } catch (err) {
      p.error(`${at}.${field}`, (err as Error).message);
      return undefined;
    }
  };
  const before = p.errors.length;
  const template = (value: JsonValue | undefined, path: string): CompiledTemplate | undefined => {
    if (value === undefined) return undefined;
    const t = compileTemplate(value, path, opts, p.errors);
    return t.dynamic ? t : undefined;
  };
  const condition = expr('condition');
  const forEach = expr('for_each');
  const input = s.input === undefined ? undefined : compileTemplate(s.input, `${at}.input`, opts, p.errors);
  const delayUntil = template(s.delay_until, `${at}.delay_until`);
  const idempotencyKey = template(s.meta?.idempotency_key, `${at}.meta.idempotency_key`);
  const metaLabels = template(s.meta?.labels, `${at}.meta.labels`);
  const routeLabels = template(s.route_labels, `${at}.route_labels`);
  if (p.errors.length > before) return undefined;
  const retry: RetryPolicy = s.retry ?? {};
  const initialMs = Math.round((retry.initial_backoff_sec ?? 1) * 1000);
  const kind = kindOf(s.type);
  return {
    id: s.id,
    def: s,
    kind,
    deps: [...(s.depends_on ?? [])].sort(compareIds),
    triggerRule: s.trigger_rule ?? 'all_succeeded',
    topic: s.topic ?? `job.workflow.${workflowId}`,
    ...(condition === undefined ? {} : { condition }),
    ...(forEach === undefined ? {} : { forEach }),
    maxParallel: s.max_parallel ?? 0,
    ...(input === undefined ? {} : { input }),
    ...(delayUntil === undefined ? {} : { delayUntil }),
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    ...(metaLabels === undefined ? {} : { metaLabels }),
    ...(routeLabels === undefined ? {} : { routeLabels }),
    retry: {
      maxRetries: retry.max_retries ?? 0,
      initialMs,
      maxMs: Math.max(initialMs, Math.round((retry.max_backoff_sec ?? DEFAULT_MAX_BACKOFF_SEC) * 1000)),
      multiplier: retry.multiplier ?? 2,
    },
    ...(s.timeout_sec === undefined || s.timeout_sec === 0 ? {} : { timeoutMs: Math.round(s.timeout_sec * 1000) }),
    ...(s.delay_sec === undefined ? {} : { delayMs: Math.round(s.delay_sec * 1000) }),
  };
}

export function kindOf(type: string): 'job' | BuiltinStepType {
  return (BUILTIN_STEP_TYPES as readonly string[]).includes(type) ? (type as BuiltinStepType) : 'job';
}

function optString(obj: Record<string, unknown>, field: string, path: string, p: Problems): void {
  const v = obj[field];
  if (v !== undefined && v !== null && typeof v !== 'string') p.error(path, 'must be a string');
}

function nonNegative(obj: Record<string, unknown>, field: string, path: string, p: Problems): void {
  const v = obj[field];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) p.error(path, 'must be a number >= 0');
}

function stringMap(raw: unknown, path: string, p: Problems): Record<string, string> | undefined {
  if (!isPlainObject(raw)) {
    p.error(path, 'must be a map of strings');
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else p.error(`${path}.${k}`, 'must be a string');
  }
  return out;
}

function checkSchema(raw: unknown, path: string, p: Problems): void {
  if (!isPlainObject(raw)) {
    p.error(path, 'must be a JSON schema object');
    return;
  }
  const problem = schemaProblem(raw as JsonObject);
  if (problem !== undefined) p.error(path, problem);
}
