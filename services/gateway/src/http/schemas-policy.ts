import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { PageQuery, TENANT_PATTERN } from './schemas.js';

// Request and response schemas of the policy routes (/api/v1/policy/...). Field names follow upstream
// Cordum's policy-check request, in snake_case; bodies reject unknown fields.

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

const Labels = Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.String({ maxLength: 1024 }), { maxProperties: 50 });
const TagList = Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 50 });
const ActorType = Type.Union([Type.Literal('human'), Type.Literal('service')]);
const Short = Type.String({ maxLength: 200 });
const TokenCount = Type.Integer({ minimum: 0, maximum: 100_000_000 });

/** Bundle ids as stored: `<pack>/<name>`, `secops/<name>`. In a path, write `/` as `~` (or use ?bundle_id=). */
export const BUNDLE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}(/[A-Za-z0-9][A-Za-z0-9._:@-]{0,99})?$';
const BundleId = Type.String({ pattern: BUNDLE_ID_PATTERN, description: 'e.g. secops/freeze or tracker/safety' });
const MAX_BUNDLE_BYTES = 1024 * 1024;

const CheckMeta = Type.Object(
  {
    tenant_id: Type.Optional(Type.String({ pattern: TENANT_PATTERN })),
    actor_id: Type.Optional(Short),
    actor_type: Type.Optional(ActorType),
    idempotency_key: Type.Optional(Type.String({ maxLength: 256 })),
    capability: Type.Optional(Short),
    risk_tags: Type.Optional(TagList),
    requires: Type.Optional(TagList),
    pack_id: Type.Optional(Short),
    labels: Type.Optional(Labels),
  },
  { additionalProperties: false, description: 'Upstream\'s JobMetadata; the same fields may be given at the top level (which wins)' },
);

const CheckFields = {
  topic: Type.String({ minLength: 1, maxLength: 255, description: 'The job topic (must start with job.)' }),
  job_id: Type.Optional(Type.String({ maxLength: 200 })),
  tenant: Type.Optional(Type.String({ pattern: TENANT_PATTERN, description: 'Must be your tenant (the default)' })),
  tenant_id: Type.Optional(Type.String({ pattern: TENANT_PATTERN, description: 'Alias of tenant' })),
  org_id: Type.Optional(Type.String({ pattern: TENANT_PATTERN, description: 'Alias of tenant' })),
  team_id: Type.Optional(Type.String({ maxLength: 200, description: 'Team scope of the effective config' })),
  workflow_id: Type.Optional(Type.String({ maxLength: 200, description: 'Workflow scope of the effective config' })),
  step_id: Type.Optional(Type.String({ maxLength: 200, description: 'Step scope of the effective config' })),
  principal_id: Type.Optional(Type.String({ maxLength: 200, description: 'Default: you' })),
  priority: Type.Optional(Type.Union([Type.Literal('interactive'), Type.Literal('batch'), Type.Literal('critical')])),
  estimated_cost: Type.Optional(Type.Number({ minimum: 0 })),
  budget: Type.Optional(
    Type.Object(
      {
        max_input_tokens: Type.Optional(TokenCount),
        max_output_tokens: Type.Optional(TokenCount),
        max_total_tokens: Type.Optional(TokenCount),
        deadline_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86_400_000 })),
      },
      { additionalProperties: false },
    ),
  ),
  labels: Type.Optional(Labels),
  memory_id: Type.Optional(Type.String({ maxLength: 200 })),
  effective_config: Type.Optional(
    Type.Object({}, { additionalProperties: true, description: 'Default: computed from the config store as the scheduler does' }),
  ),
  capability: Type.Optional(Short),
  risk_tags: Type.Optional(TagList),
  requires: Type.Optional(TagList),
  pack_id: Type.Optional(Short),
  actor_id: Type.Optional(Short),
  actor_type: Type.Optional(ActorType),
  idempotency_key: Type.Optional(Type.String({ maxLength: 256 })),
  meta: Type.Optional(CheckMeta),
};

export const PolicyCheckBody = Type.Object(CheckFields, { additionalProperties: false });
export type PolicyCheckBody = Static<typeof PolicyCheckBody>;

const DraftBundle = Type.Object(
  {
    id: BundleId,
    content: Type.String({ maxLength: MAX_BUNDLE_BYTES, description: 'Bundle YAML or JSON' }),
    enabled: Type.Optional(Type.Boolean({ description: 'false simulates the bundle switched off' })),
  },
  { additionalProperties: false },
);

const DefaultDecision = Type.String({ maxLength: 40, description: 'Overrides the default decision (allow, deny, require_approval, …)' });

export const PolicySimulateBody = Type.Object(
  {
    ...CheckFields,
    bundles: Type.Optional(
      Type.Array(DraftBundle, {
        maxItems: 50,
        description: 'Draft bundles laid over the live ones (same id replaces, new ids are added; base is the base bundle)',
      }),
    ),
    default_decision: Type.Optional(DefaultDecision),
  },
  { additionalProperties: false },
);
export type PolicySimulateBody = Static<typeof PolicySimulateBody>;

export const BundleSimulateBody = Type.Object(
  {
    request: PolicyCheckBody,
    content: Type.Optional(Type.String({ maxLength: MAX_BUNDLE_BYTES, description: 'Default: the stored draft, else the live content' })),
    enabled: Type.Optional(Type.Boolean()),
    default_decision: Type.Optional(DefaultDecision),
  },
  { additionalProperties: false },
);
export type BundleSimulateBody = Static<typeof BundleSimulateBody>;

const Remediation = Type.Object({
  id: Type.String(),
  title: Type.String(),
  summary: Type.String(),
  replacement_topic: Type.String(),
  replacement_capability: Type.String(),
  add_labels: Type.Record(Type.String(), Type.String()),
  remove_labels: Type.Array(Type.String()),
});

const DecisionFields = {
  decision: Type.String({ description: 'ALLOW, DENY, REQUIRE_APPROVAL, ALLOW_WITH_CONSTRAINTS or THROTTLE' }),
  rule_id: Type.String(),
  reason: Type.String(),
  policy_snapshot: Type.String(),
  constraints: Nullable(Type.Object({}, { additionalProperties: true })),
  approval_required: Type.Boolean(),
  approval_ref: Type.String(),
  remediations: Type.Array(Remediation),
  redacted_context_ptr: Type.String(),
  tenant: Type.String({ description: 'The tenant the rules saw' }),
  effective_config: Nullable(Type.Object({ version: Type.String(), hash: Type.String() })),
};

export const PolicyDecisionResponse = Type.Object(DecisionFields);

export const RuleTrace = Type.Object({
  rule_id: Type.String(),
  bundle_id: Type.String(),
  index: Type.Integer(),
  decision: Type.String(),
  status: Type.String({ description: 'matched, not_matched, error or not_reached' }),
  matched: Type.Boolean(),
  reasons: Type.Array(Type.String()),
});

export const PolicyExplainResponse = Type.Object({
  ...DecisionFields,
  trace: Type.Array(RuleTrace),
  notes: Type.Array(Type.String()),
  drafts: Type.Array(Type.String(), { description: 'Draft bundle ids the simulation used (empty for explain)' }),
});

export const PolicySnapshotsResponse = Type.Object({
  current: Nullable(Type.String()),
  snapshots: Type.Array(Type.String(), { description: 'Newest first (at most 10)' }),
});

export const RulesQuery = Type.Object(
  {
    bundle_id: Type.Optional(BundleId),
    draft: Type.Optional(Type.Boolean({ description: 'With bundle_id: the rules of its draft' })),
  },
  { additionalProperties: false },
);
export type RulesQuery = Static<typeof RulesQuery>;

const RuleSourceView = Type.Object({
  bundle_id: Type.String(),
  pack_id: Type.String({ description: 'The pack of a pack bundle (<pack>/<name>); empty otherwise' }),
  overlay_name: Type.String(),
  version: Type.String(),
  sha256: Type.String(),
});

export const RuleView = Type.Object({
  rule_id: Type.String(),
  bundle_id: Type.String(),
  index: Type.Integer({ description: 'Position in evaluation order' }),
  decision: Type.String(),
  reason: Nullable(Type.String()),
  match: Nullable(Type.Object({}, { additionalProperties: true })),
  when: Nullable(Type.String()),
  constraints: Nullable(Type.Object({}, { additionalProperties: true })),
  remediations: Nullable(Type.Array(Type.Object({}, { additionalProperties: true }))),
  source: RuleSourceView,
  detail: Type.String({ description: 'stored: details from the stored bundle; summary: id, bundle and decision only (base bundle and legacy tenant rules live on the kernel)' }),
});

export const RulesResponse = Type.Object({
  snapshot: Nullable(Type.String()),
  bundle_id: Nullable(Type.String()),
  rules: Type.Array(RuleView),
});

export const BundleParams = Type.Object({
  id: Type.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9._:@~/-]{0,200}$', description: 'Bundle id with / written as ~ (secops~freeze) or %2F' }),
});
export const BundleQuery = Type.Object(
  { bundle_id: Type.Optional(BundleId) },
  { additionalProperties: false, description: 'bundle_id, when given, wins over the path' },
);

const DraftView = Type.Object({
  content: Type.Optional(Type.String()),
  enabled: Type.Boolean(),
  sha256: Type.String(),
  author: Type.String(),
  message: Type.String(),
  updated_at: Nullable(Type.Number()),
  updated_by: Type.String(),
});

const BundleFields = {
  id: Type.String(),
  kind: Type.String({ description: 'secops (written here) or pack (written by pack installs)' }),
  pack_id: Type.String(),
  editable: Type.Boolean({ description: 'Whether PUT may change it (secops/* only)' }),
  enabled: Type.Boolean(),
  live: Type.Boolean({ description: 'Enabled with content: the kernel loads it' }),
  content: Type.Optional(Type.String()),
  sha256: Type.String({ description: 'SHA-256 of the live content (empty without content)' }),
  version: Type.String(),
  author: Type.String(),
  message: Type.String(),
  signed: Type.Boolean(),
  updated_at: Nullable(Type.Number()),
  updated_by: Type.String(),
  published_at: Nullable(Type.Number()),
  published_by: Type.String(),
  draft: Nullable(DraftView),
  problem: Nullable(Type.String({ description: 'Why the stored entry cannot be read, if it cannot' })),
};

export const BundleListResponse = Type.Object({
  revision: Type.Integer({ description: 'Revision of the bundles document (0: none yet); send it as expected_revision' }),
  bundles: Type.Array(Type.Object(BundleFields)),
});

export const BundleResponse = Type.Object({
  ...BundleFields,
  revision: Type.Integer(),
  kernel_check: Type.Optional(Type.String({ description: 'PUT: ok, unavailable or not_configured (the live-policy check of the draft)' })),
});

export const PutBundleBody = Type.Object(
  {
    content: Type.String({ maxLength: MAX_BUNDLE_BYTES, description: 'Bundle YAML or JSON' }),
    enabled: Type.Optional(Type.Boolean({ description: 'Whether the bundle is on once published (default true)' })),
    author: Type.Optional(Short),
    message: Type.Optional(Type.String({ maxLength: 2000 })),
    signature: Type.Optional(Type.String({ maxLength: 200, description: 'Base64 Ed25519 signature over the content' })),
    expected_revision: Type.Optional(Type.Integer({ minimum: 0, description: 'Compare-and-set on the bundles document (409 when stale)' })),
  },
  { additionalProperties: false },
);
export type PutBundleBody = Static<typeof PutBundleBody>;

export const PublishBody = Type.Object(
  {
    bundle_ids: Type.Optional(Type.Array(BundleId, { minItems: 1, maxItems: 100, description: 'Default: every bundle with a draft' })),
    author: Type.Optional(Short),
    message: Type.Optional(Type.String({ maxLength: 2000 })),
    note: Type.Optional(Type.String({ maxLength: 2000 })),
    expected_revision: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type PublishBody = Static<typeof PublishBody>;

export const RollbackBody = Type.Object(
  {
    revision: Type.Optional(Type.Integer({ minimum: 1, description: 'The bundles-document revision to return to' })),
    snapshot_id: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'Alias of revision (the id GET bundles/snapshots lists)' })),
    author: Type.Optional(Short),
    message: Type.Optional(Type.String({ maxLength: 2000 })),
    note: Type.Optional(Type.String({ maxLength: 2000 })),
    expected_revision: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type RollbackBody = Static<typeof RollbackBody>;

export const PublishResponse = Type.Object({
  revision: Type.Integer(),
  previous_revision: Type.Integer(),
  bundle_ids: Type.Array(Type.String(), { description: 'Bundles whose live state changed' }),
  rolled_back_to: Nullable(Type.Integer()),
  snapshot_before: Nullable(Type.String()),
  snapshot_after: Nullable(Type.String()),
  kernel: Type.String({ description: 'reloaded (in-process kernel), pending (the kernel picks it up on its next poll), unchanged (a rollback to the live state), unavailable, not_configured' }),
});

export const RevisionsQuery = Type.Object({ ...PageQuery }, { additionalProperties: false });

export const RevisionsResponse = Type.Object({
  items: Type.Array(
    Type.Object({
      snapshot_id: Type.String(),
      revision: Type.Integer(),
      at: Type.Number(),
      by: Type.String(),
      action: Type.String({ description: 'save (a draft), publish, rollback, or external (written another way: pack install, config API)' }),
      message: Type.String(),
      note: Type.String(),
      bundles: Type.Array(Type.Object({ id: Type.String(), enabled: Type.Boolean(), live: Type.Boolean(), sha256: Type.String() })),
    }),
  ),
  next_cursor: Nullable(Type.String()),
});

export const PolicyAuditQuery = Type.Object(
  { ...PageQuery, bundle_id: Type.Optional(BundleId) },
  { additionalProperties: false },
);
export type PolicyAuditQuery = Static<typeof PolicyAuditQuery>;

export const PolicyAuditResponse = Type.Object({
  items: Type.Array(
    Type.Object({
      id: Type.String(),
      at: Type.Number(),
      action: Type.String({ description: 'policy.bundle.save, policy.bundle.publish or policy.bundle.rollback' }),
      actor: Type.String(),
      tenant: Type.String({ description: 'Tenant of the principal who made the change' }),
      subject: Type.String(),
      data: Type.Object({}, { additionalProperties: true }),
    }),
  ),
  next_cursor: Nullable(Type.String()),
});
