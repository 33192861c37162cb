import type { App } from '../cli/app.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { type GatewayClient, apiPath } from '../gateway/client.js';
import type { RunDetail } from '../gateway/workflow-types.js';
import { createProgress } from '../jobs/progress.js';
import { formatElapsed } from '../output/format.js';
import { type StepChange, isTerminalRunStatus, runDetailLines, stepChangeLine, stepChanges } from './view.js';

// Following a workflow run until it ends: poll GET /api/v1/workflow-runs/{id}, report every step whose status
// changed, stop at a terminal run status, a timeout or an interrupt. Brief gateway trouble is retried.

export type RunWaitOutcome =
  | { readonly kind: 'done'; readonly run: RunDetail }
  | { readonly kind: 'timeout'; readonly run: RunDetail | undefined }
  | { readonly kind: 'interrupted'; readonly run: RunDetail | undefined };

export type RunWaitOptions = {
  readonly client: GatewayClient;
  readonly runId: string;
  /** Between polls (default 500 ms). */
  readonly intervalMs?: number;
  /** 0 or undefined: as long as it takes. */
  readonly timeoutMs?: number;
  readonly now: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly signal?: AbortSignal | undefined;
  /** Every poll's run, the steps that changed since the previous poll, and whether the run status changed. */
  readonly onPoll?: (run: RunDetail, steps: readonly StepChange[], statusChanged: boolean) => void;
  /** Consecutive retryable failures tolerated (default 10). */
  readonly maxRetries?: number;
};

export async function waitForRun(options: RunWaitOptions): Promise<RunWaitOutcome> {
  const { client, runId, now, sleep, signal } = options;
  const interval = options.intervalMs ?? 500;
  const deadline = options.timeoutMs === undefined || options.timeoutMs <= 0 ? Infinity : now() + options.timeoutMs;
  const maxRetries = options.maxRetries ?? 10;
  let last: RunDetail | undefined;
  let failures = 0;
  for (;;) {
    if (signal?.aborted === true) return { kind: 'interrupted', run: last };
    let run: RunDetail;
    try {
      run = await client.get<RunDetail>(apiPath('/api/v1/workflow-runs', runId));
      failures = 0;
    } catch (err) {
      if (!(err instanceof CliError) || err.exitCode !== EXIT.unavailable || ++failures > maxRetries) throw err;
      await sleep(Math.min(5_000, interval * 2 ** failures), signal);
      continue;
    }
    const changes = stepChanges(last, run);
    const statusChanged = last === undefined || last.status !== run.status;
    last = run;
    options.onPoll?.(run, changes, statusChanged);
    if (isTerminalRunStatus(run.status)) return { kind: 'done', run };
    if (now() >= deadline) return { kind: 'timeout', run };
    await sleep(Math.min(interval, Math.max(0, deadline - now())), signal);
  }
}

/** Exit code for a run's final status: 0 only for succeeded. */
export function exitCodeForRun(status: string): ExitCode {
  return status === 'succeeded' ? EXIT.ok : EXIT.jobFailed;
}

/** Why a run waits, for the spinner: the steps in status waiting. */
function waitingSteps(run: RunDetail): string | null {
  const ids = Object.entries(run.steps)
    .filter(([, s]) => s.status === 'waiting')
    .map(([id]) => id);
  return ids.length === 0 ? null : `waiting: ${ids.join(', ')}`;
}

/**
 * Follows a run until it ends: a spinner with the run status on a terminal (plain lines otherwise), one line
 * per step status change on stderr, then the run on stdout. Exit 0 succeeded, 7 ended otherwise, 6 timed out,
 * 130 interrupted (the run goes on).
 */
export async function followRun(app: App, client: GatewayClient, runId: string, timeoutMs: number): Promise<ExitCode> {
  const started = app.now();
  const progress = createProgress({ terminal: app.terminal, style: app.errStyle, subject: `run ${runId}`, now: app.now, live: app.terminal.stderrIsTTY });
  const toldApproval = new Set<string>();
  let outcome: RunWaitOutcome;
  try {
    outcome = await waitForRun({
      client,
      runId,
      timeoutMs,
      now: app.now,
      sleep: app.sleep,
      signal: app.interrupt,
      onPoll: (run, changes, statusChanged) => {
        for (const c of changes) {
          progress.note(stepChangeLine(c, app.errStyle));
          if (c.type === 'approval' && c.to === 'waiting' && !toldApproval.has(c.id)) {
            toldApproval.add(c.id);
            progress.note(`step ${c.id} waits for approval: cordumctl approval step ${run.workflow_id} ${run.id} ${c.id} --approve (or --reject)`);
          }
        }
        progress.update(run.status, waitingSteps(run), statusChanged);
      },
    });
  } finally {
    progress.stop();
  }
  const show = (run: RunDetail | undefined): void => {
    if (run !== undefined) app.print(run, () => runDetailLines(run, app.style, app.now()));
  };
  switch (outcome.kind) {
    case 'done': {
      const { run } = outcome;
      if (app.format === 'table') app.info(`run ${runId} ${app.errStyle.state(run.status)} after ${formatElapsed(app.now() - started)}`);
      show(run);
      if (run.status !== 'succeeded') {
        const why = run.error === null ? '' : `: ${run.error.code ?? ''}${run.error.message ? ` (${run.error.message})` : ''}`;
        app.info(`${app.errStyle.red('cordumctl:')} run ${runId} ended ${run.status}${why}`);
      }
      return exitCodeForRun(run.status);
    }
    case 'timeout':
      if (app.format !== 'table') show(outcome.run);
      app.info(
        `${app.errStyle.red('cordumctl:')} run ${runId} still ${outcome.run?.status ?? 'unknown'} after ${formatElapsed(timeoutMs)} (--timeout); it goes on: cordumctl run watch ${runId}`,
      );
      return EXIT.unavailable;
    case 'interrupted':
      if (app.format !== 'table') show(outcome.run);
      app.info(`stopped waiting; run ${runId} goes on (${outcome.run?.status ?? 'status unknown'}): cordumctl run watch ${runId}`);
      return EXIT.interrupted;
  }
}
