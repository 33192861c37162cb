// The policy runtime: loads the base bundle and the config-store fragments, verifies and compiles them into
// a snapshot, keeps it fresh, and evaluates requests against it. The safety kernel and an embedded decision
// point both run one, so the same sources give the same snapshot id whichever process decides.
//
// Fail closed: a load that does not parse, does not verify or cannot be read never replaces the last known
// good snapshot (it is logged, counted and shown in status()); a runtime that has never loaded a policy
// refuses to start rather than allow by default.
import {
  type Clock,
  createMetrics,
  createSilentLogger,
  findSecretRefs,
  InvalidError,
  type Logger,
  type Metrics,
  RetryableError,
  systemClock,
  toError,
} from '@cordum/core';
import {
  type Bundle,
  type BundleSource,
  compilePolicy,
  createPolicyInput,
  type Decision,
  deriveFromLabels,
  evaluate,
  evaluateOutput,
  explain,
  inputFromCheckRequest,
  type OutputFinding,
  type OutputPolicyDecision,
  orderBundles,
  parseBundle,
  parseEd25519PublicKey,
  type Policy,
  type PolicyDecision,
  PolicyError,
  type PolicyExplanation,
  type PolicyInput,
  type PolicySnapshot,
  verifyBundleSignature,
} from '@cordum/policy';
import type { OutputCheckRequest, PolicyCheckRequest } from '@cordum/protocol';
import type { ConfigRef, ConfigStore } from '@cordum/store';
import { buildTopicIndex, EMPTY_TOPIC_INDEX, enrichInput, type TopicIndex } from './enrichment.js';
import {
  type BaseContent,
  type BaseLocation,
  baseFileFingerprint,
  contentHash,
  type FragmentEntry,
  LoadFailure,
  type LoadSource,
  readBase,
  readFragments,
} from './sources.js';

export type PolicyRuntimeOptions = {
  /** Base bundle file. */
  basePath?: string | undefined;
  /** Base bundle URL; wins over basePath (as upstream). */
  baseUrl?: string | undefined;
  /** Ed25519 public key (32 raw bytes as base64 or hex, or PEM). When set, the base bundle must be signed. */
  publicKey?: string | undefined;
  /** The base bundle's signature (base64). */
  signature?: string | undefined;
  /** File holding the base signature; default `<basePath>.sig` (`<baseUrl>.sig` for a URL). */
  signaturePath?: string | undefined;
  /** Fragments must be signed too (fragments carrying a `signature` are verified either way). */
  requireSignatures?: boolean | undefined;
  /** Where the fragments map lives; null loads none. Default {system/policy}.data.bundles. */
  fragments?: { ref: ConfigRef; key: string } | null | undefined;
  /** The packs registry for topic enrichment; null disables enrichment. Default {system/packs}. */
  packsRef?: ConfigRef | null | undefined;
  /** Poll interval for changes; 0 disables polling. Default 30 s. */
  reloadIntervalMs?: number | undefined;
  /** Overrides the bundles' default_decision (unset: the first bundle's, else ALLOW). */
  defaultDecision?: Decision | undefined;
  /** Snapshot ids kept, newest first. Default 10. */
  historyLimit?: number | undefined;
  /** Timeout of a base URL fetch. Default 10 s. */
  fetchTimeoutMs?: number | undefined;
};

export type PolicyRuntimeDeps = {
  options: PolicyRuntimeOptions;
  /** Needed for fragments and pack enrichment. */
  config?: ConfigStore | undefined;
  logger?: Logger | undefined;
  metrics?: Metrics | undefined;
  clock?: Clock | undefined;
  /** For base URLs (default: the global fetch). */
  fetch?: typeof fetch | undefined;
};

export type LoadedBundleStatus = { id: string; version: string; hash: string; signed: boolean };

export type PolicyRuntimeStatus = {
  readonly snapshot: PolicySnapshot | null;
  readonly loadedAt: number | null;
  /** Where the base came from ('file' / 'url'), or null without a base. */
  readonly base: { kind: 'file' | 'url'; location: string } | null;
  /** Every loaded bundle, base first, with whether its signature was verified. */
  readonly bundles: readonly LoadedBundleStatus[];
  readonly history: readonly string[];
  /** Failed loads since start. */
  readonly failures: number;
  /** The most recent failure (kept after later successes; compare `at` with loadedAt). */
  readonly lastError: { at: number; source: LoadSource; message: string; bundle?: string } | null;
  /** True when the last load attempt succeeded (or found nothing changed). */
  readonly healthy: boolean;
  /** Pack-declared topics in the enrichment index. */
  readonly enrichedTopics: number;
};

export type ReloadResult = {
  outcome: 'loaded' | 'unchanged' | 'failed';
  /** The snapshot in force after the reload. */
  snapshot: string;
  error?: string;
};

export type RuntimeDecision = {
  decision: PolicyDecision;
  /** The tenant the rules saw (after defaulting): the decision record's tenant. */
  tenant: string;
  /** The input after enrichment. */
  input: PolicyInput;
  notes: string[];
};

export type PolicyRuntime = {
  /** First load; throws (policy_invalid) when there is no valid policy. Then polls for changes. */
  start(): Promise<void>;
  stop(): void;
  /** Loads now. Forced (the default) reads everything; unforced skips when the fingerprint is unchanged. */
  reload(options?: { force?: boolean }): Promise<ReloadResult>;
  /** The compiled policy in force (RetryableError safety_unavailable before the first load). */
  policy(): Policy;
  snapshot(): PolicySnapshot;
  /** Snapshot ids, newest first (at most historyLimit). */
  snapshots(): string[];
  status(): PolicyRuntimeStatus;
  topics(): TopicIndex;
  /** A check request as rules see it: decoded, enriched from pack topics and secret:// references. */
  inputFor(request: PolicyCheckRequest): { input: PolicyInput; notes: string[] };
  /** An output check request as output rules see it (same enrichment). */
  outputInputFor(request: OutputCheckRequest): { input: PolicyInput; notes: string[] };
  evaluate(request: PolicyCheckRequest): RuntimeDecision;
  /** The decision with the rule trace; enrichment steps are listed first in notes. */
  explain(request: PolicyCheckRequest): PolicyExplanation;
  /**
   * Explains the request against draft bundles laid over the loaded ones: a draft with the id of a loaded
   * bundle replaces it ('base' is the base), others are added in key order. Nothing is stored. Empty drafts
   * simulate the live sources. Throws PolicyError (policy_invalid) for a bad draft.
   */
  simulate(drafts: readonly BundleSource[], request: PolicyCheckRequest, options?: { defaultDecision?: Decision }): PolicyExplanation;
  evaluateOutput(input: PolicyInput, findings: readonly OutputFinding[]): OutputPolicyDecision;
};

export const DEFAULT_FRAGMENTS: { ref: ConfigRef; key: string } = Object.freeze({
  ref: Object.freeze({ scope: 'system', scopeId: 'policy' }),
  key: 'bundles',
});
export const DEFAULT_PACKS_REF: ConfigRef = Object.freeze({ scope: 'system', scopeId: 'packs' });
export const BASE_BUNDLE_ID = 'base';

/** input_content larger than this is not searched for secret:// references (it is the caller's to mark). */
const SECRET_REF_SCAN_MAX = 1 << 20;

type Loaded = {
  policy: Policy;
  base: Bundle | null;
  fragments: Bundle[];
  signed: ReadonlySet<string>;
  loadedAt: number;
};

type Fingerprint = { baseStat: string | null; fragmentsRevision: number; content: string | null };

export function createPolicyRuntime(deps: PolicyRuntimeDeps): PolicyRuntime {
  const o = deps.options;
  const logger = (deps.logger ?? createSilentLogger()).child({ component: 'policy-runtime' });
  const metrics = deps.metrics ?? createMetrics();
  const clock = deps.clock ?? systemClock;
  const fetcher = deps.fetch ?? fetch;
  const fragmentsSpec = o.fragments === undefined ? DEFAULT_FRAGMENTS : o.fragments;
  const packsRef = o.packsRef === undefined ? DEFAULT_PACKS_REF : o.packsRef;
  const historyLimit = o.historyLimit ?? 10;
  const reloadIntervalMs = o.reloadIntervalMs ?? 30_000;
  const fetchTimeoutMs = o.fetchTimeoutMs ?? 10_000;
  const publicKey = o.publicKey?.trim() === '' ? undefined : o.publicKey;
  const base: BaseLocation | null =
    o.baseUrl !== undefined && o.baseUrl !== ''
      ? { kind: 'url', url: o.baseUrl, signaturePath: o.signaturePath }
      : o.basePath !== undefined && o.basePath !== ''
        ? { kind: 'file', path: o.basePath, signaturePath: o.signaturePath }
        : null;

  // Configuration mistakes fail at construction, not at the first load.
  if (publicKey !== undefined) parseEd25519PublicKey(publicKey);
  if (o.requireSignatures === true && publicKey === undefined) {
    throw new InvalidError('requireSignatures needs a public key', { code: 'config_invalid' });
  }
  if ((fragmentsSpec !== null || packsRef !== null) && deps.config === undefined) {
    throw new InvalidError('the policy runtime needs a config store for fragments and pack topics (or disable them)', {
      code: 'config_invalid',
    });
  }
  if (!Number.isSafeInteger(historyLimit) || historyLimit < 1) throw new InvalidError('historyLimit must be >= 1', { code: 'config_invalid' });

  const loads = metrics.counter('policy_loads_total', 'Policy source loads by outcome (loaded, unchanged, failed)', ['outcome']);
  const failuresTotal = metrics.counter('policy_load_failures_total', 'Policy loads that kept the last good snapshot, by source', ['source']);
  const rulesGauge = metrics.gauge('policy_rules', 'Rules in the policy snapshot in force');

  let loaded: Loaded | null = null;
  let history: string[] = [];
  let failures = 0;
  let lastError: PolicyRuntimeStatus['lastError'] = null;
  let healthy = false;
  let lastAttempt: Fingerprint = { baseStat: null, fragmentsRevision: -1, content: null };
  let topicIndex: TopicIndex = EMPTY_TOPIC_INDEX;
  let packsRevision = -1;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let polling = false;

  const current = (): Loaded => {
    if (loaded === null) throw new RetryableError('no policy loaded yet', { code: 'safety_unavailable', retryAfterMs: 1_000 });
    return loaded;
  };

  function fail(err: unknown): LoadFailure {
    const f =
      err instanceof LoadFailure
        ? err
        : err instanceof PolicyError
          ? new LoadFailure('policy', err.message, err.where.bundle, { cause: err })
          : new LoadFailure('policy', toError(err).message, undefined, { cause: err });
    failures++;
    healthy = false;
    lastError = { at: clock.now(), source: f.source, message: f.message, ...(f.bundle === undefined ? {} : { bundle: f.bundle }) };
    failuresTotal.inc({ source: f.source });
    loads.inc({ outcome: 'failed' });
    logger.error(
      { source: f.source, bundle: f.bundle, err: f.message, snapshot: loaded?.policy.snapshot.id ?? null },
      loaded === null ? 'policy load failed; no policy in force' : 'policy load failed; keeping the last good snapshot',
    );
    return f;
  }

  async function refreshPacks(): Promise<void> {
    if (packsRef === null || deps.config === undefined) return;
    let doc;
    try {
      doc = await deps.config.get(packsRef);
    } catch (err) {
      // The previous index stays: a store outage must not strip tags that rules rely on.
      failuresTotal.inc({ source: 'packs' });
      logger.warn({ err: toError(err).message }, 'cannot read the packs registry; keeping the previous topic declarations');
      return;
    }
    const revision = doc?.revision ?? 0;
    if (revision === packsRevision) return;
    const { index, problems } = buildTopicIndex(doc?.data['installed']);
    for (const p of problems) logger.warn({ problem: p }, 'packs registry entry ignored for topic enrichment');
    topicIndex = index;
    packsRevision = revision;
    logger.info({ topics: index.size, revision }, 'pack topic declarations loaded');
  }

  function verifyBase(content: BaseContent): boolean {
    if (publicKey === undefined) return false;
    if (content.signature === null || content.signature.trim() === '') {
      throw new LoadFailure('signature', `base bundle ${content.location} is not signed (a policy public key is configured)`, BASE_BUNDLE_ID);
    }
    if (!verifyBundleSignature(content.bytes, content.signature, publicKey)) {
      throw new LoadFailure('signature', `base bundle ${content.location}: signature does not verify`, BASE_BUNDLE_ID);
    }
    return true;
  }

  function verifyFragment(f: FragmentEntry): boolean {
    if (f.signature === null) {
      if (o.requireSignatures === true) throw new LoadFailure('signature', 'fragment is not signed (signatures are required)', f.id);
      return false;
    }
    // Without a key a signature cannot be checked; the fragment counts as unsigned.
    if (publicKey === undefined) return false;
    if (!verifyBundleSignature(Buffer.from(f.content, 'utf8'), f.signature, publicKey)) {
      throw new LoadFailure('signature', 'fragment signature does not verify', f.id);
    }
    return true;
  }

  async function load(force: boolean): Promise<ReloadResult> {
    const attemptedAt = clock.now();
    await refreshPacks();
    const withSig = publicKey !== undefined && o.signature === undefined;
    const baseStat = base === null ? 'none' : await baseFileFingerprint(base, withSig);
    const fragments = fragmentsSpec === null || deps.config === undefined
      ? { revision: 0, entries: [] }
      : await readFragments(deps.config, fragmentsSpec.ref, fragmentsSpec.key);
    if (!force && baseStat !== null && baseStat === lastAttempt.baseStat && fragments.revision === lastAttempt.fragmentsRevision) {
      return unchanged();
    }
    const baseContent =
      base === null ? null : await readBase(base, { wanted: publicKey !== undefined, explicit: o.signature }, fetcher, fetchTimeoutMs);
    const content = contentHash(baseContent, fragments.entries);
    const attempt: Fingerprint = { baseStat, fragmentsRevision: fragments.revision, content };
    if (!force && content === lastAttempt.content) {
      lastAttempt = attempt;
      return unchanged();
    }
    lastAttempt = attempt;

    const signed = new Set<string>();
    let baseBundle: Bundle | null = null;
    if (baseContent !== null) {
      if (verifyBase(baseContent)) signed.add(BASE_BUNDLE_ID);
      baseBundle = parseBundle({ id: BASE_BUNDLE_ID, content: baseContent.text });
    }
    const fragmentBundles: Bundle[] = [];
    for (const f of fragments.entries) {
      if (f.id === BASE_BUNDLE_ID) throw new LoadFailure('fragments', `"${BASE_BUNDLE_ID}" is reserved for the base bundle`, f.id);
      if (verifyFragment(f)) signed.add(f.id);
      fragmentBundles.push(parseBundle({ id: f.id, content: f.content }));
    }
    if (baseBundle === null && fragmentBundles.length === 0) {
      throw new LoadFailure('policy', 'no policy bundles: the base source is not configured and no fragment is enabled');
    }
    const policy = compilePolicy(orderBundles(baseBundle, fragmentBundles), o.defaultDecision === undefined ? {} : { defaultDecision: o.defaultDecision });
    const previous = loaded?.policy.snapshot.id;
    loaded = { policy, base: baseBundle, fragments: fragmentBundles, signed, loadedAt: attemptedAt };
    healthy = true;
    rulesGauge.set(policy.rules.length);
    const id = policy.snapshot.id;
    if (id === previous) {
      loads.inc({ outcome: 'unchanged' });
      return { outcome: 'unchanged', snapshot: id };
    }
    history = [id, ...history.filter((h) => h !== id)].slice(0, historyLimit);
    loads.inc({ outcome: 'loaded' });
    logger.info(
      { snapshot: id, previous: previous ?? null, rules: policy.rules.length, bundles: policy.bundles.map((b) => b.id), signed: [...signed] },
      'policy snapshot in force',
    );
    return { outcome: 'loaded', snapshot: id };
  }

  function unchanged(): ReloadResult {
    loads.inc({ outcome: 'unchanged' });
    if (loaded === null) {
      // Identical to a load that already failed: still nothing in force.
      return { outcome: 'failed', snapshot: '', error: lastError?.message ?? 'no policy loaded' };
    }
    return { outcome: 'unchanged', snapshot: loaded.policy.snapshot.id };
  }

  // Loads never overlap: a poll and an explicit reload run one after the other.
  function serial(force: boolean): Promise<ReloadResult> {
    const run = chain.then(async () => {
      try {
        return await load(force);
      } catch (err) {
        const f = fail(err);
        return { outcome: 'failed' as const, snapshot: loaded?.policy.snapshot.id ?? '', error: f.message };
      }
    });
    chain = run;
    return run;
  }

  const withSecretRefs = (request: PolicyCheckRequest, input: PolicyInput, notes: string[]): PolicyInput => {
    if (input.secretsPresent) return input;
    let where: string | null = findSecretRefs(input.labels).length > 0 ? 'labels' : null;
    const raw = request.inputContent;
    if (where === null && raw.length > 0 && raw.length <= SECRET_REF_SCAN_MAX) {
      const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
      let value: unknown = text;
      try {
        value = JSON.parse(text);
      } catch {
        // Not JSON: search the text itself.
      }
      // The parsed walk finds references in values (JSON escapes undone); the text scan also finds them in
      // keys and past the walk's depth limit, so nesting or a key cannot hide one from policy.
      if (findSecretRefs(value).length > 0 || findSecretRefs(text.replaceAll('\\/', '/')).length > 0) where = 'input_content';
    }
    if (where === null) return input;
    notes.push(`secret:// reference in ${where} → secrets_present`);
    return { ...input, secretsPresent: true };
  };

  const inputFor = (request: PolicyCheckRequest): { input: PolicyInput; notes: string[] } => {
    const enriched = enrichInput(inputFromCheckRequest(request), topicIndex);
    const notes = [...enriched.notes];
    return { input: withSecretRefs(request, enriched.input, notes), notes };
  };

  const tenantOf = (policy: Policy, input: PolicyInput): string => input.tenant.trim() || policy.options.defaultTenant;

  return {
    async start() {
      if (loaded !== null) return;
      const result = await serial(true);
      if (result.outcome === 'failed' || loaded === null) {
        throw new InvalidError(`no valid policy: ${result.error ?? 'nothing loaded'}`, {
          code: 'policy_invalid',
          details: { ...(lastError === null ? {} : { source: lastError.source, bundle: lastError.bundle ?? null }) },
        });
      }
      if (reloadIntervalMs > 0 && timer === undefined) {
        timer = setInterval(() => {
          if (polling) return;
          polling = true;
          void serial(false).finally(() => {
            polling = false;
          });
        }, reloadIntervalMs);
        timer.unref();
      }
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
    reload(options = {}) {
      return serial(options.force ?? true);
    },
    policy: () => current().policy,
    snapshot: () => current().policy.snapshot,
    snapshots: () => [...history],
    status() {
      const l = loaded;
      return {
        snapshot: l?.policy.snapshot ?? null,
        loadedAt: l?.loadedAt ?? null,
        base: base === null ? null : base.kind === 'file' ? { kind: 'file', location: base.path } : { kind: 'url', location: base.url },
        bundles:
          l === null
            ? []
            : l.policy.bundles.map((b) => ({ id: b.id, version: b.version, hash: b.hash, signed: l.signed.has(b.id) })),
        history: [...history],
        failures,
        lastError,
        healthy,
        enrichedTopics: topicIndex.size,
      };
    },
    topics: () => topicIndex,
    inputFor,
    outputInputFor(request) {
      const labels = { ...request.labels };
      const riskTags = [...request.riskTags];
      const derived = deriveFromLabels(labels, riskTags);
      const input = createPolicyInput({
        tenant: request.tenant.trim(),
        topic: request.topic.trim(),
        jobId: request.jobId,
        principalId: request.principalId,
        capability: request.capabilities[0] ?? '',
        riskTags,
        packId: request.packId,
        labels,
        secretsPresent: derived.secretsPresent || findSecretRefs(labels).length > 0,
        mcp: derived.mcp,
      });
      return enrichInput(input, topicIndex);
    },
    evaluate(request) {
      const policy = current().policy;
      const { input, notes } = inputFor(request);
      return { decision: evaluate(policy, input), tenant: tenantOf(policy, input), input, notes };
    },
    explain(request) {
      const policy = current().policy;
      const { input, notes } = inputFor(request);
      const out = explain(policy, input);
      return { ...out, notes: [...notes, ...out.notes] };
    },
    simulate(drafts, request, options = {}) {
      const l = current();
      const { input, notes } = inputFor(request);
      const defaultDecision = options.defaultDecision ?? o.defaultDecision;
      const policyOptions = defaultDecision === undefined ? {} : { defaultDecision };
      if (drafts.length === 0 && options.defaultDecision === undefined) {
        const out = explain(l.policy, input);
        return { ...out, notes: [...notes, ...out.notes] };
      }
      const parsed = new Map<string, Bundle>();
      for (const d of drafts) {
        const id = d.id.trim();
        if (id === '') throw new InvalidError('a draft bundle needs an id', { details: { field: 'bundles.id' } });
        if (parsed.has(id)) throw new InvalidError(`draft bundle "${id}" is given twice`, { details: { field: 'bundles.id', bundle: id } });
        parsed.set(id, parseBundle({ id, content: d.content }));
      }
      const draftBase = parsed.get(BASE_BUNDLE_ID);
      parsed.delete(BASE_BUNDLE_ID);
      const fragments = [...l.fragments.filter((f) => !parsed.has(f.id)), ...parsed.values()];
      const policy = compilePolicy(orderBundles(draftBase ?? l.base, fragments), policyOptions);
      const out = explain(policy, input);
      return { ...out, notes: [...notes, ...out.notes] };
    },
    evaluateOutput(input, findings) {
      return evaluateOutput(current().policy, input, findings);
    },
  };
}
