// Workflows and runs as the gateway answers them (services/gateway/src/http/schemas-workflows.ts is the
// source of truth; a run's steps are the workflow engine's StepRun documents, passed through).

export type WorkflowSummary = {
  id: string;
  revision: number;
  sha256: string;
  created_at: number;
  name: string | null;
  description: string | null;
  version: string | null;
  step_count: number;
};
export type WorkflowDetail = WorkflowSummary & { definition: Record<string, unknown> };
export type PutWorkflowResponse = WorkflowSummary & { unchanged: boolean; warnings: { path: string; message: string }[] };

export type StartRunResponse = {
  run_id: string;
  workflow_id: string;
  workflow_revision: number;
  status: string;
  dry_run: boolean;
  created: boolean;
  rerun_of: string | null;
  rerun_step: string | null;
  policy: { decision: string; rule_id: string; reason: string; policy_snapshot: string } | null;
};

export type RunError = { code?: string; message?: string };

export type RunSummary = {
  id: string;
  workflow_id: string;
  workflow_revision: number;
  workflow_version: string | null;
  status: string;
  version: number;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  completed_at: number | null;
  idempotency_key: string | null;
  labels: Record<string, string>;
  dry_run: boolean;
  triggered_by: string | null;
  rerun_of: string | null;
  rerun_step: string | null;
  error: RunError | null;
};

export type StepItemView = { index: number; status: string; attempts?: number; job_id?: string; error?: RunError };

export type StepRunView = {
  step_id?: string;
  status?: string;
  attempts?: number;
  started_at?: string;
  completed_at?: string;
  next_attempt_at?: string;
  job_id?: string;
  error?: RunError;
  skip_reason?: string;
  approval?: { decision?: string; by?: string; reason?: string; at?: string };
  items?: StepItemView[];
  [k: string]: unknown;
};

export type RunDetail = RunSummary & {
  definition_hash: string;
  definition: { steps?: Record<string, { type?: string; name?: string; depends_on?: string[] }> } & Record<string, unknown>;
  input: Record<string, unknown>;
  context: Record<string, unknown>;
  steps: Record<string, StepRunView>;
  cancel_requested: Record<string, unknown> | null;
  pending_events: { seq: number; at: number; type: string }[];
};

export type TimelineEntry = {
  seq: number;
  at: number;
  type: string;
  time?: string;
  step_id?: string;
  job_id?: string;
  status?: string;
  message?: string;
  [k: string]: unknown;
};

export type CancelRunResponse = { run_id: string; status: string; cancel_requested: boolean; duplicate: boolean };
export type StepDecisionResponse = { run_id: string; step_id: string; decision: 'approved' | 'rejected'; by: string; reason: string | null; queued: boolean };

export type StepApprovalItem = {
  kind: 'workflow_step';
  run_id: string;
  workflow_id: string;
  step_id: string;
  step_name: string | null;
  waiting_since: number | null;
  triggered_by: string | null;
  dry_run: boolean;
  approval_ref: string;
};
