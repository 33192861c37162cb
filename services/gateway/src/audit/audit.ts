import type { JsonValue } from '@cordum/core';
import type { AuditEntry, Page } from '@cordum/store';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { AuditQuery } from '../http/schemas-audit.js';
import { DECISION_RECORD_KIND } from '../jobs/jobs.js';

// The tenant's audit trail as the API shows it: the policy decision record of every check, and every
// approval granted or rejected. The audit log is append-only and per tenant, so nothing here can show or
// change another tenant's records.

export const AUDIT_KINDS = {
  decisions: DECISION_RECORD_KIND,
  /** A prefix ending in ".": approval.granted and approval.rejected. */
  approvals: 'approval.',
} as const;

export type AuditEntryView = { id: string; at: number; kind: string; actor: string; subject: string; data: Record<string, JsonValue> };

function auditView(e: AuditEntry): AuditEntryView {
  return { id: e.id, at: e.at, kind: e.kind, actor: e.actor, subject: e.subject, data: { ...e.data } };
}

export async function listAudit(
  ctx: GatewayContext,
  principal: Principal,
  which: keyof typeof AUDIT_KINDS,
  query: AuditQuery,
): Promise<Page<AuditEntryView>> {
  const page = await ctx.stores.audit.list(principal.tenant, {
    kind: AUDIT_KINDS[which],
    limit: query.limit ?? 50,
    cursor: query.cursor ?? null,
    ...(query.job_id === undefined ? {} : { subject: query.job_id }),
  });
  return { items: page.items.map(auditView), nextCursor: page.nextCursor };
}
