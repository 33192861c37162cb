import { type ChildProcess, spawn } from 'node:child_process';
import { type IncomingHttpHeaders, connect } from 'node:http2';
import { join } from 'node:path';
import { REPO_ROOT } from '@cordum/testkit';

// The built `cordum` command as a real process. (testkit's startNodeProcess runs a script without arguments;
// cordum needs its command line.)

export type CordumProcess = {
  readonly child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Sends the signal and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Starts `node apps/cordum/dist/bin/cordum.js <args>` and resolves once its output matches `ready`. */
export function startCordum(args: readonly string[], options: { ready: RegExp; env?: Record<string, string>; timeoutMs?: number }): Promise<CordumProcess> {
  const { ready, timeoutMs = 30_000 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'apps/cordum/dist/bin/cordum.js'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    void exited.then(() => live.delete(child));
    let out = '';
    let settled = false;
    const handle: CordumProcess = {
      child,
      output: () => out,
      stop: async (signal = 'SIGTERM') => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        return exited;
      },
    };
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (!settled && ready.test(out)) {
        settled = true;
        clearTimeout(timer);
        resolve(handle);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`cordum ${args.join(' ')} exited (${code ?? signal}) before it was ready:\n${out}`));
    });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(new Error(`cordum ${args.join(' ')} not ready within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
  });
}

/** grpc.health.v1.Health/Check over plain HTTP/2 (no client library): the serving status number (1 = SERVING). */
export function grpcHealth(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    session.once('error', reject);
    const req = session.request({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('trailers', (t: IncomingHttpHeaders) => {
      status = String(t['grpc-status']);
    });
    req.once('error', reject);
    req.once('end', () => {
      session.close();
      const body = Buffer.concat(chunks);
      // One length-prefixed message: HealthCheckResponse { status (field 1, varint) }.
      if (status !== '0' || body.length < 7 || body[5] !== 0x08) {
        reject(new Error(`health check failed: grpc-status ${status}, body ${body.toString('hex')}`));
        return;
      }
      resolve(body[6] ?? -1);
    });
    // An empty HealthCheckRequest (service ""): flag 0, length 0.
    req.end(Buffer.alloc(5));
  });
}
