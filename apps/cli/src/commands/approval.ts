import type { Command } from 'commander';
import type { App } from '../cli/app.js';
import type { CommandHost } from '../cli/host.js';
import { usageError } from '../errors.js';
import { apiPath } from '../gateway/client.js';
import type { ApprovalItem, ApprovalResponse } from '../gateway/types.js';
import { formatAge, renderTable } from '../output/format.js';
import { type PageFlags, fetchPages, limitOption, moreHint } from './common.js';

// cordumctl approval list|approve|reject|job|step

const APPROVALS = '/api/v1/approvals';

type DecideFlags = { reason?: string; note?: string; jobHash?: string; policySnapshot?: string };

async function decide(app: App, jobId: string, verb: 'approve' | 'reject', flags: DecideFlags): Promise<void> {
  const body = {
    ...(flags.reason === undefined ? {} : { reason: flags.reason }),
    ...(flags.note === undefined ? {} : { note: flags.note }),
    ...(flags.jobHash === undefined ? {} : { expected_job_hash: flags.jobHash }),
    ...(flags.policySnapshot === undefined ? {} : { expected_policy_snapshot: flags.policySnapshot }),
  };
  const res = await (await app.client()).post<ApprovalResponse>(`${apiPath(APPROVALS, jobId)}/${verb}`, body);
  app.print(res, () => [
    verb === 'approve'
      ? `job ${res.job_id} approved: ${app.style.state(res.state)} (policy is checked again before it runs)`
      : `job ${res.job_id} rejected: ${app.style.state(res.state)}`,
  ]);
}

function decideOptions(cmd: Command, withExpectations: boolean): Command {
  cmd.option('--reason <text>', 'why (recorded with the approval)').option('--note <text>', 'a note for the record');
  if (withExpectations) {
    cmd
      .option('--job-hash <hash>', 'the job hash you reviewed (approval list shows it); 409 if the job changed')
      .option('--policy-snapshot <id>', 'the policy snapshot you reviewed; 409 if policy changed');
  }
  return cmd;
}

export function registerApproval(program: Command, host: CommandHost): void {
  const approval = program.command('approval').description('Approve or reject jobs (and workflow steps) held for a human');

  approval
    .command('list')
    .description('Jobs waiting for approval, with the rule that holds them')
    .addOption(limitOption())
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .option('--all', 'follow every page')
    .action((flags: PageFlags, cmd: Command) =>
      host.run(cmd, async (app) => {
        const page = await fetchPages<ApprovalItem>(await app.client(), APPROVALS, {}, flags);
        const now = app.now();
        app.print(page, () =>
          page.items.length === 0
            ? ['No jobs wait for approval.']
            : [
                ...renderTable<ApprovalItem>(
                  [
                    { header: 'job', value: (a) => a.job.id },
                    { header: 'topic', value: (a) => a.job.topic },
                    { header: 'rule', value: (a) => a.policy_rule_id || '-' },
                    { header: 'reason', value: (a) => a.policy_reason || '-' },
                    { header: 'age', value: (a) => formatAge(a.job.created_at, now) },
                    { header: 'job hash', value: (a) => a.job_hash.slice(0, 16) },
                  ],
                  page.items,
                  app.style,
                ),
                ...moreHint(page, 'cordumctl approval list'),
              ],
        );
      }),
    );

  decideOptions(approval.command('approve').description('Approve a held job: it goes back to the scheduler').argument('<job-id>'), true).action(
    (id: string, flags: DecideFlags, cmd: Command) => host.run(cmd, (app) => decide(app, id, 'approve', flags)),
  );

  decideOptions(approval.command('reject').description('Reject a held job: it ends DENIED (approval_rejected)').argument('<job-id>'), true).action(
    (id: string, flags: DecideFlags, cmd: Command) => host.run(cmd, (app) => decide(app, id, 'reject', flags)),
  );

  decideOptions(approval.command('job').description('Approve or reject a held job (upstream spelling of approve/reject)').argument('<job-id>'), false)
    .option('--approve', 'approve it')
    .option('--reject', 'reject it')
    .action((id: string, flags: DecideFlags & { approve?: boolean; reject?: boolean }, cmd: Command) =>
      host.run(cmd, (app) => {
        if (flags.approve === flags.reject) throw usageError('approval job needs exactly one of --approve or --reject');
        return decide(app, id, flags.approve === true ? 'approve' : 'reject', flags);
      }),
    );

  approval
    .command('step')
    .description('Approve or reject a workflow approval step')
    .argument('<workflow-id>')
    .argument('<run-id>')
    .argument('<step-id>')
    .option('--approve', 'approve the step')
    .option('--reject', 'reject the step')
    .action((wf: string, run: string, step: string, flags: { approve?: boolean; reject?: boolean }, cmd: Command) =>
      host.run(cmd, async (app) => {
        if (flags.approve === flags.reject) throw usageError('approval step needs exactly one of --approve or --reject');
        const approved = flags.approve === true;
        await (await app.client()).post(`${apiPath('/api/v1/workflows', wf, 'runs', run, 'steps', step)}/approve`, { approved });
        app.print({ workflow_id: wf, run_id: run, step_id: step, approved }, () => [
          `step ${step} of run ${run} ${approved ? 'approved' : 'rejected'}`,
        ]);
      }),
    );
}
