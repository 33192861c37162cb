import { extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { usageError } from '../errors.js';

// `job submit` flags → the body of POST /api/v1/jobs. Pure apart from reading an --input file.

export const PRIORITIES = ['interactive', 'batch', 'critical'] as const;
export const ACTOR_TYPES = ['human', 'service'] as const;

export type SubmitFlags = {
  topic?: string;
  prompt?: string;
  input?: string;
  idempotencyKey?: string;
  capability?: string;
  riskTags?: string[];
  requires?: string[];
  labels?: string[];
  packId?: string;
  priority?: string;
  org?: string;
  actorId?: string;
  actorType?: string;
};

export type SubmitBody = Record<string, unknown>;

/** Splits repeatable, comma-separated list flags (`--risk-tags a,b --risk-tags c`) into unique, trimmed values. */
export function splitList(values: readonly string[] | undefined): string[] {
  const out: string[] = [];
  for (const v of values ?? []) {
    for (const item of v.split(',')) {
      const t = item.trim();
      if (t !== '' && !out.includes(t)) out.push(t);
    }
  }
  return out;
}

/**
 * Labels from repeatable --labels flags: a JSON object (`{"team":"red"}`, as upstream takes them) or
 * `key=value` pairs separated by commas. Later flags win for the same key.
 */
export function parseLabels(values: readonly string[] | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const raw of values ?? []) {
    const text = raw.trim();
    if (text.startsWith('{')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw usageError(`--labels: not valid JSON: ${(err as Error).message}`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw usageError('--labels: expected a JSON object of strings');
      for (const [k, v] of Object.entries(parsed)) {
        if (typeof v !== 'string') throw usageError(`--labels: the value of ${JSON.stringify(k)} must be a string, got ${JSON.stringify(v)}`);
        labels[k] = v;
      }
      continue;
    }
    for (const pair of text.split(',')) {
      if (pair.trim() === '') continue;
      const eq = pair.indexOf('=');
      if (eq <= 0) throw usageError(`--labels: expected key=value or a JSON object, got ${JSON.stringify(pair.trim())}`);
      labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
  }
  return labels;
}

/**
 * A JSON value given inline (`{"a":1}`, `"text"`, `42`) or as a file: `@path` or a plain path; `.yaml`/`.yml`
 * files are YAML, anything else JSON. `flag` names the flag in errors.
 */
export async function readJsonArgument(value: string, flag: string, deps: { cwd: string; readText: (path: string) => Promise<string> }): Promise<unknown> {
  if (!value.startsWith('@')) {
    try {
      return JSON.parse(value) as unknown;
    } catch (err) {
      if (/^\s*[{[]/.test(value)) throw usageError(`${flag}: inline JSON does not parse: ${(err as Error).message}`);
    }
  }
  const path = resolve(deps.cwd, value.startsWith('@') ? value.slice(1) : value);
  let text: string;
  try {
    text = await deps.readText(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usageError(
      code === 'ENOENT' ? `${flag}: no such file ${path} (and not inline JSON)` : `${flag}: cannot read ${path}: ${(err as Error).message}`,
    );
  }
  const yaml = ['.yaml', '.yml'].includes(extname(path).toLowerCase());
  try {
    return yaml ? (parseYaml(text) as unknown) : (JSON.parse(text) as unknown);
  } catch (err) {
    throw usageError(`${flag}: ${path} is not valid ${yaml ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
}

function choice(value: string | undefined, flag: string, allowed: readonly string[]): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (!allowed.includes(v)) throw usageError(`${flag}: ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
  return v;
}

/**
 * The submit body. --prompt alone sends `prompt`; --input alone sends the whole job `input`; both send the
 * prompt with the input as its `context` (upstream's --input). Empty optional flags are left out, so the
 * gateway's defaults apply.
 */
export async function buildSubmitBody(flags: SubmitFlags, deps: { cwd: string; readText: (path: string) => Promise<string> }): Promise<SubmitBody> {
  if (flags.prompt === undefined && flags.input === undefined) {
    throw usageError('job submit needs --prompt TEXT or --input JSON|FILE');
  }
  if (flags.topic !== undefined && !flags.topic.startsWith('job.')) {
    throw usageError(`--topic: ${JSON.stringify(flags.topic)} must start with "job."`);
  }
  const body: SubmitBody = {};
  if (flags.topic !== undefined) body['topic'] = flags.topic;
  const input = flags.input === undefined ? undefined : await readJsonArgument(flags.input, '--input', deps);
  if (flags.prompt !== undefined) {
    body['prompt'] = flags.prompt;
    if (input !== undefined) body['context'] = input;
  } else {
    body['input'] = input;
  }
  const set = (key: string, value: unknown): void => {
    if (value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) return;
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0) return;
    body[key] = value;
  };
  set('idempotency_key', flags.idempotencyKey);
  set('capability', flags.capability);
  set('risk_tags', splitList(flags.riskTags));
  set('requires', splitList(flags.requires));
  set('labels', parseLabels(flags.labels));
  set('pack_id', flags.packId);
  set('priority', choice(flags.priority, '--priority', PRIORITIES));
  set('tenant_id', flags.org);
  set('actor_id', flags.actorId);
  set('actor_type', choice(flags.actorType, '--actor-type', ACTOR_TYPES));
  return body;
}
