import { type Counter, type Histogram, type Metrics, createMetrics } from '@cordum/core';

/** The workflow engine's Prometheus metrics (created once per registry, so cordum dev can share one). */
export type WorkflowEngineMetrics = {
  /** Runs entering a status (pending is counted when the engine first sees a run). */
  runs: Counter<'status'>;
  stepsDispatched: Counter<'dry_run'>;
  /** Executed commands by type and outcome (ok, duplicate, failed). */
  commands: Counter<'type' | 'outcome'>;
  reduceSeconds: Histogram<never>;
  casSeconds: Histogram<never>;
  conflicts: Counter<never>;
  eventsReduced: Counter<'type'>;
  eventsIgnored: Counter<'type'>;
  doorbells: Counter<'kind' | 'outcome'>;
  resultWakeups: Counter<'outcome'>;
  reconcilerActions: Counter<'kind'>;
  processErrors: Counter<never>;
};

export function createWorkflowEngineMetrics(metrics: Metrics = createMetrics()): WorkflowEngineMetrics {
  return {
    runs: metrics.counter('workflow_runs_total', 'Runs entering a status, by status', ['status']),
    stepsDispatched: metrics.counter('workflow_steps_dispatched_total', 'Step attempts dispatched as jobs (dry_run true/false)', ['dry_run']),
    commands: metrics.counter('workflow_commands_total', 'Reducer commands executed, by type and outcome', ['type', 'outcome']),
    reduceSeconds: metrics.histogram('workflow_reduce_seconds', 'Time to reduce one batch of run events'),
    casSeconds: metrics.histogram('workflow_cas_seconds', 'Time of the compare-and-set write of a run'),
    conflicts: metrics.counter('workflow_cas_conflicts_total', 'Run writes lost to another writer (re-read and re-reduced)'),
    eventsReduced: metrics.counter('workflow_events_reduced_total', 'Run events reduced, by type', ['type']),
    eventsIgnored: metrics.counter('workflow_events_ignored_total', 'Run events the reducer ignored (duplicate, stale, out of place), by type', ['type']),
    doorbells: metrics.counter('workflow_doorbells_total', 'sys.workflow.command messages, by kind and outcome', ['kind', 'outcome']),
    resultWakeups: metrics.counter('workflow_result_wakeups_total', 'sys.job.result wake-ups, by outcome', ['outcome']),
    reconcilerActions: metrics.counter('workflow_reconciler_actions_total', 'Reconciler actions, by kind', ['kind']),
    processErrors: metrics.counter('workflow_process_errors_total', 'Run processing passes that failed (left to the reconciler)'),
  };
}
