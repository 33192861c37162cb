import {
  type ConfigLayer,
  type ConfigScope,
  DeniedError,
  type EffectiveConfig,
  InvalidError,
  type JsonValue,
  NotFoundError,
  mergeEffectiveConfig,
  parsePoolsConfig,
  parseTimeoutsConfig,
  toError,
} from '@cordum/core';
import { Subjects } from '@cordum/protocol';
import type { ConfigDoc, ConfigRef, Page } from '@cordum/store';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { ConfigHistoryQuery, EffectiveConfigQuery, RollbackConfigBody, SetConfigBody } from '../http/schemas-config.js';
import { appendAudit } from '../jobs/jobs.js';

// Config documents per scope with revisions, history and rollback. Tenant scopes (org, team, workflow,
// step) are always addressed inside the caller's tenant, so another tenant's document cannot even be named:
// it is "not found". The system scope is shared by every tenant: any viewer may read it (every effective
// config contains it anyway), but only an admin of the platform tenant (options.defaultTenant) may change
// it, since a change there reaches every tenant.
//
// The system documents that the policy and pack APIs own (bundles, snapshots, their audit, installed packs,
// catalogs) are never written here: that would skip the secops role and the checks those APIs make. Only
// the platform tenant may read them (they can name other tenants).
//
// The system document the scheduler routes by (system/default: data.pools, data.timeouts) is checked on
// every write and rollback with the scheduler's own parser: an invalid document is refused (400 with the
// path) and the previous revision stays in force. After a write, sys.config.changed tells schedulers to
// re-read now rather than at their next poll (a lost message only costs that delay).

/** The document the scheduler reads its routing and timeout tables from. */
export const ROUTING_DOC_ID = 'default';

/** System documents owned by another API, and that API. */
const OWNED_ELSEWHERE: Readonly<Record<string, string>> = {
  policy: '/api/v1/policy',
  policy_snapshots: '/api/v1/policy',
  policy_audit: '/api/v1/policy',
  packs: '/api/v1/packs',
  pack_catalogs: '/api/v1/packs',
};

export type ConfigDocView = {
  scope: ConfigScope;
  scope_id: string;
  revision: number;
  data: Record<string, JsonValue>;
  meta: Record<string, JsonValue>;
  updated_at: number;
  updated_by: string;
};

export function configDocView(doc: ConfigDoc): ConfigDocView {
  return {
    scope: doc.scope,
    scope_id: doc.scopeId,
    revision: doc.revision,
    data: { ...doc.data },
    meta: { ...doc.meta },
    updated_at: doc.updatedAt,
    updated_by: doc.updatedBy,
  };
}

/** The document a request names, inside the caller's tenant for every scope but system. */
export function configRefOf(principal: Principal, scope: ConfigScope, scopeId: string | undefined): ConfigRef {
  if (scope === 'system') return { scope, scopeId: scopeId ?? ROUTING_DOC_ID };
  if (scope === 'org') return { scope, tenant: principal.tenant, scopeId: scopeId ?? principal.tenant };
  if (scopeId === undefined) {
    throw new InvalidError(`scope_id is required for scope ${scope}`, { details: { field: 'scope_id', scope } });
  }
  return { scope, tenant: principal.tenant, scopeId };
}

/** "system/default", "team/payments": how messages name a document (never with a tenant in it). */
function describe(ref: ConfigRef): string {
  return `${ref.scope}/${ref.scopeId}`;
}

const ownerApi = (ref: ConfigRef): string | undefined =>
  ref.scope === 'system' && Object.hasOwn(OWNED_ELSEWHERE, ref.scopeId) ? OWNED_ELSEWHERE[ref.scopeId] : undefined;

function assertCanRead(ctx: GatewayContext, principal: Principal, ref: ConfigRef): void {
  if (ownerApi(ref) !== undefined && principal.tenant !== ctx.options.defaultTenant) {
    throw new DeniedError(`config ${describe(ref)} is readable only by the platform tenant`, {
      code: 'permission_denied',
      details: { scope: 'system', scope_id: ref.scopeId },
    });
  }
}

function assertCanWrite(ctx: GatewayContext, principal: Principal, ref: ConfigRef): void {
  if (ref.scope !== 'system') return;
  const api = ownerApi(ref);
  if (api !== undefined) {
    throw new DeniedError(`config ${describe(ref)} is written through ${api}, which checks and audits it; it cannot be changed here`, {
      code: 'permission_denied',
      details: { scope: 'system', scope_id: ref.scopeId, use: api },
    });
  }
  if (principal.tenant !== ctx.options.defaultTenant) {
    throw new DeniedError(
      `system config is shared by every tenant: only admins of the platform tenant may change it; ${principal.id} belongs to another tenant`,
      { code: 'permission_denied', details: { scope: 'system', scope_id: ref.scopeId } },
    );
  }
}

/**
 * Refuses a system/default document the scheduler would reject (it would keep its previous tables and log
 * the rejection; refusing the write keeps the stored document and the tables in force the same). A missing
 * or null section means "use the bootstrap file", as the scheduler reads it.
 */
export function checkRoutingDocument(ref: ConfigRef, data: Readonly<Record<string, JsonValue>>): void {
  if (ref.scope !== 'system' || ref.scopeId !== ROUTING_DOC_ID) return;
  const pools = data['pools'];
  const timeouts = data['timeouts'];
  if (pools !== undefined && pools !== null) parsePoolsConfig(pools, 'data.pools');
  if (timeouts !== undefined && timeouts !== null) parseTimeoutsConfig(timeouts, 'data.timeouts');
}

async function announce(ctx: GatewayContext, ref: ConfigRef, revision: number): Promise<void> {
  const body = { scope: ref.scope, scope_id: ref.scopeId, ...('tenant' in ref ? { tenant: ref.tenant } : {}), revision };
  try {
    await ctx.bus.publish(Subjects.configChanged, new TextEncoder().encode(JSON.stringify(body)));
  } catch (err) {
    ctx.logger.warn({ ...body, err: toError(err).message }, 'sys.config.changed not published; schedulers pick the change up at their next poll');
  }
}

export async function getConfig(ctx: GatewayContext, principal: Principal, scope: ConfigScope, scopeId: string | undefined): Promise<ConfigDocView> {
  const ref = configRefOf(principal, scope, scopeId);
  assertCanRead(ctx, principal, ref);
  const doc = await ctx.stores.config.get(ref);
  if (doc === undefined) throw new NotFoundError(`config ${describe(ref)} not found`, { details: { scope, scope_id: ref.scopeId } });
  return configDocView(doc);
}

export async function setConfig(ctx: GatewayContext, principal: Principal, body: SetConfigBody): Promise<ConfigDocView> {
  const ref = configRefOf(principal, body.scope, body.scope_id);
  assertCanWrite(ctx, principal, ref);
  const data = body.data as Record<string, JsonValue>;
  checkRoutingDocument(ref, data);
  const doc = await ctx.stores.config.put(ref, {
    data,
    ...(body.meta === undefined ? {} : { meta: body.meta }),
    ...(body.revision === undefined ? {} : { expectedRevision: body.revision }),
    actor: principal.id,
  });
  await appendAudit(ctx, principal, 'config.write', describe(ref), { scope: ref.scope, scope_id: ref.scopeId, revision: doc.revision });
  await announce(ctx, ref, doc.revision);
  return configDocView(doc);
}

export async function configHistory(ctx: GatewayContext, principal: Principal, query: ConfigHistoryQuery): Promise<Page<ConfigDocView>> {
  const scope = query.scope ?? 'system';
  const ref = configRefOf(principal, scope, query.scope_id);
  assertCanRead(ctx, principal, ref);
  const page = await ctx.stores.config.history(ref, { limit: query.limit ?? 50, cursor: query.cursor ?? null });
  if (page.items.length === 0 && query.cursor === undefined) {
    throw new NotFoundError(`config ${describe(ref)} has no revisions`, { details: { scope, scope_id: ref.scopeId } });
  }
  return { items: page.items.map(configDocView), nextCursor: page.nextCursor };
}

export async function rollbackConfig(ctx: GatewayContext, principal: Principal, body: RollbackConfigBody): Promise<ConfigDocView> {
  const ref = configRefOf(principal, body.scope, body.scope_id);
  assertCanWrite(ctx, principal, ref);
  const source = await ctx.stores.config.getRevision(ref, body.to_revision);
  if (source === undefined) {
    throw new NotFoundError(`revision ${body.to_revision} of config ${describe(ref)} does not exist or has been trimmed from history`, {
      details: { scope: ref.scope, scope_id: ref.scopeId, revision: body.to_revision },
    });
  }
  // A revision written before this check existed (or straight to the store) may be one the scheduler rejects.
  checkRoutingDocument(ref, source.data);
  const doc = await ctx.stores.config.rollback(ref, body.to_revision, {
    ...(body.revision === undefined ? {} : { expectedRevision: body.revision }),
    actor: principal.id,
  });
  await appendAudit(ctx, principal, 'config.rollback', describe(ref), {
    scope: ref.scope,
    scope_id: ref.scopeId,
    revision: doc.revision,
    restored_revision: body.to_revision,
  });
  await announce(ctx, ref, doc.revision);
  return configDocView(doc);
}

/**
 * The merged config a job of this tenant would get, as the scheduler computes it: system/default, then
 * org/<tenant>, then the team, workflow and step documents named (missing ones are skipped).
 */
export async function effectiveConfig(ctx: GatewayContext, principal: Principal, query: EffectiveConfigQuery): Promise<EffectiveConfig> {
  const tenant = principal.tenant;
  if (query.org_id !== undefined && query.org_id !== tenant) {
    throw new NotFoundError(`org ${query.org_id} not found`, { details: { org_id: query.org_id } });
  }
  const refs: ConfigRef[] = [
    { scope: 'system', scopeId: ROUTING_DOC_ID },
    { scope: 'org', tenant, scopeId: tenant },
  ];
  if (query.team_id !== undefined) refs.push({ scope: 'team', tenant, scopeId: query.team_id });
  if (query.workflow_id !== undefined) refs.push({ scope: 'workflow', tenant, scopeId: query.workflow_id });
  if (query.step_id !== undefined) refs.push({ scope: 'step', tenant, scopeId: query.step_id });
  const docs = await Promise.all(refs.map((ref) => ctx.stores.config.get(ref)));
  const layers: ConfigLayer[] = [];
  for (const doc of docs) {
    if (doc !== undefined) layers.push({ scope: doc.scope, scopeId: doc.scopeId, revision: doc.revision, data: { ...doc.data } });
  }
  return mergeEffectiveConfig(layers);
}
