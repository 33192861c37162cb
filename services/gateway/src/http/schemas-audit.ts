import { type Static, Type } from '@sinclair/typebox';
import { PageQuery, SAFE_ID_PATTERN } from './schemas.js';

// The tenant's audit trail: policy decision records and approval records, newest first.

export const AuditQuery = Type.Object(
  { ...PageQuery, job_id: Type.Optional(Type.String({ pattern: SAFE_ID_PATTERN, description: 'Only records about this job' })) },
  { additionalProperties: false },
);
export type AuditQuery = Static<typeof AuditQuery>;

export const AuditEntryView = Type.Object({
  id: Type.String({ description: 'Increasing in append order within your tenant' }),
  at: Type.Number(),
  kind: Type.String({ description: 'policy.decision, approval.granted, approval.rejected' }),
  actor: Type.String(),
  subject: Type.String({ description: 'The job id' }),
  data: Type.Object({}, { additionalProperties: true }),
});

export const AuditPage = Type.Object({ items: Type.Array(AuditEntryView), next_cursor: Type.Union([Type.String(), Type.Null()]) });
