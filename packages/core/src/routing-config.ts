import { isPlainObject } from './canonical-json.js';
import { InvalidError } from './errors.js';

// The routing and timeout documents (system config `data.pools`, `data.timeouts`), upstream-compatible:
//   pools:    { topics: { <topic | glob>: pool | [pools] }, pools: { <name>: { requires: [..] } } }
//   timeouts: { topics: { <topic | glob>: { timeout_seconds, max_retries } }, workflows: {..}, reconciler: {..} }
// Parsing is strict so that a bad document is rejected as a whole and the previous one stays in force.
// Pure, so that the scheduler (which routes by them) and the gateway (which refuses an invalid document on
// write, 400 with the path) apply the very same rules.

export type PoolsConfig = {
  /** Exact topics → pools. */
  readonly topics: ReadonlyMap<string, readonly string[]>;
  /** Glob topics (with `*`) → pools, most specific (longest literal prefix) first. */
  readonly topicGlobs: readonly { pattern: RegExp; source: string; pools: readonly string[] }[];
  readonly pools: ReadonlyMap<string, { requires: readonly string[] }>;
};

export type TopicTimeouts = { timeoutMs?: number; maxRetries?: number };

export type TimeoutsConfig = {
  readonly topics: ReadonlyMap<string, TopicTimeouts>;
  readonly topicGlobs: readonly { pattern: RegExp; source: string; value: TopicTimeouts }[];
  readonly workflows: ReadonlyMap<string, { childTimeoutMs?: number; totalTimeoutMs?: number; maxRetries?: number }>;
  readonly reconciler: { dispatchTimeoutMs: number; runningTimeoutMs: number; scanIntervalMs: number };
};

function invalid(path: string, message: string): InvalidError {
  return new InvalidError(`${path}: ${message}`, { code: 'config_invalid', details: { path } });
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*')}$`, 'i');
}

function literalPrefix(glob: string): number {
  const star = glob.indexOf('*');
  return star < 0 ? glob.length : star;
}

/** A list of strings; a bare string is one pool name (the `topic: pool` form) only where a pool is expected. */
function stringList(value: unknown, path: string, allowEmpty: boolean): string[] {
  const list = typeof value === 'string' && !allowEmpty ? [value] : value;
  if (!Array.isArray(list) || (!allowEmpty && list.length === 0)) {
    throw invalid(path, allowEmpty ? 'must be a list of strings' : 'must be a pool name or a non-empty list of pool names');
  }
  return list.map((item, i) => {
    if (typeof item !== 'string' || item.trim() === '') throw invalid(`${path}[${i}]`, 'must be a non-empty string');
    return item.trim();
  });
}

export function parsePoolsConfig(value: unknown, path = 'pools'): PoolsConfig {
  if (!isPlainObject(value)) throw invalid(path, 'must be an object with topics and pools');
  for (const key of Object.keys(value)) {
    if (key !== 'topics' && key !== 'pools') throw invalid(`${path}.${key}`, 'unknown field (expected topics, pools)');
  }
  const rawPools = value['pools'] ?? {};
  if (!isPlainObject(rawPools)) throw invalid(`${path}.pools`, 'must be an object of pool name → { requires }');
  const pools = new Map<string, { requires: readonly string[] }>();
  for (const [name, def] of Object.entries(rawPools)) {
    const p = `${path}.pools.${name}`;
    if (def === null || def === undefined) {
      pools.set(name, { requires: [] });
      continue;
    }
    if (!isPlainObject(def)) throw invalid(p, 'must be an object with requires');
    for (const key of Object.keys(def)) {
      if (key !== 'requires') throw invalid(`${p}.${key}`, 'unknown field (pools only have requires)');
    }
    pools.set(name, { requires: stringList(def['requires'] ?? [], `${p}.requires`, true).map((r) => r.toLowerCase()) });
  }
  const rawTopics = value['topics'];
  if (!isPlainObject(rawTopics) || Object.keys(rawTopics).length === 0) {
    throw invalid(`${path}.topics`, 'must map at least one topic to a pool');
  }
  const topics = new Map<string, readonly string[]>();
  const topicGlobs: { pattern: RegExp; source: string; pools: readonly string[] }[] = [];
  for (const [topic, target] of Object.entries(rawTopics)) {
    const p = `${path}.topics.${topic}`;
    const names = stringList(target, p, false);
    for (const name of names) {
      if (!pools.has(name)) throw invalid(p, `pool ${JSON.stringify(name)} is not defined under ${path}.pools`);
    }
    if (topic.includes('*')) topicGlobs.push({ pattern: globToRegExp(topic), source: topic, pools: names });
    else topics.set(topic, names);
  }
  topicGlobs.sort((a, b) => literalPrefix(b.source) - literalPrefix(a.source));
  return { topics, topicGlobs, pools };
}

function positiveNumber(value: unknown, path: string, integer: boolean): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw invalid(path, `must be a non-negative ${integer ? 'integer' : 'number'}`);
  }
  return value;
}

function topicTimeouts(value: unknown, path: string): TopicTimeouts {
  if (!isPlainObject(value)) throw invalid(path, 'must be an object with timeout_seconds and/or max_retries');
  for (const key of Object.keys(value)) {
    if (key !== 'timeout_seconds' && key !== 'max_retries') {
      throw invalid(`${path}.${key}`, 'unknown field (expected timeout_seconds, max_retries)');
    }
  }
  const seconds = positiveNumber(value['timeout_seconds'], `${path}.timeout_seconds`, false);
  const retries = positiveNumber(value['max_retries'], `${path}.max_retries`, true);
  return {
    ...(seconds === undefined || seconds === 0 ? {} : { timeoutMs: Math.round(seconds * 1000) }),
    ...(retries === undefined ? {} : { maxRetries: retries }),
  };
}

export const DEFAULT_RECONCILER = { dispatchTimeoutMs: 300_000, runningTimeoutMs: 9_000_000, scanIntervalMs: 1000 };

export function parseTimeoutsConfig(value: unknown, path = 'timeouts'): TimeoutsConfig {
  if (value === undefined || value === null) {
    return { topics: new Map(), topicGlobs: [], workflows: new Map(), reconciler: DEFAULT_RECONCILER };
  }
  if (!isPlainObject(value)) throw invalid(path, 'must be an object with topics, workflows, reconciler');
  for (const key of Object.keys(value)) {
    if (!['topics', 'workflows', 'reconciler'].includes(key)) {
      throw invalid(`${path}.${key}`, 'unknown field (expected topics, workflows, reconciler)');
    }
  }
  const topics = new Map<string, TopicTimeouts>();
  const topicGlobs: { pattern: RegExp; source: string; value: TopicTimeouts }[] = [];
  const rawTopics = value['topics'] ?? {};
  if (!isPlainObject(rawTopics)) throw invalid(`${path}.topics`, 'must be an object of topic → timeouts');
  for (const [topic, def] of Object.entries(rawTopics)) {
    const parsed = topicTimeouts(def, `${path}.topics.${topic}`);
    if (topic.includes('*')) topicGlobs.push({ pattern: globToRegExp(topic), source: topic, value: parsed });
    else topics.set(topic, parsed);
  }
  topicGlobs.sort((a, b) => literalPrefix(b.source) - literalPrefix(a.source));
  const workflows = new Map<string, { childTimeoutMs?: number; totalTimeoutMs?: number; maxRetries?: number }>();
  const rawWorkflows = value['workflows'] ?? {};
  if (!isPlainObject(rawWorkflows)) throw invalid(`${path}.workflows`, 'must be an object of workflow id → timeouts');
  for (const [id, def] of Object.entries(rawWorkflows)) {
    const p = `${path}.workflows.${id}`;
    // Upstream samples also use the scalar form `<wf>: <seconds>`; accept it as the total timeout.
    if (typeof def === 'number') {
      const total = positiveNumber(def, p, false);
      workflows.set(id, total === undefined ? {} : { totalTimeoutMs: Math.round(total * 1000) });
      continue;
    }
    if (!isPlainObject(def)) throw invalid(p, 'must be an object or a number of seconds');
    const child = positiveNumber(def['child_timeout_seconds'], `${p}.child_timeout_seconds`, false);
    const total = positiveNumber(def['total_timeout_seconds'], `${p}.total_timeout_seconds`, false);
    const retries = positiveNumber(def['max_retries'], `${p}.max_retries`, true);
    workflows.set(id, {
      ...(child === undefined ? {} : { childTimeoutMs: Math.round(child * 1000) }),
      ...(total === undefined ? {} : { totalTimeoutMs: Math.round(total * 1000) }),
      ...(retries === undefined ? {} : { maxRetries: retries }),
    });
  }
  const rawReconciler = value['reconciler'] ?? {};
  if (!isPlainObject(rawReconciler)) throw invalid(`${path}.reconciler`, 'must be an object');
  const seconds = (key: string, fallback: number): number => {
    const v = positiveNumber(rawReconciler[key], `${path}.reconciler.${key}`, false);
    return v === undefined || v === 0 ? fallback : Math.round(v * 1000);
  };
  return {
    topics,
    topicGlobs,
    workflows,
    reconciler: {
      dispatchTimeoutMs: seconds('dispatch_timeout_seconds', DEFAULT_RECONCILER.dispatchTimeoutMs),
      runningTimeoutMs: seconds('running_timeout_seconds', DEFAULT_RECONCILER.runningTimeoutMs),
      scanIntervalMs: seconds('scan_interval_seconds', DEFAULT_RECONCILER.scanIntervalMs),
    },
  };
}

/** Pools mapped to a topic: the exact entry, else the most specific matching glob, else none. */
export function poolsForTopic(config: PoolsConfig, topic: string): readonly string[] {
  return config.topics.get(topic) ?? config.topicGlobs.find((g) => g.pattern.test(topic))?.pools ?? [];
}

export function timeoutsForTopic(config: TimeoutsConfig, topic: string): TopicTimeouts {
  return config.topics.get(topic) ?? config.topicGlobs.find((g) => g.pattern.test(topic))?.value ?? {};
}
