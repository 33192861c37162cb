import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/dist/e2e → ../../..). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export type Proc = { child: ChildProcess; output: () => string; stop(signal?: NodeJS.Signals): Promise<void> };

/** Starts `node <script>` with env, resolving once a line matches `ready` (or rejecting on exit/timeout). */
export function startNode(
  script: string,
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 20_000,
  nodeArgs: readonly string[] = [],
): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, join(REPO_ROOT, script)], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let done = false;
    const onData = (chunk: Buffer): void => {
      out = (out + chunk.toString()).slice(-64_000);
      if (!done && ready.test(out)) {
        done = true;
        clearTimeout(timer);
        resolve({
          child,
          output: () => out,
          stop: (signal = 'SIGTERM') =>
            new Promise<void>((res) => {
              if (child.exitCode !== null || child.signalCode !== null) return res();
              child.once('exit', () => res());
              child.kill(signal);
            }),
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(new Error(`${script} exited (${code}) before it was ready:\n${out}`));
      }
    });
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill('SIGKILL');
      reject(new Error(`${script} not ready within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
  });
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}
