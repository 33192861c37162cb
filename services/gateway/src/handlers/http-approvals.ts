import { approveJob, listApprovals, rejectJob } from '../approvals/approvals.js';
import type { GatewayContext } from '../context.js';
import { type GatewayApp, principalOf } from '../http/types.js';
import { ApprovalBody, ApprovalParams, ApprovalResponse, ERROR_RESPONSES } from '../http/schemas.js';
import { ApprovalListPage, ApprovalListQuery } from '../http/schemas-workflows.js';

export function registerApprovalRoutes(app: GatewayApp, ctx: GatewayContext): void {
  app.get(
    '/api/v1/approvals',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['approvals'],
        summary: 'Jobs of your tenant held for approval by policy, then workflow approval steps waiting for a decision',
        querystring: ApprovalListQuery,
        response: { 200: ApprovalListPage, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const page = await listApprovals(ctx, principalOf(request), request.query);
      return { items: page.items, next_cursor: page.nextCursor };
    },
  );

  const decision = (verb: 'approve' | 'reject') =>
    ({
      config: { role: 'admin' as const },
      schema: {
        tags: ['approvals'],
        summary: verb === 'approve' ? 'Approve a held job' : 'Reject a held job (it ends DENIED, reason approval_rejected)',
        description:
          'A compare-and-set bound to the job hash (request + input bytes) and the policy snapshot: 409 when either changed since the job was held, or differs from expected_job_hash / expected_policy_snapshot.',
        params: ApprovalParams,
        body: ApprovalBody,
        response: { 200: ApprovalResponse, ...ERROR_RESPONSES },
      },
    }) as const;

  app.post('/api/v1/approvals/:job_id/approve', decision('approve'), async (request) => {
    const out = await approveJob(ctx, principalOf(request), request.params.job_id, request.body ?? {});
    return { job_id: out.jobId, state: out.state, approval: out.approval };
  });

  app.post('/api/v1/approvals/:job_id/reject', decision('reject'), async (request) => {
    const out = await rejectJob(ctx, principalOf(request), request.params.job_id, request.body ?? {});
    return { job_id: out.jobId, state: out.state, approval: out.approval };
  });
}
