import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCliEnv } from '../config.js';
import { createMemoryTerminal } from '../output/terminal.js';
import { runCli } from './run.js';

// The command line end to end, without a gateway: parsing, usage errors, offline policy tests, contexts, and
// an unreachable gateway (a port nothing listens on).

let dir: string;
let closedPort: number;

async function freeClosedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function cli(args: string[], env: Record<string, string> = {}) {
  const terminal = createMemoryTerminal();
  const code = await runCli(args, {
    terminal,
    env: loadCliEnv({ HOME: dir, CORDUM_CONFIG: join(dir, 'config.yaml'), ...env }),
    cwd: dir,
  });
  return { code, stdout: terminal.stdout(), stderr: terminal.stderr() };
}

const BASE = `version: t-1
default_decision: deny
rules:
  - id: read-ok
    match: { topics: ["job.demo.*"], risk_tags: [read] }
    decision: allow
  - id: writes-need-a-human
    match: { topics: ["job.demo.*"], risk_tags: [write] }
    decision: require_approval
    reason: writes need a human
`;
const CASES = `- name: read
  request: { topic: job.demo.read, riskTags: [read] }
  expectDecision: ALLOW
- name: write
  request: { topic: job.demo.write, riskTags: [write], tenantId: default, actorType: human }
  expectDecision: REQUIRE_HUMAN
- name: other
  request: { topic: job.other.x }
  expectDecision: deny
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cordumctl-run-'));
  closedPort = await freeClosedPort();
  await writeFile(join(dir, 'base.yaml'), BASE);
  await writeFile(join(dir, 'cases.yaml'), CASES);
  await writeFile(join(dir, 'wrong.yaml'), `${CASES}- name: wrong\n  request: { topic: job.demo.write, riskTags: [write] }\n  expectDecision: ALLOW\n`);
  await writeFile(join(dir, 'broken.yaml'), 'rules:\n  - id: x\n    match: { topicz: [a] }\n    decision: allow\n');
  await writeFile(join(dir, 'typo-cases.yaml'), '- name: x\n  request: { topic: job.a, risk_tags: [read] }\n  expectDecision: ALLOW\n');
  const pack = join(dir, 'pack', 'pack');
  await mkdir(join(pack, 'overlays'), { recursive: true });
  await writeFile(
    join(pack, 'pack.yaml'),
    `apiVersion: cordum.io/v1alpha1
kind: Pack
metadata: { id: tracker, version: 0.1.0 }
compatibility: { protocolVersion: 1 }
overlays:
  policy:
    - { name: safety, strategy: bundle_fragment, path: overlays/policy.yaml }
tests:
  policySimulations:
    - name: pack_write
      request: { tenantId: default, topic: job.tracker.write, riskTags: [write] }
      expectDecision: REQUIRE_APPROVAL
    - name: pack_only
      request: { topic: job.tracker.read, packId: other }
      expectDecision: DENY
`,
  );
  await writeFile(
    join(pack, 'overlays', 'policy.yaml'),
    `rules:
  - id: tracker-write
    match: { topics: [job.tracker.write], risk_tags: [write], pack_ids: [tracker] }
    decision: require_approval
`,
  );
  const escape = join(dir, 'escape');
  await mkdir(escape);
  await writeFile(join(escape, 'pack.yaml'), 'metadata: { id: escape }\noverlays:\n  policy:\n    - { path: ../base.yaml }\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('usage', () => {
  it('no arguments: help on stderr, exit 2; --help and --version exit 0 on stdout', async () => {
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/Usage: cordumctl/);
    const help = await cli(['--help']);
    expect(help).toMatchObject({ code: 0 });
    expect(help.stdout).toMatch(/Commands:[\s\S]*job[\s\S]*approval[\s\S]*dlq[\s\S]*policy[\s\S]*context/);
    expect(help.stdout).toMatch(/Exit codes: 0 ok, 1 error, 2 usage/);
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    expect((await cli(['job', 'submit', '--help'])).stdout).toMatch(/--idempotency-key[\s\S]*--risk-tags[\s\S]*--wait/);
  });

  it('unknown commands, flags and choices, a group without its subcommand: exit 2 with a message', async () => {
    for (const args of [['nope'], ['job'], ['job', 'get'], ['-o', 'xml', 'status'], ['status', '--bogus'], ['job', 'list', '--state', 'DONE'], ['job', 'list', '--limit', '0']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).not.toBe('');
    }
    expect((await cli(['job', 'list', '--limit', '5000'])).stderr).toMatch(/--limit: expected an integer from 1 to 1000/);
  });

  it('a bad submit fails before any request (the gateway here is unreachable, which would be exit 6)', async () => {
    const gw = `http://127.0.0.1:${closedPort}`;
    const r = await cli(['--gateway', gw, 'job', 'submit', '--topic', 'job.demo.echo']);
    expect(r).toMatchObject({ code: 2, stderr: 'cordumctl: job submit needs --prompt TEXT or --input JSON|FILE\n' });
    expect((await cli(['--gateway', gw, 'job', 'submit', '--prompt', 'x', '--wait', '--timeout', 'soon'])).stderr).toMatch(/--timeout: "soon" is not a duration/);
    expect((await cli(['--gateway', 'ftp://x', 'status'])).stderr).toMatch(/--gateway: "ftp:\/\/x" must be an http:\/\/ or https:\/\/ URL/);
    expect((await cli(['--context', 'prod', 'status'])).stderr).toMatch(/--context: no context named "prod"/);
    expect((await cli(['--request-timeout', 'never', 'status'])).code).toBe(2);
  });

  it('every group is in the help, and bad flags or files of the admin groups fail before any request (exit 2)', async () => {
    expect((await cli(['--help'])).stdout).toMatch(/workflow[\s\S]*run[\s\S]*policy[\s\S]*config[\s\S]*schema[\s\S]*lock[\s\S]*artifact/);
    expect((await cli(['policy', '--help'])).stdout).toMatch(/test[\s\S]*evaluate[\s\S]*explain[\s\S]*simulate[\s\S]*snapshots[\s\S]*bundles[\s\S]*publish[\s\S]*rollback[\s\S]*audit/);
    const gw = `http://127.0.0.1:${closedPort}`;
    const cases: [string[], RegExp][] = [
      [['config', 'set', '{"a": 1}'], /config set needs --scope/],
      [['config', 'set', '--scope', 'team'], /config set needs the document/],
      [['config', 'set', '--scope', 'team', 'missing.yaml'], /document: no such file .*missing\.yaml/],
      [['config', 'set', '--scope', 'team', '[1, 2]'], /config set \(inline\): expected an object .*got a list/],
      [['config', 'set', '--scope', 'team', 'a: 1', '--revision', '-1'], /--revision: expected an integer from 0 up/],
      [['config', 'rollback', '--scope', 'team'], /needs --to-revision/],
      [['config', 'get', '--scope', 'galaxy'], /argument 'galaxy' is invalid/],
      [['schema', 'register', 'a/B', 'nope.json'], /schema: no such file/],
      [['lock', 'acquire', 'r', '--ttl', 'soon'], /--ttl: "soon" is not a duration/],
      [['lock', 'acquire', 'r', '--mode', 'both'], /argument 'both' is invalid/],
      [['artifact', 'put', 'nope.bin'], /artifact put: no such file/],
      [['artifact', 'put', 'base.yaml', '--retention', 'forever'], /argument 'forever' is invalid/],
      [['policy', 'evaluate'], /a policy question needs --topic/],
      [['policy', 'simulate', '--topic', 'job.a', '--bundle', 'nope.yaml'], /--bundle secops\/nope: no such file/],
      [['policy', 'rollback', 'latest'], /revision: expected an integer from 1 up/],
      [['policy', 'bundles', 'get', 'secops/x', '--content', '--draft'], /--content and --draft do not go together/],
      [['workflow', 'create'], /needs one definition file/],
      [['workflow', 'create', 'cases.yaml'], /workflow definition: .*cases\.yaml: expected an object .*got a list/],
      [['run', 'start', 'wf', '--input', '[1]'], /--input \(inline\): expected an object/],
      [['run', 'start', 'wf', '--wait', '--timeout', 'soon'], /--timeout: "soon" is not a duration/],
      [['run', 'list', '--status', 'done'], /argument 'done' is invalid/],
      [['approval', 'step', 'wf', 'r1', 's1'], /exactly one of --approve or --reject/],
      [['approval', 'step', 'wf', 'r1', 's1', '--approve', '--reject'], /exactly one of --approve or --reject/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['--gateway', gw, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    // Standard input is the bin's: without it, `-` says so.
    expect((await cli(['--gateway', gw, 'artifact', 'put', '-'])).stderr).toMatch(/standard input is not available here/);
  });

  it('an unreachable gateway: one sentence naming it and what to check, exit 6 (global flags work after the command too)', async () => {
    const gw = `http://127.0.0.1:${closedPort}`;
    const r = await cli(['status', '--gateway', gw]);
    expect(r.code).toBe(6);
    expect(r.stderr).toBe(
      `cordumctl: cannot reach the gateway at ${gw}: connection refused\n  check --gateway, CORDUM_GATEWAY or the current context (\`cordum dev\` serves one on http://localhost:8081)\n`,
    );
    expect((await cli(['job', 'list'], { CORDUM_GATEWAY: gw })).code).toBe(6);
  });
});

describe('policy test (offline)', () => {
  it('passes: a table of cases and a summary, exit 0; --output json is the whole report', async () => {
    const r = await cli(['policy', 'test', 'base.yaml', '--cases', 'cases.yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^RESULT\s+CASE\s+EXPECTED\s+GOT\s+RULE\s+REASON\n/);
    expect(r.stdout).toMatch(/PASS\s+write\s+REQUIRE_APPROVAL\s+REQUIRE_APPROVAL\s+writes-need-a-human\s+writes need a human/);
    expect(r.stdout).toMatch(/3 cases: 3 passed, 0 failed\n$/);
    const json = await cli(['policy', 'test', 'base.yaml', '--cases', 'cases.yaml', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      passed: 3,
      failed: 0,
      bundles: [{ id: 'base', path: join(dir, 'base.yaml') }],
      results: [
        { name: 'read', ok: true, got: 'ALLOW', ruleId: 'read-ok' },
        { name: 'write', ok: true, expected: 'REQUIRE_APPROVAL' },
        { name: 'other', ok: true, got: 'DENY', ruleId: 'default' },
      ],
    });
  });

  it('fails: exit 8 with the failing case shown (and only it with --failures-only)', async () => {
    const r = await cli(['policy', 'test', 'base.yaml', '--cases', 'wrong.yaml', '--failures-only']);
    expect(r.code).toBe(8);
    expect(r.stdout).toMatch(/FAIL\s+wrong\s+ALLOW\s+REQUIRE_APPROVAL\s+writes-need-a-human/);
    expect(r.stdout).not.toMatch(/PASS/);
    expect(r.stdout).toMatch(/4 cases: 3 passed, 1 failed/);
  });

  it("--pack runs the pack's simulations against its fragment and the bundles, defaulting pack_id to the pack", async () => {
    const r = await cli(['policy', 'test', 'base.yaml', '--pack', 'pack', '--cases', 'cases.yaml', '-o', 'json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { pack: string; bundles: { id: string }[]; results: { name: string; ruleId: string; source: string }[] };
    expect(report.pack).toBe('tracker');
    expect(report.bundles.map((b) => b.id)).toEqual(['base', 'tracker/safety']);
    expect(report.results.map((x) => [x.name, x.ruleId, x.source])).toEqual([
      ['pack_write', 'tracker-write', 'pack tracker'],
      ['pack_only', 'default', 'pack tracker'],
      ['read', 'read-ok', 'cases'],
      ['write', 'writes-need-a-human', 'cases'],
      ['other', 'default', 'cases'],
    ]);
    // Without the base bundle the default decision is ALLOW (no bundle sets one): pack_only now fails.
    expect((await cli(['policy', 'test', '--pack', 'pack'])).code).toBe(8);
  });

  it('anything that cannot be loaded is a usage error (exit 2) that says where', async () => {
    const cases: [string[], RegExp][] = [
      [['policy', 'test', 'base.yaml'], /needs --cases FILE or --pack DIR/],
      [['policy', 'test', '--cases', 'cases.yaml'], /no policy to test/],
      [['policy', 'test', 'missing.yaml', '--cases', 'cases.yaml'], /policy bundle .*missing\.yaml does not exist/],
      [['policy', 'test', 'base.yaml', 'broken.yaml', '--cases', 'cases.yaml'], /broken\.yaml: policy bundle "broken" line 3.*topicz.*\(policy_invalid\)/],
      [['policy', 'test', 'base.yaml', '--cases', 'typo-cases.yaml'], /case 1 \(x\)\.request: unknown key "risk_tags"/],
      [['policy', 'test', 'base.yaml', '--cases', 'base.yaml'], /expected a YAML list of cases/],
      [['policy', 'test', '--pack', 'escape'], /path "\.\.\/base\.yaml" must stay inside the pack/],
      [['policy', 'test', '--pack', 'nowhere'], /--pack: no pack\.yaml in/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });
});

describe('contexts', () => {
  it('set, use, list, current and delete, in a file only its owner can read; keys never printed', async () => {
    const env = { CORDUM_CONFIG: join(dir, 'ctx', 'config.yaml') };
    expect((await cli(['context', 'list'], env)).stdout).toMatch(/No contexts in/);
    expect((await cli(['context', 'current'], env)).code).toBe(3);
    expect(await cli(['context', 'set', 'local', '--gateway', 'http://127.0.0.1:8081/'], env)).toMatchObject({ code: 0 });
    expect((await cli(['context', 'set', 'prod', '--gateway', 'https://cordum.example.com', '--api-key', 'secret-key-0123456789'], env)).stdout).toMatch(
      /context prod created in/,
    );
    expect((await cli(['context', 'current'], env)).stdout).toBe('local\n');
    expect((await cli(['context', 'use', 'prod'], env)).stdout).toBe('current context: prod\n');
    const list = await cli(['context', 'list'], env);
    expect(list.stdout).toMatch(/CURRENT\s+NAME\s+GATEWAY\s+API KEY\n\s+local\s+http:\/\/127\.0\.0\.1:8081\s+-\n\*\s+prod\s+https:\/\/cordum\.example\.com\s+set\n/);
    expect(list.stdout).not.toContain('secret-key');
    expect(JSON.parse((await cli(['context', 'list', '-o', 'json'], env)).stdout)).toMatchObject({
      current_context: 'prod',
      contexts: [{ name: 'local', api_key_set: false }, { name: 'prod', api_key_set: true, current: true }],
    });
    const path = env.CORDUM_CONFIG;
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toBe(
      'current-context: prod\ncontexts:\n  local:\n    gateway: http://127.0.0.1:8081\n  prod:\n    gateway: https://cordum.example.com\n    api-key: secret-key-0123456789\n',
    );
    expect((await cli(['context', 'use', 'staging'], env))).toMatchObject({ code: 3, stderr: expect.stringMatching(/no context named "staging"\n {2}known contexts: local, prod/) as string });
    expect((await cli(['context', 'set', 'prod', '--api-key', ''], env)).code).toBe(0);
    expect(await readFile(path, 'utf8')).not.toContain('api-key');
    expect((await cli(['context', 'delete', 'prod'], env)).code).toBe(0);
    expect((await cli(['context', 'current'], env)).code).toBe(3);
    expect((await cli(['context', 'set', 'bad name', '--gateway', 'http://x'], env)).code).toBe(2);
  });

  it('a broken contexts file is a usage error naming the file and the key', async () => {
    const path = join(dir, 'broken-config.yaml');
    await writeFile(path, 'contexts:\n  a: { gateway: http://x, apikey: k }\n');
    const r = await cli(['status'], { CORDUM_CONFIG: path });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${path}: contexts.a: unknown key "apikey" (expected gateway, api-key)`);
  });
});
