import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsServer, type RedisServer, REPO_ROOT, eventually, freePort, startNats, startRedis, uniquePrefix } from '@cordum/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CordumProcess, startCordum } from './cordum-process.js';

// The built `cordumctl` binary as users run it, against a real `cordum dev` (open mode, the demo policy, the
// echo worker) and, for API keys, a real `cordum start gateway` on NATS and Redis. Every run is a separate
// process reading only its own flags and environment (its own contexts file, no colours: stdout is a pipe).

const CTL = join(REPO_ROOT, 'apps/cli/dist/bin/cordumctl.js');

type Result = { code: number | null; stdout: string; stderr: string };

let dir: string;
let dev: CordumProcess;
let gateway: string;

/** Runs cordumctl to the end. `env` adds to a clean environment (no CORDUM_* from the caller's shell). */
function ctl(args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
  return start(args, env).done;
}

type Running = { readonly child: ChildProcess; readonly out: { stdout: string; stderr: string }; readonly done: Promise<Result> };

/** Starts cordumctl; `done` settles when it has exited (whenever that is: listeners are attached at once). */
function start(args: readonly string[], env: Record<string, string> = {}): Running {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CORDUM_') && k !== 'NO_COLOR'));
  const child = spawn(process.execPath, [CTL, ...args], {
    cwd: dir,
    env: { ...clean, CORDUM_CONFIG: join(dir, 'config.yaml'), CORDUM_GATEWAY: gateway, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (c: Buffer) => (out.stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out.stderr += c.toString()));
  const done = new Promise<Result>((resolve) => child.once('close', (code) => resolve({ code, ...out })));
  return { child, out, done };
}

function json<T = Record<string, unknown>>(r: Result): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
}

/** The job id a `--wait` run announces on stderr ("job <id> submitted …"). */
async function announcedJob(running: Running): Promise<string> {
  let id = '';
  await eventually(() => {
    const m = /job (\S+) submitted/.exec(running.out.stderr);
    expect(m, running.out.stderr).not.toBeNull();
    id = m?.[1] ?? '';
  }, 15_000, 50);
  return id;
}

/** Waits until the gateway lists the job among the approvals (the scheduler has held it). Polled over plain
 * HTTP, not by spawning cordumctl in a loop: the assertions below run cordumctl itself. */
async function heldForApproval(id: string): Promise<Record<string, unknown>> {
  let item: Record<string, unknown> | undefined;
  await eventually(async () => {
    const list = (await fetch(`${gateway}/api/v1/approvals?limit=1000`).then((r) => r.json())) as { items: { job: { id: string } }[] };
    item = list.items.find((i) => i.job.id === id);
    expect(item).toBeDefined();
  }, 20_000, 100);
  return item ?? {};
}

const CASES = `- name: demo jobs are held for a human
  request: { tenantId: default, topic: job.demo.approval }
  expectDecision: REQUIRE_HUMAN
- name: echo runs
  request: { tenantId: default, topic: job.demo.echo, riskTags: [read] }
  expectDecision: ALLOW
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cordumctl-e2e-'));
  await writeFile(join(dir, 'cases.yaml'), CASES);
  await writeFile(join(dir, 'wrong-cases.yaml'), `${CASES}- name: approval is not automatic\n  request: { topic: job.demo.approval }\n  expectDecision: ALLOW\n`);
  await writeFile(join(dir, 'input.json'), JSON.stringify({ ticket: 'OPS-7', steps: [1, 2] }));
  const [http, grpc, kernel] = [await freePort(), await freePort(), await freePort()];
  dev = await startCordum(
    ['dev', '--http-addr', `127.0.0.1:${http}`, '--grpc-addr', `127.0.0.1:${grpc}`, '--kernel-addr', `127.0.0.1:${kernel}`, '--metrics-addr', 'off'],
    { ready: /cordum dev ready/ },
  );
  gateway = `http://127.0.0.1:${http}`;
}, 60_000);

afterAll(async () => {
  await dev?.stop('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('cordumctl against cordum dev', { timeout: 90_000 }, () => {
  it('status and workers, as a table and as JSON', async () => {
    const table = await ctl(['status']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`gateway:\\s+${gateway}\\n[\\s\\S]*auth:\\s+open mode \\(no API keys\\)`));
    expect(table.stdout).not.toContain('\u001b['); // a pipe: no colours
    expect(json(await ctl(['status', '-o', 'json']))).toMatchObject({ gateway, auth: { open: true }, store: { ok: true }, principal: { id: 'anonymous' } });
    // The gateway lists workers once it has heard their heartbeat.
    await eventually(async () => {
      const workers = json<{ items: { pool: string }[] }>(await ctl(['workers', '--json']));
      expect(workers.items).toEqual([expect.objectContaining({ pool: 'demo' })]);
    }, 30_000, 500);
    expect((await ctl(['workers'])).stdout).toMatch(/^WORKER\s+POOL\s+TYPE\s+JOBS[\s\S]*\ndemo-worker-\d+\s+demo\s/);
  });

  it('job submit --wait, then status, get, logs and list; an idempotency key returns the same job', async () => {
    const run = await ctl(['job', 'submit', '--topic', 'job.demo.echo', '--prompt', 'hello', '--risk-tags', 'read', '--capability', 'echo', '--wait', '-o', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const done = json<{ id: string; state: string; risk_tags: string[]; result: { json: { echo: { prompt: string } } } }>(run);
    expect(done).toMatchObject({ state: 'SUCCEEDED', capability: 'echo', risk_tags: ['read'], result: { json: { echo: { prompt: 'hello' } } } });
    expect(run.stderr).toMatch(new RegExp(`job ${done.id} submitted[\\s\\S]*job ${done.id}: SUCCEEDED`));

    expect(json(await ctl(['job', 'status', done.id, '-o', 'json']))).toMatchObject({ id: done.id, state: 'SUCCEEDED', decision: { decision: 'ALLOW' } });
    expect((await ctl(['job', 'status', done.id])).stdout).toMatch(/state:\s+SUCCEEDED\n/);
    expect((await ctl(['job', 'get', done.id])).stdout).toMatch(/result:\s+\{"echo":\{.*"prompt":"hello"/);
    expect((await ctl(['job', 'get', done.id, '-o', 'yaml'])).stdout).toMatch(/^id: \S+\n[\s\S]*\nstate: SUCCEEDED\n/);
    const logs = json<{ entries: { kind: string; text: string }[] }>(await ctl(['job', 'logs', done.id, '-o', 'json']));
    expect(logs.entries.map((e) => e.text)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^∅ → PENDING/), expect.stringMatching(/^ALLOW \(rule default\)/), expect.stringMatching(/→ SUCCEEDED/)]),
    );
    const list = json<{ items: { id: string }[] }>(await ctl(['job', 'list', '--topic', 'job.demo.echo', '--state', 'SUCCEEDED', '-o', 'json']));
    expect(list.items.map((j) => j.id)).toContain(done.id);

    const input = ['job', 'submit', '--topic', 'job.demo.echo', '--input', 'input.json', '--idempotency-key', uniquePrefix('idem'), '-o', 'json'];
    const first = json<{ job_id: string; created: boolean }>(await ctl(input));
    const again = json<{ job_id: string; created: boolean }>(await ctl(input));
    expect(first.created).toBe(true);
    expect(again).toEqual({ ...first, created: false });
    const watched = await ctl(['job', 'watch', first.job_id, '-o', 'json']);
    expect(watched.code).toBe(0);
    expect(json(watched)).toMatchObject({ state: 'SUCCEEDED', result: { json: { echo: { ticket: 'OPS-7', steps: [1, 2] } } } });
  }, 90_000);

  it('job submit --wait on job.demo.approval waits, showing why, until a second cordumctl approves it', async () => {
    const waiting = start(['job', 'submit', '--topic', 'job.demo.approval', '--prompt', 'deploy', '--wait', '-o', 'json']);
    const id = await announcedJob(waiting);
    const item = await heldForApproval(id);
    const listed = json<{ items: { job: { id: string }; policy_rule_id: string; approval_required: boolean }[] }>(await ctl(['approval', 'list', '-o', 'json']));
    expect(listed.items.find((i) => i.job.id === id)).toMatchObject({ policy_rule_id: 'demo-approval', approval_required: true });
    expect((await ctl(['approval', 'list'])).stdout).toMatch(new RegExp(`^JOB\\s+TOPIC\\s+RULE[\\s\\S]*\\n${id}\\s+job\\.demo\\.approval\\s+demo-approval\\s`));
    await eventually(() => expect(waiting.out.stderr).toContain(`job ${id}: APPROVAL_REQUIRED (awaiting_approval)`), 5_000, 50);
    expect(waiting.out.stderr).toContain(`waits for approval (policy rule demo-approval): cordumctl approval approve ${id}`);
    expect(waiting.child.exitCode).toBeNull();

    const approve = await ctl(['approval', 'approve', id, '--reason', 'looks fine', '--job-hash', String(item['job_hash'])]);
    expect(approve).toMatchObject({ code: 0, stdout: `job ${id} approved: PENDING (policy is checked again before it runs)\n` });
    const r = await waiting.done;
    expect(r.code, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ id, state: 'SUCCEEDED', approval: { reason: 'looks fine' } });
  }, 90_000);

  it('a rejected job ends --wait with exit 7; the DLQ shows, retries and deletes it', async () => {
    const waiting = start(['job', 'submit', '--topic', 'job.demo.approval', '--prompt', 'risky']);
    const submitted = await waiting.done;
    expect(submitted.code).toBe(0);
    const id = /job (\S+) submitted/.exec(submitted.stdout)?.[1] ?? '';
    await heldForApproval(id);
    const watcher = start(['job', 'watch', id]);
    await eventually(() => expect(watcher.out.stderr).toContain('APPROVAL_REQUIRED'), 10_000, 50);
    expect((await ctl(['approval', 'job', id, '--reject', '--reason', 'too risky'])).code).toBe(0);
    const watched = await watcher.done;
    expect(watched.code).toBe(7);
    expect(watched.stderr).toMatch(new RegExp(`cordumctl: job ${id} ended DENIED: approval_rejected`));

    await eventually(async () => {
      const dlq = json<{ items: { job_id: string; reason_code: string }[] }>(await ctl(['dlq', 'list', '--reason-code', 'approval_rejected', '-o', 'json']));
      expect(dlq.items).toContainEqual(expect.objectContaining({ job_id: id, reason_code: 'approval_rejected' }));
    }, 10_000, 100);
    expect((await ctl(['dlq', 'show', id])).stdout).toMatch(/reason code:\s+approval_rejected/);
    const retry = json<{ job_id: string; retry_of: string }>(await ctl(['dlq', 'retry', id, '-o', 'json']));
    expect(retry.job_id).toMatch(new RegExp(`^${id}-retry-[0-9a-f]{8}$`));
    expect((await ctl(['dlq', 'show', id])).code).toBe(3); // a retry removes the entry
    // The retry is on job.demo.approval too: held again. Cancel it; a second cancel conflicts.
    await heldForApproval(retry.job_id);
    expect(json(await ctl(['job', 'cancel', retry.job_id, '--reason', 'enough', '-o', 'json']))).toMatchObject({ state: 'CANCELLED', cancel_requested: false });
    const again = await ctl(['job', 'cancel', retry.job_id]);
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/^cordumctl: job \S+ is already CANCELLED \(conflict, HTTP 409\)\n$/);

    const second = json<{ job_id: string }>(await ctl(['job', 'submit', '--topic', 'job.demo.approval', '--prompt', 'again', '-o', 'json']));
    await heldForApproval(second.job_id);
    expect((await ctl(['approval', 'reject', second.job_id])).stdout).toBe(`job ${second.job_id} rejected: DENIED\n`);
    await eventually(async () => expect((await ctl(['dlq', 'show', second.job_id])).code).toBe(0), 10_000, 100);
    expect(await ctl(['dlq', 'delete', second.job_id])).toMatchObject({ code: 0, stdout: `DLQ entry of job ${second.job_id} deleted\n` });
    expect((await ctl(['dlq', 'delete', second.job_id])).code).toBe(3);
  }, 90_000);

  it('--timeout gives up with exit 6 and Ctrl-C with exit 130, leaving the job as it is', async () => {
    // Labels are placement labels (no demo worker has team=red), which does not matter while the job is held.
    const held = json<{ job_id: string }>(
      await ctl(['job', 'submit', '--topic', 'job.demo.approval', '--prompt', 'later', '--labels', 'team=red', '--labels', '{"ticket":"OPS-9"}', '-o', 'json']),
    );
    await heldForApproval(held.job_id);
    expect(json(await ctl(['job', 'get', held.job_id, '-o', 'json']))).toMatchObject({ labels: { team: 'red', ticket: 'OPS-9' } });
    const timedOut = await ctl(['job', 'watch', held.job_id, '--timeout', '1s']);
    expect(timedOut.code).toBe(6);
    expect(timedOut.stderr).toContain(`job ${held.job_id} still APPROVAL_REQUIRED after 1s (--timeout); it goes on`);

    const watcher = start(['job', 'watch', held.job_id]);
    await eventually(() => expect(watcher.out.stderr).toContain('APPROVAL_REQUIRED'), 10_000, 50);
    watcher.child.kill('SIGINT');
    const stopped = await watcher.done;
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toContain(`stopped waiting; job ${held.job_id} goes on (APPROVAL_REQUIRED)`);
    expect(json(await ctl(['job', 'status', held.job_id, '-o', 'json']))).toMatchObject({ state: 'APPROVAL_REQUIRED' });
    expect((await ctl(['job', 'cancel', held.job_id])).code).toBe(0);
  }, 90_000);

  it('gateway errors: one sentence with the code and the documented exit code', async () => {
    const missing = await ctl(['job', 'get', 'no-such-job']);
    expect(missing).toMatchObject({ code: 3, stdout: '', stderr: 'cordumctl: job no-such-job not found (not_found, HTTP 404)\n' });
    const bad = await ctl(['job', 'get', 'bad id!']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^cordumctl: .*\(invalid_argument, HTTP 400\)\n$/);
    const echo = json<{ job_id: string }>(await ctl(['job', 'submit', '--topic', 'job.demo.echo', '--prompt', 'x', '-o', 'json']));
    const remediate = await ctl(['job', 'remediate', echo.job_id]);
    expect(remediate.code).toBe(5);
    expect(remediate.stderr).toMatch(/offers no remediation \(conflict, HTTP 409\)/);
  });

  it('a gateway that is not there: a clear error and exit 6', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const r = await ctl(['status'], { CORDUM_GATEWAY: closed });
    expect(r.code).toBe(6);
    expect(r.stderr).toBe(
      `cordumctl: cannot reach the gateway at ${closed}: connection refused\n  check --gateway, CORDUM_GATEWAY or the current context (\`cordum dev\` serves one on http://localhost:8081)\n`,
    );
    expect((await ctl(['--gateway', closed, 'job', 'submit', '--prompt', 'x', '--wait'])).code).toBe(6);
  });

  it('contexts: a named gateway used when nothing else says where', async () => {
    const config = join(dir, 'ctx.yaml');
    const env = { CORDUM_CONFIG: config, CORDUM_GATEWAY: '' };
    expect((await ctl(['context', 'set', 'dev', '--gateway', gateway], env)).code).toBe(0);
    expect(json(await ctl(['status', '-o', 'json'], env))).toMatchObject({ gateway, context: 'dev' });
    expect((await ctl(['context', 'set', 'nowhere', '--gateway', `http://127.0.0.1:${await freePort()}`, '--use'], env)).code).toBe(0);
    expect((await ctl(['status'], env)).code).toBe(6);
    expect((await ctl(['--context', 'dev', 'status'], env)).code).toBe(0);
  });

  it('policy test runs offline: passing cases exit 0, a mismatch exits 8', async () => {
    const policy = join(REPO_ROOT, 'examples/demo/policy.yaml');
    const offline = { CORDUM_GATEWAY: 'http://127.0.0.1:1' }; // never asked
    const pass = await ctl(['policy', 'test', policy, '--cases', 'cases.yaml', '-o', 'json'], offline);
    expect(pass.code, pass.stderr).toBe(0);
    expect(json(pass)).toMatchObject({ passed: 2, failed: 0, results: [{ got: 'REQUIRE_APPROVAL', ruleId: 'demo-approval' }, { got: 'ALLOW' }] });
    const fail = await ctl(['policy', 'test', policy, '--cases', 'wrong-cases.yaml'], offline);
    expect(fail.code).toBe(8);
    expect(fail.stdout).toMatch(/FAIL\s+approval is not automatic\s+ALLOW\s+REQUIRE_APPROVAL\s+demo-approval/);
    expect(fail.stdout).toMatch(/3 cases: 2 passed, 1 failed\n$/);
  });
});

describe('cordumctl against a gateway with API keys', { timeout: 90_000 }, () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let keyed: CordumProcess;
  let url: string;
  const ADMIN = 'cli-e2e-admin-key-0123456789';
  const VIEWER = 'cli-e2e-viewer-key-012345678';

  beforeAll(async () => {
    [nats, redis] = await Promise.all([startNats(), startRedis()]);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    keyed = await startCordum(['start', 'gateway'], {
      ready: /cordum start ready/,
      env: {
        GATEWAY_HTTP_ADDR: `127.0.0.1:${port}`,
        GATEWAY_GRPC_ADDR: '127.0.0.1:0',
        NATS_URL: nats.url,
        REDIS_URL: redis.url,
        CORDUM_REDIS_PREFIX: uniquePrefix('cli-e2e'),
        CORDUM_LOG_LEVEL: 'warn',
        CORDUM_API_KEYS: JSON.stringify([
          { key: ADMIN, tenant: 'acme', principal_id: 'alice', roles: ['admin'] },
          { key: VIEWER, tenant: 'acme', principal_id: 'vic', roles: ['viewer'] },
        ]),
      },
    });
  }, 60_000);

  afterAll(async () => {
    await keyed?.stop('SIGKILL');
    await Promise.all([nats?.stop(), redis?.stop()]);
  });

  it('a bad or missing key exits 4 with the code and what to do; a good one works, from the flag, the environment or a context', async () => {
    const bad = await ctl(['status', '--api-key', 'not-a-valid-key-0000000'], { CORDUM_GATEWAY: url });
    expect(bad).toMatchObject({ code: 4, stdout: '' });
    expect(bad.stderr).toBe(
      'cordumctl: invalid API key (unauthenticated, HTTP 401)\n  pass a key with --api-key, CORDUM_API_KEY or a context (cordumctl context list)\n',
    );
    const none = await ctl(['job', 'list'], { CORDUM_GATEWAY: url });
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/^cordumctl: no credentials: .*\(unauthenticated, HTTP 401\)\n/);

    expect(json(await ctl(['status', '-o', 'json'], { CORDUM_GATEWAY: url, CORDUM_API_KEY: ADMIN }))).toMatchObject({
      auth: { open: false },
      principal: { id: 'alice', tenant: 'acme', roles: ['admin'] },
    });
    const config = join(dir, 'keyed.yaml');
    expect((await ctl(['context', 'set', 'acme', '--gateway', url, '--api-key', VIEWER, '--use'], { CORDUM_CONFIG: config })).code).toBe(0);
    expect(json(await ctl(['status', '-o', 'json'], { CORDUM_CONFIG: config, CORDUM_GATEWAY: '' }))).toMatchObject({ principal: { id: 'vic' }, context: 'acme' });
    const denied = await ctl(['workers'], { CORDUM_CONFIG: config, CORDUM_GATEWAY: '' });
    expect(denied.code).toBe(4);
    expect(denied.stderr).toMatch(/\(permission_denied, HTTP 403\)\n {2}use a key with the role this needs \(needs admin\)\n$/);
    // The admin groups answer the same way: a viewer cannot take a lock, an admin without secops cannot read bundles.
    const lock = await ctl(['lock', 'acquire', 'deploy/prod'], { CORDUM_CONFIG: config, CORDUM_GATEWAY: '' });
    expect(lock.code).toBe(4);
    expect(lock.stderr).toMatch(/\(permission_denied, HTTP 403\)\n {2}use a key with the role this needs \(needs operator\)\n$/);
    const bundles = await ctl(['policy', 'bundles', 'list'], { CORDUM_GATEWAY: url, CORDUM_API_KEY: ADMIN });
    expect(bundles.code).toBe(4);
    expect(bundles.stderr).toMatch(/\(permission_denied, HTTP 403\)\n {2}use a key with the role this needs \(needs secops\)\n$/);
    expect(json(await ctl(['lock', 'acquire', 'deploy/prod', '-o', 'json'], { CORDUM_GATEWAY: url, CORDUM_API_KEY: ADMIN }))).toMatchObject({ owners: { alice: { count: 1 } } });
  });
});
