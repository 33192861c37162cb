// Property test: random valid DAGs driven by a host that delivers job results, approvals and timers in random
// orders and batches, with duplicates and stale events mixed in. Every schedule of the same workflow must
// reach the same final state; no step is dispatched before its dependencies allow it; no job id is
// dispatched twice (the Driver also checks purity, versioning and timeline sequencing on every call).
import type { JsonValue } from '@cordum/core';
import { describe, expect, it } from 'vitest';
import { compileWorkflow } from './definition.js';
import { Driver } from './harness.test-util.js';
import type { DispatchJobCommand, JobOutcome, RunEvent, StepDefinition, WorkflowRun } from './model.js';
import { TERMINAL_STEP_STATUSES } from './reducer.js';

/** mulberry32: a tiny seeded PRNG, enough for test data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  float(): number {
    return this.next();
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)] as T;
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
    }
    return xs;
  }
}

/** FNV-1a: the deterministic "worker" decides each job's outcome from its id alone. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

type Case = { definition: { id: string; steps: Record<string, Partial<StepDefinition>> }; input: Record<string, JsonValue> };

function randomCase(rng: Rng, n: number): Case {
  const steps: Record<string, Partial<StepDefinition>> = {};
  const input: Record<string, JsonValue> = {};
  for (let i = 0; i < rng.int(1, 8); i++) {
    const id = `s${i}`;
    const earlier = Object.keys(steps);
    const deps = earlier.filter(() => rng.chance(0.35)).slice(0, 3);
    const step: Partial<StepDefinition> = deps.length > 0 ? { depends_on: deps } : {};
    const roll = rng.float();
    if (roll < 0.5) {
      step.topic = 'job.prop.work';
      step.input = { self: id, ...Object.fromEntries(deps.map((d) => [d, `\${steps.${d}.output}`])) };
    } else if (roll < 0.65) {
      step.topic = 'job.prop.each';
      step.for_each = `input.list_${id}`;
      step.max_parallel = rng.int(0, 3);
      step.input = { item: '${item}', self: id };
      input[`list_${id}`] = Array.from({ length: rng.int(0, 4) }, (_, k) => k * 10);
    } else if (roll < 0.73) {
      step.type = 'condition';
      step.condition = `input.flag_${id}`;
      input[`flag_${id}`] = rng.chance(0.5);
    } else if (roll < 0.8) {
      step.type = 'approval';
    } else if (roll < 0.87) {
      step.type = 'delay';
      step.delay_sec = rng.int(0, 3);
    } else if (roll < 0.93) {
      step.type = 'notify';
      step.input = { message: `from ${id}` };
    } else {
      step.topic = 'job.prop.gated';
      const d = deps[0];
      step.condition = d === undefined ? `!input.skip_${id}` : `steps.${d}.output.n > 3`;
      if (d === undefined) input[`skip_${id}`] = rng.chance(0.5);
    }
    if (step.topic !== undefined && rng.chance(0.5)) step.retry = { max_retries: rng.int(1, 2), initial_backoff_sec: rng.int(0, 2) };
    if (deps.length > 0 && rng.chance(0.25)) step.trigger_rule = rng.pick(['none_failed', 'all_done'] as const);
    steps[id] = step;
  }
  return { definition: { id: `prop${n}`, steps }, input };
}

/** The deterministic outcome of a job; the output depends on the input, so data flow is compared too. */
function outcome(cmd: DispatchJobCommand): { state: JobOutcome; output?: JsonValue; retryable?: boolean } {
  const key = cmd.job_id.slice(cmd.job_id.indexOf(':') + 1);
  const h = hash(key) % 20;
  if (h < 13) return { state: 'succeeded', output: { n: hash(`${key}#n`) % 8, job: key, in: cmd.input } };
  if (h < 17) return { state: 'failed' };
  if (h < 18) return { state: 'failed', retryable: false };
  if (h < 19) return { state: 'timed_out' };
  return { state: 'denied' };
}

/** What must not depend on the schedule. A failed fan-out's items and message name whichever item lost first. */
function finalState(run: WorkflowRun): JsonValue {
  const steps: Record<string, JsonValue> = {};
  for (const [id, s] of Object.entries(run.steps)) {
    const fanOutFailure = s.items !== undefined && s.status === 'failed';
    steps[id] = {
      status: s.status,
      ...(s.output === undefined ? {} : { output: s.output }),
      ...(s.skip_reason === undefined ? {} : { skip_reason: s.skip_reason }),
      ...(fanOutFailure ? {} : { attempts: s.attempts, error: s.error?.code ?? null }),
      ...(fanOutFailure || s.items === undefined ? {} : { items: s.items.map((it) => ({ status: it.status, attempts: it.attempts, output: it.output ?? null })) }),
    };
  }
  return { status: run.status, failed_step: run.error?.step_id ?? null, steps, context: run.context };
}

type Schedule = { duplicates: boolean; batches: boolean; seed: number };

function play(c: Case, schedule: Schedule): { final: JsonValue; dispatches: number } {
  const rng = new Rng(schedule.seed);
  const compiled = compileWorkflow(c.definition);
  const d = new Driver(c.definition, { input: c.input });
  const sent = new Map<string, DispatchJobCommand>();
  const outstanding: string[] = [];
  const delivered: RunEvent[] = [];
  const firedTimers: string[] = [];
  let dispatches = 0;

  const observe = (): void => {
    for (const cmd of d.last?.commands ?? []) {
      if (cmd.type !== 'dispatch_job') continue;
      dispatches++;
      // Gating: at dispatch time every dependency has the outcome the trigger rule asks for.
      const step = compiled.steps.get(cmd.step_id);
      for (const dep of step?.deps ?? []) {
        const status = d.run.steps[dep]?.status;
        if (status === undefined) throw new Error(`dependency ${dep} missing`);
        const rule = step?.triggerRule;
        const allowed = rule === 'all_done' ? TERMINAL_STEP_STATUSES.has(status) : rule === 'none_failed' ? status === 'succeeded' || status === 'skipped' : status === 'succeeded';
        if (!allowed) throw new Error(`${cmd.job_id} dispatched while dependency ${dep} is ${status}`);
      }
      sent.set(cmd.job_id, cmd);
      outstanding.push(cmd.job_id);
    }
  };
  observe();

  for (let guard = 0; guard < 5000; guard++) {
    if (d.run.status !== 'running' && d.run.status !== 'waiting') break;
    const waiting = Object.values(d.run.steps).filter((s) => s.status === 'waiting');
    const timers = Object.values(d.run.timers);
    const choices: string[] = [];
    if (outstanding.length > 0) choices.push('results', 'results');
    if (waiting.length > 0) choices.push('approval');
    if (timers.length > 0) choices.push('timer');
    if (choices.length === 0) throw new Error(`run stuck: ${JSON.stringify(d.status())}`);
    const action = rng.pick(choices);
    const events: RunEvent[] = [];
    const earlierResults = [...delivered];
    const earlierTimers = [...firedTimers];
    if (action === 'results') {
      rng.shuffle(outstanding);
      const k = schedule.batches ? rng.int(1, Math.min(3, outstanding.length)) : 1;
      for (const jobId of outstanding.splice(0, k)) {
        const o = outcome(sent.get(jobId) as DispatchJobCommand);
        const e: RunEvent = { type: 'job_result', job_id: jobId, ...o };
        events.push(e);
        delivered.push(e);
      }
    } else if (action === 'approval') {
      const s = rng.pick(waiting);
      const approve = hash(`${c.definition.id}/${s.step_id}`) % 4 !== 0;
      events.push({ type: approve ? 'step_approved' : 'step_rejected', step_id: s.step_id, by: 'prop' });
    } else {
      const t = timers.reduce((a, b) => (b.due_ms < a.due_ms ? b : a));
      d.now = Math.max(d.now, t.due_ms);
      if (rng.chance(0.5)) events.push({ type: 'timer_fired', timer_id: t.timer_id });
      firedTimers.push(t.timer_id);
    }
    // Duplicates and stale events; each must be reported as ignored and change nothing.
    const injected: RunEvent[] = [];
    if (schedule.duplicates) {
      if (earlierResults.length > 0 && rng.chance(0.3)) injected.push(rng.pick(earlierResults));
      if (earlierTimers.length > 0 && rng.chance(0.2)) injected.push({ type: 'timer_fired', timer_id: rng.pick(earlierTimers) });
      const finished = Object.values(d.run.steps).filter((s) => TERMINAL_STEP_STATUSES.has(s.status));
      if (finished.length > 0 && rng.chance(0.1)) injected.push({ type: 'step_approved', step_id: rng.pick(finished).step_id, by: 'late' });
      if (rng.chance(0.1) && sent.size > 0) {
        // A result for an attempt that never existed (attempt 99).
        const any = rng.pick([...sent.keys()]);
        injected.push({ type: 'job_result', job_id: any.replace(/@\d+$/, '@99'), state: 'succeeded', output: 'bogus' });
      }
      events.push(...injected);
      rng.shuffle(events);
    }
    const res = d.send(...events);
    for (const e of injected) {
      if (!res.ignored.some((i) => i.event === e)) throw new Error(`stale event was acted on: ${JSON.stringify(e)}`);
    }
    observe();
  }
  expect(['succeeded', 'failed', 'timed_out']).toContain(d.run.status);
  for (const s of Object.values(d.run.steps)) expect(TERMINAL_STEP_STATUSES.has(s.status)).toBe(true);
  expect(d.run.timers).toEqual({});
  return { final: finalState(d.run), dispatches };
}

describe('reducer properties', () => {
  const CASES = 300;

  it(`${CASES} random DAGs reach the same final state under any delivery order, with duplicates and stale events`, () => {
    let dispatched = 0;
    for (let n = 0; n < CASES; n++) {
      const c = randomCase(new Rng(1000 + n), n);
      const reference = play(c, { duplicates: false, batches: false, seed: 1 });
      dispatched += reference.dispatches;
      for (const seed of [2, 3, 4]) {
        const other = play(c, { duplicates: true, batches: true, seed: seed * 7919 + n });
        if (JSON.stringify(other.final) !== JSON.stringify(reference.final)) {
          expect({ case: n, definition: c.definition, input: c.input, final: other.final }).toEqual({
            case: n,
            definition: c.definition,
            input: c.input,
            final: reference.final,
          });
        }
      }
    }
    expect(dispatched).toBeGreaterThan(CASES); // the generator does produce work
  });

  it('the generator covers every step type and outcome', () => {
    const types = new Set<string>();
    for (let n = 0; n < CASES; n++) {
      for (const s of Object.values(randomCase(new Rng(1000 + n), n).definition.steps)) {
        types.add(s.for_each !== undefined ? 'for_each' : s.condition !== undefined && s.type === undefined ? 'gated' : (s.type ?? 'worker'));
      }
    }
    expect([...types].sort()).toEqual(['approval', 'condition', 'delay', 'for_each', 'gated', 'notify', 'worker']);
  });
});
