import { type Command, Option } from 'commander';
import type { App } from '../cli/app.js';
import type { CommandHost } from '../cli/host.js';
import { usageError } from '../errors.js';
import { apiPath } from '../gateway/client.js';
import type { ApprovalItem, ApprovalResponse } from '../gateway/types.js';
import type { StepApprovalItem, StepDecisionResponse } from '../gateway/workflow-types.js';
import { stepDecisionRequest } from '../runs/requests.js';
import { formatAge, renderTable } from '../output/format.js';
import { type PageFlags, fetchPages, limitOption, moreHint } from './common.js';

// cordumctl approval list|approve|reject|job|step

const APPROVALS = '/api/v1/approvals';

function isStep(item: ApprovalItem | StepApprovalItem): item is StepApprovalItem {
  return (item as { kind?: string }).kind === 'workflow_step';
}

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
    .description('Jobs held for approval (with the rule that holds them), then workflow approval steps waiting for a decision')
    .addOption(new Option('--kind <kind>', 'only held jobs (job) or only workflow steps (workflow_step)').choices(['job', 'workflow_step']))
    .addOption(limitOption())
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .option('--all', 'follow every page')
    .action((flags: PageFlags & { kind?: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        const page = await fetchPages<ApprovalItem | StepApprovalItem>(await app.client(), APPROVALS, { kind: flags.kind }, flags);
        const now = app.now();
        // Items without a kind come from a gateway older than workflow approvals: they are jobs.
        const jobs = page.items.filter((i): i is ApprovalItem => !isStep(i));
        const steps = page.items.filter(isStep);
        app.print(page, () => {
          if (page.items.length === 0) return ['Nothing waits for approval.'];
          const lines: string[] = [];
          if (jobs.length > 0) {
            lines.push(
              ...renderTable<ApprovalItem>(
                [
                  { header: 'job', value: (a) => a.job.id },
                  { header: 'topic', value: (a) => a.job.topic },
                  { header: 'rule', value: (a) => a.policy_rule_id || '-' },
                  { header: 'reason', value: (a) => a.policy_reason || '-' },
                  { header: 'age', value: (a) => formatAge(a.job.created_at, now) },
                  { header: 'job hash', value: (a) => a.job_hash.slice(0, 16) },
                ],
                jobs,
                app.style,
              ),
            );
          }
          if (steps.length > 0) {
            if (lines.length > 0) lines.push('');
            lines.push(
              ...renderTable<StepApprovalItem>(
                [
                  { header: 'workflow', value: (a) => a.workflow_id },
                  { header: 'run', value: (a) => a.run_id },
                  { header: 'step', value: (a) => (a.step_name === null ? a.step_id : `${a.step_id} (${a.step_name})`) },
                  { header: 'waiting', value: (a) => formatAge(a.waiting_since, now) },
                  { header: 'by', value: (a) => a.triggered_by ?? '-' },
                  { header: 'decide with', value: (a) => `cordumctl approval step ${a.workflow_id} ${a.run_id} ${a.step_id} --approve` },
                ],
                steps,
                app.style,
              ),
            );
          }
          return [...lines, ...moreHint(page, 'cordumctl approval list')];
        });
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
    .description('Approve or reject a workflow approval step (a rejected step fails, and so does its run)')
    .argument('<workflow-id>')
    .argument('<run-id>')
    .argument('<step-id>')
    .option('--approve', 'approve the step')
    .option('--reject', 'reject the step')
    .option('--reason <text>', 'why (recorded with the decision)')
    .option('--note <text>', 'a note for the audit entry')
    .action((wf: string, run: string, step: string, flags: { approve?: boolean; reject?: boolean; reason?: string; note?: string }, cmd: Command) =>
      host.run(cmd, async (app) => {
        if (flags.approve === flags.reject) throw usageError('approval step needs exactly one of --approve or --reject');
        const req = stepDecisionRequest(wf, run, step, flags.approve === true, flags);
        const res = (await (await app.client()).request<StepDecisionResponse>(req.method, req.path, req.options)).body;
        app.print(res, () => [`step ${res.step_id} of run ${res.run_id} ${res.decision}${res.queued ? ' (queued: the workflow engine applies it next)' : ''}`]);
      }),
    );
}
