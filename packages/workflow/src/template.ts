import type { JsonValue } from '@cordum/core';
import {
  type CompiledExpression,
  type CompileExpressionOptions,
  compileExpression,
  type EvalResult,
  type ExpressionScope,
} from './expression.js';
import type { WorkflowProblem } from './errors.js';
import type { JsonObject } from './model.js';

// `${…}` templates in JSON values (step `input`, `delay_until`, meta strings). A string that is exactly one
// `${expr}` (surrounding spaces allowed, as upstream) takes the expression's value with its type: a list
// stays a list, a number a number. Any other string with templates becomes a string, each `${…}` replaced by
// its value (null → "", objects and lists as JSON). Only string leaves are templated, never object keys.

export type CompiledTemplate = {
  /** false when the value holds no template (evaluate returns it unchanged). */
  readonly dynamic: boolean;
  readonly stepRefs: readonly string[];
  evaluate(scope: ExpressionScope): EvalResult;
};

type Part = string | { expr: CompiledExpression };

/**
 * Compiles every template inside `value`. Problems (malformed or unterminated expressions) are appended to
 * `problems` with `path` extended to the offending leaf; the returned template is then unusable.
 */
export function compileTemplate(
  value: JsonValue,
  path: string,
  options: CompileExpressionOptions,
  problems: WorkflowProblem[],
): CompiledTemplate {
  const refs = new Set<string>();
  const build = (v: JsonValue, at: string): ((scope: ExpressionScope) => EvalResult) | undefined => {
    if (typeof v === 'string') return compileString(v, at, options, problems, refs);
    if (Array.isArray(v)) {
      const items = v.map((child, i) => build(child, `${at}[${i}]`));
      if (items.every((f) => f === undefined)) return undefined;
      return (scope) => {
        const out: JsonValue[] = [];
        for (let i = 0; i < v.length; i++) {
          const f = items[i];
          if (f === undefined) {
            out.push(v[i] as JsonValue);
            continue;
          }
          const r = f(scope);
          if (!r.ok) return r;
          out.push(r.value);
        }
        return { ok: true, value: out };
      };
    }
    if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v).map(([k, child]) => [k, child, build(child, `${at}.${k}`)] as const);
      if (entries.every(([, , f]) => f === undefined)) return undefined;
      return (scope) => {
        const out: JsonObject = {};
        for (const [k, child, f] of entries) {
          if (f === undefined) {
            out[k] = child;
            continue;
          }
          const r = f(scope);
          if (!r.ok) return r;
          out[k] = r.value;
        }
        return { ok: true, value: out };
      };
    }
    return undefined;
  };
  const fn = build(value, path);
  return {
    dynamic: fn !== undefined,
    stepRefs: [...refs],
    evaluate: fn ?? (() => ({ ok: true, value })),
  };
}

function compileString(
  text: string,
  path: string,
  options: CompileExpressionOptions,
  problems: WorkflowProblem[],
  refs: Set<string>,
): ((scope: ExpressionScope) => EvalResult) | undefined {
  if (!text.includes('${')) return undefined;
  const parts: Part[] = [];
  let rest = 0;
  for (;;) {
    const start = text.indexOf('${', rest);
    if (start === -1) {
      if (rest < text.length) parts.push(text.slice(rest));
      break;
    }
    if (start > rest) parts.push(text.slice(rest, start));
    const end = closingBrace(text, start + 2);
    if (end === -1) {
      problems.push({ path, message: `unterminated template expression at offset ${start}` });
      return undefined;
    }
    const source = text.slice(start + 2, end);
    try {
      const expr = compileExpression(source, options);
      for (const r of expr.stepRefs) refs.add(r);
      parts.push({ expr });
    } catch (err) {
      problems.push({ path, message: `\${${source.trim()}}: ${(err as Error).message}` });
      return undefined;
    }
    rest = end + 1;
  }
  const only = parts.filter((p) => typeof p !== 'string' || p.trim() !== '');
  if (only.length === 1 && typeof only[0] !== 'string' && only[0] !== undefined) {
    const expr = only[0].expr;
    return (scope) => withPath(expr.evaluate(scope), path);
  }
  return (scope) => {
    let out = '';
    for (const p of parts) {
      if (typeof p === 'string') {
        out += p;
        continue;
      }
      const r = p.expr.evaluate(scope);
      if (!r.ok) return withPath(r, path);
      out += stringify(r.value);
    }
    return { ok: true, value: out };
  };
}

/** Index of the `}` closing a `${` whose body starts at `from`, skipping nested braces and strings. */
function closingBrace(text: string, from: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = from; i < text.length; i++) {
    const c = text[i] as string;
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '{') depth++;
    else if (c === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

function stringify(v: JsonValue): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function withPath(r: EvalResult, path: string): EvalResult {
  return r.ok ? r : { ok: false, error: `${path}: ${r.error}` };
}
