import { JOB_STATES } from '@cordum/protocol';
import { type Static, type TSchema, Type } from '@sinclair/typebox';

// JSON schemas of every request and response (TypeBox): Fastify validates with them and the OpenAPI
// document is generated from them. Bodies reject unknown fields (a camelCase or misspelt field is a 400
// naming it, never silently ignored).

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** Ids as the stores accept them: 1-200 of A-Z a-z 0-9 . _ : @ # - [ ], starting with a letter or digit. */
export const SAFE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@#\\-\\[\\]]{0,199}$';
export const TENANT_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$';

export const ErrorEnvelope = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable snake_case code (docs/errors.md)' }),
      message: Type.String({ description: 'A sentence for humans; may change' }),
      details: Type.Object({}, { additionalProperties: true }),
    }),
  },
  { $id: 'ErrorEnvelope', description: 'Every error response' },
);

/** The error responses of every route (OpenAPI and serialization). */
export const ERROR_RESPONSES = {
  '4xx': Type.Ref(ErrorEnvelope),
  '5xx': Type.Ref(ErrorEnvelope),
} as const;

const Labels = Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.String({ maxLength: 1024 }), {
  maxProperties: 50,
  description: 'At most 50; keys starting with cordum. or approval_ are reserved',
});
const TagList = Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 50 });
const TokenCount = Type.Integer({ minimum: 0, maximum: 100_000_000 });

export const JobIdParams = Type.Object({ id: Type.String({ pattern: SAFE_ID_PATTERN, description: 'Job id' }) });
export const ApprovalParams = Type.Object({ job_id: Type.String({ pattern: SAFE_ID_PATTERN }) });
export const DlqParams = Type.Object({ job_id: Type.String({ pattern: SAFE_ID_PATTERN }) });
export const TraceParams = Type.Object({ trace_id: Type.String({ pattern: '^[A-Za-z0-9._:@#-]{1,200}$' }) });

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'next_cursor of the previous page' })),
};

export const SubmitJobBody = Type.Object(
  {
    prompt: Type.Optional(Type.String({ maxLength: 100_000, description: 'Required unless input or context is given' })),
    context: Type.Optional(Type.Unknown({ description: 'Any JSON, stored beside the prompt in the job input' })),
    input: Type.Optional(Type.Unknown({ description: 'The whole job input (any JSON); instead of prompt/context' })),
    topic: Type.Optional(Type.String({ minLength: 5, maxLength: 255, default: 'job.default', description: 'Must start with job.' })),
    priority: Type.Optional(Type.Union([Type.Literal('interactive'), Type.Literal('batch'), Type.Literal('critical')])),
    adapter_id: Type.Optional(Type.String({ maxLength: 200 })),
    memory_id: Type.Optional(Type.String({ maxLength: 200 })),
    context_mode: Type.Optional(Type.String({ maxLength: 64 })),
    tenant_id: Type.Optional(Type.String({ pattern: TENANT_PATTERN, description: 'Must be the caller\'s tenant (default)' })),
    org_id: Type.Optional(Type.String({ pattern: TENANT_PATTERN, description: 'Alias of tenant_id' })),
    team_id: Type.Optional(Type.String({ maxLength: 200 })),
    project_id: Type.Optional(Type.String({ maxLength: 200 })),
    principal_id: Type.Optional(Type.String({ maxLength: 200, description: 'Defaults to the caller; another principal needs admin' })),
    actor_id: Type.Optional(Type.String({ maxLength: 200 })),
    actor_type: Type.Optional(Type.Union([Type.Literal('human'), Type.Literal('service')])),
    idempotency_key: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    pack_id: Type.Optional(Type.String({ maxLength: 200 })),
    capability: Type.Optional(Type.String({ maxLength: 200 })),
    risk_tags: Type.Optional(TagList),
    requires: Type.Optional(TagList),
    labels: Type.Optional(Labels),
    tags: Type.Optional(TagList),
    allow_summarization: Type.Optional(Type.Boolean()),
    allow_retrieval: Type.Optional(Type.Boolean()),
    max_input_tokens: Type.Optional(TokenCount),
    max_output_tokens: Type.Optional(TokenCount),
    max_total_tokens: Type.Optional(TokenCount),
    deadline_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86_400_000, description: 'Budget deadline from creation' })),
  },
  { additionalProperties: false },
);
export type SubmitJobBody = Static<typeof SubmitJobBody>;

export const SubmitJobResponse = Type.Object({ job_id: Type.String(), trace_id: Type.String() });

export const ListJobsQuery = Type.Object(
  {
    ...PageQuery,
    state: Type.Optional(Type.Union(JOB_STATES.map((s) => Type.Literal(s)))),
    topic: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    tenant: Type.Optional(Type.String({ pattern: TENANT_PATTERN, description: 'Must be the caller\'s tenant' })),
    created_after: Type.Optional(Type.String({ maxLength: 40, description: 'Epoch s, ms or µs, or RFC 3339' })),
    created_before: Type.Optional(Type.String({ maxLength: 40, description: 'Epoch s, ms or µs, or RFC 3339' })),
  },
  { additionalProperties: false },
);
export type ListJobsQuery = Static<typeof ListJobsQuery>;

export const JobSummary = Type.Object(
  {
    id: Type.String(),
    tenant: Type.String(),
    topic: Type.String(),
    state: Type.String(),
    wait_reason: Nullable(Type.String()),
    attempts: Type.Integer(),
    version: Type.Integer(),
    trace_id: Type.String(),
    created_at: Type.Number(),
    updated_at: Type.Number(),
    due_at: Nullable(Type.Number()),
    lease_expires_at: Nullable(Type.Number()),
    deadline_at: Nullable(Type.Number()),
    worker_id: Nullable(Type.String()),
    result_ptr: Nullable(Type.String()),
    error_code: Nullable(Type.String()),
    error_message: Nullable(Type.String()),
    labels: Type.Record(Type.String(), Type.String()),
  },
  { $id: 'JobSummary' },
);

export const JobPage = Type.Object({ items: Type.Array(Type.Ref(JobSummary)), next_cursor: Nullable(Type.String()) });

const PayloadView = Nullable(
  Type.Object({
    pointer: Type.String(),
    size_bytes: Type.Integer(),
    content_type: Type.String(),
    inlined: Type.Boolean(),
    expired: Type.Boolean(),
    json: Type.Optional(Type.Unknown()),
    text: Type.Optional(Type.String()),
    base64: Type.Optional(Type.String()),
  }),
);

export const DlqEntry = Type.Object(
  {
    job_id: Type.String(),
    tenant: Type.String(),
    topic: Type.String(),
    status: Type.String(),
    reason: Type.String(),
    reason_code: Type.String(),
    error_code: Type.Integer(),
    last_state: Nullable(Type.String()),
    attempts: Type.Integer(),
    created_at: Type.Number(),
    trace_id: Type.String(),
    labels: Type.Record(Type.String(), Type.String()),
    decision: Type.Unknown(),
  },
  { $id: 'DlqEntry' },
);

export const JobDetail = Type.Object(
  {
    ...JobSummary.properties,
    context_ptr: Type.String(),
    priority: Type.String(),
    principal_id: Type.String(),
    actor_id: Type.String(),
    actor_type: Type.String(),
    capability: Type.String(),
    risk_tags: Type.Array(Type.String()),
    requires: Type.Array(Type.String()),
    pack_id: Type.String(),
    idempotency_key: Type.String(),
    parent_job_id: Type.String(),
    workflow_id: Type.String(),
    memory_id: Type.String(),
    budget: Type.Unknown({ description: '{max_input_tokens, max_output_tokens, max_total_tokens, deadline_ms} or null' }),
    submitted_by: Nullable(Type.String()),
    decision: Type.Unknown({ description: 'The last policy decision: {decision, rule_id, reason, snapshot, constraints, …}' }),
    approval: Type.Unknown({ description: 'The approval record {by, reason, job_hash, policy_snapshot, at} or null' }),
    job_hash: Nullable(Type.String()),
    events: Type.Array(
      Type.Object({
        at: Type.Number(),
        from: Nullable(Type.String()),
        to: Type.String(),
        actor: Type.String(),
        reason: Type.String(),
        attempt: Type.Integer(),
        version: Type.Integer(),
      }),
    ),
    context: PayloadView,
    result: PayloadView,
    dlq: Nullable(Type.Ref(DlqEntry)),
  },
  { description: 'A job with its request fields, decision, approval, events, input and result' },
);

export const DecisionsQuery = Type.Object({ ...PageQuery }, { additionalProperties: false });
export const DecisionsResponse = Type.Object({
  job_id: Type.String(),
  decision: Type.Unknown({ description: 'data.decision of the job (the one in force)' }),
  items: Type.Array(Type.Object({ id: Type.String(), at: Type.Number(), actor: Type.String() }, { additionalProperties: true })),
  next_cursor: Nullable(Type.String()),
});

export const CancelBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false });
export const CancelResponse = Type.Object({ id: Type.String(), state: Type.String(), cancel_requested: Type.Boolean() });

export const RemediateBody = Type.Object(
  { remediation_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
  { additionalProperties: false },
);
export const RemediateResponse = Type.Object({
  job_id: Type.String(),
  trace_id: Type.String(),
  remediation_of: Type.String(),
  remediation_id: Type.String(),
});

export const TraceResponse = Type.Object({ trace_id: Type.String(), items: Type.Array(Type.Ref(JobSummary)) });

export const ApprovalItem = Type.Object({
  job: Type.Ref(JobSummary),
  decision: Type.Unknown(),
  policy_snapshot: Type.String(),
  policy_rule_id: Type.String(),
  policy_reason: Type.String(),
  constraints: Type.Unknown(),
  job_hash: Type.String(),
  approval_required: Type.Boolean(),
  approval_ref: Type.String(),
});
export const ApprovalsQuery = Type.Object({ ...PageQuery }, { additionalProperties: false });
export const ApprovalPage = Type.Object({ items: Type.Array(ApprovalItem), next_cursor: Nullable(Type.String()) });

export const ApprovalBody = Type.Object(
  {
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
    note: Type.Optional(Type.String({ maxLength: 2000 })),
    expected_policy_snapshot: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'The snapshot the approver saw; 409 if it changed' })),
    expected_job_hash: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'The job hash the approver saw; 409 if it changed' })),
  },
  { additionalProperties: false },
);
export type ApprovalBody = Static<typeof ApprovalBody>;
export const ApprovalResponse = Type.Object({
  job_id: Type.String(),
  state: Type.String(),
  approval: Type.Unknown(),
});

export const DlqQuery = Type.Object(
  { ...PageQuery, reason_code: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) },
  { additionalProperties: false },
);
export const DlqPage = Type.Object({ items: Type.Array(Type.Ref(DlqEntry)), next_cursor: Nullable(Type.String()) });
export const DlqRetryResponse = Type.Object({ job_id: Type.String(), trace_id: Type.String(), retry_of: Type.String() });

export const WorkerItem = Type.Object({
  worker_id: Type.String(),
  pool: Type.String(),
  region: Type.String(),
  type: Type.String(),
  cpu_load: Type.Number(),
  gpu_utilization: Type.Number(),
  active_jobs: Type.Integer(),
  max_parallel_jobs: Type.Integer(),
  capabilities: Type.Array(Type.String()),
  labels: Type.Record(Type.String(), Type.String()),
  last_seen_at: Type.Number(),
});
export const WorkersResponse = Type.Object({ items: Type.Array(WorkerItem) });

export const StatusResponse = Type.Object({
  time: Type.String(),
  uptime_seconds: Type.Integer(),
  build: Type.Object({ version: Type.String(), commit: Type.String(), date: Type.String() }),
  bus: Type.Object({ connected: Type.Boolean(), durable: Type.Boolean(), server: Type.String(), reconnects: Type.Integer() }),
  store: Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) }),
  workers: Type.Object({ count: Type.Integer() }),
  auth: Type.Object({ open: Type.Boolean() }),
  principal: Type.Object({ id: Type.String(), tenant: Type.String(), roles: Type.Array(Type.String()) }),
});

export const HealthResponse = Type.Object({ ok: Type.Boolean(), bus: Type.Boolean(), store: Type.Boolean() });

/** Shared schemas registered once with app.addSchema (referenced by $id). */
export const SHARED_SCHEMAS: readonly TSchema[] = [ErrorEnvelope, JobSummary, DlqEntry];
