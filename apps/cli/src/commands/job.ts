import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { JOB_STATES } from '@cordum/protocol/job-state';
import type { CommandHost } from '../cli/host.js';
import { EXIT } from '../exit-codes.js';
import { apiPath } from '../gateway/client.js';
import type { CancelResponse, DecisionsResponse, JobDetail, JobSummary, RemediateResponse, SubmitResponse } from '../gateway/types.js';
import { renderTable } from '../output/format.js';
import { followJob, parseWaitTimeout } from '../jobs/follow.js';
import { ACTOR_TYPES, PRIORITIES, type SubmitFlags, buildSubmitBody } from '../jobs/submit.js';
import { jobColumns, jobDetailLines, jobLogEntries, jobStatusLines, logLines } from '../jobs/view.js';
import { type PageFlags, collect, fetchPages, limitOption, moreHint } from './common.js';

// cordumctl job submit|status|get|list|logs|cancel|remediate|watch

const JOBS = '/api/v1/jobs';

export function registerJob(program: Command, host: CommandHost): void {
  const job = program.command('job').description('Submit, inspect, follow, cancel and remediate jobs');

  job
    .command('submit')
    .description('Submit a job (POST /api/v1/jobs); --wait follows it to the end')
    .option('--topic <topic>', 'job topic, must start with job. (gateway default job.default)')
    .option('--prompt <text>', 'the prompt')
    .option('--input <json|file>', 'the job input: inline JSON, or a JSON/YAML file (@file or a path); with --prompt it is the context')
    .option('--idempotency-key <key>', 'a repeat with the same key returns the original job instead of a new one')
    .option('--capability <name>', 'capability the job needs (policy and routing see it)')
    .option('--risk-tags <tags>', 'risk tags, comma-separated (repeatable)', collect)
    .option('--requires <tags>', 'worker requirements, comma-separated (repeatable)', collect)
    .option('--labels <labels>', 'labels: key=value,… or a JSON object (repeatable)', collect)
    .option('--pack-id <id>', 'pack the job belongs to')
    .addOption(new Option('--priority <priority>', 'scheduling priority').choices(PRIORITIES))
    .option('--org <tenant>', 'tenant (must be your key\'s own; default it)')
    .option('--actor-id <id>', 'who asks (recorded and seen by policy)')
    .addOption(new Option('--actor-type <type>', 'human or service').choices(ACTOR_TYPES))
    .option('--wait', 'wait until the job ends; exit 0 only if it SUCCEEDED')
    .option('--timeout <duration>', 'with --wait: give up after this long (exit 6; the job goes on)', '0')
    .action((flags: SubmitFlags & { wait?: boolean; timeout: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const timeoutMs = parseWaitTimeout(flags.timeout);
        const body = await buildSubmitBody(flags, { cwd: app.cwd, readText: (p) => readFile(p, 'utf8') });
        const client = await app.client();
        const res = await client.request<SubmitResponse>('POST', JOBS, { body });
        const { job_id: id, trace_id: trace } = res.body;
        const repeat = res.status === 200;
        const line = repeat
          ? `job ${id} already exists for idempotency key ${JSON.stringify(flags.idempotencyKey ?? '')}: not submitted again (trace ${trace})`
          : `job ${id} submitted (trace ${trace})`;
        if (flags.wait !== true) {
          app.print({ ...res.body, created: !repeat }, () => [line]);
          return EXIT.ok;
        }
        app.info(line);
        return followJob(app, client, id, timeoutMs);
      }),
    );

  job
    .command('status')
    .description('State, wait reason, attempts and decision of a job')
    .argument('<job-id>')
    .action((id: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const j = await (await app.client()).get<JobDetail>(apiPath(JOBS, id));
        const short = { id: j.id, state: j.state, wait_reason: j.wait_reason, attempts: j.attempts, decision: j.decision, error_code: j.error_code, error_message: j.error_message, result_ptr: j.result_ptr };
        app.print(short, () => jobStatusLines(j, app.style));
      }),
    );

  job
    .command('get')
    .description('Everything about a job: request, decision, approval, input, result, DLQ entry')
    .argument('<job-id>')
    .action((id: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const j = await (await app.client()).get<JobDetail>(apiPath(JOBS, id));
        app.print(j, () => jobDetailLines(j, app.style, app.now()));
      }),
    );

  job
    .command('list')
    .description('Jobs of your tenant, newest first')
    .addOption(new Option('--state <state>', 'only jobs in this state').choices(JOB_STATES))
    .option('--topic <topic>', 'only jobs of this topic')
    .option('--created-after <time>', 'epoch s/ms/µs or RFC 3339')
    .option('--created-before <time>', 'epoch s/ms/µs or RFC 3339')
    .addOption(limitOption())
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .option('--all', 'follow every page')
    .action((flags: PageFlags & { state?: string; topic?: string; createdAfter?: string; createdBefore?: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const page = await fetchPages<JobSummary>(
          await app.client(),
          JOBS,
          { state: flags.state, topic: flags.topic, created_after: flags.createdAfter, created_before: flags.createdBefore },
          flags,
        );
        app.print(page, () =>
          page.items.length === 0 ? ['No jobs.'] : [...renderTable(jobColumns(app.now(), app.style), page.items, app.style), ...moreHint(page, 'cordumctl job list')],
        );
      }),
    );

  job
    .command('logs')
    .description("A job's history: every state change and policy decision, oldest first")
    .argument('<job-id>')
    .action((id: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const client = await app.client();
        const [j, decisions] = await Promise.all([
          client.get<JobDetail>(apiPath(JOBS, id)),
          client.get<DecisionsResponse>(`${apiPath(JOBS, id)}/decisions`, { limit: 1000 }),
        ]);
        const entries = jobLogEntries(j.events, decisions.items);
        app.print({ job_id: j.id, state: j.state, entries }, () => (entries.length === 0 ? ['No history.'] : logLines(entries, app.style)));
      }),
    );

  job
    .command('cancel')
    .description('Cancel a job that has not ended')
    .argument('<job-id>')
    .option('--reason <text>', 'why (recorded)')
    .action((id: string, flags: { reason?: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const res = await (await app.client()).post<CancelResponse>(`${apiPath(JOBS, id)}/cancel`, flags.reason === undefined ? {} : { reason: flags.reason });
        app.print(res, () => [res.cancel_requested ? `job ${res.id}: cancel requested (its worker is told; state ${res.state})` : `job ${res.id} ${app.style.state(res.state)}`]);
      }),
    );

  job
    .command('remediate')
    .description("Apply a remediation the job's policy decision offers, as a new job")
    .argument('<job-id>')
    .option('--remediation-id <id>', 'which remediation (needed when the decision offers several)')
    .option('--wait', 'wait until the new job ends; exit 0 only if it SUCCEEDED')
    .option('--timeout <duration>', 'with --wait: give up after this long', '0')
    .action((id: string, flags: { remediationId?: string; wait?: boolean; timeout: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const timeoutMs = parseWaitTimeout(flags.timeout);
        const client = await app.client();
        const res = await client.post<RemediateResponse>(
          `${apiPath(JOBS, id)}/remediate`,
          flags.remediationId === undefined ? {} : { remediation_id: flags.remediationId },
        );
        const line = `job ${res.job_id} submitted: remediation ${res.remediation_id} of job ${res.remediation_of}`;
        if (flags.wait !== true) {
          app.print(res, () => [line]);
          return EXIT.ok;
        }
        app.info(line);
        return followJob(app, client, res.job_id, timeoutMs);
      }),
    );

  job
    .command('watch')
    .description('Follow a job until it ends (exit 0 only if it SUCCEEDED)')
    .argument('<job-id>')
    .option('--timeout <duration>', 'give up after this long (exit 6; the job goes on)', '0')
    .action((id: string, flags: { timeout: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const timeoutMs = parseWaitTimeout(flags.timeout);
        return followJob(app, await app.client(), id, timeoutMs);
      }),
    );
}
