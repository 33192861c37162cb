// The gateway's /api/v1/policy answers (services/gateway/src/http/schemas-policy.ts is the source of truth).

export type PolicyRemediation = { id: string; title: string; summary: string; replacement_topic: string; replacement_capability: string };

export type PolicyDecision = {
  decision: string;
  rule_id: string;
  reason: string;
  policy_snapshot: string;
  constraints: Record<string, unknown> | null;
  approval_required: boolean;
  approval_ref: string;
  remediations: PolicyRemediation[];
  tenant: string;
  effective_config: { version: string; hash: string } | null;
};

export type RuleTrace = { rule_id: string; bundle_id: string; index: number; decision: string; status: string; matched: boolean; reasons: string[] };

export type PolicyExplain = PolicyDecision & { trace: RuleTrace[]; notes: string[]; drafts: string[] };

export type PolicySnapshots = { current: string | null; snapshots: string[] };

export type RuleView = {
  rule_id: string;
  bundle_id: string;
  index: number;
  decision: string;
  reason: string | null;
  detail: string;
};
export type RulesResponse = { snapshot: string | null; bundle_id: string | null; rules: RuleView[] };

export type BundleDraft = { content?: string; enabled: boolean; sha256: string; author: string; message: string; updated_at: number | null; updated_by: string };

export type BundleView = {
  id: string;
  kind: string;
  pack_id: string;
  editable: boolean;
  enabled: boolean;
  live: boolean;
  content?: string;
  sha256: string;
  version: string;
  author: string;
  message: string;
  signed: boolean;
  updated_at: number | null;
  updated_by: string;
  published_at: number | null;
  published_by: string;
  draft: BundleDraft | null;
  problem: string | null;
};
export type BundleList = { revision: number; bundles: BundleView[] };
export type BundleDetail = BundleView & { revision: number; kernel_check?: string };

export type PublishResponse = {
  revision: number;
  previous_revision: number;
  bundle_ids: string[];
  rolled_back_to: number | null;
  snapshot_before: string | null;
  snapshot_after: string | null;
  kernel: string;
};

export type BundleRevision = {
  snapshot_id: string;
  revision: number;
  at: number;
  by: string;
  action: string;
  message: string;
  note: string;
  bundles: { id: string; enabled: boolean; live: boolean; sha256: string }[];
};

export type PolicyAuditEntry = { id: string; at: number; action: string; actor: string; tenant: string; subject: string; data: Record<string, unknown> };
