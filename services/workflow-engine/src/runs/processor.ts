import { performance } from 'node:perf_hooks';
import { type Logger, newId, toError } from '@cordum/core';
import { isTerminalJobState } from '@cordum/protocol';
import {
  type FenceRequirement,
  type InboxEvent,
  type JobStore,
  type PointerStore,
  type RunRecord,
  type RunStore,
  type SchemaStore,
  type WorkflowStore,
  isTerminalRunStatus,
} from '@cordum/store';
import {
  type CompiledWorkflow,
  type RunCommand,
  type RunEvent,
  type StepRun,
  type WorkflowRun,
  isRunTerminal,
  nextDueMs,
  reconcileCommands,
  reduce,
} from '@cordum/workflow';
import type { StoreClock } from '../clock/store-clock.js';
import type { Executor, StoredAhead } from '../commands/executor.js';
import type { WorkflowEngineMetrics } from '../metrics.js';
import type { WorkflowEngineOptions } from '../options.js';
import { jobResultEvent } from './job-events.js';
import { type KeyedQueue, createKeyedQueue } from './keyed-queue.js';
import { type CompiledCache, createCompiledCache, materializeRun, resolveSchemas, toRunEvent } from './materialize.js';

// One pass over a run: read the record and its inbox, reduce every queued event together, write the result
// back in ONE compare-and-set (run document, status, timeline entries, inbox ack, due time), then execute the
// commands. A lost compare-and-set (another instance, or a gateway write) means re-read and reduce again;
// the commands of a lost write are never executed. Passes of one run are serialised in this process.
//
// The due time written with the run is the truth about when the run needs the engine again: its earliest
// timer, or — while the commands just written are not known to be executed — now + commandGraceMs, so a
// crash between the write and the dispatch is repaired by any instance's reconciler (which re-derives the
// commands with reconcileCommands; executing them again is a no-op).

/** The most inbox events one pass reads (the store's maximum). */
const INBOX_BATCH = 1000;

export type ProcessMode = {
  /** Also re-derive and execute the commands the stored run implies (crash repair). */
  reconcile?: boolean;
  /** Also look up the run's running jobs in the JobStore (lost sys.job.result). */
  probe?: boolean;
};

export type RunProcessorDeps = {
  runs: RunStore;
  jobs: JobStore;
  pointers: PointerStore;
  workflows: Pick<WorkflowStore, 'getVersion'>;
  schemas?: Pick<SchemaStore, 'get'>;
  executor: Executor;
  clock: StoreClock;
  logger: Logger;
  metrics: WorkflowEngineMetrics;
  options: WorkflowEngineOptions;
};

export type RunProcessor = {
  /** One serialised pass over the run (coalesced with passes asked for meanwhile). Never throws. */
  process(tenant: string, runId: string, mode?: ProcessMode): Promise<void>;
  /**
   * Reduces a terminal job's result (read from the JobStore) in the run's next pass. Not written to the
   * inbox: the JobStore holds it; a duplicate is ignored by the reducer.
   */
  deliverResult(tenant: string, runId: string, event: RunEvent & { type: 'job_result' }, guard?: FenceRequirement): Promise<void>;
  /** Cancels in-process wake-ups and waits for running passes. */
  stop(): Promise<void>;
};

/**
 * A result this process holds for the run's next pass. With a guard it was taken on the word of a
 * job-final doorbell: the run write that acts on it requires the job's final fence to hold that outcome.
 */
type LocalEvent = { event: RunEvent; guard?: FenceRequirement };

/** What a pass does: the public modes, and whether it reads the run's inbox. */
type Mode = Required<ProcessMode> & { inbox: boolean };

/**
 * A run as stored: its version and due time, and the document. `stored` says the document is exactly the
 * one in the store at that version (read as is, or written by this process), so an update may pass it as
 * previousDoc and write only the parts that changed.
 */
type Loaded = { version: number; dueAt: number | null; run: WorkflowRun; stored: boolean };

export function createRunProcessor(deps: RunProcessorDeps): RunProcessor {
  const { runs, jobs, clock, logger, metrics, options, executor } = deps;
  const compiledCache: CompiledCache = createCompiledCache();
  const queue: KeyedQueue = createKeyedQueue((key, err) => {
    metrics.processErrors.inc();
    logger.warn({ run_key: key, err: toError(err).message }, 'run pass failed; the reconciler retries it');
  });
  /** Modes asked for while a pass was queued: the next pass does the union. */
  const pendingModes = new Map<string, Mode>();
  /**
   * Job results this process read from the JobStore, waiting for the run's next pass. They are not queued
   * in the run's inbox: the JobStore already holds them durably, so a pass that dies with them is repaired
   * by the reconciler's probe, and a result costs no inbox write and read.
   */
  const localEvents = new Map<string, LocalEvent[]>();
  const wakeups = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  /**
   * What this process last wrote per run (its version and document): the next pass starts from it instead
   * of reading and parsing the whole document again. Safe because every write is a compare-and-set on the
   * version: if anyone else wrote since, the write loses and the pass re-reads from the store.
   */
  const written = new Map<string, Loaded>();
  let stopped = false;

  function remember(key: string, version: number, dueAt: number | null, run: WorkflowRun): void {
    written.delete(key);
    if (written.size >= options.runCacheSize) written.delete(written.keys().next().value as string);
    written.set(key, { version, dueAt, run, stored: true });
  }

  const keyOf = (tenant: string, runId: string): string => `${tenant}|${runId}`;

  function scheduleWake(tenant: string, runId: string, dueStoreMs: number | undefined): void {
    const key = keyOf(tenant, runId);
    const existing = wakeups.get(key);
    if (dueStoreMs === undefined || stopped || dueStoreMs - clock.now() > options.wakeHorizonMs) {
      if (existing !== undefined) {
        clearTimeout(existing.timer);
        wakeups.delete(key);
      }
      return;
    }
    if (existing !== undefined) {
      if (existing.at === dueStoreMs) return;
      clearTimeout(existing.timer);
    }
    // A couple of ms late rather than early: a timer is due when store time >= due_ms.
    const delay = Math.max(0, dueStoreMs - clock.now() + 2);
    const timer = setTimeout(() => {
      wakeups.delete(key);
      void process(tenant, runId);
    }, delay);
    timer.unref();
    wakeups.set(key, { at: dueStoreMs, timer });
  }

  async function probeRunningJobs(run: WorkflowRun): Promise<RunEvent[]> {
    const ids: string[] = [];
    for (const step of Object.values<StepRun>(run.steps)) {
      if (step.status !== 'running') continue;
      if (step.items === undefined) {
        if (step.job_id !== undefined) ids.push(step.job_id);
      } else {
        for (const it of step.items) if (it.status === 'running' && it.job_id !== undefined) ids.push(it.job_id);
      }
    }
    const events: RunEvent[] = [];
    await Promise.all(
      ids.map(async (id) => {
        const job = await jobs.get(id);
        if (job === undefined || !isTerminalJobState(job.state)) return;
        const ev = await jobResultEvent(job, deps.pointers, { maxOutputBytes: options.maxOutputBytes });
        if (ev !== undefined) events.push(ev);
      }),
    );
    if (events.length > 0) metrics.reconcilerActions.inc({ kind: 'lost_result' }, events.length);
    // Deterministic order whatever the lookups' timing.
    return events.sort((a, b) => ((a as { job_id: string }).job_id < (b as { job_id: string }).job_id ? -1 : 1));
  }

  /** A run whose document cannot be used (definition gone or invalid) fails instead of staying due forever. */
  async function failUnusable(record: RunRecord, err: unknown): Promise<void> {
    const message = toError(err).message;
    const at = new Date(clock.now()).toISOString();
    const res = await runs.update(record.tenant, record.id, {
      expectedVersion: record.version,
      status: 'failed',
      doc: { ...record.doc, status: 'failed', error: { code: 'run_invalid', message }, completed_at: at, version: record.version + 1 },
      dueAt: null,
      timeline: [{ key: 'run_invalid', data: { type: 'run_status', status: 'failed', run_id: record.id, workflow_id: record.workflowId, time: at, message } }],
      reply: 'version',
    });
    if (res.outcome === 'updated') {
      metrics.runs.inc({ status: 'failed' });
      logger.error({ run_id: record.id, tenant: record.tenant, err: message }, 'run cannot be executed; marked failed');
    }
  }

  function dedupe(commands: RunCommand[]): RunCommand[] {
    const seen = new Set<string>();
    return commands.filter((c) => {
      const id =
        c.type === 'dispatch_job' || c.type === 'cancel_job' ? `${c.type}:${c.job_id}` : c.type === 'emit_alert' ? `alert:${c.alert_id}` : `${c.type}:${c.timer_id}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
  }

  /** The run as stored: this process's last write when it has one, else read (and materialised) from the store. */
  async function load(tenant: string, runId: string, key: string, fresh: boolean): Promise<Loaded | 'gone'> {
    const mine = fresh ? undefined : written.get(key);
    if (mine !== undefined) return mine;
    const record = await runs.get(tenant, runId);
    if (record === undefined || isTerminalRunStatus(record.status)) return 'gone';
    try {
      const run = await materializeRun(record, deps.workflows);
      return { version: record.version, dueAt: record.dueAt, run, stored: run === (record.doc as unknown) };
    } catch (err) {
      await failUnusable(record, err);
      return 'gone';
    }
  }

  /** One pass; true when another is needed right away (a full inbox batch). */
  async function pass(tenant: string, runId: string, mode: Mode): Promise<boolean> {
    const key = keyOf(tenant, runId);
    const local = localEvents.get(key) ?? [];
    localEvents.delete(key);
    try {
      return await passWith(tenant, runId, key, mode, [...local]);
    } catch (err) {
      // Kept for the next pass (a retry, or the reconciler's, whose probe would find them anyway).
      if (local.length > 0) localEvents.set(key, [...local, ...(localEvents.get(key) ?? [])]);
      throw err;
    }
  }

  /**
   * Results taken on the word of a job-final doorbell, found wrong (or no longer confirmable) by the store:
   * each is read from the JobStore instead, as any other result.
   */
  async function verify(local: LocalEvent[]): Promise<LocalEvent[]> {
    const out: LocalEvent[] = [];
    for (const l of local) {
      if (l.guard === undefined || l.event.type !== 'job_result') {
        out.push(l);
        continue;
      }
      metrics.resultWakeups.inc({ outcome: 'outcome_not_confirmed' });
      const job = await jobs.get(l.event.job_id);
      const event = job === undefined ? undefined : await jobResultEvent(job, deps.pointers, { maxOutputBytes: options.maxOutputBytes, fatal: l.event.retryable === false });
      if (event !== undefined) out.push({ event });
    }
    return out;
  }

  async function passWith(tenant: string, runId: string, key: string, mode: Mode, local: LocalEvent[]): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const readFresh = attempt > 0 || mode.reconcile || mode.probe;
      const loaded = await load(tenant, runId, key, readFresh);
      if (loaded === 'gone') {
        written.delete(key);
        scheduleWake(tenant, runId, undefined);
        return false;
      }
      const run = loaded.run;
      let compiled: CompiledWorkflow;
      try {
        compiled = compiledCache.get(run);
      } catch (err) {
        const record = await runs.get(tenant, runId);
        if (record !== undefined) await failUnusable(record, err);
        return false;
      }
      const inbox: InboxEvent[] = mode.inbox || attempt > 0 ? await runs.inbox(tenant, runId, { limit: INBOX_BATCH }) : [];
      const events: RunEvent[] = [];
      if (run.status === 'pending') {
        await resolveSchemas(run, tenant, deps.schemas);
        events.push({ type: 'run_started' });
      }
      for (const e of inbox) {
        const ev = toRunEvent(e.event);
        if (ev === undefined) {
          metrics.eventsIgnored.inc({ type: 'malformed' });
          logger.warn({ run_id: runId, tenant, inbox_seq: e.seq }, 'inbox event is not a run event; dropped');
        } else events.push(ev);
      }
      for (const l of local) events.push(l.event);
      if (mode.probe) events.push(...(await probeRunningJobs(run)));

      const now = clock.now();
      const t0 = performance.now();
      const r = reduce(run, events, now, { compiled });
      metrics.reduceSeconds.observe((performance.now() - t0) / 1000);
      // A result this process read may be for a job another instance dispatched after this process's last
      // write (its copy of the run does not know the job yet): an ignored result is checked against the
      // stored run before it is dropped. Inbox events need no such care: acking them is a compare-and-set.
      const ignored = new Set(r.ignored.map((ig) => ig.event));
      if (!readFresh && local.some((l) => ignored.has(l.event))) continue;
      // The outcomes taken on a doorbell's word that this write acts on: the store confirms them in the write.
      const requires = local.flatMap((l) => (l.guard !== undefined && !ignored.has(l.event) ? [l.guard] : []));
      for (const ev of events) metrics.eventsReduced.inc({ type: ev.type });
      for (const ig of r.ignored) {
        metrics.eventsIgnored.inc({ type: ig.event.type });
        logger.debug({ run_id: runId, tenant, event: ig.event.type, reason: ig.reason }, 'event ignored');
      }

      const next = r.run;
      const fresh = r.commands.filter((c) => c.type === 'dispatch_job' || c.type === 'cancel_job' || c.type === 'emit_alert');
      const terminal = isRunTerminal(next);
      const timerDue = nextDueMs(next);
      let dueAt: number | null = null;
      if (!terminal) {
        if (timerDue !== undefined) dueAt = timerDue;
        if (fresh.length > 0) dueAt = Math.min(dueAt ?? Number.POSITIVE_INFINITY, now + options.commandGraceMs);
      }
      const lastSeq = inbox.length === 0 ? undefined : (inbox[inbox.length - 1] as InboxEvent).seq;
      const needsWrite = r.changed || lastSeq !== undefined || dueAt !== loaded.dueAt;
      let ahead: StoredAhead | undefined;
      if (needsWrite) {
        const t1 = performance.now();
        next.version = loaded.version + 1;
        // The steps' inputs and jobs go out right behind the write, fenced on it: one store round trip, and
        // nothing of them is written if the write loses (see Executor.storeAhead).
        const fence = r.commands.some((c) => c.type === 'dispatch_job') ? `wf-${newId()}` : undefined;
        const writing = runs.update(tenant, runId, {
          expectedVersion: loaded.version,
          ...(r.changed ? { doc: next, ...(loaded.stored ? { previousDoc: loaded.run } : {}) } : {}),
          ...(next.status === run.status ? {} : { status: next.status }),
          dueAt,
          ...(r.timeline.length === 0 ? {} : { timeline: r.timeline.map((e) => ({ key: `seq:${e.seq}`, data: e })) }),
          ...(lastSeq === undefined ? {} : { ackInbox: lastSeq }),
          ...(fence === undefined ? {} : { fence }),
          ...(requires.length === 0 ? {} : { requires }),
          // This process keeps the document it wrote: the store answers with the new version only.
          reply: 'version',
        });
        ahead = fence === undefined ? undefined : executor.storeAhead(tenant, next, compiled, r.commands, fence);
        const res = await writing.finally(() => metrics.casSeconds.observe((performance.now() - t1) / 1000));
        if (res.outcome !== 'updated' && ahead !== undefined) await Promise.all(ahead.values());
        if (res.outcome === 'not_found') {
          written.delete(key);
          return false;
        }
        if (res.outcome === 'fenced') {
          local.splice(0, local.length, ...(await verify(local)));
          continue;
        }
        if (res.outcome === 'conflict') {
          written.delete(key);
          metrics.conflicts.inc();
          if (attempt >= options.maxConflictRetries) {
            // The results this pass held go to the run's inbox, where whoever wins the run reduces them.
            for (const l of await verify(local)) {
              if (l.event.type === 'job_result') await runs.pushEvent(tenant, runId, l.event, { key: `result:${l.event.job_id}` });
            }
            logger.warn({ run_id: runId, tenant, attempts: attempt + 1 }, 'run write kept losing; left to the reconciler');
            return false;
          }
          // Back off a little under contention so the winner's commands are not starved.
          if (attempt > 2) await new Promise((resolve) => setTimeout(resolve, Math.min(50, attempt * 2)));
          continue;
        }
        next.version = res.run.version;
        if (terminal) written.delete(key);
        else remember(key, res.run.version, dueAt, next);
      }
      if (run.status === 'pending') metrics.runs.inc({ status: 'pending' });
      for (const e of r.timeline) if (e.type === 'run_status' && e.status !== undefined) metrics.runs.inc({ status: e.status });

      const commands = mode.reconcile && !terminal ? dedupe([...r.commands, ...reconcileCommands(next, { compiled })]) : r.commands;
      if (mode.reconcile && commands.length > r.commands.length) metrics.reconcilerActions.inc({ kind: 'commands_rederived' });
      const failed = await executor.execute(tenant, next, compiled, commands, ahead);
      await executor.publishStatus(tenant, next, r.timeline);
      if (failed > 0) logger.warn({ run_id: runId, tenant, failed }, 'some commands failed; the run is due again after the command grace');
      scheduleWake(tenant, runId, terminal ? undefined : timerDue);
      if (terminal) logger.info({ run_id: runId, tenant, workflow_id: next.workflow_id, status: next.status }, 'run finished');
      return inbox.length >= INBOX_BATCH;
    }
  }

  /** Asks for a pass doing `mode` (joined with whatever the next pass was asked to do already). */
  function ask(key: string, mode: Mode): void {
    const asked = pendingModes.get(key);
    pendingModes.set(
      key,
      asked === undefined
        ? mode
        : { reconcile: asked.reconcile || mode.reconcile, probe: asked.probe || mode.probe, inbox: asked.inbox || mode.inbox },
    );
  }

  function enqueue(tenant: string, runId: string, mode: ProcessMode, inbox: boolean): Promise<void> {
    const key = keyOf(tenant, runId);
    ask(key, { reconcile: mode.reconcile === true, probe: mode.probe === true, inbox });
    return queue.run(key, async () => {
      for (;;) {
        const m = pendingModes.get(key) ?? { reconcile: false, probe: false, inbox: false };
        pendingModes.delete(key);
        if (stopped) return;
        const more = await pass(tenant, runId, m);
        if (!more) return;
        ask(key, { reconcile: false, probe: false, inbox: true });
      }
    });
  }

  const process = (tenant: string, runId: string, mode: ProcessMode = {}): Promise<void> => enqueue(tenant, runId, mode, true);

  return {
    process,
    async deliverResult(tenant, runId, event, guard) {
      const key = keyOf(tenant, runId);
      const l: LocalEvent = guard === undefined ? { event } : { event, guard };
      const list = localEvents.get(key);
      if (list === undefined) localEvents.set(key, [l]);
      else list.push(l);
      await enqueue(tenant, runId, {}, false);
    },
    async stop() {
      stopped = true;
      for (const w of wakeups.values()) clearTimeout(w.timer);
      wakeups.clear();
      await queue.idle();
      localEvents.clear();
    },
  };
}
