// Test driver for the reducer: plays the host (stores the run, collects commands and timeline, keeps a
// clock) and checks the host-visible contract on every call: the input run is never mutated, `version`
// grows by one exactly when the record changed, timeline seq numbers are contiguous and no job id is ever
// dispatched twice.
import { deepFreeze, type JsonValue } from '@cordum/core';
import { type CompiledWorkflow, compileWorkflow } from './definition.js';
import type {
  DispatchJobCommand,
  JobOutcome,
  JsonObject,
  RunCommand,
  RunEvent,
  StepRun,
  TimelineEntry,
  WorkflowRun,
} from './model.js';
import { type ReduceEnv, type ReduceResult, reduce } from './reducer.js';
import { createRun, type CreateRunOptions } from './run.js';

export const T0 = Date.UTC(2026, 0, 1);

export type DriverOptions = Partial<Omit<CreateRunOptions, 'definition' | 'now'>> & { env?: ReduceEnv; start?: boolean };

export class Driver {
  run: WorkflowRun;
  now = T0;
  readonly compiled: CompiledWorkflow;
  readonly commands: RunCommand[] = [];
  readonly timeline: TimelineEntry[] = [];
  readonly dispatchedIds = new Set<string>();
  last: ReduceResult | undefined;
  private readonly env: ReduceEnv;

  constructor(definition: unknown, options: DriverOptions = {}) {
    this.compiled = compileWorkflow(definition);
    const { env, start, ...rest } = options;
    this.env = env ?? {};
    this.run = createRun({ id: 'run1', input: {}, ...rest, definition: this.compiled, now: this.now });
    if (start !== false) this.send({ type: 'run_started' });
  }

  send(...events: RunEvent[]): ReduceResult {
    const before = JSON.stringify(this.run);
    const frozen = deepFreeze(structuredClone(this.run));
    const res = reduce(frozen, events, this.now, { ...this.env, compiled: this.compiled });
    if (JSON.stringify(frozen) !== before) throw new Error('reduce mutated its input');
    if (res.changed === (JSON.stringify(res.run) === before)) throw new Error('changed flag does not match the record');
    if (res.run.version !== this.run.version + (res.changed ? 1 : 0)) throw new Error('version must grow by one per changing call');
    let seq = this.run.timeline_seq;
    for (const t of res.timeline) {
      if (t.seq !== ++seq) throw new Error(`timeline seq ${t.seq} after ${seq - 1}`);
    }
    if (res.run.timeline_seq !== seq) throw new Error('timeline_seq does not match the entries');
    for (const c of res.commands) {
      if (c.type !== 'dispatch_job') continue;
      if (this.dispatchedIds.has(c.job_id)) throw new Error(`job id ${c.job_id} dispatched twice`);
      this.dispatchedIds.add(c.job_id);
    }
    JSON.parse(JSON.stringify(res.run)); // JSON-serialisable
    this.run = res.run;
    this.commands.push(...res.commands);
    this.timeline.push(...res.timeline);
    this.last = res;
    return res;
  }

  /** Moves the clock and reduces no events (due timers fire). */
  tick(ms: number): ReduceResult {
    this.now += ms;
    return this.send();
  }

  result(jobId: string, state: JobOutcome, output?: JsonValue, extra: Partial<Extract<RunEvent, { type: 'job_result' }>> = {}): ReduceResult {
    return this.send({ type: 'job_result', job_id: jobId, state, ...(output === undefined ? {} : { output }), ...extra });
  }

  ok(jobId: string, output: JsonValue = {}): ReduceResult {
    return this.result(jobId, 'succeeded', output, { result_ptr: `redis://res:${jobId}` });
  }

  step(id: string): StepRun {
    const s = this.run.steps[id];
    if (s === undefined) throw new Error(`no step ${id}`);
    return s;
  }

  status(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.run.steps).map(([k, v]) => [k, v.status]));
  }

  /** dispatch_job commands of the last call. */
  dispatched(): DispatchJobCommand[] {
    return (this.last?.commands ?? []).filter((c): c is DispatchJobCommand => c.type === 'dispatch_job');
  }

  lastOf<T extends RunCommand['type']>(type: T): Extract<RunCommand, { type: T }>[] {
    return (this.last?.commands ?? []).filter((c): c is Extract<RunCommand, { type: T }> => c.type === type);
  }

  timelineTypes(): string[] {
    return this.timeline.map((t) => `${t.type}${t.step_id === undefined ? '' : `:${t.step_id}`}${t.status === undefined ? '' : `=${t.status}`}`);
  }

  context(): JsonObject {
    return this.run.context;
  }
}
