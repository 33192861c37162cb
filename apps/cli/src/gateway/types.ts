// The gateway's answers as cordumctl reads them (services/gateway/src/http/schemas.ts is the source of truth;
// only the fields cordumctl shows are typed, everything else passes through to --output json untouched).

export type Page<T> = { items: T[]; next_cursor: string | null };

export type StatusResponse = {
  time: string;
  uptime_seconds: number;
  build: { version: string; commit: string; date: string };
  bus: { connected: boolean; durable: boolean; server: string; reconnects: number };
  store: { ok: boolean; error?: string };
  workers: { count: number };
  auth: { open: boolean };
  principal: { id: string; tenant: string; roles: string[] };
};

export type Worker = {
  worker_id: string;
  pool: string;
  region: string;
  type: string;
  cpu_load: number;
  gpu_utilization: number;
  active_jobs: number;
  max_parallel_jobs: number;
  capabilities: string[];
  labels: Record<string, string>;
  last_seen_at: number;
};

export type JobSummary = {
  id: string;
  tenant: string;
  topic: string;
  state: string;
  wait_reason: string | null;
  attempts: number;
  trace_id: string;
  created_at: number;
  updated_at: number;
  worker_id: string | null;
  result_ptr: string | null;
  error_code: string | null;
  error_message: string | null;
  labels: Record<string, string>;
};

export type PayloadView = {
  pointer: string;
  size_bytes: number;
  content_type: string;
  inlined: boolean;
  expired: boolean;
  json?: unknown;
  text?: string;
  base64?: string;
} | null;

export type JobEvent = { at: number; from: string | null; to: string; actor: string; reason: string; attempt: number; version: number };

export type PolicyDecisionView = {
  decision?: string;
  rule_id?: string;
  reason?: string;
  snapshot?: string;
  remediations?: { id?: string; title?: string }[];
  [k: string]: unknown;
};

export type JobDetail = JobSummary & {
  priority: string;
  principal_id: string;
  capability: string;
  risk_tags: string[];
  requires: string[];
  pack_id: string;
  parent_job_id: string;
  decision: PolicyDecisionView | null;
  approval: Record<string, unknown> | null;
  job_hash: string | null;
  events: JobEvent[];
  context: PayloadView;
  result: PayloadView;
  dlq: DlqEntry | null;
};

export type DecisionRecord = { id: string; at: number; actor: string; decision?: string; rule_id?: string; reason?: string; snapshot?: string; [k: string]: unknown };
export type DecisionsResponse = { job_id: string; decision: unknown; items: DecisionRecord[]; next_cursor: string | null };

export type SubmitResponse = { job_id: string; trace_id: string };
export type CancelResponse = { id: string; state: string; cancel_requested: boolean };
export type RemediateResponse = { job_id: string; trace_id: string; remediation_of: string; remediation_id: string };

export type ApprovalItem = {
  job: JobSummary;
  decision: unknown;
  policy_snapshot: string;
  policy_rule_id: string;
  policy_reason: string;
  constraints: unknown;
  job_hash: string;
  approval_required: boolean;
  approval_ref: string;
};
export type ApprovalResponse = { job_id: string; state: string; approval: unknown };

export type DlqEntry = {
  job_id: string;
  tenant: string;
  topic: string;
  status: string;
  reason: string;
  reason_code: string;
  error_code: number;
  last_state: string | null;
  attempts: number;
  created_at: number;
  trace_id: string;
  labels: Record<string, string>;
  decision: unknown;
};
export type DlqRetryResponse = { job_id: string; trace_id: string; retry_of: string };
