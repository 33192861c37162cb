import { listAudit } from '../audit/audit.js';
import type { GatewayContext } from '../context.js';
import { ERROR_RESPONSES } from '../http/schemas.js';
import { AuditPage, AuditQuery } from '../http/schemas-audit.js';
import { type GatewayApp, principalOf } from '../http/types.js';

// Thin HTTP adapters for the tenant's audit trail: policy decisions and approvals.

export function registerAuditRoutes(app: GatewayApp, ctx: GatewayContext): void {
  const routes = [
    ['decisions', 'Policy decision records of your tenant\'s jobs, newest first (kind policy.decision)'],
    ['approvals', 'Approvals granted and rejected in your tenant, newest first (kinds approval.granted, approval.rejected)'],
  ] as const;
  for (const [which, summary] of routes) {
    app.get(
      `/api/v1/audit/${which}`,
      { config: { role: 'viewer' }, schema: { tags: ['audit'], summary, querystring: AuditQuery, response: { 200: AuditPage, ...ERROR_RESPONSES } } },
      async (request) => {
        const page = await listAudit(ctx, principalOf(request), which, request.query);
        return { items: page.items, next_cursor: page.nextCursor };
      },
    );
  }
}
