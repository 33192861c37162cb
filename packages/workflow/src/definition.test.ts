import { isCordumError } from '@cordum/core';
import { describe, expect, it } from 'vitest';
import { compileWorkflow, parseWorkflow, validateWorkflow } from './definition.js';
import { WorkflowError } from './errors.js';

/** The problems a definition is rejected with, as `path: message` lines. */
function problems(source: unknown): string[] {
  try {
    compileWorkflow(source);
  } catch (err) {
    if (err instanceof WorkflowError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

// The shape of upstream pack workflows (cordum-packs): single job steps with templated input, schema-registry
// ids and meta, plus the fields upstream declares but ignores.
const packStyle = `
id: tracker.ticket.create
name: Tracker ticket create
description: Create a ticket through the tracker pack.
version: "0.1.0"
timeout_sec: 120
steps:
  create:
    id: create
    name: Create ticket
    type: worker
    topic: job.tracker.write
    input:
      profile: \${input.profile}
      action: tickets.create
      title: \${input.title}
      labels: \${input.labels}
    input_schema_id: tracker/TicketCreateInput
    output_schema_id: tracker/ActionResult
    meta:
      pack_id: tracker
      capability: tracker.tickets.create
      risk_tags: ["write", "network"]
      requires: ["network:egress"]
    on_error: rollback
    policy_gate: require_approval
`;

describe('parseWorkflow', () => {
  it('loads an upstream pack definition unchanged, keeping unknown fields and reporting them', () => {
    const { definition, warnings } = validateWorkflow(packStyle);
    expect(definition).toMatchObject({
      id: 'tracker.ticket.create',
      version: '0.1.0',
      timeout_sec: 120,
      steps: {
        create: {
          id: 'create',
          type: 'worker',
          topic: 'job.tracker.write',
          input: { profile: '${input.profile}', action: 'tickets.create' },
          input_schema_id: 'tracker/TicketCreateInput',
          meta: { pack_id: 'tracker', risk_tags: ['write', 'network'] },
          on_error: 'rollback',
          policy_gate: 'require_approval',
        },
      },
    });
    expect(warnings.map((w) => w.path)).toEqual(['steps.create.on_error', 'steps.create.policy_gate']);
  });

  it('accepts JSON text and decoded objects; normalises ids, types, versions and topics', () => {
    const def = parseWorkflow(JSON.stringify({ id: 'j', version: 3, steps: { s: { id: 'other', depends_on: 't' }, t: { type: 'delay', delay_sec: 1 } } }));
    expect(def.version).toBe('3');
    expect(def.steps.s).toMatchObject({ id: 's', type: 'worker', topic: 'job.workflow.j', depends_on: ['t'] });
    expect(def.steps.t?.topic).toBeUndefined();
    expect(parseWorkflow({ steps: { s: {} } }, { id: 'generated' }).id).toBe('generated');
  });

  it('throws a WorkflowError (code workflow_invalid, 400) listing every problem', () => {
    let caught: unknown;
    try {
      parseWorkflow({ id: 'bad', steps: { a: { depends_on: ['nope'], max_parallel: -1 }, b: { type: 'condition' } } });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(WorkflowError);
    const e = caught as WorkflowError;
    expect(isCordumError(e) && e.code).toBe('workflow_invalid');
    expect(e.httpStatus).toBe(400);
    expect(e.name).toBe('WorkflowError');
    expect(e.message).toBe('workflow "bad": steps.a.max_parallel: must be an integer >= 0 (and 2 more)');
    expect(e.details).toEqual({
      workflow_id: 'bad',
      problems: [
        { path: 'steps.a.max_parallel', message: 'must be an integer >= 0' },
        { path: 'steps.b.condition', message: 'a condition step needs a condition expression' },
        { path: 'steps.a.depends_on', message: 'unknown step "nope"' },
      ],
    });
  });

  it('rejects text that is not YAML and documents that are not objects', () => {
    expect(problems('steps: [unclosed')[0]).toMatch(/^: not valid YAML or JSON/);
    expect(problems([1, 2])).toEqual([': a workflow definition must be an object']);
    expect(problems({ id: 'x' })).toEqual(['steps: must be a map of step id to step']);
    expect(problems({ id: 'x', steps: {} })).toEqual(['steps: a workflow needs at least one step']);
    expect(problems({ id: 'has space', steps: { s: {} } })[0]).toMatch(/^id: must be 1-200 characters/);
  });

  it('refuses step ids that are names of Object.prototype', () => {
    expect(problems('id: x\nsteps:\n  __proto__: {topic: job.t.a}\n  constructor: {topic: job.t.b}\n')).toEqual([
      'steps.__proto__: "__proto__" is reserved and cannot be a step id',
      'steps.constructor: "constructor" is reserved and cannot be a step id',
    ]);
  });
});

describe('graph validation', () => {
  it('names the cycle with its path', () => {
    expect(problems({ id: 'c', steps: { a: { depends_on: ['b'] }, b: { depends_on: ['c'] }, c: { depends_on: ['a'] } } })).toEqual([
      'steps.c.depends_on: cycle a → b → c → a',
    ]);
    expect(problems({ id: 'c', steps: { a: {}, s: { depends_on: ['a', 's'] } } })).toEqual(['steps.s.depends_on: cycle s → s']);
  });

  it('rejects unknown dependencies', () => {
    expect(problems({ id: 'u', steps: { a: { depends_on: ['ghost'] } } })).toEqual(['steps.a.depends_on: unknown step "ghost"']);
  });

  it('a step may read only steps it depends on', () => {
    expect(
      problems({
        id: 'r',
        steps: {
          a: {},
          b: { input: { x: '${steps.a.output}' } },
          c: { depends_on: ['b'], condition: 'steps.a.output.ok == true' }, // b does not depend on a
          d: { depends_on: ['a'], for_each: 'steps.zz.output' },
        },
      }),
    ).toEqual([
      'steps.b.input: reads steps.a, which is not among its dependencies (add it to depends_on)',
      'steps.c.condition: reads steps.a, which is not among its dependencies (add it to depends_on)',
      'steps.d.for_each: reads steps.zz, which is not a step of this workflow',
    ]);
  });
});

describe('field validation', () => {
  it('compiles expressions and templates at create time and names the field', () => {
    expect(
      problems({
        id: 'e',
        steps: {
          a: { condition: 'input.x >' },
          b: { for_each: 'nosuch.var && true' },
          c: { input: { deep: ['ok', 'x ${input.y'] } },
          d: { type: 'delay', delay_until: 'tomorrow' },
        },
      }),
    ).toEqual([
      'steps.d.delay_until: "tomorrow" is not an RFC 3339 time',
      'steps.a.condition: CEL syntax error: Unexpected token: EOF',
      'steps.b.for_each: CEL type error: Unknown variable: nosuch',
      'steps.c.input.deep[1]: unterminated template expression at offset 2',
    ]);
  });

  it('checks types, enums, schemas and reserved paths', () => {
    expect(
      problems({
        id: 'f',
        input_schema: { type: 'nonsense' },
        steps: {
          a: {
            topic: 'jobs.wrong',
            retry: { max_retries: 1.5, multiplier: 0.5 },
            timeout_sec: -1,
            trigger_rule: 'sometimes',
            output_path: 'steps.a',
            output_schema: 'not-an-object',
            route_labels: { pool: ['x'] },
            meta: { actor_type: 'robot', risk_tags: 'write', labels: { n: 1 } },
          },
          b: { type: 'approval', for_each: 'input.xs' },
        },
      }),
    ).toEqual([
      expect.stringMatching(/^input_schema: invalid JSON schema/),
      'steps.a.topic: must be a topic such as job.team.action (starts with "job.", no spaces or wildcards)',
      'steps.a.output_schema: must be a JSON schema object',
      'steps.a.output_path: "steps" is reserved for step outputs',
      'steps.a.meta.actor_type: must be human or service',
      'steps.a.retry.max_retries: must be an integer',
      'steps.a.retry.multiplier: must be >= 1',
      'steps.a.timeout_sec: must be a number >= 0',
      'steps.a.route_labels.pool: must be a string',
      'steps.a.trigger_rule: must be one of all_succeeded, none_failed, all_done',
      'steps.b.for_each: is only supported on job steps, not on approval steps',
    ]);
  });

  it('coerces lenient upstream forms: single strings to lists, scalar labels to strings, boolean conditions', () => {
    const def = parseWorkflow({ id: 'l', steps: { a: { condition: true, meta: { risk_tags: 'write', labels: { n: 1, b: false } }, route_labels: { p: 2 } } } });
    expect(def.steps.a).toMatchObject({ condition: 'true', meta: { risk_tags: ['write'], labels: { n: '1', b: 'false' } }, route_labels: { p: '2' } });
  });
});

describe('compileWorkflow', () => {
  it('orders steps by dependency with ties by id and resolves defaults', () => {
    const c = compileWorkflow({
      id: 'o',
      steps: { z: {}, m: { depends_on: ['z'] }, a: { depends_on: ['z'] }, b: {}, w: { type: 'approval', retry: { max_retries: 2, initial_backoff_sec: 2 } } },
    });
    expect(c.order).toEqual(['b', 'w', 'z', 'a', 'm']);
    expect(c.steps.get('w')).toMatchObject({ kind: 'approval', triggerRule: 'all_succeeded', maxParallel: 0, retry: { maxRetries: 2, initialMs: 2000, maxMs: 300_000, multiplier: 2 } });
    expect(c.steps.get('a')).toMatchObject({ kind: 'job', topic: 'job.workflow.o', deps: ['z'] });
    expect(c.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('memoises by content', () => {
    const def = { id: 'm', steps: { s: { input: { x: '${input.x}' } } } };
    expect(compileWorkflow(def)).toBe(compileWorkflow(structuredClone(def)));
    expect(compileWorkflow(def)).not.toBe(compileWorkflow({ ...def, version: '2' }));
  });
});
