/** Tunables of one workflow-engine instance (resolved from env by config.ts, or passed by tests and cordum dev). */
export type WorkflowEngineOptions = {
  /** Sender id of packets this instance publishes. */
  instanceId: string;
  /** How often the reconciler looks for due runs (timers, unreduced events, unexecuted commands). */
  reconcileIntervalMs: number;
  /**
   * A live run not written for this long is swept: its running jobs are looked up in the JobStore (a result
   * whose sys.job.result was lost), a pending run is started (its start command was lost), and its commands
   * are re-issued. Also the slowest a lost result can cost.
   */
  staleAfterMs: number;
  /**
   * While the commands of a write are not known to be executed, the run is due this long after the write, so
   * a crash between the write and the dispatch is repaired by the reconciler (of any instance).
   */
  commandGraceMs: number;
  /** Jobs are stored PENDING due this long after their submit, so a scheduler replays a lost submit. */
  submitGraceMs: number;
  /**
   * How long a sys.job.result wake-up waits for the JobStore to show the job terminal (the scheduler writes
   * it while the engine reads): the scheduler's job-final doorbell ends the wait at once; without one the job
   * is looked at with growing gaps (25 ms, 50 ms, … 1 s), then left to the stale sweep.
   */
  resultWaitMs: number;
  /** Result payloads up to this size are read into the run (expressions, output schemas); larger stay pointers. */
  maxOutputBytes: number;
  /** Messages handled at once per subscription. */
  concurrency: number;
  /** Runs handled per reconciler pass (due list and stale sweep each). */
  reconcileBatch: number;
  /** Runs processed at once by one reconciler pass. */
  reconcileConcurrency: number;
  /** Re-reads after a lost compare-and-set before the run is left to the reconciler. */
  maxConflictRetries: number;
  /** Timers due within this horizon also get an in-process wake-up (the store's due index stays the truth). */
  wakeHorizonMs: number;
  /** Runs whose last written document this process keeps, to skip re-reading it on the next pass. */
  runCacheSize: number;
  /** JobRequest priority when the run input does not name one (upstream's default is batch). */
  defaultPriority: 'batch' | 'interactive' | 'critical';
};

export const WORKFLOW_ENGINE_DEFAULTS: Omit<WorkflowEngineOptions, 'instanceId'> = {
  reconcileIntervalMs: 1000,
  staleAfterMs: 15_000,
  commandGraceMs: 5000,
  submitGraceMs: 10_000,
  resultWaitMs: 5000,
  maxOutputBytes: 1024 * 1024,
  concurrency: 64,
  reconcileBatch: 200,
  reconcileConcurrency: 16,
  maxConflictRetries: 25,
  wakeHorizonMs: 120_000,
  runCacheSize: 1000,
  defaultPriority: 'batch',
};

export function resolveWorkflowEngineOptions(
  options: Partial<WorkflowEngineOptions> & Pick<WorkflowEngineOptions, 'instanceId'>,
): WorkflowEngineOptions {
  const resolved: WorkflowEngineOptions = { ...WORKFLOW_ENGINE_DEFAULTS, ...options };
  for (const key of ['reconcileIntervalMs', 'staleAfterMs', 'commandGraceMs', 'submitGraceMs', 'concurrency', 'reconcileBatch', 'reconcileConcurrency'] as const) {
    if (!Number.isFinite(resolved[key]) || resolved[key] <= 0) throw new RangeError(`workflow engine option ${key} must be positive, got ${resolved[key]}`);
  }
  return resolved;
}
