import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { loadTestkitConfig } from './config.js';

// Real redis-server and nats-server processes for tests: each on a free port with its own temp
// directory, stopped (and their directories removed) by stop(), and killed when the test process exits
// even if a test failed before its cleanup ran.

const EXTRA_BIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin'];

const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanup = (): void => {
    for (const child of live) child.kill('SIGKILL');
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  // An interrupted run (Ctrl-C, CI cancel) must not leave servers behind either.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanup();
      process.kill(process.pid, signal);
    });
  }
}

/**
 * Absolute path of a binary: an explicit override, else PATH, else the usual sbin folders (Debian installs
 * nats-server in /usr/sbin, which a non-root PATH may lack). Throws naming the Debian package.
 */
export function findBinary(name: string, debianPackage: string = name, override?: string): string {
  if (override !== undefined) {
    try {
      accessSync(override, constants.X_OK);
      return override;
    } catch {
      throw new Error(`${name} override ${override} is not an executable file`);
    }
  }
  const dirs = [...loadTestkitConfig().path.split(delimiter).filter(Boolean), ...EXTRA_BIN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(
    `${name} is not installed (looked on PATH and in ${EXTRA_BIN_DIRS.join(', ')}); ` +
      `install it with: apt-get install -y ${debianPackage}`,
  );
}

// Ports handed out by this process (never twice), and the range they come from: below Linux's ephemeral range
// (32768-60999), so that neither outgoing connections nor servers binding port 0 — which the kernel serves
// from that range — can take a port between freePort() and the process that binds it.
const handedOut = new Set<number>();
const LOW = 20_000;
const HIGH = 32_767;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A TCP port that was free a moment ago, outside the ephemeral range, not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canBind(port)) return port;
  }
  throw new Error(`could not find a free port in ${LOW}-${HIGH}`);
}

type Started = { child: ChildProcess; output: () => string };

function spawnServer(bin: string, args: string[], ready: RegExp, timeoutMs: number): Promise<Started> {
  installExitHook();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let out = '';
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err === undefined) resolve({ child, output: () => out });
      else {
        child.kill('SIGKILL');
        live.delete(child);
        reject(err);
      }
    };
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (out.length > 64 * 1024) out = out.slice(-32 * 1024);
      if (ready.test(out)) finish();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (err) => finish(err));
    child.once('exit', (code, signal) => {
      live.delete(child);
      finish(new Error(`${bin} exited early (code ${code}, signal ${signal}):\n${out}`));
    });
    const timer = setTimeout(
      () => finish(new Error(`${bin} did not become ready within ${timeoutMs} ms:\n${out}`)),
      timeoutMs,
    );
  });
}

function stopChild(child: ChildProcess, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(child);
      resolve();
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      live.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The port answering must be ours: a server that lost the bind race exits instead of serving. */
function assertAlive(child: ChildProcess, bin: string): void {
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(`${bin} exited after start (address already in use?)`);
  }
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} did not open within ${timeoutMs} ms`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

async function withPortRetry<T>(start: (port: number) => Promise<T>): Promise<T> {
  let lastError: unknown;
  for (let i = 0; i < 3; i++) {
    try {
      return await start(await freePort());
    } catch (err) {
      // Another process may have taken the port between freePort() and the bind; try a new one.
      lastError = err;
      if (!/address already in use|bind|EADDRINUSE/i.test(String(err))) throw err;
    }
  }
  throw lastError;
}

export type RedisServer = {
  readonly host: string;
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};

/** Starts a throwaway redis-server (no persistence) on a free port. */
export async function startRedis(options: { args?: string[] } = {}): Promise<RedisServer> {
  const bin = findBinary('redis-server', 'redis-server', loadTestkitConfig().redisServer);
  const dir = await mkdtemp(join(tmpdir(), 'cordum-redis-'));
  liveDirs.add(dir);
  try {
    return await withPortRetry(async (port) => {
      const { child } = await spawnServer(
        bin,
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--protected-mode',
          'yes',
          ...(options.args ?? []),
        ],
        /Ready to accept connections/,
        15_000,
      );
      await waitForPort(port, 5000);
      assertAlive(child, bin);
      const stop = async (): Promise<void> => {
        await stopChild(child);
        await rm(dir, { recursive: true, force: true });
        liveDirs.delete(dir);
      };
      return {
        host: '127.0.0.1',
        port,
        url: `redis://127.0.0.1:${port}`,
        stop,
        [Symbol.asyncDispose]: stop,
      };
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    throw err;
  }
}

export type NatsServer = {
  readonly host: string;
  readonly port: number;
  /** nats://127.0.0.1:<port> */
  readonly url: string;
  /** JetStream storage directory; survives restart(). */
  readonly storeDir: string;
  readonly jetstream: boolean;
  /** Stops the server, keeping its port and JetStream storage (for reconnect tests). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same storage. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};

/** Starts nats-server (JetStream on by default, file storage in a temp dir) on a free port. */
export async function startNats(options: { jetstream?: boolean; args?: string[] } = {}): Promise<NatsServer> {
  const bin = findBinary('nats-server', 'nats-server', loadTestkitConfig().natsServer);
  const jetstream = options.jetstream ?? true;
  const dir = await mkdtemp(join(tmpdir(), 'cordum-nats-'));
  liveDirs.add(dir);
  const argsFor = (port: number): string[] => [
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
    ...(jetstream ? ['-js', '-sd', dir] : []),
    ...(options.args ?? []),
  ];
  const launch = async (port: number): Promise<ChildProcess> => {
    const { child } = await spawnServer(bin, argsFor(port), /Server is ready/, 15_000);
    await waitForPort(port, 5000);
    assertAlive(child, bin);
    return child;
  };
  try {
    return await withPortRetry(async (port) => {
      let child: ChildProcess | undefined = await launch(port);
      const kill = async (): Promise<void> => {
        if (child !== undefined) await stopChild(child);
        child = undefined;
      };
      const stop = async (): Promise<void> => {
        await kill();
        await rm(dir, { recursive: true, force: true });
        liveDirs.delete(dir);
      };
      return {
        host: '127.0.0.1',
        port,
        url: `nats://127.0.0.1:${port}`,
        storeDir: dir,
        jetstream,
        kill,
        async restart() {
          await kill();
          child = await launch(port);
        },
        stop,
        [Symbol.asyncDispose]: stop,
      };
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    throw err;
  }
}
