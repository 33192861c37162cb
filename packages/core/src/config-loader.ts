import { deepFreeze } from './canonical-json.js';
import { InvalidError } from './errors.js';

// Options in, validated frozen config out, in one place. Each service declares its settings once with
// these field builders; loadConfig reads them from an env-like record (only a service's config.ts passes
// the real environment), reports every problem at once, and returns a deeply frozen object. describeConfig turns
// the same declaration into the config table of the service's README.

export type EnvSource = Readonly<Record<string, string | undefined>>;

type ReadResult<T> = { ok: true; value: T } | { ok: false; error: string };

export type ConfigField<T> = {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly type: string;
  readonly description: string;
  readonly defaultText: string | undefined;
  readonly required: boolean;
  read(raw: string | undefined): ReadResult<T>;
};

type Common = { description?: string | undefined; aliases?: readonly string[] | undefined };
type WithDefault<T> = Common & { default: T };
type Required = Common & { required: true };
type Optional = Common & { default?: undefined; required?: false | undefined };
type Loose<T> = Common & { default?: T | undefined; required?: boolean | undefined };

function field<T>(
  type: string,
  name: string,
  opts: Loose<T>,
  parse: (raw: string) => ReadResult<T>,
  show: (value: T) => string = String,
): ConfigField<T | undefined> {
  const required = opts.required === true;
  return {
    name,
    aliases: opts.aliases ?? [],
    type,
    description: opts.description ?? '',
    defaultText: opts.default === undefined ? undefined : show(opts.default),
    required,
    read(raw) {
      if (raw === undefined || raw.trim() === '') {
        if (opts.default !== undefined) return { ok: true, value: opts.default };
        if (required) return { ok: false, error: 'is required' };
        return { ok: true, value: undefined };
      }
      return parse(raw.trim());
    },
  };
}

function stringField(name: string, opts: WithDefault<string> | Required): ConfigField<string>;
function stringField(name: string, opts?: Optional): ConfigField<string | undefined>;
function stringField(name: string, opts: Loose<string> = {}) {
  return field<string>('string', name, opts, (raw) => ({ ok: true, value: raw }));
}

type IntOpts = { min?: number | undefined; max?: number | undefined };
function intField(name: string, opts: (WithDefault<number> | Required) & IntOpts): ConfigField<number>;
function intField(name: string, opts?: Optional & IntOpts): ConfigField<number | undefined>;
function intField(name: string, opts: Loose<number> & IntOpts = {}) {
  return field<number>('integer', name, opts, (raw) => {
    if (!/^-?\d+$/.test(raw)) return { ok: false, error: `must be an integer, got ${JSON.stringify(raw)}` };
    return inRange(Number(raw), opts);
  });
}

function numberField(name: string, opts: (WithDefault<number> | Required) & IntOpts): ConfigField<number>;
function numberField(name: string, opts?: Optional & IntOpts): ConfigField<number | undefined>;
function numberField(name: string, opts: Loose<number> & IntOpts = {}) {
  return field<number>('number', name, opts, (raw) => {
    const n = Number(raw);
    if (!Number.isFinite(n)) return { ok: false, error: `must be a number, got ${JSON.stringify(raw)}` };
    return inRange(n, opts);
  });
}

function inRange(n: number, opts: IntOpts): ReadResult<number> {
  if (opts.min !== undefined && n < opts.min) return { ok: false, error: `must be >= ${opts.min}, got ${n}` };
  if (opts.max !== undefined && n > opts.max) return { ok: false, error: `must be <= ${opts.max}, got ${n}` };
  return { ok: true, value: n };
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function boolField(name: string, opts: WithDefault<boolean>): ConfigField<boolean>;
function boolField(name: string, opts?: Optional): ConfigField<boolean | undefined>;
function boolField(name: string, opts: Loose<boolean> = {}) {
  return field<boolean>('boolean', name, opts, (raw) => {
    const v = raw.toLowerCase();
    if (TRUE.has(v)) return { ok: true, value: true };
    if (FALSE.has(v)) return { ok: true, value: false };
    return { ok: false, error: `must be one of 1/0, true/false, yes/no, on/off, got ${JSON.stringify(raw)}` };
  });
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses "500ms", "30s", "10m", "24h", "7d" or combinations such as "1h30m" into milliseconds. A bare
 * number is seconds (the upstream *_SECONDS convention).
 */
export function parseDuration(raw: string): number | undefined {
  const text = raw.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    consumed = re.lastIndex;
  }
  if (consumed !== text.length || text.length === 0 || !Number.isFinite(total)) return undefined;
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Durations are given as text ("30s") and read as milliseconds. */
function durationField(name: string, opts: WithDefault<string> | Required): ConfigField<number>;
function durationField(name: string, opts?: Optional): ConfigField<number | undefined>;
function durationField(name: string, opts: Loose<string> = {}) {
  const def = opts.default === undefined ? undefined : parseDuration(opts.default);
  if (opts.default !== undefined && def === undefined) throw new TypeError(`bad default duration for ${name}`);
  return field<number>(
    'duration',
    name,
    { ...opts, default: def },
    (raw) => {
      const ms = parseDuration(raw);
      return ms === undefined
        ? { ok: false, error: `must be a duration such as 500ms, 30s, 10m, 24h or 7d, got ${JSON.stringify(raw)}` }
        : { ok: true, value: ms };
    },
    formatDuration,
  );
}

function enumField<const V extends string>(
  name: string,
  values: readonly V[],
  opts: WithDefault<V> | Required,
): ConfigField<V>;
function enumField<const V extends string>(
  name: string,
  values: readonly V[],
  opts?: Optional,
): ConfigField<V | undefined>;
function enumField<const V extends string>(
  name: string,
  values: readonly V[],
  opts: Loose<V> = {},
) {
  return field<V>(values.join('|'), name, opts, (raw) =>
    (values as readonly string[]).includes(raw)
      ? { ok: true, value: raw as V }
      : { ok: false, error: `must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}` },
  );
}

function listField(name: string, opts: Common & { default?: readonly string[]; separator?: string } = {}): ConfigField<readonly string[]> {
  const sep = opts.separator ?? ',';
  return field<readonly string[]>(
    'list',
    name,
    { ...opts, default: opts.default ?? [] },
    (raw) => ({
      ok: true,
      value: raw
        .split(sep)
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    }),
    (v) => v.join(sep),
  ) as ConfigField<readonly string[]>;
}

function urlField(
  name: string,
  opts: (WithDefault<string> | Required) & { protocols?: readonly string[] },
): ConfigField<string>;
function urlField(name: string, opts?: Optional & { protocols?: readonly string[] }): ConfigField<string | undefined>;
function urlField(
  name: string,
  opts: Loose<string> & { protocols?: readonly string[] | undefined } = {},
) {
  return field<string>('url', name, opts, (raw) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return { ok: false, error: `must be a URL, got ${JSON.stringify(raw)}` };
    }
    const protocol = url.protocol.replace(/:$/, '');
    if (opts.protocols !== undefined && !opts.protocols.includes(protocol)) {
      return { ok: false, error: `must use ${opts.protocols.join(' or ')}, got ${protocol}` };
    }
    return { ok: true, value: raw };
  });
}

export const env = {
  string: stringField,
  int: intField,
  number: numberField,
  bool: boolField,
  duration: durationField,
  enum: enumField,
  list: listField,
  url: urlField,
};

export type ConfigSpec = Readonly<Record<string, ConfigField<unknown>>>;
export type ConfigOf<S extends ConfigSpec> = {
  readonly [K in keyof S]: S[K] extends ConfigField<infer T> ? T : never;
};

export type ConfigProblem = { variable: string; message: string };

/**
 * Reads every field of the spec from source. All problems are reported together in one InvalidError
 * (code config_invalid, details.problems); on success the result is deeply frozen.
 */
export function loadConfig<S extends ConfigSpec>(spec: S, source: EnvSource): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const [key, f] of Object.entries(spec)) {
    const from = [f.name, ...f.aliases].find((n) => source[n] !== undefined && source[n]?.trim() !== '');
    const result = f.read(from === undefined ? undefined : source[from]);
    if (result.ok) out[key] = result.value;
    else problems.push({ variable: from ?? f.name, message: `${from ?? f.name} ${result.error}` });
  }
  if (problems.length > 0) {
    throw new InvalidError(`invalid configuration: ${problems.map((p) => p.message).join('; ')}`, {
      code: 'config_invalid',
      details: { problems },
    });
  }
  return deepFreeze(out) as ConfigOf<S>;
}

export type ConfigRow = { variable: string; type: string; default: string; description: string };

/** One row per field, for the config table in a service README. */
export function describeConfig(spec: ConfigSpec): ConfigRow[] {
  return Object.values(spec).map((f) => ({
    variable: [f.name, ...f.aliases].join(' / '),
    type: f.type,
    default: f.required ? '(required)' : (f.defaultText ?? ''),
    description: f.description,
  }));
}
