import { parseDuration } from '@cordum/core/config';
import type { App } from '../cli/app.js';
import { usageError } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { GatewayClient } from '../gateway/client.js';
import type { JobDetail } from '../gateway/types.js';
import { formatElapsed } from '../output/format.js';
import { createProgress } from './progress.js';
import { jobDetailLines } from './view.js';
import { waitForJob } from './wait.js';

/** --timeout of --wait and watch: a duration (`90s`, `5m`, bare seconds); 0 waits as long as it takes. */
export function parseWaitTimeout(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const ms = parseDuration(raw);
  if (ms === undefined || ms < 0) throw usageError(`--timeout: ${JSON.stringify(raw)} is not a duration (e.g. 90s, 5m; 0 waits forever)`);
  return ms;
}

/** Exit code for a job's final state: 0 only for SUCCEEDED. */
export function exitCodeForJob(state: string): ExitCode {
  return state === 'SUCCEEDED' ? EXIT.ok : EXIT.jobFailed;
}

/**
 * Follows a job until it ends, with a spinner on a terminal and plain progress lines otherwise (stderr), then
 * prints the job (stdout) and returns the exit code: 0 succeeded, 7 ended otherwise, 6 timed out, 130 interrupted.
 */
export async function followJob(app: App, client: GatewayClient, jobId: string, timeoutMs: number): Promise<ExitCode> {
  const started = app.now();
  const progress = createProgress({ terminal: app.terminal, style: app.errStyle, subject: `job ${jobId}`, now: app.now, live: app.terminal.stderrIsTTY });
  let toldApproval = false;
  let outcome;
  try {
    outcome = await waitForJob({
      client,
      jobId,
      timeoutMs,
      now: app.now,
      sleep: app.sleep,
      signal: app.interrupt,
      onPoll: (job, changed) => {
        progress.update(job.state, job.wait_reason, changed);
        if (job.state === 'APPROVAL_REQUIRED' && !toldApproval) {
          toldApproval = true;
          const rule = job.decision?.rule_id ? ` (policy rule ${job.decision.rule_id})` : '';
          progress.note(`job ${jobId} waits for approval${rule}: cordumctl approval approve ${jobId}`);
        }
      },
    });
  } finally {
    progress.stop();
  }
  const show = (job: JobDetail | undefined): void => {
    if (job !== undefined) app.print(job, () => jobDetailLines(job, app.style, app.now()));
  };
  switch (outcome.kind) {
    case 'done': {
      const { job } = outcome;
      const took = formatElapsed(app.now() - started);
      if (app.format === 'table') {
        app.info(`job ${jobId} ${app.errStyle.state(job.state)} after ${took}`);
      }
      show(job);
      if (job.state !== 'SUCCEEDED') {
        const why = job.error_code === null ? '' : `: ${job.error_code}${job.error_message ? ` (${job.error_message})` : ''}`;
        app.info(`${app.errStyle.red('cordumctl:')} job ${jobId} ended ${job.state}${why}`);
      }
      return exitCodeForJob(job.state);
    }
    case 'timeout':
      if (app.format !== 'table') show(outcome.job);
      app.info(
        `${app.errStyle.red('cordumctl:')} job ${jobId} still ${outcome.job?.state ?? 'unknown'} after ${formatElapsed(timeoutMs)} (--timeout); it goes on: cordumctl job watch ${jobId}`,
      );
      return EXIT.unavailable;
    case 'interrupted':
      if (app.format !== 'table') show(outcome.job);
      app.info(`stopped waiting; job ${jobId} goes on (${outcome.job?.state ?? 'state unknown'}): cordumctl job watch ${jobId}`);
      return EXIT.interrupted;
  }
}
