import { type Command, Option } from 'commander';
import type { App } from '../cli/app.js';
import type { CommandHost } from '../cli/host.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { type GatewayClient, apiPath } from '../gateway/client.js';
import type { CancelRunResponse, RunDetail, RunSummary, StartRunResponse, TimelineEntry } from '../gateway/workflow-types.js';
import { readDocumentArgument } from '../input/read.js';
import { parseWaitTimeout } from '../jobs/follow.js';
import { renderTable } from '../output/format.js';
import { followRun } from '../runs/follow.js';
import { type GatewayRequest, type StartRunFlags, rerunRequest, startRunRequest } from '../runs/requests.js';
import { RUN_STATUSES, runColumns, runDetailLines, timelineTable } from '../runs/view.js';
import { type PageFlags, fetchPages, integerParser, limitOption, moreHint } from './common.js';

// cordumctl run start|get|list|cancel|delete|rerun|timeline|watch

const RUNS = '/api/v1/workflow-runs';

type WaitFlags = { wait?: boolean; timeout: string };

/** Sends a start or rerun, says what happened, and with --wait follows the run to its end. */
async function startAndMaybeFollow(app: App, client: GatewayClient, req: GatewayRequest, flags: WaitFlags & { idempotencyKey?: string }): Promise<ExitCode> {
  const timeoutMs = parseWaitTimeout(flags.timeout);
  const res = await client.request<StartRunResponse>(req.method, req.path, req.options);
  const r = res.body;
  const line = !r.created
    ? `run ${r.run_id} already exists for idempotency key ${JSON.stringify(flags.idempotencyKey ?? '')}: not started again (${r.status})`
    : `run ${r.run_id} started: workflow ${r.workflow_id} revision ${r.workflow_revision}${r.dry_run ? ', dry run' : ''}${r.rerun_of === null ? '' : `, rerun of ${r.rerun_of}${r.rerun_step === null ? '' : ` from step ${r.rerun_step}`}`}`;
  if (flags.wait !== true) {
    app.print(r, () => [line]);
    return EXIT.ok;
  }
  app.info(line);
  return followRun(app, client, r.run_id, timeoutMs);
}

const waitOptions = (cmd: Command): Command =>
  cmd
    .option('--wait', 'follow the run, showing step statuses as they change; exit 0 only if it succeeded (7 otherwise)')
    .option('--timeout <duration>', 'with --wait: give up after this long (exit 6; the run goes on)', '0');

export function registerRun(program: Command, host: CommandHost): void {
  const run = program.command('run').description('Workflow runs: start, follow, inspect, cancel, rerun, delete');

  waitOptions(
    run
      .command('start')
      .description('Start a run of a workflow (the input is checked against its input_schema; policy is asked first)')
      .argument('<workflow-id>')
      .option('--input <json|yaml|file>', 'the run input: inline JSON/YAML or a file (path, @path, - for stdin); default {}')
      .option('--dry-run', 'mark every job of the run dry_run so workers skip side effects')
      .option('--idempotency-key <key>', 'a repeat with the same key returns the first run instead of a new one')
      .option('--team <id>', 'team scope of the effective config (limits)')
      .option('--org <tenant>', 'your tenant (the default)')
      .addOption(new Option('--revision <n>', 'start an older revision of the definition (default: the latest)').argParser(integerParser('--revision', 1))),
  ).action((workflowId: string, flags: StartRunFlags & WaitFlags & { input?: string }, cmd: Command) =>
    host.run(cmd, async (app) => {
      parseWaitTimeout(flags.timeout);
      const input = flags.input === undefined ? undefined : await readDocumentArgument(flags.input, '--input', { cwd: app.cwd, readStdin: app.readStdin }, { inline: true });
      return startAndMaybeFollow(app, await app.client(), startRunRequest(workflowId, input, flags), flags);
    }),
  );

  run
    .command('get')
    .description('A run: status, every step (status, attempts, job, detail), error')
    .argument('<run-id>')
    .action((id: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const r = await (await app.client()).get<RunDetail>(apiPath(RUNS, id));
        app.print(r, () => runDetailLines(r, app.style, app.now()));
      }),
    );

  run
    .command('list')
    .description('Runs of your tenant (or of one workflow), newest first')
    .option('--workflow <id>', 'only runs of this workflow')
    .addOption(new Option('--status <status>', 'only runs in this status').choices(RUN_STATUSES))
    .addOption(limitOption())
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .option('--all', 'follow every page')
    .action((flags: PageFlags & { workflow?: string; status?: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const page = await fetchPages<RunSummary>(await app.client(), RUNS, { workflow_id: flags.workflow, status: flags.status }, flags);
        app.print(page, () =>
          page.items.length === 0 ? ['No runs.'] : [...renderTable(runColumns(app.now(), app.style), page.items, app.style), ...moreHint(page, 'cordumctl run list')],
        );
      }),
    );

  run
    .command('cancel')
    .description('Cancel a run (queued for the engine); exit 5 when it already finished')
    .argument('<run-id>')
    .option('--reason <text>', 'why (recorded)')
    .action((id: string, flags: { reason?: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const r = await (await app.client()).post<CancelRunResponse>(`${apiPath(RUNS, id)}/cancel`, flags.reason === undefined ? {} : { reason: flags.reason });
        app.print(r, () => [`run ${r.run_id}: cancel ${r.duplicate ? 'already requested' : 'requested'} (status ${r.status}; the engine cancels its steps)`]);
      }),
    );

  run
    .command('delete')
    .description('Delete a finished run with its timeline (admin); exit 5 while it is live (cancel it first)')
    .argument('<run-id>')
    .action((id: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        await (await app.client()).delete(apiPath(RUNS, id));
        app.print({ id, deleted: true }, () => [`run ${id} deleted`]);
      }),
    );

  waitOptions(
    run
      .command('rerun')
      .description('Rerun as a new run on the same pinned definition and input, optionally from a step')
      .argument('<run-id>')
      .option('--from-step <step>', 'reuse the outputs of the steps it does not reach; run it and everything downstream again')
      .option('--dry-run', 'mark the new run dry_run (default: as the source run)')
      .option('--no-dry-run', 'the new run is not a dry run')
      .option('--idempotency-key <key>', 'a repeat with the same key returns the first rerun'),
  ).action((id: string, flags: WaitFlags & { fromStep?: string; dryRun?: boolean; idempotencyKey?: string }, cmd: Command) =>
    host.run(cmd, async (app) => {
      parseWaitTimeout(flags.timeout);
      return startAndMaybeFollow(app, await app.client(), rerunRequest(id, flags), flags);
    }),
  );

  run
    .command('timeline')
    .description("The run's timeline, oldest first: step dispatches, completions, approvals, status changes")
    .argument('<run-id>')
    .addOption(limitOption())
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .option('--all', 'follow every page')
    .action((id: string, flags: PageFlags, cmd: Command) =>
      host.run(cmd, async (app) => {
        const page = await fetchPages<TimelineEntry>(await app.client(), `${apiPath(RUNS, id)}/timeline`, {}, flags);
        app.print(page, () =>
          page.items.length === 0 ? ['No timeline entries yet.'] : [...timelineTable(page.items, app.style), ...moreHint(page, `cordumctl run timeline ${id}`)],
        );
      }),
    );

  run
    .command('watch')
    .description('Follow a run until it ends, showing step statuses as they change (exit 0 only if it succeeded)')
    .argument('<run-id>')
    .option('--timeout <duration>', 'give up after this long (exit 6; the run goes on)', '0')
    .action((id: string, flags: { timeout: string }, cmd: Command) =>
      host.run(cmd, async (app) => followRun(app, await app.client(), id, parseWaitTimeout(flags.timeout))),
    );
}
