import type { Command } from 'commander';
import type { CommandHost } from '../cli/host.js';
import { EXIT } from '../exit-codes.js';
import { apiPath } from '../gateway/client.js';
import type { DlqEntry, DlqRetryResponse } from '../gateway/types.js';
import { compactJson, formatAge, formatLabels, formatTime, renderFields, renderTable } from '../output/format.js';
import { followJob, parseWaitTimeout } from '../jobs/follow.js';
import { type PageFlags, fetchPages, limitOption, moreHint } from './common.js';

// cordumctl dlq list|show|retry|delete

const DLQ = '/api/v1/dlq';

export function registerDlq(program: Command, host: CommandHost): void {
  const dlq = program.command('dlq').description('The dead-letter queue: jobs that ended without succeeding');

  dlq
    .command('list')
    .description('DLQ entries, newest first')
    .option('--reason-code <code>', 'only entries with this reason code (e.g. max_retries_exceeded, approval_rejected)')
    .addOption(limitOption())
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .option('--all', 'follow every page')
    .action((flags: PageFlags & { reasonCode?: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const page = await fetchPages<DlqEntry>(await app.client(), `${DLQ}/page`, { reason_code: flags.reasonCode }, flags);
        const now = app.now();
        app.print(page, () =>
          page.items.length === 0
            ? ['The DLQ is empty.']
            : [
                ...renderTable<DlqEntry>(
                  [
                    { header: 'job', value: (e) => e.job_id },
                    { header: 'topic', value: (e) => e.topic },
                    { header: 'reason code', value: (e) => e.reason_code },
                    { header: 'last state', value: (e) => e.last_state ?? '-' },
                    { header: 'attempts', value: (e) => String(e.attempts) },
                    { header: 'age', value: (e) => formatAge(e.created_at, now) },
                    { header: 'reason', value: (e) => e.reason },
                  ],
                  page.items,
                  app.style,
                ),
                ...moreHint(page, 'cordumctl dlq list'),
              ],
        );
      }),
    );

  dlq
    .command('show')
    .description('One DLQ entry')
    .argument('<job-id>')
    .action((id: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        const e = await (await app.client()).get<DlqEntry>(apiPath(DLQ, id));
        app.print(e, () =>
          renderFields(
            [
              ['job', e.job_id],
              ['topic', e.topic],
              ['status', app.style.state(e.status)],
              ['reason code', e.reason_code],
              ['reason', e.reason],
              ['last state', e.last_state ?? undefined],
              ['attempts', String(e.attempts)],
              ['created', formatTime(e.created_at)],
              ['trace', e.trace_id],
              ['labels', formatLabels(e.labels)],
              ['decision', e.decision === null || e.decision === undefined ? undefined : compactJson(e.decision)],
            ],
            app.style,
          ),
        );
      }),
    );

  dlq
    .command('retry')
    .description('Run the job again as a new job (same input, meta and trace); the entry is removed')
    .argument('<job-id>')
    .option('--wait', 'wait until the new job ends; exit 0 only if it SUCCEEDED')
    .option('--timeout <duration>', 'with --wait: give up after this long', '0')
    .action((id: string, flags: { wait?: boolean; timeout: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const timeoutMs = parseWaitTimeout(flags.timeout);
        const client = await app.client();
        const res = await client.post<DlqRetryResponse>(`${apiPath(DLQ, id)}/retry`, {});
        const line = `job ${res.job_id} submitted: retry of ${res.retry_of} (trace ${res.trace_id})`;
        if (flags.wait !== true) {
          app.print(res, () => [line]);
          return EXIT.ok;
        }
        app.info(line);
        return followJob(app, client, res.job_id, timeoutMs);
      }),
    );

  dlq
    .command('delete')
    .description('Delete a DLQ entry (admin)')
    .argument('<job-id>')
    .action((id: string, _flags: unknown, cmd: Command) =>
      host.run(cmd, async (app) => {
        await (await app.client()).delete(apiPath(DLQ, id));
        app.print({ job_id: id, deleted: true }, () => [`DLQ entry of job ${id} deleted`]);
      }),
    );
}
