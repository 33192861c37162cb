import { create } from '@bufbuild/protobuf';
import { ConflictError, type JsonValue, NotFoundError, isCordumError, isPlainObject } from '@cordum/core';
import { type Bundle, type RuleSpec, fromWireDecision, parseBundle } from '@cordum/policy';
import { PolicyCheckRequestSchema } from '@cordum/protocol';
import type { Principal } from '../auth/principal.js';
import type { GatewayContext } from '../context.js';
import type { RulesQuery } from '../http/schemas-policy.js';
import { requirePolicy } from './port.js';
import { contentSha, draftOf, isLive, liveOf, packIdOf, readBundles, requirePlatformTenant, text } from './store.js';

// GET /policy/rules: the rules of the snapshot the kernel has in force (its explain trace gives every rule
// in evaluation order, base bundle included), with the details of rules from stored bundles; or the rules
// of one stored bundle (live or draft), which needs no kernel.

export type RuleView = {
  rule_id: string;
  bundle_id: string;
  index: number;
  decision: string;
  reason: string | null;
  match: Record<string, JsonValue> | null;
  when: string | null;
  constraints: Record<string, JsonValue> | null;
  remediations: Record<string, JsonValue>[] | null;
  source: { bundle_id: string; pack_id: string; overlay_name: string; version: string; sha256: string };
  detail: 'stored' | 'summary';
};

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function snakeJson(value: unknown): JsonValue {
  if (Array.isArray(value)) return value.map(snakeJson);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [snake(k), snakeJson(v)]));
  }
  return value as JsonValue;
}

type Source = { version: string; sha256: string };

function sourceOf(bundleId: string, src: Source): RuleView['source'] {
  const slash = bundleId.indexOf('/');
  return {
    bundle_id: bundleId,
    pack_id: packIdOf(bundleId),
    overlay_name: slash < 0 ? bundleId : bundleId.slice(slash + 1),
    version: src.version,
    sha256: src.sha256,
  };
}

function ruleView(spec: RuleSpec, bundleId: string, index: number, src: Source): RuleView {
  return {
    rule_id: spec.id,
    bundle_id: bundleId,
    index,
    decision: spec.decision,
    reason: spec.reason,
    match: snakeJson(spec.match) as Record<string, JsonValue>,
    when: spec.when,
    constraints: spec.constraints === null ? null : (snakeJson(spec.constraints) as Record<string, JsonValue>),
    remediations: spec.remediations.map((r) => snakeJson(r) as Record<string, JsonValue>),
    source: sourceOf(bundleId, src),
    detail: 'stored',
  };
}

function parseStored(id: string, content: string): Bundle {
  try {
    return parseBundle({ id, content });
  } catch (err) {
    if (isCordumError(err)) {
      throw new ConflictError(`stored bundle ${id} does not parse: ${err.message}`, { details: { ...err.details, bundle_id: id } });
    }
    throw err;
  }
}

export type RulesView = { snapshot: string | null; bundle_id: string | null; rules: RuleView[] };

async function rulesOfBundle(ctx: GatewayContext, id: string, draft: boolean): Promise<RulesView> {
  const doc = await readBundles(ctx);
  if (!Object.hasOwn(doc.bundles, id)) throw new NotFoundError(`no policy bundle ${id}`, { details: { bundle_id: id } });
  const raw = doc.bundles[id];
  const entry = isPlainObject(raw) ? raw : {};
  const d = draftOf(raw);
  const content = draft ? (d === null ? null : text(d['content'])) : liveOf(raw).content;
  if (content === null) {
    throw new NotFoundError(draft ? `bundle ${id} has no draft` : `bundle ${id} has no content`, { details: { bundle_id: id } });
  }
  const bundle = parseStored(id, content);
  const src = { version: bundle.version || text(entry['version']), sha256: contentSha(content) };
  return { snapshot: null, bundle_id: id, rules: bundle.rules.map((r, i) => ruleView(r, id, i, src)) };
}

export async function listRules(ctx: GatewayContext, principal: Principal, query: RulesQuery): Promise<RulesView> {
  requirePlatformTenant(ctx, principal);
  if (query.bundle_id !== undefined) return rulesOfBundle(ctx, query.bundle_id, query.draft === true);
  const policy = requirePolicy(ctx.policy);
  // Any request lists every rule in the trace; this one names no real job and writes nothing.
  const probe = create(PolicyCheckRequestSchema, { topic: 'job.policy.rules', tenant: principal.tenant, principalId: principal.id });
  const [explained, doc] = await Promise.all([policy.explain(probe), readBundles(ctx)]);
  const stored = new Map<string, { bundle: Bundle; src: Source }>();
  for (const id of Object.keys(doc.bundles)) {
    const live = liveOf(doc.bundles[id]);
    if (!isLive(live) || live.content === null) continue;
    try {
      const bundle = parseBundle({ id, content: live.content });
      stored.set(id, { bundle, src: { version: bundle.version, sha256: contentSha(live.content) } });
    } catch {
      // The kernel keeps its last good snapshot for a bundle that does not parse; its rules stay summaries.
    }
  }
  const rules = explained.trace.map((t): RuleView => {
    const s = stored.get(t.bundleId);
    const spec = s?.bundle.rules.find((r) => r.id === t.ruleId);
    if (s !== undefined && spec !== undefined) return { ...ruleView(spec, t.bundleId, t.index, s.src), index: t.index };
    return {
      rule_id: t.ruleId,
      bundle_id: t.bundleId,
      index: t.index,
      decision: fromWireDecision(t.decision) ?? 'UNSPECIFIED',
      reason: null,
      match: null,
      when: null,
      constraints: null,
      remediations: null,
      source: sourceOf(t.bundleId, { version: s?.src.version ?? '', sha256: s?.src.sha256 ?? '' }),
      detail: 'summary',
    };
  });
  return { snapshot: explained.decision?.policySnapshot ?? null, bundle_id: null, rules };
}
