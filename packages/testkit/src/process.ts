import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is packages/testkit/{src,dist}/process.*). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export type NodeProcess = {
  readonly child: ChildProcess;
  /** The last 64 KiB of stdout and stderr, interleaved. */
  output(): string;
  /** Sends the signal (SIGTERM by default) and resolves when the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
};

export type StartNodeOptions = {
  /** Script path relative to the repository root (a built dist/*.js file). */
  script: string;
  env?: Record<string, string>;
  /** Resolves once the output matches. */
  ready: RegExp;
  timeoutMs?: number;
  nodeArgs?: readonly string[];
};

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Starts `node <script>` as a real process with the given environment, and resolves once a line of its output
 * matches `ready` (rejecting with that output if it exits or times out first). Processes still running when
 * the test process exits are killed, so a failed test never leaves one behind.
 */
export function startNodeProcess(options: StartNodeOptions): Promise<NodeProcess> {
  const { script, ready, timeoutMs = 20_000, nodeArgs = [] } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, join(REPO_ROOT, script)], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    void exited.then(() => live.delete(child));
    let out = '';
    let settled = false;
    const handle: NodeProcess = {
      child,
      output: () => out,
      stop: async (signal = 'SIGTERM') => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        await exited;
      },
    };
    const onData = (chunk: Buffer): void => {
      out = (out + chunk.toString()).slice(-64_000);
      if (!settled && ready.test(out)) {
        settled = true;
        clearTimeout(timer);
        resolve(handle);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code ?? signal}) before it was ready:\n${out}`));
    });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(new Error(`${script} not ready within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
  });
}
