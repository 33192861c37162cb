import { parseDuration } from '@cordum/core/config';
import type { CliEnv } from '../config.js';
import { type ContextsFile, type Target, contextsPath, readContexts, resolveTarget } from '../contexts/contexts.js';
import { usageError } from '../errors.js';
import { type GatewayClient, createGatewayClient } from '../gateway/client.js';
import { type OutputFormat, OUTPUT_FORMATS, renderData } from '../output/format.js';
import { type Style, colourWanted, createStyle } from '../output/style.js';
import type { Terminal } from '../output/terminal.js';

export const CORDUMCTL_VERSION = '0.1.0';

/** The global flags as commander parsed them (every command sees them through optsWithGlobals). */
export type GlobalFlags = {
  gateway?: string;
  apiKey?: string;
  context?: string;
  output?: string;
  json?: boolean;
  color?: boolean;
  requestTimeout?: string;
};

/** What the process gives cordumctl: where to write, its environment, a clock and a way to wait. */
export type CliDeps = {
  readonly terminal: Terminal;
  readonly env: CliEnv;
  readonly cwd: string;
  readonly now?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Aborted on Ctrl-C (the bin wires SIGINT); long waits stop and exit 130. */
  readonly interrupt?: AbortSignal;
  /** All of standard input, for a file argument `-` (the bin wires process.stdin). */
  readonly readStdin?: () => Promise<Uint8Array>;
};

/** Everything a command needs, built from the global flags when the command runs. */
export type App = {
  readonly terminal: Terminal;
  readonly env: CliEnv;
  readonly cwd: string;
  readonly format: OutputFormat;
  /** Colours for stdout / stderr (each on only when that stream is a TTY and NO_COLOR is unset). */
  readonly style: Style;
  readonly errStyle: Style;
  readonly interrupt: AbortSignal | undefined;
  readonly now: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The gateway client for the resolved target (flags, context, environment). */
  readonly client: () => Promise<GatewayClient>;
  readonly target: () => Promise<Target>;
  /** Path of the contexts file and its content. */
  readonly contextsPath: string;
  readonly contexts: () => Promise<ContextsFile>;
  /** Prints `data` as JSON or YAML, or the table lines `table()` renders. */
  readonly print: (data: unknown, table: () => readonly string[]) => void;
  /** A message for humans on stderr (not part of the result). */
  readonly info: (text: string) => void;
  /** All of standard input (a file argument `-`). */
  readonly readStdin: () => Promise<Uint8Array>;
};

export function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function outputFormat(flags: GlobalFlags): OutputFormat {
  if (flags.json === true) return 'json';
  const raw = flags.output ?? 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(raw)) throw usageError(`--output: ${JSON.stringify(raw)} is not one of ${OUTPUT_FORMATS.join(', ')}`);
  return raw as OutputFormat;
}

export function createApp(flags: GlobalFlags, deps: CliDeps): App {
  const { terminal, env } = deps;
  const format = outputFormat(flags);
  const colourOff = flags.color === false || env.noColor;
  const style = createStyle(colourWanted(terminal.stdoutIsTTY, colourOff));
  const errStyle = createStyle(colourWanted(terminal.stderrIsTTY, colourOff));
  let timeoutMs = 30_000;
  if (flags.requestTimeout !== undefined) {
    const parsed = parseDuration(flags.requestTimeout);
    if (parsed === undefined || parsed <= 0) throw usageError(`--request-timeout: ${JSON.stringify(flags.requestTimeout)} is not a duration (e.g. 30s, 2m)`);
    timeoutMs = parsed;
  }
  const path = contextsPath(env);
  let file: Promise<ContextsFile> | undefined;
  const contexts = (): Promise<ContextsFile> => (file ??= readContexts(path));
  const target = async (): Promise<Target> =>
    resolveTarget({ gateway: flags.gateway, apiKey: flags.apiKey, context: flags.context }, { gateway: env.gateway, apiKey: env.apiKey }, await contexts());
  let client: GatewayClient | undefined;
  return {
    terminal,
    env,
    cwd: deps.cwd,
    format,
    style,
    errStyle,
    interrupt: deps.interrupt,
    now: deps.now ?? Date.now,
    sleep: deps.sleep ?? defaultSleep,
    contextsPath: path,
    contexts,
    target,
    client: async () => {
      if (client !== undefined) return client;
      const t = await target();
      client = createGatewayClient({
        baseUrl: t.gateway,
        apiKey: t.apiKey,
        timeoutMs,
        userAgent: `cordumctl/${CORDUMCTL_VERSION}`,
      });
      return client;
    },
    print: (data, table) => {
      if (format === 'table') {
        for (const line of table()) terminal.out(line);
      } else {
        terminal.out(renderData(data, format));
      }
    },
    info: (text) => terminal.err(text),
    readStdin:
      deps.readStdin ??
      (() => Promise.reject(usageError('standard input is not available here: give a file instead of -'))),
  };
}
