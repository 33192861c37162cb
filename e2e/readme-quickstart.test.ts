import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, freePort } from '@cordum/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CordumProcess, startCordum } from './cordum-process.js';

// The README's quick start, run as written (bash + curl, from the repository root) against `cordum dev` on the
// memory backends, as `npm start` runs it. Only the address changes (a free port instead of 8081), and each
// command after a submit or a run start gets a moment, as a person typing the next command would give it.

const run = promisify(execFile);
let proc: CordumProcess | undefined;
let port = 0;

beforeAll(async () => {
  const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
  port = ports[0]!;
  proc = await startCordum(
    [
      'dev',
      '--http-addr', `127.0.0.1:${ports[0]}`,
      '--grpc-addr', `127.0.0.1:${ports[1]}`,
      '--kernel-addr', `127.0.0.1:${ports[2]}`,
      '--metrics-addr', `127.0.0.1:${ports[3]}`,
    ],
    { ready: /cordum dev ready/ },
  );
}, 60_000);

afterAll(async () => {
  await proc?.stop('SIGKILL');
});

/** The n-th ```sh block under the README's "## Quick start" heading (0: curl, 1: cordumctl). */
async function quickStart(n: number): Promise<string> {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## Quick start$/m)[1]?.split(/^## /m)[0] ?? '';
  const block = [...section.matchAll(/```sh\n([\s\S]*?)```/g)][n]?.[1];
  if (block === undefined) throw new Error(`README.md has no ${n === 0 ? 'first' : 'second'} \`\`\`sh block under "## Quick start"`);
  return block;
}

describe('README quick start', () => {
  it('runs as written: jobs allowed and held for approval, a fan-out workflow and one with a human gate', async () => {
    const block = await quickStart(0);
    expect(block).toContain('localhost:8081');
    // A submit ends with the job id line (JOB=...); give the job a second before the next command reads it.
    const script = block.replaceAll('localhost:8081', `127.0.0.1:${port}`).replace(/^((?:JOB|RUN)=.*\n(?:\s+.*\n)*)/gm, '$1sleep 1\n');
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], { timeout: 45_000, cwd: REPO_ROOT });
    expect(stdout).toContain('"state":"APPROVAL_REQUIRED"');
    expect(stdout).toContain('"by":"anonymous"');
    expect(stdout).toContain('"reason":"looks fine"');
    expect(stdout.match(/"state":"SUCCEEDED"/g)?.length).toBe(2);
    // The fan-out run: succeeded, one output per name.
    expect(stdout).toMatch(/"workflow_id":"demo-fan-out"[^\n]*"status":"succeeded"/);
    expect(stdout).toContain('"greeting":"hello cy"');
    // The gated run: listed as waiting, approved, delayed, applied, announced.
    expect(stdout).toContain('"kind":"workflow_step"');
    expect(stdout).toContain('"decision":"approved"');
    expect(stdout).toMatch(/"type":"step_approved"[\s\S]*"type":"step_delay_completed"[\s\S]*"type":"step_event_emitted"/);
  }, 60_000);

  it('runs as written with cordumctl: the same jobs, approvals and workflows', async () => {
    const block = await quickStart(1);
    expect(block).toContain('npx cordumctl');
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', block], {
      timeout: 90_000,
      cwd: REPO_ROOT,
      env: { ...process.env, CORDUM_GATEWAY: `http://127.0.0.1:${port}`, NO_COLOR: '1' },
    });
    expect(stdout.match(/^state: +SUCCEEDED$/gm)?.length).toBe(2);
    expect(stdout).toMatch(/approved: PENDING/);
    expect(stdout).toMatch(/demo-approval +demo jobs on job\.demo\.approval wait for a human/);
    expect(stdout.match(/^status: +succeeded$/gm)?.length).toBe(2);
    expect(stdout).toMatch(/announce +notify +succeeded/);
  }, 120_000);
});
