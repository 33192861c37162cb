import type { JsonValue } from '@cordum/core';
import { Environment } from '@marcbachmann/cel-js';
import type { JsonObject } from './model.js';

// Workflow expressions (`condition`, `for_each`, `${…}` templates) are CEL over four variables: `input` (the
// run input), `steps` (per step: status, output, result_ptr, error, attempts), `ctx` (the run context,
// including `output_path` writes) and `item` (the fan-out element, null elsewhere).
//
// Upstream Cordum evaluated a tiny hand-written language instead: an optional leading `!`, at most one
// comparison, `length(x)`, `first(x)`, literals and dotted paths, where a missing path reads as nil, `!`
// and conditions use truthiness and comparisons are numeric when the left side is a number. Definitions
// written for it must keep their meaning, so an expression that lies entirely inside that grammar is
// evaluated with those rules ("upstream mode"); everything else is standard CEL, where reading a missing
// field is an error (guard it with `has(input.x)` or `input.?x.orValue(…)`). On the inputs both accept,
// the two agree.

/** The variables an expression sees. JSON numbers are CEL doubles; CEL ints come back as numbers. */
export type ExpressionScope = {
  input: JsonValue;
  steps: JsonObject;
  ctx: JsonObject;
  item: JsonValue;
};

export type EvalResult = { ok: true; value: JsonValue } | { ok: false; error: string };

export type CompiledExpression = {
  readonly source: string;
  readonly mode: 'upstream' | 'cel';
  /** Step ids the expression reads through `steps.<id>` (static references only). */
  readonly stepRefs: readonly string[];
  evaluate(scope: ExpressionScope): EvalResult;
};

export type CompileExpressionOptions = {
  /** Step ids of the workflow; ids with `-` are understood in `steps.<id>` (upstream paths allowed them). */
  stepIds?: ReadonlySet<string>;
};

const ROOTS = new Set(['input', 'steps', 'ctx', 'item']);

const env = new Environment({
  homogeneousAggregateLiterals: false,
  enableOptionalTypes: true,
  limits: { maxAstNodes: 5000, maxDepth: 64 },
})
  .registerVariable('input', 'dyn')
  .registerVariable('steps', 'dyn')
  .registerVariable('ctx', 'dyn')
  .registerVariable('item', 'dyn')
  .registerFunction('length(dyn): int', (value: unknown) => BigInt(lengthOf(value)))
  .registerFunction('first(dyn): dyn', (value: unknown) => firstOf(value));

/** Compiles once; throws Error(message) when the expression is malformed. */
export function compileExpression(source: string, options: CompileExpressionOptions = {}): CompiledExpression {
  const text = source.trim();
  if (text === '') throw new Error('empty expression');
  const upstream = parseUpstream(text);
  if (upstream !== undefined) {
    const refs = new Set<string>();
    collectUpstreamRefs(upstream, refs);
    return {
      source,
      mode: 'upstream',
      stepRefs: [...refs],
      evaluate(scope) {
        try {
          return { ok: true, value: toJson(evalUpstream(upstream, scope)) };
        } catch (err) {
          return { ok: false, error: firstLine(err) };
        }
      },
    };
  }
  const rewritten = quoteHyphenatedStepIds(text, options.stepIds ?? new Set());
  let program: ReturnType<typeof env.parse>;
  try {
    program = env.parse(rewritten);
  } catch (err) {
    throw new Error(`CEL syntax error: ${firstLine(err)}`, { cause: err });
  }
  const checked = program.check();
  if (!checked.valid) throw new Error(`CEL type error: ${firstLine(checked.error)}`);
  const fn: (context: Record<string, unknown>) => unknown = program;
  return {
    source,
    mode: 'cel',
    stepRefs: celStepRefs(rewritten),
    evaluate(scope) {
      try {
        return { ok: true, value: toJson(fn({ input: scope.input, steps: scope.steps, ctx: scope.ctx, item: scope.item })) };
      } catch (err) {
        return { ok: false, error: firstLine(err) };
      }
    },
  };
}

/** Upstream truthiness: nil, false, "" and 0 are false; everything else (even [] and {}) is true. */
export function truthy(value: JsonValue): boolean {
  if (value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') return value !== '';
  if (typeof value === 'number') return value !== 0;
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Upstream mode
// ---------------------------------------------------------------------------------------------------------

type UpstreamNode =
  | { kind: 'literal'; value: JsonValue }
  | { kind: 'path'; segments: string[] }
  | { kind: 'length' | 'first'; arg: UpstreamNode }
  | { kind: 'not'; operand: UpstreamNode }
  | { kind: 'compare'; op: CompareOp; left: UpstreamNode; right: UpstreamNode };

type CompareOp = '==' | '!=' | '>=' | '<=' | '>' | '<';

const NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
const ROOT_SEGMENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PATH_SEGMENT = /^[A-Za-z0-9_-]+$/;

/** The expression as an upstream-grammar tree, or undefined when it uses anything beyond that grammar. */
function parseUpstream(text: string): UpstreamNode | undefined {
  if (text.startsWith('!') && !text.startsWith('!=')) {
    const operand = parseAtom(text.slice(1));
    return operand === undefined ? undefined : { kind: 'not', operand };
  }
  const at = findComparison(text);
  if (at === undefined) return parseAtom(text);
  const left = parseAtom(text.slice(0, at.index));
  const right = parseAtom(text.slice(at.index + at.op.length));
  if (left === undefined || right === undefined) return undefined;
  return { kind: 'compare', op: at.op, left, right };
}

/** The first comparison operator outside quotes (upstream split at the first operator, too). */
function findComparison(text: string): { index: number; op: CompareOp } | undefined {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === '==' || two === '!=' || two === '>=' || two === '<=') return { index: i, op: two };
    if (c === '>' || c === '<') return { index: i, op: c };
  }
  return undefined;
}

function parseAtom(raw: string): UpstreamNode | undefined {
  const t = raw.trim();
  if (t === '') return undefined;
  for (const fn of ['length', 'first'] as const) {
    if (t.startsWith(`${fn}(`) && t.endsWith(')')) {
      const arg = parseAtom(t.slice(fn.length + 1, -1));
      return arg === undefined || arg.kind === 'length' || arg.kind === 'first' ? undefined : { kind: fn, arg };
    }
  }
  if (t.length >= 2 && (t[0] === '"' || t[0] === "'") && t.endsWith(t[0])) {
    const body = t.slice(1, -1);
    return body.includes(t[0]) || body.includes('\\') ? undefined : { kind: 'literal', value: body };
  }
  if (t === 'true' || t === 'false') return { kind: 'literal', value: t === 'true' };
  if (t === 'null') return { kind: 'literal', value: null };
  if (NUMBER.test(t)) return { kind: 'literal', value: Number(t) };
  const segments = t.split('.');
  const [root, ...rest] = segments;
  if (root === undefined || !ROOT_SEGMENT.test(root) || !ROOTS.has(root)) return undefined;
  if (!rest.every((s) => PATH_SEGMENT.test(s))) return undefined;
  return { kind: 'path', segments };
}

function collectUpstreamRefs(node: UpstreamNode, out: Set<string>): void {
  switch (node.kind) {
    case 'literal':
      return;
    case 'path':
      if (node.segments[0] === 'steps' && node.segments[1] !== undefined) out.add(node.segments[1]);
      return;
    case 'length':
    case 'first':
      collectUpstreamRefs(node.arg, out);
      return;
    case 'not':
      collectUpstreamRefs(node.operand, out);
      return;
    case 'compare':
      collectUpstreamRefs(node.left, out);
      collectUpstreamRefs(node.right, out);
      return;
  }
}

function evalUpstream(node: UpstreamNode, scope: ExpressionScope): JsonValue {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'path': {
      let cur: JsonValue | undefined = scope;
      for (const segment of node.segments) {
        if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return null;
        cur = Object.hasOwn(cur, segment) ? cur[segment] : undefined;
        if (cur === undefined) return null;
      }
      return cur;
    }
    case 'length':
      return lengthOf(evalUpstream(node.arg, scope));
    case 'first': {
      const v = firstOf(evalUpstream(node.arg, scope));
      return v === undefined ? null : (v as JsonValue);
    }
    case 'not':
      return !truthy(evalUpstream(node.operand, scope));
    case 'compare':
      return compareUpstream(evalUpstream(node.left, scope), evalUpstream(node.right, scope), node.op);
  }
}

function compareUpstream(a: JsonValue, b: JsonValue, op: CompareOp): boolean {
  if (typeof a === 'number') return compareOrdered(a, toNumber(b), op);
  if (typeof a === 'string' && typeof b === 'string') return compareOrdered(a, b, op);
  if (op === '==') return printed(a) === printed(b);
  if (op === '!=') return printed(a) !== printed(b);
  return false;
}

function compareOrdered<T extends number | string>(a: T, b: T, op: CompareOp): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '>':
      return a > b;
    case '<':
      return a < b;
    case '>=':
      return a >= b;
    case '<=':
      return a <= b;
  }
}

/** Upstream's number coercion for the right side of a numeric comparison: numbers, numeric strings, else 0. */
function toNumber(v: JsonValue): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && NUMBER.test(v.trim())) return Number(v.trim());
  return 0;
}

/** The string form used for equality of mixed types (upstream compared fmt.Sprint forms). */
function printed(v: JsonValue): string {
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

// ---------------------------------------------------------------------------------------------------------
// CEL mode helpers
// ---------------------------------------------------------------------------------------------------------

/**
 * Calls `visit(i)` for every index of `text` outside string literals (single, double, triple-quoted, raw
 * and bytes forms). Used to rewrite and inspect identifiers without touching string contents.
 */
function forEachCode(text: string, visit: (i: number) => number | void): void {
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '"' || c === "'") {
      const prev = text[i - 1] ?? '';
      const raw = /[rR]/.test(prev) || (/[bB]/.test(prev) && /[rR]/.test(text[i - 2] ?? ''));
      const triple = text.startsWith(c.repeat(3), i);
      const close = triple ? c.repeat(3) : c;
      let j = i + close.length;
      while (j < text.length && !text.startsWith(close, j)) j += !raw && text[j] === '\\' ? 2 : 1;
      i = j + close.length;
      continue;
    }
    const skip = visit(i);
    i = typeof skip === 'number' ? skip : i + 1;
  }
}

const IDENT_CHAR = /[A-Za-z0-9_]/;

/** `steps.fetch-data.output` → `steps["fetch-data"].output` for known step ids that contain `-`. */
function quoteHyphenatedStepIds(text: string, stepIds: ReadonlySet<string>): string {
  const hyphenated = [...stepIds].filter((id) => id.includes('-')).sort((a, b) => b.length - a.length);
  if (hyphenated.length === 0) return text;
  let out = '';
  let last = 0;
  forEachCode(text, (i) => {
    if (!text.startsWith('steps.', i) || (i > 0 && /[A-Za-z0-9_.]/.test(text[i - 1] as string))) return;
    const start = i + 'steps.'.length;
    for (const id of hyphenated) {
      if (!text.startsWith(id, start)) continue;
      const after = text[start + id.length] ?? '';
      if (IDENT_CHAR.test(after) || after === '-') continue;
      out += `${text.slice(last, i)}steps[${JSON.stringify(id)}]`;
      last = start + id.length;
      return last;
    }
    return undefined;
  });
  return out + text.slice(last);
}

/** Step ids read as `steps.<id>` or `steps["<id>"]` (outside strings). */
function celStepRefs(text: string): string[] {
  const refs = new Set<string>();
  forEachCode(text, (i) => {
    if (!text.startsWith('steps', i) || (i > 0 && /[A-Za-z0-9_.]/.test(text[i - 1] as string))) return;
    const rest = text.slice(i + 'steps'.length);
    const dotted = /^\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)/.exec(rest);
    const indexed = /^\s*\[\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*\]/.exec(rest);
    const id = dotted?.[1] ?? indexed?.[1] ?? indexed?.[2];
    if (id !== undefined) refs.add(id);
  });
  return [...refs];
}

function lengthOf(value: unknown): number {
  if (Array.isArray(value) || typeof value === 'string') return value.length;
  if (value instanceof Map || value instanceof Set) return value.size;
  if (value !== null && typeof value === 'object') return Object.keys(value).length;
  return 0;
}

function firstOf(value: unknown): unknown {
  return Array.isArray(value) && value.length > 0 ? value[0] : null;
}

/** A CEL result as JSON: ints become numbers, bytes base64, timestamps RFC 3339, optionals unwrapped. */
export function toJson(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return Number(value);
    case 'object':
      break;
    default:
      return null; // functions and symbols have no JSON form
  }
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Set) return [...value].map(toJson);
  if (value instanceof Map) {
    const out: JsonObject = {};
    for (const [k, v] of value) out[String(k)] = toJson(v);
    return out;
  }
  const optional = value as { hasValue?: unknown; value?: unknown };
  if (typeof optional.hasValue === 'function' && typeof optional.value === 'function') {
    return (optional.hasValue as () => boolean).call(value) ? toJson((optional.value as () => unknown).call(value)) : null;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  // CEL type values, durations and other host objects: their own string form, if they define one.
  if (proto !== Object.prototype && proto !== null) {
    const own = (value as { toString?: unknown }).toString;
    return typeof own === 'function' && own !== Object.prototype.toString ? String((own as () => unknown).call(value)) : null;
  }
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) out[k] = toJson(v);
  return out;
}

function firstLine(err: unknown): string {
  let message: string;
  if (err instanceof Error) message = err.message;
  else if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') message = err.message;
  else message = typeof err === 'string' ? err : 'unknown error';
  const i = message.indexOf('\n');
  return (i === -1 ? message : message.slice(0, i)).trim();
}
