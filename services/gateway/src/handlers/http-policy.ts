import { InvalidError } from '@cordum/core';
import type { GatewayContext } from '../context.js';
import { ERROR_RESPONSES } from '../http/schemas.js';
import {
  BundleListResponse,
  BundleParams,
  BundleQuery,
  BundleResponse,
  BundleSimulateBody,
  PolicyAuditQuery,
  PolicyAuditResponse,
  PolicyCheckBody,
  PolicyDecisionResponse,
  PolicyExplainResponse,
  PolicySimulateBody,
  PolicySnapshotsResponse,
  PublishBody,
  PublishResponse,
  PutBundleBody,
  RevisionsQuery,
  RevisionsResponse,
  RollbackBody,
  RulesQuery,
  RulesResponse,
} from '../http/schemas-policy.js';
import { type GatewayApp, principalOf } from '../http/types.js';
import { getBundle, listBundles, listPolicyAudit, listRevisions, publish, rollback, saveDraft, simulateDraft } from '../policy/bundles.js';
import { evaluatePolicy, explainPolicy, listSnapshots, simulateFromBody } from '../policy/check.js';
import { listRules } from '../policy/rules.js';
import { bundleIdOf } from '../policy/store.js';

// /api/v1/policy/...: questions to the safety kernel (viewer: always about your own tenant, nothing
// recorded) and Policy Studio (secops of the platform tenant: the bundles are system-wide, so reading and
// changing them is the platform security role's; other tenants ask "why" through explain).

const TAG = ['policy'];

/** A request without a body passes validation as absent (see app.ts); these routes need one. */
function bodyOf<T>(body: T | null | undefined, field: string): T {
  if (body === null || body === undefined) {
    throw new InvalidError(`body: missing required field "${field}"`, { details: { location: 'body', errors: [{ path: 'body', message: `missing required field "${field}"` }] } });
  }
  return body;
}
const KERNEL_DOWN = 'An unreachable safety kernel is 503 safety_unavailable with Retry-After (never a guess).';
const PLATFORM = 'Bundles apply to every tenant: only principals of the platform tenant (CORDUM_DEFAULT_TENANT) may use this route (403 otherwise).';

export function registerPolicyRoutes(app: GatewayApp, ctx: GatewayContext): void {
  app.post(
    '/api/v1/policy/evaluate',
    {
      config: { role: 'viewer' },
      schema: {
        tags: TAG,
        summary: 'The decision the safety kernel would give a job (no record, no side effects)',
        description: `The tenant is always yours. The effective config is computed as the scheduler does unless given. ${KERNEL_DOWN}`,
        body: PolicyCheckBody,
        response: { 200: PolicyDecisionResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => evaluatePolicy(ctx, principalOf(request), bodyOf(request.body, 'topic')),
  );

  app.post(
    '/api/v1/policy/explain',
    {
      config: { role: 'viewer' },
      schema: {
        tags: TAG,
        summary: 'The decision with every rule considered and why it did or did not match',
        description: KERNEL_DOWN,
        body: PolicyCheckBody,
        response: { 200: PolicyExplainResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => explainPolicy(ctx, principalOf(request), bodyOf(request.body, 'topic')),
  );

  app.post(
    '/api/v1/policy/simulate',
    {
      config: { role: 'viewer' },
      schema: {
        tags: TAG,
        summary: 'Explain against draft bundles laid over the live policy; nothing is stored or changed',
        description: `Without bundles it explains against the live policy. ${KERNEL_DOWN}`,
        body: PolicySimulateBody,
        response: { 200: PolicyExplainResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => simulateFromBody(ctx, principalOf(request), bodyOf(request.body, 'topic')),
  );

  app.get(
    '/api/v1/policy/snapshots',
    {
      config: { role: 'viewer' },
      schema: {
        tags: TAG,
        summary: 'Policy snapshot ids the kernel has loaded, newest (in force) first',
        response: { 200: PolicySnapshotsResponse, ...ERROR_RESPONSES },
      },
    },
    () => listSnapshots(ctx),
  );

  app.get(
    '/api/v1/policy/rules',
    {
      config: { role: 'secops' },
      schema: {
        tags: TAG,
        summary: 'The rules in force (evaluation order), or the rules of one stored bundle',
        description: PLATFORM,
        querystring: RulesQuery,
        response: { 200: RulesResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => listRules(ctx, principalOf(request), request.query),
  );

  app.get(
    '/api/v1/policy/bundles',
    {
      config: { role: 'secops' },
      schema: {
        tags: TAG,
        summary: 'Policy bundles in the config store (packs and secops), without content',
        description: PLATFORM,
        response: { 200: BundleListResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => listBundles(ctx, principalOf(request)),
  );

  app.get(
    '/api/v1/policy/bundles/snapshots',
    {
      config: { role: 'secops' },
      schema: {
        tags: TAG,
        summary: 'Revisions of the bundles document, newest first (what rollback returns to)',
        description: PLATFORM,
        querystring: RevisionsQuery,
        response: { 200: RevisionsResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => listRevisions(ctx, principalOf(request), request.query),
  );

  app.get(
    '/api/v1/policy/bundles/:id',
    {
      config: { role: 'secops' },
      schema: {
        tags: TAG,
        summary: 'One bundle with its live content and its draft',
        description: PLATFORM,
        params: BundleParams,
        querystring: BundleQuery,
        response: { 200: BundleResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => getBundle(ctx, principalOf(request), bundleIdOf(request.params.id, request.query.bundle_id)),
  );

  app.put(
    '/api/v1/policy/bundles/:id',
    {
      config: { role: 'secops' },
      schema: {
        tags: TAG,
        summary: 'Save a draft of a secops/<name> bundle (validated; live only once published)',
        description: `${PLATFORM} The content must parse and merge with the other live bundles and the kernel's base bundle (400 policy_invalid naming the bundle, rule, field and line). expected_revision makes it a compare-and-set (409 revision_conflict).`,
        params: BundleParams,
        querystring: BundleQuery,
        body: PutBundleBody,
        response: { 200: BundleResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => saveDraft(ctx, principalOf(request), bundleIdOf(request.params.id, request.query.bundle_id), bodyOf(request.body, 'content')),
  );

  app.post(
    '/api/v1/policy/bundles/:id/simulate',
    {
      config: { role: 'secops' },
      schema: {
        tags: TAG,
        summary: 'Explain a request against the bundle\'s draft (or the content sent) over the live policy',
        description: `${PLATFORM} ${KERNEL_DOWN}`,
        params: BundleParams,
        querystring: BundleQuery,
        body: BundleSimulateBody,
        response: { 200: PolicyExplainResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => simulateDraft(ctx, principalOf(request), bundleIdOf(request.params.id, request.query.bundle_id), bodyOf(request.body, 'request')),
  );

  app.post(
    '/api/v1/policy/publish',
    {
      config: { role: 'secops' },
      schema: {
        tags: TAG,
        summary: 'Make drafts live: the kernel loads them (at once in-process, else on its next poll)',
        description: `${PLATFORM} Checked like a draft first; nothing is written when the kernel cannot check it. ${KERNEL_DOWN}`,
        body: PublishBody,
        response: { 200: PublishResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => publish(ctx, principalOf(request), request.body ?? {}),
  );

  app.post(
    '/api/v1/policy/rollback',
    {
      config: { role: 'secops' },
      schema: {
        tags: TAG,
        summary: 'Return the live bundles to an earlier revision (drafts in progress are kept)',
        description: `${PLATFORM} ${KERNEL_DOWN}`,
        body: RollbackBody,
        response: { 200: PublishResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => rollback(ctx, principalOf(request), request.body ?? {}),
  );

  app.get(
    '/api/v1/policy/audit',
    {
      config: { role: 'secops' },
      schema: {
        tags: TAG,
        summary: 'Who changed which bundle, when (saves, publishes, rollbacks), newest first',
        description: PLATFORM,
        querystring: PolicyAuditQuery,
        response: { 200: PolicyAuditResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => listPolicyAudit(ctx, principalOf(request), request.query),
  );
}
