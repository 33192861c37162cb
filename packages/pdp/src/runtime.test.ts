import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { RetryableError, createMemoryLogger, createMetrics, type JsonValue } from '@cordum/core';
import { DecisionType, PolicyCheckRequestSchema } from '@cordum/protocol';
import type { ConfigStore } from '@cordum/store';
import { createMemoryStores } from '@cordum/store/memory';
import { eventually } from '@cordum/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type PolicyRuntime, type PolicyRuntimeOptions, createEmbeddedPdp, createPolicyRuntime } from './index.js';

const BASE = `
version: v1
rules:
  - id: deny-admin
    match: {topics: ["job.admin.*"]}
    decision: deny
    reason: admin topics are off limits
  - id: writes-need-approval
    match: {topics: ["job.*"], risk_tags: [write]}
    decision: require_approval
`;

const TRACKER = `
rules:
  - id: tracker-read
    match: {topics: [job.tracker.read], risk_tags: [read]}
    decision: allow
  - id: tracker-deny-untagged
    match: {topics: ["job.tracker.*"]}
    decision: deny
    reason: untagged tracker job
`;

const request = (topic: string, extra: { riskTags?: string[]; capability?: string; tenant?: string; jobId?: string; labels?: Record<string, string>; input?: string } = {}) =>
  create(PolicyCheckRequestSchema, {
    jobId: extra.jobId ?? 'job-1',
    topic,
    tenant: extra.tenant ?? 'acme',
    labels: extra.labels ?? {},
    meta: { riskTags: extra.riskTags ?? [], capability: extra.capability ?? '' },
    ...(extra.input === undefined ? {} : { inputContent: new TextEncoder().encode(extra.input) }),
  });

function keyPair(): { publicKey: string; sign(content: string): string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKey: publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64'),
    sign: (content) => sign(null, Buffer.from(content, 'utf8'), privateKey).toString('base64'),
  };
}

type Fragment = string | { content?: string; policy?: string; data?: JsonValue; enabled?: boolean; signature?: string };

async function putFragments(config: ConfigStore, bundles: Record<string, Fragment>): Promise<void> {
  await config.put({ scope: 'system', scopeId: 'policy' }, { data: { bundles } });
}

describe('policy runtime', () => {
  let dir: string;
  let basePath: string;
  let stores: ReturnType<typeof createMemoryStores>;
  const runtimes: PolicyRuntime[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cordum-pdp-'));
    basePath = join(dir, 'safety.yaml');
    await writeFile(basePath, BASE);
    stores = createMemoryStores();
  });
  afterEach(async () => {
    for (const r of runtimes.splice(0)) r.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const make = (options: PolicyRuntimeOptions, extra: { metrics?: ReturnType<typeof createMetrics>; logger?: ReturnType<typeof createMemoryLogger>['logger'] } = {}): PolicyRuntime => {
    const r = createPolicyRuntime({ options: { reloadIntervalMs: 0, ...options }, config: stores.config, ...extra });
    runtimes.push(r);
    return r;
  };

  describe('sources and ordering', () => {
    it('loads the base file and the enabled fragments sorted by key, base first', async () => {
      await putFragments(stores.config, {
        'zeta/last': 'rules:\n  - {id: zeta, match: {topics: [job.x]}, decision: throttle}\n',
        'alpha/first': { content: 'rules:\n  - {id: alpha, match: {topics: [job.x]}, decision: deny}\n' },
        'mid/policy-field': { policy: 'rules:\n  - {id: mid, match: {topics: [job.y]}, decision: deny}\n' },
        'mid/data-map': { data: { rules: [{ id: 'data-map', match: { topics: ['job.z'] }, decision: 'throttle' }] } },
        'off/disabled': { content: 'rules:\n  - {id: off, match: {topics: [job.x]}, decision: allow}\n', enabled: false },
      });
      const r = make({ basePath });
      await r.start();
      expect(r.policy().bundles.map((b) => b.id)).toEqual(['base', 'alpha/first', 'mid/data-map', 'mid/policy-field', 'zeta/last']);
      // alpha sorts before zeta, so its rule is reached first.
      expect(r.evaluate(request('job.x')).decision).toMatchObject({ decision: 'DENY', ruleId: 'alpha', bundleId: 'alpha/first' });
      expect(r.evaluate(request('job.z')).decision.ruleId).toBe('data-map');
      expect(r.evaluate(request('job.admin.reboot')).decision.ruleId).toBe('deny-admin');
      expect(r.status()).toMatchObject({ base: { kind: 'file', location: basePath }, healthy: true, failures: 0, lastError: null });
      expect(r.snapshots()).toEqual([r.snapshot().id]);
      expect(r.snapshot().id).toMatch(/^v1:[0-9a-f]{12}$/);
    });

    it('fragments only (no base), and fragments disabled', async () => {
      await putFragments(stores.config, { 'tracker/safety': TRACKER });
      const fragmentsOnly = make({});
      await fragmentsOnly.start();
      expect(fragmentsOnly.policy().bundles.map((b) => b.id)).toEqual(['tracker/safety']);
      const baseOnly = make({ basePath, fragments: null });
      await baseOnly.start();
      expect(baseOnly.policy().bundles.map((b) => b.id)).toEqual(['base']);
    });

    it('the same sources give the same snapshot id in two runtimes', async () => {
      await putFragments(stores.config, { 'tracker/safety': TRACKER });
      const a = make({ basePath });
      const b = make({ basePath });
      await Promise.all([a.start(), b.start()]);
      expect(a.snapshot()).toEqual(b.snapshot());
    });

    it('a URL wins over a file', async () => {
      const server = createServer((req, res) => {
        if (req.url === '/safety.yaml') res.end('version: url\nrules:\n  - {id: from-url, match: {topics: ["job.*"]}, decision: throttle}\n');
        else res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/safety.yaml`;
        const r = make({ basePath, baseUrl: url, fragments: null });
        await r.start();
        expect(r.evaluate(request('job.a')).decision.ruleId).toBe('from-url');
        expect(r.status().base).toEqual({ kind: 'url', location: url });
        const missing = make({ baseUrl: `${url}.missing`, fragments: null });
        await expect(missing.start()).rejects.toThrow(/HTTP 404/);
      } finally {
        server.close();
      }
    });

    it('refuses to start without a valid policy: nothing configured, a bad base, an unreadable file', async () => {
      await expect(make({}).start()).rejects.toMatchObject({ code: 'policy_invalid' });
      await expect(make({}).start()).rejects.toThrow(/no policy bundles/);
      await writeFile(basePath, 'rules:\n  - id: broken\n    decision: maybe\n');
      const bad = make({ basePath, fragments: null });
      await expect(bad.start()).rejects.toMatchObject({ code: 'policy_invalid', details: { source: 'policy', bundle: 'base' } });
      expect(() => bad.policy()).toThrow(/no policy loaded/);
      await expect(make({ basePath: join(dir, 'nope.yaml'), fragments: null }).start()).rejects.toThrow(/cannot read/);
    });

    it('configuration mistakes fail at construction', () => {
      expect(() => make({ basePath, publicKey: 'not-a-key' })).toThrow(/public key/);
      expect(() => make({ basePath, requireSignatures: true })).toThrow(/public key/);
      expect(() => createPolicyRuntime({ options: { basePath } })).toThrow(/config store/);
    });
  });

  describe('signatures', () => {
    it('base: accepted from <file>.sig, an explicit value or a signature file; signed shows in status', async () => {
      const key = keyPair();
      await writeFile(`${basePath}.sig`, `${key.sign(BASE)}\n`);
      const bySidecar = make({ basePath, publicKey: key.publicKey, fragments: null });
      await bySidecar.start();
      expect(bySidecar.status().bundles).toEqual([expect.objectContaining({ id: 'base', signed: true })]);

      await make({ basePath, publicKey: key.publicKey, signature: key.sign(BASE), fragments: null }).start();
      const sigPath = join(dir, 'elsewhere.sig');
      await writeFile(sigPath, key.sign(BASE));
      await make({ basePath, publicKey: key.publicKey, signaturePath: sigPath, fragments: null }).start();
    });

    it('base: rejected when unsigned, signed by another key, or changed after signing', async () => {
      const key = keyPair();
      await expect(make({ basePath, publicKey: key.publicKey, fragments: null }).start()).rejects.toThrow(/not signed/);
      await expect(
        make({ basePath, publicKey: key.publicKey, signature: keyPair().sign(BASE), fragments: null }).start(),
      ).rejects.toThrow(/does not verify/);
      await expect(
        make({ basePath, publicKey: key.publicKey, signature: key.sign(`${BASE}\n# edited`), fragments: null }).start(),
      ).rejects.toMatchObject({ details: { source: 'signature', bundle: 'base' } });
    });

    it('fragments: verified when they carry a signature; unsigned ones accepted unless signatures are required', async () => {
      const key = keyPair();
      await writeFile(`${basePath}.sig`, key.sign(BASE));
      await putFragments(stores.config, {
        'tracker/safety': { content: TRACKER, signature: key.sign(TRACKER) },
        'secops/unsigned': 'rules:\n  - {id: unsigned, match: {topics: [job.u]}, decision: deny}\n',
      });
      const lenient = make({ basePath, publicKey: key.publicKey });
      await lenient.start();
      expect(Object.fromEntries(lenient.status().bundles.map((b) => [b.id, b.signed]))).toEqual({
        base: true,
        'secops/unsigned': false,
        'tracker/safety': true,
      });
      const strict = make({ basePath, publicKey: key.publicKey, requireSignatures: true });
      await expect(strict.start()).rejects.toMatchObject({ details: { source: 'signature', bundle: 'secops/unsigned' } });

      await putFragments(stores.config, { 'tracker/safety': { content: TRACKER, signature: keyPair().sign(TRACKER) } });
      await expect(make({ basePath, publicKey: key.publicKey }).start()).rejects.toThrow(/tracker\/safety|does not verify/);
    });

    it('requireSignatures: an unsigned base fails too', async () => {
      const key = keyPair();
      await expect(make({ basePath, publicKey: key.publicKey, requireSignatures: true }).start()).rejects.toThrow(/not signed/);
    });
  });

  describe('reloads', () => {
    it('a bad reload (parse error, then bad signature) keeps the last good snapshot; failures are logged and counted', async () => {
      const key = keyPair();
      await writeFile(`${basePath}.sig`, key.sign(BASE));
      const metrics = createMetrics();
      const { logger, records } = createMemoryLogger();
      const r = make({ basePath, publicKey: key.publicKey }, { metrics, logger });
      await r.start();
      const good = r.snapshot().id;

      // A fragment that does not parse.
      await putFragments(stores.config, { 'secops/broken': 'rules:\n  - id: b\n    decision: nope\n' });
      const parse = await r.reload();
      expect(parse).toMatchObject({ outcome: 'failed', snapshot: good });
      expect(parse.error).toMatch(/secops\/broken/);
      expect(r.snapshot().id).toBe(good);
      expect(r.evaluate(request('job.admin.x')).decision.ruleId).toBe('deny-admin');
      expect(r.status()).toMatchObject({ healthy: false, failures: 1, lastError: { source: 'policy', bundle: 'secops/broken' } });

      // A fragment whose signature does not verify.
      await putFragments(stores.config, { 'tracker/safety': { content: TRACKER, signature: key.sign('something else') } });
      expect((await r.reload()).outcome).toBe('failed');
      expect(r.snapshot().id).toBe(good);
      expect(r.status()).toMatchObject({ failures: 2, lastError: { source: 'signature', bundle: 'tracker/safety' } });

      // A base edited without re-signing.
      await putFragments(stores.config, {});
      await writeFile(basePath, `${BASE}\n  - {id: sneaky, match: {topics: ["job.*"]}, decision: allow}\n`);
      expect((await r.reload()).outcome).toBe('failed');
      expect(r.snapshot().id).toBe(good);

      const text = await metrics.text();
      expect(text).toMatch(/cordum_policy_load_failures_total\{source="policy"\} 1/);
      expect(text).toMatch(/cordum_policy_load_failures_total\{source="signature"\} 2/);
      expect(records.filter((x) => x.msg === 'policy load failed; keeping the last good snapshot')).toHaveLength(3);
      expect(r.snapshots()).toEqual([good]);

      // Fixed: the next reload takes it.
      await writeFile(`${basePath}.sig`, key.sign(`${BASE}\n  - {id: sneaky, match: {topics: ["job.*"]}, decision: allow}\n`));
      expect((await r.reload()).outcome).toBe('loaded');
      expect(r.status().healthy).toBe(true);
      expect(r.snapshots()).toHaveLength(2);
    });

    it('an unforced reload skips unchanged sources and does not retry the same bad content', async () => {
      const metrics = createMetrics();
      const r = make({ basePath }, { metrics });
      await r.start();
      expect((await r.reload({ force: false })).outcome).toBe('unchanged');
      await putFragments(stores.config, { 'secops/broken': 'rules: 7' });
      expect((await r.reload({ force: false })).outcome).toBe('failed');
      // Same revision, same file: nothing to retry, nothing more to count.
      expect((await r.reload({ force: false })).outcome).toBe('unchanged');
      expect(r.status().failures).toBe(1);
      // The same content under a new revision is not retried either (content hash).
      await putFragments(stores.config, { 'secops/broken': 'rules: 7' });
      expect((await r.reload({ force: false })).outcome).toBe('unchanged');
      expect(r.status().failures).toBe(1);
      // Touching the base file (same bytes) changes the fingerprint but not the content.
      await putFragments(stores.config, {});
      const later = new Date(Date.now() + 5_000);
      await utimes(basePath, later, later);
      expect((await r.reload({ force: false })).outcome).toBe('unchanged');
    });

    it('keeps the last 10 snapshot ids, newest first', async () => {
      const r = make({ basePath });
      await r.start();
      const ids = [r.snapshot().id];
      for (let i = 1; i <= 11; i++) {
        await writeFile(basePath, `${BASE}\n  - {id: extra-${i}, match: {topics: [job.n${i}]}, decision: deny}\n`);
        expect((await r.reload()).outcome).toBe('loaded');
        ids.unshift(r.snapshot().id);
      }
      expect(new Set(ids).size).toBe(12);
      expect(r.snapshots()).toEqual(ids.slice(0, 10));
      // Going back to a policy still in the history moves its id to the front instead of repeating it.
      await writeFile(basePath, `${BASE}\n  - {id: extra-6, match: {topics: [job.n6]}, decision: deny}\n`);
      await r.reload();
      expect(r.snapshots()).toEqual([ids[5], ...ids.slice(0, 5), ...ids.slice(6, 10)]);
    });

    it('polls: a changed base file becomes the new snapshot without a call', async () => {
      const r = make({ basePath, reloadIntervalMs: 20 });
      await r.start();
      const first = r.snapshot().id;
      await writeFile(basePath, `${BASE}\n  - {id: polled, match: {topics: [job.p]}, decision: deny}\n`);
      await eventually(() => expect(r.snapshot().id).not.toBe(first));
      expect(r.evaluate(request('job.p')).decision.ruleId).toBe('polled');
      expect(r.snapshots()).toEqual([r.snapshot().id, first]);
    });
  });

  describe('pack topic enrichment', () => {
    const installPacks = (installed: Record<string, JsonValue>) =>
      stores.config.put({ scope: 'system', scopeId: 'packs' }, { data: { installed } });
    const pack = (topics: JsonValue, status = 'ACTIVE'): JsonValue => ({ id: 'p', status, manifest: { topics } });

    it('adds declared risk tags (union) and the capability only when the request has none', async () => {
      await putFragments(stores.config, {
        'tracker/safety': `
rules:
  - {id: tracker-write, match: {topics: [job.tracker.write], risk_tags: [write]}, decision: require_approval}
  - {id: tracker-admin-cap, match: {capabilities: [tracker.admin]}, decision: deny}
  - {id: tracker-deny, match: {topics: ["job.tracker.*"]}, decision: deny}
`,
      });
      await installPacks({
        tracker: pack([
          { name: 'job.tracker.write', riskTags: ['write', 'network'], capability: 'tracker.write', requires: ['network:egress'] },
        ]),
        auditor: pack([{ name: 'job.tracker.write', riskTags: ['audited'], capability: 'auditor.write' }]),
        gone: pack([{ name: 'job.tracker.write', riskTags: ['secrets'] }], 'DISABLED'),
      });
      const r = make({ fragments: { ref: { scope: 'system', scopeId: 'policy' }, key: 'bundles' } });
      await r.start();
      expect(r.status().enrichedTopics).toBe(1);

      // Without tags the job would fall through to tracker-deny; the declared write tag makes the write rule apply.
      const plain = r.evaluate(request('job.tracker.write'));
      expect(plain.decision).toMatchObject({ decision: 'REQUIRE_APPROVAL', ruleId: 'tracker-write' });
      expect(plain.input.riskTags).toEqual(['audited', 'write', 'network']);
      // Packs are read in id order: auditor's capability comes first.
      expect(plain.input.capability).toBe('auditor.write');
      expect(plain.input.secretsPresent).toBe(false);

      const tagged = r.evaluate(request('JOB.TRACKER.WRITE', { riskTags: ['Write', 'prod'], capability: 'tracker.admin' }));
      expect(tagged.input.riskTags).toEqual(['Write', 'prod', 'audited', 'network']);
      expect(tagged.input.capability).toBe('tracker.admin');
      expect(tagged.decision.decision).toBe('DENY');

      const explained = r.explain(request('job.tracker.write'));
      expect(explained.notes.slice(0, 2)).toEqual([
        'topic job.tracker.write declared by packs auditor, tracker: added risk tags [audited, write, network]',
        'topic job.tracker.write declared by packs auditor, tracker: capability auditor.write (the request named none)',
      ]);
      // Topics nobody declared are untouched.
      expect(r.evaluate(request('job.other')).input.riskTags).toEqual([]);
    });

    it('picks up registry changes on reload; a declared secrets tag sets secrets_present', async () => {
      const r = make({ basePath });
      await r.start();
      expect(r.evaluate(request('job.vault.read')).input.secretsPresent).toBe(false);
      await installPacks({ vault: pack([{ name: 'job.vault.read', riskTags: ['secrets'] }]) });
      await r.reload({ force: false });
      expect(r.evaluate(request('job.vault.read')).input).toMatchObject({ riskTags: ['secrets'], secretsPresent: true });
    });

    it('secret:// references in labels or input content set secrets_present', async () => {
      await writeFile(basePath, 'rules:\n  - {id: secrets, match: {secrets_present: true}, decision: require_approval}\n');
      const r = make({ basePath, fragments: null, packsRef: null });
      await r.start();
      expect(r.evaluate(request('job.a')).decision.decision).toBe('ALLOW');
      expect(r.evaluate(request('job.a', { labels: { db: 'secret://vault/db#pw' } })).decision.decision).toBe('REQUIRE_APPROVAL');
      const byInput = r.explain(request('job.a', { input: JSON.stringify({ conn: { password: 'secret://vault/x#y' } }) }));
      expect(byInput.decision.decision).toBe('REQUIRE_APPROVAL');
      expect(byInput.notes[0]).toBe('secret:// reference in input_content → secrets_present');
      expect(r.evaluate(request('job.a', { input: 'plain text with secret://k8s/ns/name' })).decision.decision).toBe('REQUIRE_APPROVAL');
      // Neither a key nor deep nesting (past the walk's depth limit) nor JSON-escaped slashes hide a reference.
      expect(r.evaluate(request('job.a', { input: JSON.stringify({ 'secret://vault/k#v': 1 }) })).decision.decision).toBe('REQUIRE_APPROVAL');
      let deep: unknown = 'secret://vault/deep#pw';
      for (let i = 0; i < 100; i++) deep = { d: deep };
      expect(r.evaluate(request('job.a', { input: JSON.stringify(deep) })).decision.decision).toBe('REQUIRE_APPROVAL');
      expect(r.evaluate(request('job.a', { input: '{"k":"secret:\\/\\/vault\\/x"}' })).decision.decision).toBe('REQUIRE_APPROVAL');
    });
  });

  describe('simulate', () => {
    it('lays drafts over the loaded bundles without changing anything', async () => {
      await putFragments(stores.config, { 'tracker/safety': TRACKER });
      const r = make({ basePath });
      await r.start();
      const snapshot = r.snapshot().id;
      // Replace a fragment.
      const replaced = r.simulate([{ id: 'tracker/safety', content: 'rules:\n  - {id: t2, match: {topics: ["job.tracker.*"]}, decision: throttle}\n' }], request('job.tracker.read'));
      expect(replaced.decision).toMatchObject({ decision: 'THROTTLE', ruleId: 't2' });
      expect(replaced.trace.map((t) => t.ruleId)).toEqual(['deny-admin', 'writes-need-approval', 't2']);
      // Replace the base; add a new fragment.
      const rebased = r.simulate(
        [
          { id: 'base', content: 'rules: []' },
          { id: 'secops/new', content: 'rules:\n  - {id: new, match: {topics: [job.admin.x]}, decision: throttle}\n' },
        ],
        request('job.admin.x'),
      );
      expect(rebased.decision.ruleId).toBe('new');
      expect(rebased.decision.snapshot).not.toBe(snapshot);
      // No drafts: the live policy; a default decision override.
      expect(r.simulate([], request('job.nothing')).decision.decision).toBe('ALLOW');
      expect(r.simulate([], request('job.nothing'), { defaultDecision: 'DENY' }).decision.decision).toBe('DENY');
      expect(() => r.simulate([{ id: 'x', content: 'rules: [{id: y}]' }], request('job.a'))).toThrow(/policy bundle "x"/);
      expect(r.snapshot().id).toBe(snapshot);
      expect(r.snapshots()).toEqual([snapshot]);
    });
  });

  describe('embedded decision point', () => {
    it('every check writes a decision record; evaluate, explain, simulate and listSnapshots write nothing', async () => {
      const r = make({ basePath, fragments: null });
      await r.start();
      const pdp = createEmbeddedPdp(r, { audit: stores.audit });
      const approval = await pdp.check(request('job.deploy', { riskTags: ['write'], jobId: 'job-77' }));
      expect(approval).toMatchObject({
        decision: DecisionType.REQUIRE_HUMAN,
        ruleId: 'writes-need-approval',
        approvalRequired: true,
        approvalRef: 'job-77',
        policySnapshot: r.snapshot().id,
      });
      await pdp.evaluate(request('job.deploy'));
      await pdp.explain(request('job.deploy'));
      await pdp.simulate({ request: request('job.deploy'), bundles: [], defaultDecision: 'deny' });
      expect(await pdp.listSnapshots()).toEqual([r.snapshot().id]);

      const page = await stores.audit.list('acme');
      expect(page.items).toHaveLength(1);
      const entry = page.items[0]!;
      expect(entry).toMatchObject({ kind: 'policy.decision', subject: 'job-77', actor: 'safety-kernel', tenant: 'acme' });
      expect(entry.data).toEqual({
        job_id: 'job-77',
        topic: 'job.deploy',
        rule_id: 'writes-need-approval',
        snapshot: r.snapshot().id,
        decision: 'REQUIRE_APPROVAL',
        constraints: null,
        reason: 'matched rule "writes-need-approval"',
        time: entry.data['time'],
      });
      expect(entry.data['time']).toMatch(/^\d{4}-\d\d-\d\dT/);
    });

    it('records constraints in snake_case and the default tenant when the request names none', async () => {
      await writeFile(
        basePath,
        `default_tenant: main
rules:
  - id: sandboxed
    match: {topics: [job.ops.run]}
    decision: allow
    constraints: {budgets: {max_runtime_ms: 1000}, sandbox: {network_allowlist: [example.com]}, redaction_level: strict}
`,
      );
      const r = make({ basePath, fragments: null });
      await r.start();
      const pdp = createEmbeddedPdp(r, { audit: stores.audit, actor: 'scheduler' });
      const res = await pdp.check(request('job.ops.run', { tenant: '' }));
      expect(res.decision).toBe(DecisionType.ALLOW_WITH_CONSTRAINTS);
      const [entry] = (await stores.audit.list('main')).items;
      expect(entry).toMatchObject({ actor: 'scheduler', data: { decision: 'ALLOW_WITH_CONSTRAINTS' } });
      expect(entry!.data['constraints']).toEqual({
        budgets: { max_runtime_ms: 1000 },
        sandbox: { network_allowlist: ['example.com'] },
        redaction_level: 'strict',
      });
    });

    it('a decision that cannot be recorded is withheld (safety_unavailable); bad input is refused', async () => {
      const r = make({ basePath, fragments: null });
      await r.start();
      const pdp = createEmbeddedPdp(r, {
        audit: { ...stores.audit, append: () => Promise.reject(new RetryableError('down')) },
      });
      await expect(pdp.check(request('job.x'))).rejects.toMatchObject({ code: 'safety_unavailable' });
      const bad = create(PolicyCheckRequestSchema, { jobId: 'j', topic: 'job.x', effectiveConfig: new TextEncoder().encode('{nope') });
      await expect(pdp.evaluate(bad)).rejects.toMatchObject({ code: 'invalid_argument' });
      await expect(pdp.simulate({ request: request('job.x'), defaultDecision: 'perhaps' })).rejects.toMatchObject({ code: 'invalid_argument' });
    });
  });
});
