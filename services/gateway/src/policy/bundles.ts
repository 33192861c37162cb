import { ConflictError, DeniedError, InvalidError, type JsonValue, NotFoundError, isPlainObject } from '@cordum/core';
import { parseBundle } from '@cordum/policy';
import { SYSTEM_TENANT } from '@cordum/store';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { BundleSimulateBody, PolicyAuditQuery, PublishBody, PutBundleBody, RollbackBody } from '../http/schemas-policy.js';
import { type ExplainView, simulatePolicy } from './check.js';
import {
  BUNDLES_REF,
  type BundlesDoc,
  EDITABLE_PREFIX,
  type Entry,
  type KernelCheck,
  POLICY_CHANGE_KIND_PREFIX,
  auditChange,
  bundlesOfDoc,
  checkLocally,
  checkWithKernel,
  contentSha,
  draftOf,
  isLive,
  liveOf,
  packIdOf,
  readBundles,
  requirePlatformTenant,
  text,
  timeOf,
  writeBundles,
} from './store.js';

// Policy Studio over the bundles document: list and read bundles, save a draft (PUT), simulate it, publish
// drafts (the kernel then loads them), roll the live bundles back to an earlier revision, and the audit of
// who changed what. Bundles are system-wide (the kernel has one policy for every tenant): only secops
// principals of the platform tenant read and change them; each change is audited with the caller's tenant
// and principal.

export type DraftView = {
  content?: string;
  enabled: boolean;
  sha256: string;
  author: string;
  message: string;
  updated_at: number | null;
  updated_by: string;
};

export type BundleView = {
  id: string;
  kind: 'secops' | 'pack';
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
  draft: DraftView | null;
  problem: string | null;
};

export function bundleView(id: string, raw: JsonValue | undefined, withContent: boolean): BundleView {
  const live = liveOf(raw);
  const entry: Entry = isPlainObject(raw) ? raw : {};
  const draft = draftOf(raw);
  const editable = id.startsWith(EDITABLE_PREFIX);
  const view: BundleView = {
    id,
    kind: editable ? 'secops' : 'pack',
    pack_id: packIdOf(id),
    editable,
    enabled: live.enabled,
    live: isLive(live),
    sha256: contentSha(live.content),
    version: text(entry['version']),
    author: text(entry['author']),
    message: text(entry['message']),
    signed: typeof entry['signature'] === 'string' && entry['signature'] !== '',
    updated_at: timeOf(entry['updated_at'] ?? entry['installed_at'] ?? entry['created_at']),
    updated_by: text(entry['updated_by']),
    published_at: timeOf(entry['published_at']),
    published_by: text(entry['published_by']),
    draft:
      draft === null
        ? null
        : {
            ...(withContent ? { content: text(draft['content']) } : {}),
            enabled: draft['enabled'] !== false,
            sha256: contentSha(text(draft['content'])),
            author: text(draft['author']),
            message: text(draft['message']),
            updated_at: timeOf(draft['updated_at']),
            updated_by: text(draft['updated_by']),
          },
    problem: live.problem,
  };
  if (withContent && live.content !== null) view.content = live.content;
  return view;
}

export async function listBundles(ctx: GatewayContext, principal: Principal): Promise<{ revision: number; bundles: BundleView[] }> {
  requirePlatformTenant(ctx, principal);
  const doc = await readBundles(ctx);
  return { revision: doc.revision, bundles: Object.keys(doc.bundles).sort().map((id) => bundleView(id, doc.bundles[id], false)) };
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`no policy bundle ${id}`, { details: { bundle_id: id } });
}

export async function getBundle(ctx: GatewayContext, principal: Principal, id: string): Promise<BundleView & { revision: number }> {
  requirePlatformTenant(ctx, principal);
  const doc = await readBundles(ctx);
  if (!Object.hasOwn(doc.bundles, id)) throw notFound(id);
  return { ...bundleView(id, doc.bundles[id], true), revision: doc.revision };
}

function requireEditable(id: string): void {
  if (id.startsWith(EDITABLE_PREFIX)) return;
  const pack = packIdOf(id);
  throw new DeniedError(
    `bundle ${id} ${pack === '' ? 'is not in the secops/ namespace' : `belongs to pack ${pack}; change it by installing the pack`}: only secops/<name> bundles are written here`,
    { code: 'permission_denied', details: { bundle_id: id, pack_id: pack } },
  );
}

/** The stored entry as a map (a bare string becomes {content, enabled: true}). */
function entryMap(raw: JsonValue | undefined): Record<string, JsonValue> {
  if (typeof raw === 'string') return { content: raw, enabled: true };
  return isPlainObject(raw) ? { ...raw } : {};
}

/**
 * PUT: saves a draft. The bundle must parse, and, published as it is, merge with the other live bundles and
 * the kernel's base bundle; nothing the kernel reads changes until it is published. A new bundle is stored
 * disabled with its draft.
 */
export async function saveDraft(
  ctx: GatewayContext,
  principal: Principal,
  id: string,
  body: PutBundleBody,
): Promise<BundleView & { revision: number; kernel_check: KernelCheck }> {
  requirePlatformTenant(ctx, principal);
  requireEditable(id);
  parseBundle({ id, content: body.content });
  const enabled = body.enabled ?? true;
  let kernel: KernelCheck = 'not_configured';
  const written = await writeBundles(ctx, principal, body.expected_revision, async (current) => {
    const next: Record<string, JsonValue> = { ...current.bundles };
    const existing = Object.hasOwn(current.bundles, id) ? current.bundles[id] : undefined;
    const entry = existing === undefined ? { enabled: false } : entryMap(existing);
    const at = await ctx.stores.jobs.now();
    const draft: Record<string, JsonValue> = {
      content: body.content,
      enabled,
      sha256: contentSha(body.content),
      author: body.author ?? principal.id,
      message: body.message ?? '',
      updated_at: at,
      updated_by: principal.id,
      tenant: principal.tenant,
    };
    if (body.signature !== undefined) draft['signature'] = body.signature;
    next[id] = { ...entry, draft };
    // As it would be once published: the other live bundles must still merge with it.
    checkLocally({ ...current.bundles, [id]: enabled ? body.content : { enabled: false } }, id);
    kernel = await checkWithKernel(ctx, principal, [{ id, content: enabled ? body.content : null }], false);
    return {
      bundles: next,
      meta: { action: 'save', bundle_ids: [id], by: principal.id, tenant: principal.tenant, message: body.message ?? '' },
      result: null,
    };
  });
  const revision = written.doc?.revision ?? written.current.revision;
  await auditChange(ctx, principal, 'save', [id], {
    revision,
    previous_revision: written.current.revision,
    sha256: contentSha(body.content),
    enabled,
    message: body.message ?? '',
  });
  const stored = written.doc === null ? undefined : bundlesOfDoc(written.doc).bundles[id];
  return { ...bundleView(id, stored, true), revision, kernel_check: kernel };
}

/** POST bundles/{id}/simulate: the request against the bundle's draft (or the content sent) over the live policy. */
export async function simulateDraft(ctx: GatewayContext, principal: Principal, id: string, body: BundleSimulateBody): Promise<ExplainView> {
  requirePlatformTenant(ctx, principal);
  let content = body.content;
  let enabled = body.enabled;
  if (content === undefined) {
    const doc = await readBundles(ctx);
    if (!Object.hasOwn(doc.bundles, id)) throw notFound(id);
    const raw = doc.bundles[id];
    const draft = draftOf(raw);
    const live = liveOf(raw);
    content = draft !== null ? text(draft['content']) : (live.content ?? undefined);
    if (content === undefined) throw new ConflictError(`bundle ${id} has neither a draft nor content to simulate`, { details: { bundle_id: id } });
    enabled ??= draft !== null ? draft['enabled'] !== false : true;
  }
  return simulatePolicy(ctx, principal, body.request, [{ id, content, enabled }], body.default_decision);
}

type LiveChange = { id: string; content: string | null };

/** Bundles whose live state (content and enabled) differs between two maps. */
function liveChanges(before: Readonly<Record<string, JsonValue>>, after: Readonly<Record<string, JsonValue>>): LiveChange[] {
  const ids = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const out: LiveChange[] = [];
  for (const id of ids) {
    const a = liveOf(Object.hasOwn(before, id) ? before[id] : undefined);
    const b = liveOf(Object.hasOwn(after, id) ? after[id] : undefined);
    const la = isLive(a) ? a.content : null;
    const lb = isLive(b) ? b.content : null;
    if (la !== lb) out.push({ id, content: lb });
  }
  return out;
}

export type PublishOutcome = {
  revision: number;
  previous_revision: number;
  bundle_ids: string[];
  rolled_back_to: number | null;
  snapshot_before: string | null;
  snapshot_after: string | null;
  kernel: string;
};

async function currentSnapshot(ctx: GatewayContext): Promise<string | null> {
  if (ctx.policy === undefined) return null;
  return (await ctx.policy.listSnapshots())[0] ?? null;
}

/** After a live change: an in-process kernel reloads now; a remote one picks it up on its next poll. */
async function afterLiveChange(ctx: GatewayContext): Promise<{ snapshot: string | null; kernel: string }> {
  if (ctx.policy === undefined) return { snapshot: null, kernel: 'not_configured' };
  try {
    if (ctx.policy.reload !== undefined) {
      await ctx.policy.reload();
      return { snapshot: await currentSnapshot(ctx), kernel: 'reloaded' };
    }
    return { snapshot: await currentSnapshot(ctx), kernel: 'pending' };
  } catch (err) {
    ctx.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'policy changed; the kernel could not be asked for its snapshot');
    return { snapshot: null, kernel: 'unavailable' };
  }
}

/** Validates the live state a write would produce (locally and against the kernel, which must answer). */
async function checkLiveChange(ctx: GatewayContext, principal: Principal, current: BundlesDoc, next: Record<string, JsonValue>): Promise<LiveChange[]> {
  const changed = liveChanges(current.bundles, next);
  checkLocally(next);
  await checkWithKernel(ctx, principal, changed, true);
  return changed;
}

/** POST publish: the drafts of the named bundles (default: every draft) become what the kernel loads. */
export async function publish(ctx: GatewayContext, principal: Principal, body: PublishBody): Promise<PublishOutcome> {
  requirePlatformTenant(ctx, principal);
  let before: string | null = null;
  const written = await writeBundles(ctx, principal, body.expected_revision, async (current) => {
    const ids = body.bundle_ids ?? Object.keys(current.bundles).filter((id) => draftOf(current.bundles[id]) !== null).sort();
    if (ids.length === 0) throw new ConflictError('no bundle has a draft to publish', { details: { revision: current.revision } });
    const at = await ctx.stores.jobs.now();
    const next: Record<string, JsonValue> = { ...current.bundles };
    for (const id of new Set(ids)) {
      if (!Object.hasOwn(current.bundles, id)) throw notFound(id);
      const draft = draftOf(current.bundles[id]);
      if (draft === null) throw new ConflictError(`bundle ${id} has no draft to publish`, { details: { bundle_id: id } });
      const entry = entryMap(current.bundles[id]);
      for (const stale of ['policy', 'data', 'draft', 'signature']) delete entry[stale];
      next[id] = {
        ...entry,
        content: text(draft['content']),
        enabled: draft['enabled'] !== false,
        sha256: contentSha(text(draft['content'])),
        author: body.author ?? (text(draft['author']) || principal.id),
        message: body.message ?? text(draft['message']),
        ...(typeof draft['signature'] === 'string' ? { signature: draft['signature'] } : {}),
        updated_at: draft['updated_at'] ?? at,
        updated_by: draft['updated_by'] ?? principal.id,
        published_at: at,
        published_by: principal.id,
      };
    }
    const changed = await checkLiveChange(ctx, principal, current, next);
    before = await currentSnapshot(ctx);
    return {
      bundles: next,
      meta: {
        action: 'publish',
        bundle_ids: ids,
        by: principal.id,
        tenant: principal.tenant,
        message: body.message ?? '',
        note: body.note ?? '',
      },
      result: { ids, changed: changed.map((c) => c.id) },
    };
  });
  const revision = written.doc?.revision ?? written.current.revision;
  await auditChange(ctx, principal, 'publish', written.result.ids, {
    revision,
    previous_revision: written.current.revision,
    message: body.message ?? '',
    note: body.note ?? '',
  });
  const after = await afterLiveChange(ctx);
  return {
    revision,
    previous_revision: written.current.revision,
    bundle_ids: written.result.ids,
    rolled_back_to: null,
    snapshot_before: before,
    snapshot_after: after.snapshot,
    kernel: after.kernel,
  };
}

/**
 * POST rollback: every bundle's live state (content, enabled, authorship) becomes what it was at `revision`;
 * bundles that did not exist then are removed. Drafts in progress are kept. The result is validated like a
 * publish; a rollback to the live state already in force writes nothing.
 */
export async function rollback(ctx: GatewayContext, principal: Principal, body: RollbackBody): Promise<PublishOutcome> {
  requirePlatformTenant(ctx, principal);
  const target = body.revision ?? (body.snapshot_id === undefined ? undefined : Number(body.snapshot_id));
  if (target === undefined || !Number.isSafeInteger(target) || target < 1) {
    throw new InvalidError('give the revision to return to (revision or snapshot_id)', { details: { field: 'revision' } });
  }
  const old = await ctx.stores.config.getRevision(BUNDLES_REF, target);
  if (old === undefined) {
    throw new NotFoundError(`revision ${target} of the policy bundles does not exist (or is no longer kept)`, { details: { revision: target } });
  }
  const then = bundlesOfDoc(old).bundles;
  let before: string | null = null;
  const written = await writeBundles(ctx, principal, body.expected_revision, async (current) => {
    const next: Record<string, JsonValue> = {};
    for (const id of new Set([...Object.keys(then), ...Object.keys(current.bundles)])) {
      const draft = draftOf(Object.hasOwn(current.bundles, id) ? current.bundles[id] : undefined);
      if (Object.hasOwn(then, id)) {
        const entry = entryMap(then[id]);
        delete entry['draft'];
        next[id] = draft === null ? entry : { ...entry, draft };
      } else if (draft !== null) {
        next[id] = { enabled: false, draft };
      }
    }
    if (liveChanges(current.bundles, next).length === 0) return { noop: { changed: [] as string[] } };
    const changed = await checkLiveChange(ctx, principal, current, next);
    before = await currentSnapshot(ctx);
    return {
      bundles: next,
      meta: {
        action: 'rollback',
        to_revision: target,
        bundle_ids: changed.map((c) => c.id),
        by: principal.id,
        tenant: principal.tenant,
        message: body.message ?? '',
        note: body.note ?? '',
      },
      result: { changed: changed.map((c) => c.id) },
    };
  });
  if (written.doc === null) {
    const snapshot = await currentSnapshot(ctx).catch(() => null);
    return {
      revision: written.current.revision,
      previous_revision: written.current.revision,
      bundle_ids: [],
      rolled_back_to: target,
      snapshot_before: snapshot,
      snapshot_after: snapshot,
      kernel: ctx.policy === undefined ? 'not_configured' : 'unchanged',
    };
  }
  await auditChange(ctx, principal, 'rollback', written.result.changed, {
    revision: written.doc.revision,
    previous_revision: written.current.revision,
    rolled_back_to: target,
    message: body.message ?? '',
    note: body.note ?? '',
  });
  const after = await afterLiveChange(ctx);
  return {
    revision: written.doc.revision,
    previous_revision: written.current.revision,
    bundle_ids: written.result.changed,
    rolled_back_to: target,
    snapshot_before: before,
    snapshot_after: after.snapshot,
    kernel: after.kernel,
  };
}

export type RevisionView = {
  snapshot_id: string;
  revision: number;
  at: number;
  by: string;
  action: string;
  message: string;
  note: string;
  bundles: { id: string; enabled: boolean; live: boolean; sha256: string }[];
};

/** GET bundles/snapshots: the revisions of the bundles document, newest first (what rollback returns to). */
export async function listRevisions(
  ctx: GatewayContext,
  principal: Principal,
  query: { limit?: number; cursor?: string },
): Promise<{ items: RevisionView[]; next_cursor: string | null }> {
  requirePlatformTenant(ctx, principal);
  const page = await ctx.stores.config.history(BUNDLES_REF, { limit: query.limit ?? 50, cursor: query.cursor ?? null });
  return {
    items: page.items.map((doc) => {
      const bundles = bundlesOfDoc(doc).bundles;
      return {
        snapshot_id: String(doc.revision),
        revision: doc.revision,
        at: doc.updatedAt,
        by: doc.updatedBy,
        action: text(doc.meta['action']) || 'external',
        message: text(doc.meta['message']),
        note: text(doc.meta['note']),
        bundles: Object.keys(bundles)
          .sort()
          .map((id) => {
            const live = liveOf(bundles[id]);
            return { id, enabled: live.enabled, live: isLive(live), sha256: contentSha(live.content) };
          }),
      };
    }),
    next_cursor: page.nextCursor,
  };
}

export type PolicyAuditView = {
  id: string;
  at: number;
  action: string;
  actor: string;
  tenant: string;
  subject: string;
  data: Record<string, JsonValue>;
};

/**
 * GET audit: policy changes (bundles are system-wide), from the system log. Only change records are listed: the kernel's per-job decision records live in each tenant's own log
 * under another kind and never appear here.
 */
export async function listPolicyAudit(
  ctx: GatewayContext,
  principal: Principal,
  query: PolicyAuditQuery,
): Promise<{ items: PolicyAuditView[]; next_cursor: string | null }> {
  requirePlatformTenant(ctx, principal);
  const page = await ctx.stores.audit.list(SYSTEM_TENANT, {
    kind: POLICY_CHANGE_KIND_PREFIX,
    ...(query.bundle_id === undefined ? {} : { subject: query.bundle_id }),
    limit: query.limit ?? 50,
    cursor: query.cursor ?? null,
  });
  return {
    items: page.items.map((e) => ({
      id: e.id,
      at: e.at,
      action: e.kind,
      actor: e.actor,
      tenant: text(e.data['tenant']),
      subject: e.subject,
      data: { ...e.data },
    })),
    next_cursor: page.nextCursor,
  };
}
