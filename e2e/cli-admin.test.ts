import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, eventually, freePort, uniquePrefix } from '@cordum/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CordumProcess, startCordum } from './cordum-process.js';

// The built `cordumctl` against a real `cordum dev` for the admin groups: config, schema, lock, artifact, the
// gateway's policy routes, workflows and runs (the dev platform runs the workflow engine, so runs go end to
// end: jobs on the demo worker, approval steps decided by a second cordumctl). Each call is its own process,
// as a script would run it; results are read with --output json.

const CTL = join(REPO_ROOT, 'apps/cli/dist/bin/cordumctl.js');

type Result = { code: number | null; stdout: string; stderr: string };
type Running = { readonly child: ChildProcess; readonly out: { stdout: string; stderr: string }; readonly done: Promise<Result> };

let dir: string;
let dev: CordumProcess;
let gateway: string;

function start(args: readonly string[], options: { stdin?: string } = {}): Running {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CORDUM_') && k !== 'NO_COLOR'));
  const child = spawn(process.execPath, [CTL, ...args], {
    cwd: dir,
    env: { ...clean, CORDUM_CONFIG: join(dir, 'config.yaml'), CORDUM_GATEWAY: gateway },
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (c: Buffer) => (out.stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out.stderr += c.toString()));
  const done = new Promise<Result>((resolve) => child.once('close', (code) => resolve({ code, ...out })));
  return { child, out, done };
}

function ctl(args: readonly string[], options: { stdin?: string } = {}): Promise<Result> {
  return start(args, options).done;
}

/** Runs cordumctl with -o json, expects exit 0, and parses stdout. */
async function ctlJson<T = Record<string, unknown>>(args: readonly string[], options: { stdin?: string } = {}): Promise<T> {
  const r = await ctl([...args, '-o', 'json'], options);
  expect(r.code, `cordumctl ${args.join(' ')}\n${r.stderr}`).toBe(0);
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
}

/** Expects the documented exit code and one error sentence carrying the gateway's code. */
async function fails(args: readonly string[], code: number, gatewayCode: string): Promise<Result> {
  const r = await ctl(args);
  expect(r.code, `cordumctl ${args.join(' ')}\n${r.stderr}`).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(new RegExp(`^cordumctl: .+ \\(${gatewayCode}, HTTP \\d{3}\\)\\n`));
  return r;
}

const WORKFLOW_YAML = (id: string) => `id: ${id}
name: Ship it
version: "1"
input_schema:
  type: object
  required: [ticket]
  properties: { ticket: { type: string } }
steps:
  build:
    type: worker
    topic: job.demo.echo
  approve:
    type: approval
    depends_on: [build]
  announce:
    type: notify
    depends_on: [approve]
    input: { message: shipped }
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cordumctl-admin-e2e-'));
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

describe('cordumctl admin groups against cordum dev', { timeout: 90_000 }, () => {
  it('config: get, set inline and from a file, compare-and-set (exit 5), history, rollback, effective', async () => {
    expect(await ctlJson(['config', 'get'])).toMatchObject({ scope: 'system', scope_id: 'default', data: { pools: { pools: { demo: {} } } } });
    const team = uniquePrefix('team');
    const doc = ['--scope', 'team', '--scope-id', team];
    expect(await ctlJson(['config', 'set', ...doc, '{"limits": {"max_concurrent_runs": 5}}', '--revision', '0'])).toMatchObject({ revision: 1, data: { limits: { max_concurrent_runs: 5 } } });
    const conflict = await fails(['config', 'set', ...doc, 'limits: {max_concurrent_runs: 6}', '--revision', '0'], 5, 'revision_conflict');
    expect(conflict.stderr).toMatch(/is at revision 1 .*expected 0/);

    // Read as YAML, edit, write back: the document's own revision makes it a compare-and-set.
    const yaml = await ctl(['config', 'get', ...doc, '-o', 'yaml']);
    expect(yaml.stdout).toMatch(/^scope: team\nscope_id: \S+\nrevision: 1\ndata:\n/);
    await writeFile(join(dir, 'team.yaml'), yaml.stdout.replace('max_concurrent_runs: 5', 'max_concurrent_runs: 7'));
    expect(await ctl(['config', 'set', '-f', 'team.yaml'])).toMatchObject({ code: 0, stdout: `config team/${team} written: revision 2\n` });
    await fails(['config', 'set', '-f', 'team.yaml'], 5, 'revision_conflict'); // still says revision 1

    const history = await ctlJson<{ items: { revision: number }[] }>(['config', 'history', ...doc]);
    expect(history.items.map((d) => d.revision)).toEqual([2, 1]);
    expect((await ctl(['config', 'history', ...doc])).stdout).toMatch(/^REVISION\s+UPDATED\s+BY\s+DATA\n2\s+\S+\s+anonymous\s+\{"limits":\{"max_concurrent_runs":7\}\}\n/);
    expect(await ctlJson(['config', 'rollback', ...doc, '--to-revision', '1', '--revision', '2'])).toMatchObject({ revision: 3, data: { limits: { max_concurrent_runs: 5 } } });
    const effective = await ctlJson<{ version: string; hash: string; data: Record<string, unknown> }>(['config', 'effective', '--team', team]);
    expect(effective.version).toMatch(/^system:\d+\|org:-\|team:3\|workflow:-\|step:-$/);
    expect(effective.data).toMatchObject({ limits: { max_concurrent_runs: 5 }, pools: {} });
    await fails(['config', 'get', '--scope', 'team', '--scope-id', uniquePrefix('none')], 3, 'not_found');
  });

  it('schema: register from a file and inline, list, get, compare-and-set, an invalid schema, delete', async () => {
    const id = `${uniquePrefix('sre')}/Incident`;
    await writeFile(join(dir, 'incident.json'), JSON.stringify({ type: 'object', required: ['service'], properties: { service: { type: 'string' } } }));
    expect(await ctlJson(['schema', 'register', id, 'incident.json'])).toMatchObject({ id, version: 1, draft: 'draft-07', created: true });
    expect(await ctlJson(['schema', 'register', id, 'type: object', '--expected-version', '1'])).toMatchObject({ version: 2, created: false });
    await fails(['schema', 'register', id, 'incident.json', '--expected-version', '0'], 5, 'revision_conflict');
    const bad = await fails(['schema', 'register', `${id}2`, '{"type": "strin"}'], 2, 'invalid_argument');
    expect(bad.stderr).toMatch(/schema\/type/);
    const list = await ctlJson<{ schemas: string[]; items: { id: string; version: number }[] }>(['schema', 'list', '--all']);
    expect(list.schemas).toContain(id);
    expect(list.items.find((s) => s.id === id)).toMatchObject({ version: 2 });
    expect(await ctlJson(['schema', 'get', id])).toMatchObject({ id, version: 2, schema: { type: 'object' } });
    expect((await ctl(['schema', 'get', id])).stdout).toMatch(new RegExp(`^id:\\s+${id}\\nversion:\\s+2\\n[\\s\\S]*schema:\\n {2}\\{\\n {4}"type": "object"`));
    expect(await ctl(['schema', 'delete', id])).toMatchObject({ code: 0, stdout: `schema ${id} deleted\n` });
    await fails(['schema', 'get', id], 3, 'not_found');
  });

  it('lock: acquire (re-entrant, held → exit 5), get, renew, release until free, release again → exit 3', async () => {
    const resource = `deploy/${uniquePrefix('prod')}`;
    const held = await ctlJson<{ mode: string; owners: Record<string, { count: number; expires_at: number }> }>(['lock', 'acquire', resource, '--owner', 'bot', '--ttl', '1m']);
    expect(held).toMatchObject({ resource, mode: 'exclusive', owners: { bot: { count: 1 } } });
    expect(await ctlJson(['lock', 'acquire', resource, '--owner', 'bot'])).toMatchObject({ owners: { bot: { count: 2 } } });
    const blocked = await fails(['lock', 'acquire', resource, '--owner', 'other'], 5, 'lock_held');
    expect(blocked.stderr).toContain(`lock ${resource} is held exclusive by bot`);
    const before = held.owners['bot']?.expires_at ?? 0;
    const renewed = await ctlJson<{ owners: Record<string, { expires_at: number }> }>(['lock', 'renew', resource, '--owner', 'bot', '--ttl', '10m']);
    expect(renewed.owners['bot']?.expires_at).toBeGreaterThan(before + 8 * 60_000);
    expect((await ctl(['lock', 'get', resource])).stdout).toMatch(new RegExp(`^resource:\\s+${resource}\\nmode:\\s+exclusive\\nowners:\\s+bot \\(×2, expires in 9m(\\d+s)?\\)`));
    expect(await ctlJson(['lock', 'release', resource, '--owner', 'bot'])).toMatchObject({ released: true, lock: { owners: { bot: { count: 1 } } } });
    expect(await ctl(['lock', 'release', resource, '--owner', 'bot'])).toMatchObject({ code: 0, stdout: `lock ${resource} released by bot: it is free\n` });
    await fails(['lock', 'release', resource, '--owner', 'bot'], 3, 'lock_not_held');
    await fails(['lock', 'get', resource], 3, 'not_found');
    // Shared holders side by side.
    expect(await ctlJson(['lock', 'acquire', `${resource}-ro`, '--mode', 'shared', '--owner', 'a'])).toMatchObject({ mode: 'shared' });
    expect(Object.keys((await ctlJson<{ owners: object }>(['lock', 'acquire', `${resource}-ro`, '--mode', 'shared', '--owner', 'b'])).owners)).toEqual(['a', 'b']);
  });

  it('artifact: put a file (pointer on stdout) and stdin, get to stdout, to --out and as JSON; limits and misses', async () => {
    const text = 'deploy log\nline 2\n';
    await writeFile(join(dir, 'deploy.log'), text);
    const put = await ctl(['artifact', 'put', 'deploy.log', '--retention', 'audit', '--labels', 'run=r-42']);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toMatch(/^redis:\/\/art:\S+\n$/);
    expect(put.stderr).toMatch(/^stored 18 bytes \(text\/plain; charset=utf-8, retention audit, expires \S+\)\n$/);
    const ptr = put.stdout.trim();
    expect(await ctl(['artifact', 'get', ptr])).toMatchObject({ code: 0, stdout: text });
    const meta = await ctlJson<{ content_base64: string; metadata: Record<string, unknown> }>(['artifact', 'get', ptr]);
    expect(Buffer.from(meta.content_base64, 'base64').toString()).toBe(text);
    expect(meta.metadata).toMatchObject({ retention: 'audit', labels: { run: 'r-42' }, size_bytes: 18, content_type: 'text/plain; charset=utf-8' });

    const binary = Buffer.from([0, 1, 2, 250, 251, 252, 255, 10, 13]);
    await writeFile(join(dir, 'blob.bin'), binary);
    const blob = await ctlJson<{ artifact_ptr: string; metadata: { content_type: string } }>(['artifact', 'put', 'blob.bin']);
    expect(blob.metadata.content_type).toBe('application/octet-stream');
    expect(await ctlJson(['artifact', 'get', blob.artifact_ptr, '--out', 'copy.bin'])).toMatchObject({ path: join(dir, 'copy.bin'), metadata: { size_bytes: binary.length } });
    expect(Buffer.compare(await readFile(join(dir, 'copy.bin')), binary)).toBe(0);

    const piped = await ctlJson<{ artifact_ptr: string }>(['artifact', 'put', '-', '--content-type', 'application/json'], { stdin: '{"a":1}' });
    expect(await ctl(['artifact', 'get', piped.artifact_ptr.replace('redis://art:', '')])).toMatchObject({ code: 0, stdout: '{"a":1}' });
    await fails(['artifact', 'put', 'deploy.log', '--max-bytes', '4'], 2, 'payload_too_large');
    await fails(['artifact', 'get', 'redis://art:no-such-artifact'], 3, 'not_found');
  });

  it('policy: evaluate, explain, snapshots, rules; a bundle drafted, simulated, published, audited and rolled back', async () => {
    const topic = `job.${uniquePrefix('freeze').replace(/[^a-z0-9-]/gi, '')}.deploy`;
    expect(await ctlJson(['policy', 'evaluate', '--topic', 'job.demo.approval'])).toMatchObject({ decision: 'REQUIRE_APPROVAL', rule_id: 'demo-approval', approval_required: true });
    const explain = await ctlJson<{ decision: string; trace: { rule_id: string; status: string }[] }>(['policy', 'explain', '--topic', topic, '--risk-tags', 'write']);
    expect(explain.decision).toBe('ALLOW');
    expect(explain.trace).toContainEqual(expect.objectContaining({ rule_id: 'demo-approval', status: 'not_matched' }));
    expect((await ctl(['policy', 'explain', '--topic', 'job.demo.approval'])).stdout).toMatch(/decision:\s+REQUIRE_APPROVAL\n[\s\S]*\n#\s+RULE\s+BUNDLE\s+DECISION\s+STATUS\s+WHY\n0\s+demo-approval\s+base\s+REQUIRE_APPROVAL\s+matched/);
    const snapshots = await ctlJson<{ current: string; snapshots: string[] }>(['policy', 'snapshots']);
    expect(snapshots.snapshots[0]).toBe(snapshots.current);
    expect(await ctlJson(['policy', 'rules'])).toMatchObject({ rules: expect.arrayContaining([expect.objectContaining({ rule_id: 'demo-approval' })]) as unknown });

    const name = uniquePrefix('freeze').replace(/[^A-Za-z0-9-]/g, '');
    const id = `secops/${name}`;
    await writeFile(join(dir, `${name}.yaml`), `rules:\n  - id: ${name}\n    match: {topics: ["${topic}"]}\n    decision: deny\n    reason: change freeze\n`);
    // simulate with the file alone: nothing stored
    expect(await ctlJson(['policy', 'simulate', '--topic', topic, '--bundle', `${name}.yaml`])).toMatchObject({ decision: 'DENY', rule_id: name, drafts: [id] });
    const list0 = await ctlJson<{ revision: number }>(['policy', 'bundles', 'list']);
    const draft = await ctlJson<{ revision: number; kernel_check: string; live: boolean }>(['policy', 'bundles', 'put', id, `${name}.yaml`, '--message', 'freeze deploys', '--expected-revision', String(list0.revision)]);
    expect(draft).toMatchObject({ revision: list0.revision + 1, kernel_check: 'ok', live: false });
    await fails(['policy', 'bundles', 'put', id, `${name}.yaml`, '--expected-revision', String(list0.revision)], 5, 'revision_conflict');
    expect(await ctlJson(['policy', 'bundles', 'simulate', id, '--topic', topic])).toMatchObject({ decision: 'DENY' });
    expect(await ctlJson(['policy', 'evaluate', '--topic', topic])).toMatchObject({ decision: 'ALLOW' }); // a draft is not live

    const published = await ctlJson<{ revision: number; bundle_ids: string[]; kernel: string }>(['policy', 'publish', id, '--note', 'CHG-1']);
    expect(published).toMatchObject({ revision: draft.revision + 1, bundle_ids: [id], kernel: 'reloaded' });
    expect(await ctlJson(['policy', 'evaluate', '--topic', topic])).toMatchObject({ decision: 'DENY', rule_id: name, reason: 'change freeze' });
    expect((await ctl(['policy', 'bundles', 'get', id, '--content'])).stdout).toBe(await readFile(join(dir, `${name}.yaml`), 'utf8'));
    expect(await ctlJson(['policy', 'bundles', 'list'])).toMatchObject({ bundles: expect.arrayContaining([expect.objectContaining({ id, live: true })]) as unknown });
    const history = await ctlJson<{ items: { revision: number; action: string }[] }>(['policy', 'bundles', 'history']);
    expect(history.items.slice(0, 2).map((r) => [r.revision, r.action])).toEqual([
      [published.revision, 'publish'],
      [draft.revision, 'save'],
    ]);
    const rolled = await ctlJson<{ rolled_back_to: number }>(['policy', 'rollback', String(draft.revision), '--note', 'undo']);
    expect(rolled.rolled_back_to).toBe(draft.revision);
    expect(await ctlJson(['policy', 'evaluate', '--topic', topic])).toMatchObject({ decision: 'ALLOW' });
    const audit = await ctlJson<{ items: { action: string; subject: string }[] }>(['policy', 'audit', '--bundle-id', id]);
    expect(audit.items.map((a) => a.action)).toEqual(['policy.bundle.rollback', 'policy.bundle.publish', 'policy.bundle.save']);
  });

  it('workflow and run: create from YAML, run start --wait showing steps until a second cordumctl approves the step', async () => {
    const wf = uniquePrefix('ship').replace(/[^A-Za-z0-9-]/g, '');
    await writeFile(join(dir, `${wf}.yaml`), WORKFLOW_YAML(wf));
    expect(await ctlJson(['workflow', 'create', `${wf}.yaml`])).toMatchObject({ id: wf, revision: 1, step_count: 3, created: true, unchanged: false });
    expect(await ctl(['workflow', 'create', '-f', `${wf}.yaml`])).toMatchObject({ code: 0, stdout: `workflow ${wf} unchanged: revision 1 (3 steps)\n` });
    expect((await ctlJson<{ items: { id: string }[] }>(['workflow', 'list', '--all'])).items.map((w) => w.id)).toContain(wf);
    expect(await ctlJson(['workflow', 'get', wf])).toMatchObject({ id: wf, name: 'Ship it', definition: { steps: { approve: { type: 'approval' } } } });
    expect((await ctl(['workflow', 'get', wf])).stdout).toMatch(/STEP\s+TYPE\s+TOPIC\s+DEPENDS ON\nbuild\s+worker\s+job\.demo\.echo\s+-\napprove\s+approval\s+-\s+build\n/);
    await fails(['run', 'start', wf, '--input', '{"ticket": 7}'], 2, 'invalid_argument');

    const waiting = start(['run', 'start', wf, '--input', '{"ticket": "OPS-1"}', '--wait', '-o', 'json']);
    let runId = '';
    await eventually(() => {
      const m = /run (\S+) started: workflow /.exec(waiting.out.stderr);
      expect(m, waiting.out.stderr).not.toBeNull();
      runId = m?.[1] ?? '';
      expect(waiting.out.stderr).toContain(`step approve waits for approval: cordumctl approval step ${wf} ${runId} approve --approve`);
    }, 30_000, 100);
    expect(waiting.out.stderr).toMatch(/step build: (running|succeeded)/);
    const approvals = await ctlJson<{ items: { kind?: string; run_id?: string; step_id?: string }[] }>(['approval', 'list', '--kind', 'workflow_step']);
    expect(approvals.items).toContainEqual(expect.objectContaining({ kind: 'workflow_step', run_id: runId, step_id: 'approve', workflow_id: wf }));
    expect((await ctl(['approval', 'list'])).stdout).toMatch(new RegExp(`WORKFLOW\\s+RUN\\s+STEP\\s+WAITING\\s+BY\\s+DECIDE WITH[\\s\\S]*\\n${wf}\\s+${runId}\\s+approve\\s`));
    expect(waiting.child.exitCode).toBeNull();

    const approve = await ctl(['approval', 'step', wf, runId, 'approve', '--approve', '--reason', 'ship it']);
    expect(approve).toMatchObject({ code: 0, stdout: `step approve of run ${runId} approved (queued: the workflow engine applies it next)\n` });
    const r = await waiting.done;
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: runId, status: 'succeeded', steps: { build: { status: 'succeeded' }, approve: { status: 'succeeded', approval: { decision: 'approved', reason: 'ship it' } }, announce: { status: 'succeeded' } } });
    expect(r.stderr).toMatch(/step approve: succeeded \(approved by anonymous \(ship it\)\)[\s\S]*step announce: succeeded[\s\S]*run \S+: succeeded/);

    expect((await ctl(['run', 'get', runId])).stdout).toMatch(/status:\s+succeeded\n[\s\S]*STEP\s+TYPE\s+STATUS\s+ATTEMPTS\s+JOB\s+TOOK\s+DETAIL\nbuild\s+worker\s+succeeded\s+1\s+\S+:build@1\s/);
    const timeline = await ctlJson<{ items: { type: string; step_id?: string }[] }>(['run', 'timeline', runId, '--all']);
    expect(timeline.items.map((e) => e.type)).toEqual(expect.arrayContaining(['step_dispatched', 'step_waiting', 'step_approved']));
    const runs = await ctlJson<{ items: { id: string; status: string }[] }>(['run', 'list', '--workflow', wf]);
    expect(runs.items).toEqual([expect.objectContaining({ id: runId, status: 'succeeded' })]);
  });

  it('run: a rejected step fails the watched run (exit 7); idempotency, rerun, cancel (exit 5 twice), delete; JSON workflows', async () => {
    const wf = uniquePrefix('ship').replace(/[^A-Za-z0-9-]/g, '');
    await writeFile(join(dir, `${wf}.yaml`), WORKFLOW_YAML(wf));
    expect((await ctl(['workflow', 'create', `${wf}.yaml`, '--expected-revision', '0'])).code).toBe(0);

    const key = uniquePrefix('idem');
    const first = await ctlJson<{ run_id: string; created: boolean }>(['run', 'start', wf, '--input', 'ticket: OPS-2', '--idempotency-key', key]);
    const again = await ctlJson<{ run_id: string; created: boolean }>(['run', 'start', wf, '--input', 'ticket: OPS-2', '--idempotency-key', key]);
    expect([first.created, again.created, again.run_id]).toEqual([true, false, first.run_id]);

    const watcher = start(['run', 'watch', first.run_id]);
    await eventually(() => expect(watcher.out.stderr).toContain('step approve: waiting'), 30_000, 100);
    expect((await ctl(['approval', 'step', wf, first.run_id, 'approve', '--reject', '--reason', 'not today'])).code).toBe(0);
    const watched = await watcher.done;
    expect(watched.code).toBe(7);
    expect(watched.stderr).toMatch(/step approve: failed \(approval_rejected: [^)]*not today\)/);
    expect(watched.stderr).toMatch(/step announce: skipped \(dependency_not_succeeded\)/);
    expect(watched.stderr).toContain(`cordumctl: run ${first.run_id} ended failed: approval_rejected`);
    expect(watched.stdout).toMatch(/^run:\s+\S+\nworkflow:\s+\S+ \(revision 1, version 1\)\nstatus:\s+failed\n/);
    await fails(['approval', 'step', wf, first.run_id, 'approve', '--approve'], 5, 'state_conflict');

    // Rerun from the approval step: the build output is reused, the approval waits again.
    const rerun = await ctlJson<{ run_id: string; rerun_of: string; rerun_step: string }>(['run', 'rerun', first.run_id, '--from-step', 'approve']);
    expect(rerun).toMatchObject({ rerun_of: first.run_id, rerun_step: 'approve' });
    await eventually(async () => expect(await ctlJson(['run', 'get', rerun.run_id])).toMatchObject({ status: 'waiting', steps: { approve: { status: 'waiting' } } }), 30_000, 200);
    await fails(['run', 'delete', rerun.run_id], 5, 'state_conflict');
    expect(await ctlJson(['run', 'cancel', rerun.run_id, '--reason', 'enough'])).toMatchObject({ run_id: rerun.run_id, cancel_requested: true, duplicate: false });
    await eventually(async () => expect(await ctlJson(['run', 'get', rerun.run_id])).toMatchObject({ status: 'cancelled' }), 30_000, 200);
    await fails(['run', 'cancel', rerun.run_id], 5, 'state_conflict');
    expect(await ctl(['run', 'delete', rerun.run_id])).toMatchObject({ code: 0, stdout: `run ${rerun.run_id} deleted\n` });
    await fails(['run', 'get', rerun.run_id], 3, 'not_found');
    const timedOut = await ctl(['run', 'watch', first.run_id, '--timeout', '1s']);
    expect(timedOut.code).toBe(7); // already ended: watch reports it at once

    // JSON definitions, compare-and-set on the revision, delete.
    const json = `${wf}-json`;
    await writeFile(join(dir, `${json}.json`), JSON.stringify({ id: json, steps: { hello: { type: 'notify', input: { message: 'hi' } } } }));
    expect(await ctlJson(['workflow', 'create', `${json}.json`, '--expected-revision', '0'])).toMatchObject({ id: json, revision: 1, step_count: 1 });
    await fails(['workflow', 'create', `${json}.json`, '--expected-revision', '0'], 5, 'revision_conflict');
    const done = await ctlJson<{ status: string; steps: Record<string, { status: string }> }>(['run', 'start', json, '--wait']);
    expect(done).toMatchObject({ status: 'succeeded', steps: { hello: { status: 'succeeded' } } });
    await writeFile(join(dir, 'cycle.yaml'), 'id: cycle\nsteps:\n  a: {type: worker, depends_on: [b]}\n  b: {type: worker, depends_on: [a]}\n');
    expect((await fails(['workflow', 'create', 'cycle.yaml'], 2, 'workflow_invalid')).stderr).toMatch(/cycle/);
    expect(await ctl(['workflow', 'delete', json])).toMatchObject({ code: 0, stdout: `workflow ${json} deleted\n` });
    await fails(['workflow', 'get', json], 3, 'not_found');
    await fails(['run', 'start', json], 3, 'not_found');
  });
});
