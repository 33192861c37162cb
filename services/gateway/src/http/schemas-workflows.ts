import { RUN_STATUSES } from '@cordum/store';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { ApprovalItem, SAFE_ID_PATTERN, TENANT_PATTERN } from './schemas.js';

// Workflows and runs (upstream paths and snake_case fields). A definition is the body itself (JSON or YAML),
// validated by @cordum/workflow, so its schema here is only "an object or a YAML text". A run's record is
// the engine's document: its nested shapes (steps, context, definition) are documented in docs/api.md and
// passed through as they are.

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const JsonObject = Type.Object({}, { additionalProperties: true });

/** Step ids as @cordum/workflow accepts them. */
export const STEP_ID_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$';

const WorkflowId = Type.String({ pattern: SAFE_ID_PATTERN, description: 'Workflow id' });
const RunId = Type.String({ pattern: SAFE_ID_PATTERN, description: 'Run id' });
const StepId = Type.String({ pattern: STEP_ID_PATTERN, description: 'Step id (the key in the definition\'s steps map)' });
const Revision = (description: string) => Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description });
const RunStatus = Type.Union(RUN_STATUSES.map((s) => Type.Literal(s)));
const Problem = Type.Object({ path: Type.String(), message: Type.String() });

export const WorkflowParams = Type.Object({ id: WorkflowId });
export const RunParams = Type.Object({ id: RunId });
export const StepParams = Type.Object({ id: RunId, step_id: StepId });
export const WorkflowRunParams = Type.Object({ id: WorkflowId, run_id: RunId });
export const WorkflowRunStepParams = Type.Object({ id: WorkflowId, run_id: RunId, step_id: StepId });

// ─── Definitions ──────────────────────────────────────────────────────────────────────────────────────

export const PutWorkflowBody = Type.Union([JsonObject, Type.String({ description: 'YAML text (Content-Type: application/yaml)' })], {
  description:
    'The definition (upstream Cordum format: id, name, version, input_schema, steps{…}) as JSON, or as YAML with Content-Type application/yaml. Without an id one is generated.',
});

export const PutWorkflowQuery = Type.Object(
  {
    expected_revision: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'Compare-and-set: 0 = the workflow must not exist, n = its latest revision must be n; 409 revision_conflict otherwise',
      }),
    ),
  },
  { additionalProperties: false },
);
export type PutWorkflowQuery = Static<typeof PutWorkflowQuery>;

const WorkflowSummaryFields = {
  id: Type.String(),
  revision: Type.Integer({ description: 'Store revision: 1 for the first put, +1 per changed definition' }),
  sha256: Type.String({ description: 'SHA-256 of the definition\'s canonical JSON' }),
  created_at: Type.Number({ description: 'When this revision was stored (ms)' }),
  name: Nullable(Type.String()),
  description: Nullable(Type.String()),
  version: Nullable(Type.String({ description: 'The definition\'s own version string' })),
  step_count: Type.Integer(),
};

export const WorkflowSummary = Type.Object(WorkflowSummaryFields);
export const WorkflowDetail = Type.Object({ ...WorkflowSummaryFields, definition: JsonObject });
export const PutWorkflowResponse = Type.Object({
  ...WorkflowSummaryFields,
  unchanged: Type.Boolean({ description: 'true: the definition equals the latest revision, nothing was written' }),
  warnings: Type.Array(Problem, { description: 'Fields accepted but ignored (unknown or unused upstream fields)' }),
});

export const WorkflowListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  },
  { additionalProperties: false },
);
export const WorkflowList = Type.Object({ items: Type.Array(WorkflowSummary), next_cursor: Nullable(Type.String()) });

export const GetWorkflowQuery = Type.Object(
  { revision: Type.Optional(Revision('An older revision (readable even after delete)')) },
  { additionalProperties: false },
);

// ─── Runs ─────────────────────────────────────────────────────────────────────────────────────────────

export const StartRunBody = Type.Object({}, { additionalProperties: true, description: 'The run input (a JSON object), checked against the definition\'s input_schema' });

export const StartRunQuery = Type.Object(
  {
    dry_run: Type.Optional(Type.Boolean({ description: 'Mark every job of the run dry_run so workers skip side effects' })),
    idempotency_key: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Or the Idempotency-Key / X-Idempotency-Key header' })),
    org_id: Type.Optional(Type.String({ pattern: TENANT_PATTERN, description: 'Must be your tenant (the default)' })),
    team_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Team scope of the effective config (limits)' })),
    revision: Type.Optional(Revision('Start an older revision of the definition (default: the latest)')),
  },
  { additionalProperties: false },
);
export type StartRunQuery = Static<typeof StartRunQuery>;

export const StartRunResponse = Type.Object({
  run_id: Type.String(),
  workflow_id: Type.String(),
  workflow_revision: Type.Integer(),
  status: Type.String(),
  dry_run: Type.Boolean(),
  created: Type.Boolean({ description: 'false: the idempotency key was used before; this is that run' }),
  rerun_of: Nullable(Type.String()),
  rerun_step: Nullable(Type.String()),
  policy: Nullable(
    Type.Object({ decision: Type.String(), rule_id: Type.String(), reason: Type.String(), policy_snapshot: Type.String() }, { description: 'The start check (null: no safety kernel configured)' }),
  ),
});

const RunSummaryFields = {
  id: Type.String(),
  workflow_id: Type.String(),
  workflow_revision: Type.Integer({ description: 'The stored revision of the definition the run is pinned to' }),
  workflow_version: Nullable(Type.String({ description: 'The definition\'s own version string' })),
  status: Type.String(),
  version: Type.Integer({ description: 'Compare-and-set counter of the run record' }),
  created_at: Type.Number(),
  updated_at: Type.Number(),
  started_at: Nullable(Type.Number()),
  completed_at: Nullable(Type.Number()),
  idempotency_key: Nullable(Type.String()),
  labels: Type.Record(Type.String(), Type.String()),
  dry_run: Type.Boolean(),
  triggered_by: Nullable(Type.String()),
  rerun_of: Nullable(Type.String()),
  rerun_step: Nullable(Type.String()),
  error: Nullable(JsonObject),
};

export const RunSummary = Type.Object(RunSummaryFields);
export const RunDetail = Type.Object({
  ...RunSummaryFields,
  definition_hash: Type.String(),
  definition: JsonObject,
  input: JsonObject,
  context: JsonObject,
  steps: Type.Record(Type.String(), JsonObject, { description: 'StepRun by step id (times inside are RFC 3339, as the engine records them)' }),
  cancel_requested: Nullable(JsonObject),
  pending_events: Type.Array(
    Type.Object({ seq: Type.Integer(), at: Type.Number(), type: Type.String() }),
    { description: 'Queued for the engine (approvals, cancel) and not yet applied' },
  ),
});

export const RunListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    status: Type.Optional(RunStatus),
    workflow_id: Type.Optional(WorkflowId),
    org_id: Type.Optional(Type.String({ pattern: TENANT_PATTERN, description: 'Must be your tenant' })),
  },
  { additionalProperties: false },
);
export type RunListQuery = Static<typeof RunListQuery>;
export const RunList = Type.Object({ items: Type.Array(RunSummary), next_cursor: Nullable(Type.String()) });

export const TimelineQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  },
  { additionalProperties: false },
);
export const TimelineEntry = Type.Object(
  {
    seq: Type.Integer({ description: 'Position in the run\'s timeline (1, 2, …)' }),
    at: Type.Number({ description: 'Store time of the append (ms)' }),
    type: Type.String(),
  },
  { additionalProperties: true, description: 'time, type, run_id, workflow_id, step_id, job_id, status, result_ptr, message, data (upstream\'s fields)' },
);
export const TimelinePage = Type.Object({ items: Type.Array(TimelineEntry), next_cursor: Nullable(Type.String()) });

export const CancelRunBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false });
export const CancelRunResponse = Type.Object({
  run_id: Type.String(),
  status: Type.String({ description: 'The run\'s status when the request was queued' }),
  cancel_requested: Type.Boolean(),
  duplicate: Type.Boolean({ description: 'true: a cancel was already queued' }),
});

export const RerunBody = Type.Object(
  {
    from_step: Type.Optional(StepId),
    dry_run: Type.Optional(Type.Boolean({ description: 'Default: the source run\'s flag' })),
  },
  { additionalProperties: false },
);
export type RerunBody = Static<typeof RerunBody>;

export const StepDecisionBody = Type.Object(
  {
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    note: Type.Optional(Type.String({ maxLength: 2000, description: 'Kept in the audit entry' })),
  },
  { additionalProperties: false },
);
export type StepDecisionBody = Static<typeof StepDecisionBody>;

/** Upstream's single approve route: `{approved: false}` rejects. */
export const UpstreamApproveBody = Type.Object(
  {
    approved: Type.Optional(Type.Boolean({ default: true })),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    note: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);

export const StepDecisionResponse = Type.Object({
  run_id: Type.String(),
  step_id: Type.String(),
  decision: Type.Union([Type.Literal('approved'), Type.Literal('rejected')]),
  by: Type.String(),
  reason: Nullable(Type.String()),
  queued: Type.Boolean({ description: 'The decision is stored in the run\'s inbox; the engine applies it next' }),
});

// ─── Approvals list ───────────────────────────────────────────────────────────────────────────────────

export const JobApprovalItem = Type.Object({ kind: Type.Literal('job'), ...ApprovalItem.properties });
export const WorkflowStepApprovalItem = Type.Object({
  kind: Type.Literal('workflow_step'),
  run_id: Type.String(),
  workflow_id: Type.String(),
  step_id: Type.String(),
  step_name: Nullable(Type.String()),
  waiting_since: Nullable(Type.Number()),
  triggered_by: Nullable(Type.String()),
  dry_run: Type.Boolean(),
  approval_ref: Type.String({ description: '<run_id>/<step_id>' }),
});
export const ApprovalListPage = Type.Object({
  items: Type.Array(Type.Union([JobApprovalItem, WorkflowStepApprovalItem])),
  next_cursor: Nullable(Type.String()),
});
export const ApprovalListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'next_cursor of the previous page' })),
    kind: Type.Optional(Type.Union([Type.Literal('job'), Type.Literal('workflow_step')], { description: 'Only this kind (default: both, jobs first)' })),
  },
  { additionalProperties: false },
);
