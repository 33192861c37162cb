import { create } from '@bufbuild/protobuf';
import { ConflictError, DeniedError, InvalidError, type JsonValue, isCordumError, isPlainObject, sha256Hex, toError } from '@cordum/core';
import { DEFAULT_FRAGMENTS } from '@cordum/pdp';
import { type Bundle, compilePolicy, orderBundles, parseBundle } from '@cordum/policy';
import { PolicyCheckRequestSchema } from '@cordum/protocol';
import { type ConfigDoc, SYSTEM_TENANT } from '@cordum/store';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import { BUNDLE_ID_PATTERN } from '../http/schemas-policy.js';

// The bundles document the safety kernel reads: config {system/policy} data.bundles, a map of bundle id →
// bundle string or {content, enabled, …} (upstream's shape). The kernel reads only content/policy/data,
// enabled and signature, so a pending edit lives beside them in `draft` and has no effect until published.
// Every write is a compare-and-set on the document revision; every revision is kept in the config history
// (what rollback returns to).

export const BUNDLES_REF = DEFAULT_FRAGMENTS.ref;
export const BUNDLES_KEY = DEFAULT_FRAGMENTS.key;

/** Audit kinds of policy changes (never `policy.decision`, the kernel's per-job records). */
export const POLICY_CHANGE_KIND_PREFIX = 'policy.bundle.';

/** Bundles written through the API: Policy Studio's namespace. Pack bundles change by installing the pack. */
export const EDITABLE_PREFIX = 'secops/';

const ID_RE = new RegExp(BUNDLE_ID_PATTERN);

export type Entry = Readonly<Record<string, JsonValue>>;

export type BundlesDoc = {
  /** 0 when the document does not exist yet. */
  revision: number;
  data: Readonly<Record<string, JsonValue>>;
  bundles: Readonly<Record<string, JsonValue>>;
};

/**
 * Policy bundles are system-wide: one policy for every tenant. Like the system config scope, they are read
 * and changed only by the platform tenant (CORDUM_DEFAULT_TENANT) — its secops principals (the routes
 * require the role); a secops key of another tenant would otherwise change every tenant's guardrails.
 */
export function requirePlatformTenant(ctx: GatewayContext, principal: Principal): void {
  const platform = ctx.options.defaultTenant;
  if (principal.tenant === platform) return;
  throw new DeniedError(
    `policy bundles apply to every tenant: only the platform tenant ${platform} manages them (your key belongs to ${principal.tenant}); ask about your jobs with /api/v1/policy/explain`,
    { code: 'permission_denied', details: { platform_tenant: platform } },
  );
}

/** The bundle id of a request: ?bundle_id= wins, else the path segment with `~` standing for `/`. */
export function bundleIdOf(pathId: string, queryId: string | undefined): string {
  const id = queryId ?? pathId.replaceAll('~', '/');
  if (!ID_RE.test(id)) {
    throw new InvalidError(`invalid bundle id ${JSON.stringify(id)}: use <pack>/<name> or secops/<name> (write / as ~ in a path)`, {
      details: { field: 'bundle_id' },
    });
  }
  return id;
}

export function bundlesOfDoc(doc: Pick<ConfigDoc, 'data' | 'revision'> | undefined): BundlesDoc {
  if (doc === undefined) return { revision: 0, data: {}, bundles: {} };
  const raw = doc.data[BUNDLES_KEY];
  return { revision: doc.revision, data: doc.data, bundles: isPlainObject(raw) ? raw : {} };
}

export async function readBundles(ctx: GatewayContext): Promise<BundlesDoc> {
  return bundlesOfDoc(await ctx.stores.config.get(BUNDLES_REF));
}

/** What the kernel sees of an entry: its content (null when it has none) and whether it is enabled. */
export type LiveState = { content: string | null; enabled: boolean; problem: string | null };

export function liveOf(raw: JsonValue | undefined): LiveState {
  if (typeof raw === 'string') return { content: raw, enabled: true, problem: null };
  if (!isPlainObject(raw)) return { content: null, enabled: false, problem: 'the entry is neither a bundle string nor a map' };
  const enabled = raw['enabled'] !== false;
  for (const field of ['content', 'policy', 'data']) {
    const v = raw[field];
    if (typeof v === 'string') return { content: v, enabled, problem: null };
    if (field === 'data' && v !== undefined && v !== null) return { content: JSON.stringify(v), enabled, problem: null };
  }
  return { content: null, enabled, problem: enabled ? 'the entry has no content, policy or data' : null };
}

export const isLive = (s: LiveState): boolean => s.enabled && s.content !== null;

export function draftOf(raw: JsonValue | undefined): Entry | null {
  if (!isPlainObject(raw)) return null;
  const d = raw['draft'];
  return isPlainObject(d) && typeof d['content'] === 'string' ? d : null;
}

export const text = (v: JsonValue | undefined): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** Times as stored: epoch ms, or an RFC 3339 string as pack installs write them. */
export function timeOf(v: JsonValue | undefined): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

export function packIdOf(id: string): string {
  const slash = id.indexOf('/');
  return slash < 0 || id.startsWith(EDITABLE_PREFIX) ? '' : id.slice(0, slash);
}

// ─── Validation ───────────────────────────────────────────────────────────────────────────────────────

/**
 * Parses every live entry of a bundles map (PolicyError, naming the bundle, for the first that fails). With
 * `only`, the other entries are parsed leniently: one that does not parse is left out instead of failing.
 */
export function parseLive(bundles: Readonly<Record<string, JsonValue>>, only?: string): Map<string, Bundle> {
  const out = new Map<string, Bundle>();
  for (const id of Object.keys(bundles).sort()) {
    const strict = only === undefined || only === id;
    const live = liveOf(bundles[id]);
    if (live.problem !== null) {
      if (!strict) continue;
      throw new InvalidError(`policy bundle "${id}": ${live.problem}`, { code: 'policy_invalid', details: { bundle: id } });
    }
    if (!isLive(live) || live.content === null) continue;
    try {
      out.set(id, parseBundle({ id, content: live.content }));
    } catch (err) {
      if (strict) throw err;
    }
  }
  return out;
}

/**
 * Would the kernel load these bundles? Parses and merges them as the kernel does (duplicate rule ids across
 * bundles included). The base bundle is not in the store; checkWithKernel covers it. With `only` (a draft),
 * another entry that is already broken does not block it: it blocks publishing, which is when it matters.
 */
export function checkLocally(bundles: Readonly<Record<string, JsonValue>>, only?: string): void {
  const parsed = parseLive(bundles, only);
  if (parsed.size > 0) compilePolicy(orderBundles(null, [...parsed.values()]));
}

export type KernelCheck = 'ok' | 'unavailable' | 'not_configured';

/**
 * Lays the changed bundles over the kernel's live policy (a simulation: nothing changes) to learn whether
 * the kernel would load them, base bundle included. policy_invalid → 400; an unreachable kernel is
 * 'unavailable' unless `required`, then it is the 503 itself.
 */
export async function checkWithKernel(
  ctx: GatewayContext,
  principal: Principal,
  changed: readonly { id: string; content: string | null }[],
  required: boolean,
): Promise<KernelCheck> {
  if (ctx.policy === undefined) return 'not_configured';
  if (changed.length === 0) return 'ok';
  try {
    await ctx.policy.simulate({
      request: create(PolicyCheckRequestSchema, { topic: 'job.policy.validate', tenant: principal.tenant, principalId: principal.id }),
      bundles: changed.map((c) => ({ id: c.id, content: c.content ?? '{}' })),
    });
    return 'ok';
  } catch (err) {
    if (isCordumError(err) && err.kind === 'invalid') {
      throw new InvalidError(`the safety kernel would not load this change: ${err.message}`, {
        code: 'policy_invalid',
        details: { bundle_ids: changed.map((c) => c.id) },
        cause: err,
      });
    }
    if (isCordumError(err) && err.kind === 'retryable' && !required) {
      ctx.logger.warn({ err: err.message }, 'safety kernel unavailable; draft checked locally only');
      return 'unavailable';
    }
    throw err;
  }
}

// ─── Writes ───────────────────────────────────────────────────────────────────────────────────────────

export type WritePlan<T> = { bundles: Record<string, JsonValue>; meta: Record<string, JsonValue>; result: T } | { noop: T };

/**
 * Read → plan → compare-and-set. With expected_revision the caller's view must be current (409
 * revision_conflict otherwise); without one, a write that loses a race is planned again on the new
 * revision (at most three times), since the plan is always made from what is stored.
 */
export async function writeBundles<T>(
  ctx: GatewayContext,
  principal: Principal,
  expected: number | undefined,
  plan: (current: BundlesDoc) => Promise<WritePlan<T>>,
): Promise<{ current: BundlesDoc; doc: ConfigDoc | null; result: T }> {
  for (let attempt = 1; ; attempt++) {
    const current = await readBundles(ctx);
    if (expected !== undefined && current.revision !== expected) {
      throw new ConflictError(
        `the policy bundles changed since you read them (revision ${current.revision}, you sent ${expected}); re-read and retry`,
        { code: 'revision_conflict', details: { current_revision: current.revision, expected_revision: expected } },
      );
    }
    const planned = await plan(current);
    if ('noop' in planned) return { current, doc: null, result: planned.noop };
    try {
      const doc = await ctx.stores.config.put(BUNDLES_REF, {
        data: { ...current.data, [BUNDLES_KEY]: planned.bundles },
        meta: planned.meta,
        expectedRevision: current.revision,
        actor: principal.id,
      });
      return { current, doc, result: planned.result };
    } catch (err) {
      const lostRace = isCordumError(err) && err.code === 'revision_conflict';
      if (!lostRace || expected !== undefined || attempt >= 3) throw err;
    }
  }
}

/**
 * One audit entry per changed bundle in the system log (what GET /policy/audit lists, across tenants) and a
 * copy in the caller's tenant log. The change is already stored: a failed append is logged, not undone.
 */
export async function auditChange(
  ctx: GatewayContext,
  principal: Principal,
  action: 'save' | 'publish' | 'rollback',
  bundleIds: readonly string[],
  data: Record<string, JsonValue>,
): Promise<void> {
  const tenants = principal.tenant === SYSTEM_TENANT ? [SYSTEM_TENANT] : [SYSTEM_TENANT, principal.tenant];
  for (const id of bundleIds) {
    for (const tenant of tenants) {
      try {
        await ctx.stores.audit.append({
          tenant,
          kind: `${POLICY_CHANGE_KIND_PREFIX}${action}`,
          actor: principal.id,
          subject: id,
          data: { ...data, bundle_id: id, tenant: principal.tenant, principal_id: principal.id, bundle_ids: [...bundleIds] },
        });
      } catch (err) {
        ctx.logger.error({ action, bundle: id, tenant, err: toError(err).message }, 'policy change not audited');
      }
    }
  }
}

export const contentSha = (content: string | null): string => (content === null ? '' : sha256Hex(content));
