import type { JsonValue } from '@cordum/core';
import { describe, expect, it } from 'vitest';
import { compileExpression, type ExpressionScope, truthy } from './expression.js';
import { compileTemplate } from './template.js';
import type { WorkflowProblem } from './errors.js';

const scope = (over: Partial<ExpressionScope> = {}): ExpressionScope => ({
  input: { items: [{ id: 'x' }, { id: 'y' }, { id: 'z' }], n: 3, name: 'bob', skip: false, empty: '', zero: 0, nested: { deep: { v: 1 } } },
  steps: {
    a: { status: 'succeeded', attempts: 1, output: { ok: true, count: 2, status: '200' } },
    'fetch-data': { status: 'succeeded', attempts: 1, output: { rows: [1, 2] } },
  },
  ctx: { results: { x: 'r' } },
  item: null,
  ...over,
});

const run = (source: string, s: ExpressionScope = scope(), stepIds: string[] = ['a', 'fetch-data']): JsonValue => {
  const r = compileExpression(source, { stepIds: new Set(stepIds) }).evaluate(s);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};

describe('upstream expressions keep their meaning', () => {
  it.each<[string, JsonValue]>([
    ['input.items', [{ id: 'x' }, { id: 'y' }, { id: 'z' }]],
    ['steps.a.output.ok == true', true],
    ['steps.a.output.ok != true', false],
    ['!input.skip', true],
    ['!input.missing', true],
    ['!input.name', false],
    ['!input.empty', true],
    ['!input.zero', true],
    ['length(input.items) > 2', true],
    ['length(input.items) >= 4', false],
    ['length(input.missing)', 0],
    ['length(input.name)', 3],
    ['first(input.items)', { id: 'x' }],
    ['first(input.missing)', null],
    ['input.missing.deeper', null],
    ['input.nested.deep.v', 1],
    ['input.n == 3', true],
    ['input.n > 2.5', true],
    ['input.n == "3"', true], // numeric left side: the right side is read as a number
    ['steps.a.output.status == 200', true], // mixed types compare by their printed form
    ["input.name == 'bob'", true],
    ['input.name < "carl"', true],
    ['input.missing == null', true],
    ['input.missing > 1', false],
    ['steps.fetch-data.output.rows', [1, 2]],
    ['ctx.results.x', 'r'],
  ])('%s', (source, expected) => {
    const c = compileExpression(source, { stepIds: new Set(['a', 'fetch-data']) });
    expect(c.mode).toBe('upstream');
    expect(run(source)).toEqual(expected);
  });

  it('reads the for_each item', () => {
    expect(run('item.id == "y"', scope({ item: { id: 'y' } }))).toBe(true);
  });

  it('reports the steps it reads', () => {
    expect(compileExpression('steps.fetch-data.output.rows').stepRefs).toEqual(['fetch-data']);
    expect(compileExpression('length(steps.a.output) > steps.b.output.n').stepRefs).toEqual(['a', 'b']);
  });
});

describe('CEL', () => {
  it.each<[string, JsonValue]>([
    ['input.n > 2 && !input.skip', true],
    ['size(input.items) == 3 ? "many" : "few"', 'many'],
    ['input.items.map(i, i.id)', ['x', 'y', 'z']],
    ['input.items.exists(i, i.id == "z")', true],
    ['has(input.missing) || input.n == 3.0', true],
    ['input.?missing.orValue("dflt")', 'dflt'],
    ['[1, 2, 3]', [1, 2, 3]],
    ['length(input.items) * 2', 6],
    ['first(input.items).id + "!"', 'x!'],
    ['steps.fetch-data.output.rows[1] == 2.0 && steps.a.status == "succeeded"', true],
    ['steps["fetch-data"].output.rows.size()', 2],
    ['{"k": input.name}', { k: 'bob' }],
    ['timestamp("2026-01-01T00:00:00Z")', '2026-01-01T00:00:00.000Z'],
    ['"steps.a" + "x" == "steps.ax"', true],
  ])('%s', (source, expected) => {
    const c = compileExpression(source, { stepIds: new Set(['a', 'fetch-data']) });
    expect(c.mode).toBe('cel');
    expect(run(source)).toEqual(expected);
  });

  it('reading a missing field is an evaluation error, not a silent null', () => {
    const c = compileExpression('input.missing && true');
    expect(c.evaluate(scope())).toEqual({ ok: false, error: 'No such key: missing' });
  });

  it('rejects malformed expressions at compile time', () => {
    expect(() => compileExpression('input.n >')).toThrow(/CEL syntax error/);
    expect(() => compileExpression('unknown_var == 1 && true')).toThrow(/CEL type error/);
    expect(() => compileExpression('   ')).toThrow(/empty expression/);
  });

  it('finds step references outside strings only', () => {
    expect([...compileExpression('steps.a.output.ok && "steps.zz" != steps["fetch-data"].status', { stepIds: new Set(['a', 'fetch-data']) }).stepRefs].sort()).toEqual([
      'a',
      'fetch-data',
    ]);
  });
});

describe('truthy', () => {
  it('follows upstream', () => {
    expect([null, false, '', 0].map(truthy)).toEqual([false, false, false, false]);
    expect([true, 'x', 1, [], {}].map(truthy)).toEqual([true, true, true, true, true]);
  });
});

describe('templates', () => {
  const compile = (value: JsonValue): { value: JsonValue; problems: WorkflowProblem[] } => {
    const problems: WorkflowProblem[] = [];
    const t = compileTemplate(value, 'input', { stepIds: new Set(['a']) }, problems);
    if (problems.length > 0) return { value: null, problems };
    const r = t.evaluate(scope());
    if (!r.ok) throw new Error(r.error);
    return { value: r.value, problems };
  };

  it('a whole-string template keeps the value type', () => {
    expect(compile('${input.items}').value).toEqual([{ id: 'x' }, { id: 'y' }, { id: 'z' }]);
    expect(compile('  ${input.n}  ').value).toBe(3);
    expect(compile('${steps.a.output.ok}').value).toBe(true);
    expect(compile('${input.missing}').value).toBeNull();
  });

  it('mixed strings stringify each expression', () => {
    expect(compile('n=${input.n}, ok=${steps.a.output.ok}, none=[${input.missing}], obj=${input.nested}').value).toBe(
      'n=3, ok=true, none=[], obj={"deep":{"v":1}}',
    );
    expect(compile('${input.n}${input.name}').value).toBe('3bob');
  });

  it('templates nested objects and lists but never keys; plain values pass through', () => {
    expect(compile({ '${k}': ['${input.n}', 2, { x: 'name: ${input.name}' }], plain: true }).value).toEqual({
      '${k}': [3, 2, { x: 'name: bob' }],
      plain: true,
    });
  });

  it('understands braces and strings inside an expression', () => {
    expect(compile('${{"a": {"b": input.name}}}').value).toEqual({ a: { b: 'bob' } });
    expect(compile('${input.name + "}"}').value).toBe('bob}');
  });

  it('reports unterminated and malformed templates with their path', () => {
    expect(compile({ a: { b: 'x ${input.n' } }).problems).toEqual([{ path: 'input.a.b', message: 'unterminated template expression at offset 2' }]);
    expect(compile(['${input.n >}']).problems[0]?.path).toBe('input[0]');
    expect(compile(['${input.n >}']).problems[0]?.message).toMatch(/^\$\{input.n >\}: CEL syntax error/);
  });

  it('names the leaf when evaluation fails', () => {
    const problems: WorkflowProblem[] = [];
    const t = compileTemplate({ x: { y: '${input.nope && true}' } }, 'input', {}, problems);
    expect(t.evaluate(scope())).toEqual({ ok: false, error: 'input.x.y: No such key: nope' });
  });
});
